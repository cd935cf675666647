/**
 * The outlier-detection view a worker reports to the primary with its stats (process/ipc.ts
 * `stats` message). Outlier detection runs per worker (health/outlier-detector.ts), so the
 * primary only sees ejections through these reports; the detectors register here while their
 * cluster has outlier_detection (upstream/cluster-runtime.ts), as active health results are
 * shared through health/active-health-overrides.ts.
 */
import type { OutlierDetector } from '../health/outlier-detector.js';

/** One worker's outlier state of one cluster (structured-clone safe). */
export interface ClusterOutlierReport {
  /** Host keys (`host:port`) this worker currently ejects. */
  readonly ejectedHosts: readonly string[];
  /** Ejections this worker's detector enforced since it was created (a counter). */
  readonly ejectionsTotal: number;
}

/** By cluster name. */
export type OutlierReport = Readonly<Record<string, ClusterOutlierReport>>;

/** The live detectors of this process, by cluster name. */
export class OutlierDetectorRegistry {
  readonly #detectors = new Map<string, OutlierDetector>();

  /** Called when a cluster's detector is created (idempotent for the same detector). */
  register(cluster: string, detector: OutlierDetector): void {
    this.#detectors.set(cluster, detector);
  }

  /** Called when the detector is closed; a newer detector registered since is kept. */
  unregister(cluster: string, detector: OutlierDetector): void {
    if (this.#detectors.get(cluster) === detector) this.#detectors.delete(cluster);
  }

  report(): OutlierReport {
    const out: Record<string, ClusterOutlierReport> = {};
    for (const [cluster, detector] of this.#detectors)
      out[cluster] = {
        ejectedHosts: [...detector.ejectedHosts()].sort(),
        ejectionsTotal: detector.stats.ejectionsEnforcedTotal,
      };
    return out;
  }
}

/** This worker's registry (one ProxyRuntime per worker process). */
export const workerOutlierDetectors = new OutlierDetectorRegistry();
