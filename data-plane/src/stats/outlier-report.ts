/**
 * The outlier-detection view of the primary's detectors (health/outlier-manager.ts), read by
 * the stats merge (/stats/prometheus) and admin /clusters: one cluster's state.
 */
export interface ClusterOutlierReport {
  /** Host keys (`host:port`) currently ejected. */
  readonly ejectedHosts: readonly string[];
  /** Ejections the cluster's detector enforced since it was created (a counter). */
  readonly ejectionsTotal: number;
}

/** By cluster name. */
export type OutlierReport = Readonly<Record<string, ClusterOutlierReport>>;
