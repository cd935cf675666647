/**
 * The proxy's side of Envoy's Load Reporting Service (lrs.proto), run in the primary next to the
 * ADS and HDS clients and on the same control-plane target. Started only while some cluster has
 * `lrs_server` (`self` or `ads`: the control plane itself).
 *
 * On each stream: send a LoadStatsRequest with the node, wait for the server's LoadStatsResponse
 * (`send_all_clusters` or a list of `clusters`, and `load_reporting_interval`), then every
 * interval send one LoadStatsRequest with a ClusterStats per reported cluster.
 *
 * Counts come from the workers' aggregated stats (the same snapshot /stats shows), as deltas since
 * the previous report; the baseline survives reconnects, so load is neither lost nor counted
 * twice across a stream failure. Limits, stated where the numbers are made (loadReport):
 * the stats have no locality, so each cluster is reported as one `upstream_locality_stats` entry
 * with an empty locality; nothing is dropped by ferry-proxy (no drop_overloads), so
 * `total_dropped_requests` is 0.
 *
 * A failed stream is retried with jittered exponential backoff. Every timer is unref'd.
 * close()/destroy() are idempotent.
 */
import type { Logger } from '@ferry/shared';
import type { StatsSnapshot } from '../http/stats.js';
import type { BackoffOptions } from './ads-client.js';
import type { JsonObject } from './resource-set.js';
import { durationMs, XdsStreamClientBase, type AdsCall } from './xds-stream-client.js';

export const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

/** Shortest report interval honoured, whatever the server asks (protects the control plane). */
const MIN_INTERVAL_MS = 100;
const DEFAULT_INTERVAL_MS = 10_000;

/** Cumulative per-cluster counts at one moment (request level, from the workers' stats). */
export interface ClusterLoadCounters {
  /** Requests answered by the upstream with a non-5xx status. */
  readonly successful: number;
  /** Upstream 5xx answers, plus requests that ended in a timeout or reset. */
  readonly error: number;
  readonly inProgress: number;
}

export type LoadBaseline = ReadonlyMap<string, ClusterLoadCounters>;

/** Reads the cumulative counters of `clusters` from a merged stats snapshot. */
export function clusterLoadCounters(
  snapshot: StatsSnapshot,
  clusters: readonly string[],
): Map<string, ClusterLoadCounters> {
  const wanted = new Set(clusters);
  const sums = new Map<string, Record<string, number>>();
  const add = (name: string, labels: Readonly<Record<string, string>>, value: number): void => {
    const cluster = labels.cluster;
    if (cluster === undefined || !wanted.has(cluster) || Object.keys(labels).length !== 1) return;
    let entry = sums.get(cluster);
    if (!entry) sums.set(cluster, (entry = {}));
    entry[name] = (entry[name] ?? 0) + value;
  };
  for (const c of snapshot.counters) add(c.name, c.labels, c.value);
  for (const g of snapshot.gauges)
    if (g.name === 'upstream_rq_active') add(g.name, g.labels, g.value);
  const result = new Map<string, ClusterLoadCounters>();
  for (const cluster of clusters) {
    const s = sums.get(cluster) ?? {};
    const n = (name: string): number => s[name] ?? 0;
    result.set(cluster, {
      successful: Math.max(0, n('upstream_rq_total') - n('upstream_rq_5xx')),
      error: n('upstream_rq_5xx') + n('upstream_rq_timeout') + n('upstream_rq_rx_reset'),
      inProgress: Math.max(0, n('upstream_rq_active')),
    });
  }
  return result;
}

/**
 * ClusterStats (proto-loader form) for one interval: the counts since `baseline`. A counter that
 * went down (a worker restarted and lost its counts) counts from zero instead of going negative.
 * `issued` = completed in the interval + the change of in-progress requests (requests started).
 */
