/**
 * The proxy's side of Envoy's Load Reporting Service (lrs.proto), run in the primary next to the
 * ADS and HDS clients and on the same control-plane target. Started only while some cluster has
 * `lrs_server` (`self` or `ads`: the control plane itself).
 *
 * On each stream: send a LoadStatsRequest with the node, wait for the server's LoadStatsResponse
 * (`send_all_clusters` or a list of `clusters`, and `load_reporting_interval`), then every
 * interval send one LoadStatsRequest with a ClusterStats per reported cluster.
 *
 * Counts come from the workers' aggregated stats (the same snapshot /stats shows): per locality
 * and per upstream attempt (as Envoy's UpstreamLocalityStats count), as deltas since the
 * previous report; the request time of attempts with a whole response goes as the load metric
 * LATENCY_METRIC (UpstreamLocalityStats.load_metric_stats: the number of requests timed and
 * the sum of their times in ms, so that a receiver can derive a mean); the baseline survives
 * reconnects, so load is neither lost nor counted twice across a stream failure. Clusters with
 * outlier detection also list their ejected endpoints (lrs-outlier-stats.ts). Nothing is dropped by ferry-proxy (no drop_overloads), so
 * `total_dropped_requests` is 0.
 *
 * A failed stream is retried with jittered exponential backoff. Every timer is unref'd.
 * close()/destroy() are idempotent.
 */
import type {
  ClusterStatsMessage,
  LoadStatsRequest,
  LoadStatsResponse,
  NodeMessage,
  UpstreamLocalityStatsMessage,
} from '@ferry/proto/grpc';
import type { Logger } from '@ferry/shared';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { StatsSnapshot } from '../stats/stats.js';
import type { BackoffOptions } from './ads-client.js';
import { durationMs, XdsStreamClientBase } from './xds-stream-client.js';
import type { XdsEndpointPicker } from './xds-endpoints.js';
import type { XdsChannel } from './xds-transport.js';
import {
  endpointOutlierStats,
  outlierBaseline,
  type LrsLocality,
  type OutlierBaseline,
  type OutlierCounters,
} from './lrs-outlier-stats.js';
import { LATENCY_METRIC } from '@ferry/shared';

export const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

/** Shortest report interval honoured, whatever the server asks (protects the control plane). */
const MIN_INTERVAL_MS = 100;
const DEFAULT_INTERVAL_MS = 10_000;

/** A locality as LRS reports it (proto-loader form of envoy.config.core.v3.Locality). */
/** Cumulative counts of one locality of a cluster at one moment (per attempt, from the workers). */
export interface LocalityLoadCounters {
  readonly locality: LrsLocality;
  /** Attempts answered below 500. */
  readonly successful: number;
  /** Attempts answered 5xx, or failed (connect failure, reset, timeout). */
  readonly error: number;
  readonly inProgress: number;
  /** Milliseconds summed over `timed` attempts that got a whole response. */
  readonly timeMs: number;
  readonly timed: number;
}

/** A cluster's localities by key. */
export type ClusterLoadCounters = ReadonlyMap<string, LocalityLoadCounters>;

export type LoadBaseline = ReadonlyMap<string, ClusterLoadCounters>;

type CounterField = 'successful' | 'error' | 'inProgress' | 'timeMs' | 'timed';

const LOCALITY_COUNTERS: Readonly<Record<string, CounterField>> = {
  upstream_locality_rq_success: 'successful',
  upstream_locality_rq_error: 'error',
  upstream_locality_rq_active: 'inProgress',
  upstream_locality_rq_time_ms: 'timeMs',
  upstream_locality_rq_timed: 'timed',
};

const NO_COUNTS = { successful: 0, error: 0, inProgress: 0, timeMs: 0, timed: 0 };

/**
 * Reads the cumulative per-locality counters of `clusters` from a merged stats snapshot
 * (upstream_locality_rq_* with labels cluster, region, zone, sub_zone: recorded by the workers
 * for clusters with lrs_server, upstream/cluster-stats.ts). A cluster without traffic yet has no
 * localities.
 */
export function clusterLoadCounters(
  snapshot: StatsSnapshot,
  clusters: readonly string[],
): Map<string, ClusterLoadCounters> {
  const result = new Map<string, Map<string, LocalityLoadCounters>>();
  for (const cluster of clusters) result.set(cluster, new Map());
  const add = (name: string, labels: Readonly<Record<string, string>>, value: number): void => {
    const field = LOCALITY_COUNTERS[name];
    const byLocality = labels.cluster === undefined ? undefined : result.get(labels.cluster);
    if (field === undefined || byLocality === undefined) return;
    const locality = {
      region: labels.region ?? '',
      zone: labels.zone ?? '',
      sub_zone: labels.sub_zone ?? '',
    };
    const key = `${locality.region}\u0000${locality.zone}\u0000${locality.sub_zone}`;
    const entry = byLocality.get(key) ?? { locality, ...NO_COUNTS };
    byLocality.set(key, { ...entry, [field]: entry[field] + value });
  };
  for (const c of snapshot.counters) add(c.name, c.labels, c.value);
  for (const g of snapshot.gauges) add(g.name, g.labels, g.value);
  return result;
}

/**
 * ClusterStats (proto-loader form) for one interval: per locality, the counts since `baseline`. A
 * counter that went down (a worker restarted and lost its counts) counts from zero instead of
 * going negative. `issued` = completed in the interval + the change of in-progress attempts.
 * With `outliers`, each locality lists its endpoints ejected now or since the outlier baseline
 * (a locality with no requests but such an endpoint is reported with zero counts).
 */
