/**
 * The fleet's load as proxies report it over LRS (lrs-server.ts): per node, cluster and locality,
 * the latest interval's counts and their running totals since the node's stream opened, and the
 * aggregate per group and cluster over every reporting node (GET /v1/load).
 *
 * LRS semantics (load_stats.proto, UpstreamLocalityStats): successful, error and issued request
 * counts and dropped requests are deltas "since the last report"; requests in progress is a
 * gauge. So totals add the deltas up, while in-progress is the latest value only. Named load
 * metrics (`load_metric_stats`: a request count and a sum of values over the interval) are
 * deltas too and add up the same way; ferry-proxy reports LATENCY_METRIC. Endpoint load metrics
 * (UpstreamEndpointStats) are kept only for ferry-proxy's outlier ejections (outlier-ejections.ts).
 */
import type { LoadCountsJson, LoadJson } from '@ferry/shared/api-wire';
import { localityId, type LocalityKey } from './locality-key.js';
import { LoadHistory, type LoadHistoryOptions } from './load-history.js';
import { LATENCY_METRIC, OUTLIER_EJECTED_METRIC, OUTLIER_EJECTIONS_METRIC } from '@ferry/shared';
import type { EndpointOutlierReport } from './outlier-ejections.js';

/** One named load metric over one report's interval (EndpointLoadMetricStats). */
export interface LoadMetricReport {
  readonly name: string;
  /** num_requests_finished_with_metric. */
  readonly requests: number;
  /** total_metric_value: the sum over those requests. */
  readonly total: number;
}

export type { LocalityKey } from './locality-key.js';

/** One endpoint's named load metrics in one report (UpstreamEndpointStats). */
export interface EndpointLoadReport {
  /** `host:port` (formatHostPort). */
  readonly address: string;
  readonly metrics: readonly LoadMetricReport[];
}

/** One locality's counts in one report. */
export interface LocalityLoadReport {
  readonly locality: LocalityKey;
  readonly successful: number;
  readonly error: number;
  readonly issued: number;
  readonly inProgress: number;
  readonly metrics?: readonly LoadMetricReport[];
  readonly endpoints?: readonly EndpointLoadReport[];
}

/** One ClusterStats of a LoadStatsRequest, in internal form. */
export interface ClusterLoadReport {
  readonly cluster: string;
  readonly localities: readonly LocalityLoadReport[];
  readonly dropped: number;
  /** load_report_interval the proxy measured over, when it said. */
  readonly intervalMs?: number;
}

export interface LoadCounts {
  successful: number;
  error: number;
  issued: number;
  inProgress: number;
  dropped: number;
}

export interface NodeLocalityLoad {
  readonly locality: LocalityKey;
  /** The latest report's counts (in-progress is a gauge, the rest are the interval's deltas). */
  readonly latest: LoadCounts;
  /** Deltas summed since the node's stream opened; in-progress is the latest value. */
  readonly total: LoadCounts;
  /** Named load metrics summed since the node's stream opened, by name. */
  readonly metrics: ReadonlyMap<string, { readonly requests: number; readonly total: number }>;
}

export interface NodeClusterLoad {
  readonly node: string;
  readonly reportedAt: string;
  readonly intervalMs?: number;
  readonly localities: readonly NodeLocalityLoad[];
  readonly droppedLatest: number;
  readonly droppedTotal: number;
}

export interface ClusterLoad {
  readonly group: string;
  readonly cluster: string;
  /** Sum over nodes of their totals. */
  readonly total: LoadCounts;
  readonly nodes: readonly NodeClusterLoad[];
}

/** What the management API reads. */
export interface LoadSource {
  load(filter?: { group?: string | undefined; cluster?: string | undefined }): ClusterLoad[];
}

interface LocalityState {
  locality: LocalityKey;
  latest: LoadCounts;
  total: LoadCounts;
  metrics: Map<string, { requests: number; total: number }>;
}

interface ClusterState {
  reportedAtMs: number;
  intervalMs?: number;
  localities: Map<string, LocalityState>;
  droppedLatest: number;
  droppedTotal: number;
}

interface NodeState {
  group: string;
  clusters: Map<string, ClusterState>;
}

function zero(): LoadCounts {
  return { successful: 0, error: 0, issued: 0, inProgress: 0, dropped: 0 };
}

export class LoadAggregate {
  /** The last hour of the reports, in time buckets (GET /v1/load/history). */
  readonly history: LoadHistory;
  readonly #nodes = new Map<string, NodeState>();
  readonly #now: () => number;