export function loadReport(
  current: LoadBaseline,
  baseline: LoadBaseline,
  intervalMs: number,
): JsonObject[] {
  const delta = (now: number, before: number): number => (now >= before ? now - before : now);
  const stats: JsonObject[] = [];
  for (const [cluster, now] of current) {
    const before = baseline.get(cluster) ?? { successful: 0, error: 0, inProgress: 0 };
    const successful = delta(now.successful, before.successful);
    const error = delta(now.error, before.error);
    const issued = Math.max(0, successful + error + now.inProgress - before.inProgress);
    stats.push({
      cluster_name: cluster,
      upstream_locality_stats: [
        {
          // The stats are per cluster, not per locality: one entry with the empty locality.
          locality: {},
          total_successful_requests: String(successful),
          total_error_requests: String(error),
          total_requests_in_progress: String(now.inProgress),
          total_issued_requests: String(issued),
        },
      ],
      total_dropped_requests: '0',
      load_report_interval: {
        seconds: String(Math.floor(intervalMs / 1000)),
        nanos: (intervalMs % 1000) * 1_000_000,
      },
    });
  }
  return stats;
}

export interface LrsClientOptions {
  readonly target: string;
  /** envoy.config.core.v3.Node in proto-loader form (nodeMessage in ads-client.ts). */
  readonly node: JsonObject;
  /** Names of the clusters that have `lrs_server` in the current config. */
  readonly clusters: () => readonly string[];
  /** The workers' merged stats (Primary.stats). */
  readonly stats: () => Promise<StatsSnapshot>;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  readonly now?: () => number;
}

export class LrsClient extends XdsStreamClientBase {
  readonly #options: LrsClientOptions;
  readonly #now: () => number;
  #reportTimer: NodeJS.Timeout | undefined;
  #baseline: LoadBaseline = new Map();
  #baselineAtMs: number;
  /** From the latest LoadStatsResponse: undefined = all clusters (send_all_clusters). */
  #only: ReadonlySet<string> | undefined;
  #reporting = false;

  constructor(options: LrsClientOptions) {
    super(options, 'LRS', LRS_SERVICE);
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#baselineAtMs = this.#now();
  }

  get started(): boolean {
    return this.active;
  }

  protected openCall(): AdsCall {
    return this.client.StreamLoadStats();
  }

  protected onStreamOpened(): void {
    this.write({ node: this.#options.node });
  }

  /** A LoadStatsResponse: which clusters to report and how often. */
  protected onResponse(response: any): void {
    this.#only =
      response?.send_all_clusters === true
        ? undefined
        : new Set(Array.isArray(response?.clusters) ? (response.clusters as string[]) : []);
    const intervalMs = Math.max(
      MIN_INTERVAL_MS,
      durationMs(response?.load_reporting_interval) ?? DEFAULT_INTERVAL_MS,
    );
    clearInterval(this.#reportTimer);
    const call = this.call;
    this.#reportTimer = setInterval(() => void this.#report(call), intervalMs);
    this.#reportTimer.unref();
  }

  protected override onStreamClosed(): void {
    clearInterval(this.#reportTimer);
    this.#reportTimer = undefined;
  }

  async #report(call: AdsCall | undefined): Promise<void> {
    if (!call || call !== this.call || this.#reporting) return;
    this.#reporting = true;
    try {
      const only = this.#only;
      const clusters = this.#options.clusters().filter((c) => !only || only.has(c));
      const snapshot = await this.#options.stats();
      if (call !== this.call) return;
      const current = clusterLoadCounters(snapshot, clusters);
      const at = this.#now();
      const stats = loadReport(current, this.#baseline, Math.max(0, at - this.#baselineAtMs));
      // Clusters not reported keep their old baseline; reported ones move on.
      const next = new Map(this.#baseline);
      for (const [cluster, counters] of current) next.set(cluster, counters);
      this.#baseline = next;
      this.#baselineAtMs = at;
      this.write({ node: this.#options.node, cluster_stats: stats });
    } catch (err) {
      this.#options.logger.warn({ err }, 'LRS: cannot collect stats for a load report');
    } finally {
      this.#reporting = false;
    }
  }
}