export function loadReport(
  current: LoadBaseline,
  baseline: LoadBaseline,
  intervalMs: number,
  outliers?: { readonly current: OutlierCounters; readonly baseline: OutlierBaseline },
): ClusterStatsMessage[] {
  const delta = (now: number, before: number): number => (now >= before ? now - before : now);
  const stats: ClusterStatsMessage[] = [];
  for (const [cluster, counted] of current) {
    const upstreamLocalityStats: UpstreamLocalityStatsMessage[] = [];
    const hosts = outliers?.current.get(cluster);
    const endpoints = hosts
      ? endpointOutlierStats(hosts, outliers?.baseline.get(cluster))
      : new Map<string, never>();
    const localities = new Map(counted);
    for (const [key, { locality }] of endpoints)
      if (!localities.has(key)) localities.set(key, { locality, ...NO_COUNTS });
    for (const [key, now] of localities) {
      const before = baseline.get(cluster)?.get(key) ?? NO_COUNTS;
      const successful = delta(now.successful, before.successful);
      const error = delta(now.error, before.error);
      const issued = Math.max(0, successful + error + now.inProgress - before.inProgress);
      const timed = delta(now.timed, before.timed);
      // Both restart together (one worker's counters); a time from a restarted worker counts from 0.
      const timeMs =
        now.timed >= before.timed ? Math.max(0, now.timeMs - before.timeMs) : now.timeMs;
      upstreamLocalityStats.push({
        locality: { ...now.locality },
        total_successful_requests: String(successful),
        total_error_requests: String(error),
        total_requests_in_progress: String(Math.max(0, now.inProgress)),
        total_issued_requests: String(issued),
        ...(timed > 0
          ? {
              load_metric_stats: [
                {
                  metric_name: LATENCY_METRIC,
                  num_requests_finished_with_metric: String(timed),
                  total_metric_value: timeMs,
                },
              ],
            }
          : {}),
        ...(endpoints.has(key) ? { upstream_endpoint_stats: endpoints.get(key)!.endpoints } : {}),
      });
    }
    stats.push({
      cluster_name: cluster,
      upstream_locality_stats: upstreamLocalityStats,
      // ferry-proxy drops nothing on purpose (no drop_overloads).
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
  /** The control planes, shared with the ADS client (xds-endpoints.ts); or one `target`. */
  readonly endpoints?: XdsEndpointPicker;
  readonly target?: string;
  /** envoy.config.core.v3.Node in proto-loader form (nodeMessage in ads-client.ts). */
  readonly node: NodeMessage;
  /** Names of the clusters that have `lrs_server` in the current config. */
  readonly clusters: () => readonly string[];
  /** The workers' merged stats (Primary.stats). */
  readonly stats: () => Promise<StatsSnapshot>;
  /** Outlier state of these clusters' endpoints (OutlierManager.endpointStates). */
  readonly outliers?: (clusters: readonly string[]) => OutlierCounters;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** The xDS cluster's transport (xds-transport.ts); default plaintext. */
  readonly channel?: XdsChannel;
  readonly now?: () => number;
}

export class LrsClient extends XdsStreamClientBase<LoadStatsRequest, LoadStatsResponse> {
  readonly #options: LrsClientOptions;
  readonly #now: () => number;
  #reportTimer: NodeJS.Timeout | undefined;
  #baseline: LoadBaseline = new Map();
  #baselineAtMs: number;
  #outlierBaseline: OutlierBaseline = new Map();
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

  protected openCall(): ClientDuplexStream<LoadStatsRequest, LoadStatsResponse> {
    return this.client.stream('StreamLoadStats');
  }

  protected onStreamOpened(): void {
    this.write({ node: this.#options.node });
  }

  /** A LoadStatsResponse: which clusters to report and how often. */
  protected onResponse(response: LoadStatsResponse): void {
    this.#only = response.send_all_clusters === true ? undefined : new Set(response.clusters);
    const intervalMs = Math.max(
      MIN_INTERVAL_MS,
      durationMs(response.load_reporting_interval) ?? DEFAULT_INTERVAL_MS,
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

  async #report(
    call: ClientDuplexStream<LoadStatsRequest, LoadStatsResponse> | undefined,
  ): Promise<void> {
    if (!call || call !== this.call || this.#reporting) return;
    this.#reporting = true;
    try {
      const only = this.#only;
      const clusters = this.#options.clusters().filter((c) => !only || only.has(c));
      const snapshot = await this.#options.stats();
      if (call !== this.call) return;
      const current = clusterLoadCounters(snapshot, clusters);
      const outliers = this.#options.outliers?.(clusters) ?? new Map();
      const at = this.#now();
      const stats = loadReport(current, this.#baseline, Math.max(0, at - this.#baselineAtMs), {
        current: outliers,
        baseline: this.#outlierBaseline,
      });
      // Clusters not reported keep their old baseline; reported ones move on.
      const next = new Map(this.#baseline);
      for (const [cluster, counters] of current) next.set(cluster, counters);
      this.#baseline = next;
      const nextOutliers = new Map(this.#outlierBaseline);
      for (const [cluster, hosts] of outlierBaseline(outliers)) nextOutliers.set(cluster, hosts);
      this.#outlierBaseline = nextOutliers;
      this.#baselineAtMs = at;
      this.write({ node: this.#options.node, cluster_stats: stats });
    } catch (err) {
      this.#options.logger.warn({ err }, 'LRS: cannot collect stats for a load report');
    } finally {
      this.#reporting = false;
    }
  }
}