  constructor(options: { now?: () => number; history?: Omit<LoadHistoryOptions, 'now'> } = {}) {
    this.#now = options.now ?? Date.now;
    this.history = new LoadHistory({ ...options.history, now: this.#now });
  }

  /** Adds one LoadStatsRequest's cluster stats from `nodeId` (in group `group`). */
  report(nodeId: string, group: string, clusters: readonly ClusterLoadReport[]): void {
    let node = this.#nodes.get(nodeId);
    if (!node || node.group !== group) {
      node = { group, clusters: new Map() };
      this.#nodes.set(nodeId, node);
    }
    const at = this.#now();
    for (const report of clusters) {
      let state = node.clusters.get(report.cluster);
      if (!state) {
        state = { reportedAtMs: at, localities: new Map(), droppedLatest: 0, droppedTotal: 0 };
        node.clusters.set(report.cluster, state);
      }
      state.reportedAtMs = at;
      if (report.intervalMs !== undefined) state.intervalMs = report.intervalMs;
      state.droppedLatest = report.dropped;
      state.droppedTotal += report.dropped;
      // Localities absent from this report had no load in the interval.
      for (const locality of state.localities.values()) locality.latest = zero();
      const outliers: EndpointOutlierReport[] = [];
      for (const l of report.localities) {
        for (const e of l.endpoints ?? []) {
          const metric = (name: string) => e.metrics.find((m) => m.name === name)?.total ?? 0;
          const ejections = metric(OUTLIER_EJECTIONS_METRIC);
          const ejected = metric(OUTLIER_EJECTED_METRIC) > 0;
          if (ejected || ejections > 0) outliers.push({ address: e.address, ejected, ejections });
        }
        const id = localityId(l.locality);
        let locality = state.localities.get(id);
        if (!locality) {
          locality = { locality: l.locality, latest: zero(), total: zero(), metrics: new Map() };
          state.localities.set(id, locality);
        }
        locality.latest = {
          successful: l.successful,
          error: l.error,
          issued: l.issued,
          inProgress: l.inProgress,
          dropped: 0,
        };
        locality.total.successful += l.successful;
        locality.total.error += l.error;
        locality.total.issued += l.issued;
        locality.total.inProgress = l.inProgress;
        let latencyMsSum = 0;
        let latencyCount = 0;
        for (const m of l.metrics ?? []) {
          const sum = locality.metrics.get(m.name);
          if (sum) {
            sum.requests += m.requests;
            sum.total += m.total;
          } else locality.metrics.set(m.name, { requests: m.requests, total: m.total });
          if (m.name === LATENCY_METRIC) {
            latencyMsSum += m.total;
            latencyCount += m.requests;
          }
        }
        this.history.record(group, report.cluster, l.locality, {
          requests: l.issued,
          errors: l.error,
          latencyMsSum,
          latencyCount,
        });
      }
      // Every report of the cluster replaces the node's ejected set, an empty one included.
      this.history.outliers.report(nodeId, group, report.cluster, outliers, report.intervalMs);
    }
  }

  /** Drops a node's load and the ejections it has in force (its stream ended). */
  forget(nodeId: string): void {
    this.#nodes.delete(nodeId);
    this.history.outliers.forget(nodeId);
  }

  /** Per group and cluster, sorted by group then cluster; nodes sorted by id. */
  load(filter: { group?: string | undefined; cluster?: string | undefined } = {}): ClusterLoad[] {
    const byKey = new Map<string, { group: string; cluster: string; nodes: NodeClusterLoad[] }>();
    for (const [nodeId, node] of this.#nodes) {
      if (filter.group !== undefined && node.group !== filter.group) continue;
      for (const [cluster, state] of node.clusters) {
        if (filter.cluster !== undefined && cluster !== filter.cluster) continue;
        const key = JSON.stringify([node.group, cluster]);
        let entry = byKey.get(key);
        if (!entry) {
          entry = { group: node.group, cluster, nodes: [] };
          byKey.set(key, entry);
        }
        entry.nodes.push({
          node: nodeId,
          reportedAt: new Date(state.reportedAtMs).toISOString(),
          ...(state.intervalMs !== undefined ? { intervalMs: state.intervalMs } : {}),
          localities: [...state.localities.values()].map((l) => ({
            locality: l.locality,
            latest: { ...l.latest },
            total: { ...l.total },
            metrics: new Map([...l.metrics].map(([name, m]) => [name, { ...m }])),
          })),
          droppedLatest: state.droppedLatest,
          droppedTotal: state.droppedTotal,
        });
      }
    }
    const result: ClusterLoad[] = [];
    for (const entry of byKey.values()) {
      const total = zero();
      for (const node of entry.nodes) {
        total.dropped += node.droppedTotal;
        for (const l of node.localities) {
          total.successful += l.total.successful;
          total.error += l.total.error;
          total.issued += l.total.issued;
          total.inProgress += l.total.inProgress;
        }
      }
      entry.nodes.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      result.push({ group: entry.group, cluster: entry.cluster, total, nodes: entry.nodes });
    }
    return result.sort((a, b) =>
      a.group !== b.group ? (a.group < b.group ? -1 : 1) : a.cluster < b.cluster ? -1 : 1,
    );
  }
}

export type { LoadCountsJson, LoadJson, NodeLoadJson } from '@ferry/shared/api-wire';

/** The JSON of GET /v1/load (snake_case like the rest of the API). */
export function loadJson(
  source: LoadSource,
  filter: { group?: string | undefined; cluster?: string | undefined },
): LoadJson {
  const counts = (c: LoadCounts): LoadCountsJson => ({
    total_successful_requests: c.successful,
    total_error_requests: c.error,
    total_issued_requests: c.issued,
    total_requests_in_progress: c.inProgress,
    total_dropped_requests: c.dropped,
  });
  return {
    clusters: source.load(filter).map((c) => ({
      group: c.group,
      cluster: c.cluster,
      total: counts(c.total),
      nodes: c.nodes.map((n) => ({
        node: n.node,
        reported_at: n.reportedAt,
        ...(n.intervalMs !== undefined ? { load_report_interval_ms: n.intervalMs } : {}),
        dropped: { latest: n.droppedLatest, total: n.droppedTotal },
        localities: n.localities.map((l) => ({
          locality: {
            region: l.locality.region,
            zone: l.locality.zone,
            sub_zone: l.locality.subZone,
          },
          latest: counts(l.latest),
          total: counts(l.total),
          load_metric_stats: [...l.metrics].map(([name, m]) => ({
            metric_name: name,
            num_requests_finished_with_metric: m.requests,
            total_metric_value: m.total,
          })),
        })),
      })),
    })),
  };
}
