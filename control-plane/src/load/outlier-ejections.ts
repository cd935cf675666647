/**
 * Which endpoints the proxies' outlier detectors eject, as ferry-proxy reports them over LRS
 * (load metrics of UpstreamEndpointStats, lrs-server.ts): per group, cluster and endpoint, the
 * proxies whose latest report of the cluster has it ejected (OUTLIER_EJECTED_METRIC) and the
 * ejections that started (OUTLIER_EJECTIONS_METRIC, deltas like every load metric) in the load
 * history's time buckets. Owned by LoadHistory, which adds it to GET /v1/load/history.
 *
 * A proxy reports each cluster every interval, so a cluster's ejected set is replaced by each
 * report; a report older than STALE_INTERVALS intervals (the proxy stopped reporting the cluster)
 * no longer counts, and a proxy whose stream ended is forgotten. Memory is bounded by the
 * endpoints ejected in the window: an endpoint with no ejection in the window and ejected by no
 * proxy is dropped.
 *
 * `changes` emits `cluster` (group, cluster) when a report changes what the cluster's view shows:
 * a proxy's ejected set of it changed, an ejection started, or a proxy holding ejections left.
 * The event stream passes that on as an `outlier` event, so the dashboard shows an ejection as
 * the report arrives.
 */
import { EventEmitter } from 'node:events';
import type { OutlierEndpointJson } from '@ferry/shared/api-wire';

/** Reports missed before a proxy's ejected set of a cluster is treated as gone. */
const STALE_INTERVALS = 3;
/** The interval assumed of a report that does not say its own (LRS's default 10 s). */
const DEFAULT_INTERVAL_MS = 10_000;

/** One endpoint of one report. */
export interface EndpointOutlierReport {
  readonly address: string;
  readonly ejected: boolean;
  /** Ejections that started in the report's interval. */
  readonly ejections: number;
}

interface NodeClusterState {
  readonly ejected: ReadonlySet<string>;
  readonly reportedAtMs: number;
  readonly staleAfterMs: number;
}

interface NodeState {
  readonly group: string;
  /** Cluster → the latest report's ejected endpoints. */
  readonly clusters: Map<string, NodeClusterState>;
}

/** Ejection counts of one endpoint, one slot per bucket, reused as time moves on. */
interface EndpointSeries {
  readonly group: string;
  readonly cluster: string;
  readonly address: string;
  readonly counts: Float64Array;
  readonly indexes: Float64Array;
  lastIndex: number;
}

export interface OutlierChangeEvents {
  cluster: [group: string, cluster: string];
}

export class OutlierEjections {
  /** A cluster's view changed (see the module's comment). */
  readonly changes = new EventEmitter<OutlierChangeEvents>();
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #now: () => number;
  readonly #nodes = new Map<string, NodeState>();
  readonly #series = new Map<string, EndpointSeries>();
  #prunedAt = -1;

  constructor(options: { bucketMs: number; buckets: number; now: () => number }) {
    this.#bucketMs = options.bucketMs;
    this.#buckets = options.buckets;
    this.#now = options.now;
  }

  /** One report of `cluster` from `nodeId`: its ejected endpoints now and the new ejections. */
  report(
    nodeId: string,
    group: string,
    cluster: string,
    endpoints: readonly EndpointOutlierReport[],
    intervalMs: number | undefined,
  ): void {
    const now = this.#now();
    const ejected = new Set(endpoints.filter((e) => e.ejected).map((e) => e.address));
    let node = this.#nodes.get(nodeId);
    const before = node?.group === group ? node.clusters.get(cluster)?.ejected : undefined;
    let changed = !sameSet(before, ejected);
    if (node && node.group !== group) this.#forgetNode(nodeId, node);
    if (!node || node.group !== group) {
      if (ejected.size === 0) this.#nodes.delete(nodeId);
      else this.#nodes.set(nodeId, (node = { group, clusters: new Map() }));
    }
    if (ejected.size === 0) node?.clusters.delete(cluster);
    else
      node?.clusters.set(cluster, {
        ejected,
        reportedAtMs: now,
        staleAfterMs: STALE_INTERVALS * (intervalMs || DEFAULT_INTERVAL_MS),
      });
    const index = Math.floor(now / this.#bucketMs);
    this.#prune(index);
    for (const e of endpoints) {
      if (e.ejections > 0) {
        this.#add(group, cluster, e.address, index, e.ejections);
        changed = true;
      }
    }
    if (changed) this.changes.emit('cluster', group, cluster);
  }

  /** Drops a proxy's ejections in force (its load stream ended); counted ejections stay. */
  forget(nodeId: string): void {
    const node = this.#nodes.get(nodeId);
    if (node) this.#forgetNode(nodeId, node);
  }

  #forgetNode(nodeId: string, node: NodeState): void {
    this.#nodes.delete(nodeId);
    for (const [cluster, state] of node.clusters)
      if (state.ejected.size > 0) this.changes.emit('cluster', node.group, cluster);
  }

  /**
   * The endpoints of each (group, cluster), by `JSON.stringify([group, cluster])`, for the window
   * whose oldest bucket is `first`; only clusters `include` accepts.
   */
  view(
    first: number,
    include: (group: string, cluster: string) => boolean,
  ): Map<string, OutlierEndpointJson[]> {
    const now = this.#now();
    const byEndpoint = new Map<
      string,
      { group: string; cluster: string; address: string; nodes: string[]; ejections: number[] }
    >();
    const entry = (group: string, cluster: string, address: string) => {
      const key = JSON.stringify([group, cluster, address]);
      let e = byEndpoint.get(key);
      if (!e) {
        e = {
          group,
          cluster,
          address,
          nodes: [],
          ejections: new Array<number>(this.#buckets).fill(0),
        };
        byEndpoint.set(key, e);
      }
      return e;
    };
    for (const [nodeId, node] of this.#nodes)
      for (const [cluster, state] of node.clusters) {
        if (now - state.reportedAtMs > state.staleAfterMs || !include(node.group, cluster))
          continue;
        for (const address of state.ejected) entry(node.group, cluster, address).nodes.push(nodeId);
      }
    this.#prune(first + this.#buckets - 1);
    for (const s of this.#series.values()) {
      if (!include(s.group, s.cluster)) continue;
      const ejections = entry(s.group, s.cluster, s.address).ejections;
      for (let i = 0; i < this.#buckets; i++) {
        const slot = (first + i) % this.#buckets;
        if (s.indexes[slot] === first + i) ejections[i] = s.counts[slot]!;
      }
    }
    const out = new Map<string, OutlierEndpointJson[]>();
    for (const e of byEndpoint.values()) {
      const key = JSON.stringify([e.group, e.cluster]);
      let list = out.get(key);
      if (!list) out.set(key, (list = []));
      const nodes = e.nodes.sort(compare);
      list.push({
        address: e.address,
        ejected_by: nodes.length,
        ejected_nodes: nodes,
        ejections: e.ejections,
      });
    }
    for (const list of out.values()) list.sort((a, b) => compare(a.address, b.address));
    return out;
  }

  /** Drops the series with no ejection in the window ending at bucket `index` (once a bucket). */
  #prune(index: number): void {
    if (index === this.#prunedAt) return;
    this.#prunedAt = index;
    for (const [key, s] of this.#series)
      if (s.lastIndex <= index - this.#buckets) this.#series.delete(key);
  }

  #add(group: string, cluster: string, address: string, index: number, count: number): void {
    const key = JSON.stringify([group, cluster, address]);
    let s = this.#series.get(key);
    if (!s) {
      s = {
        group,
        cluster,
        address,
        counts: new Float64Array(this.#buckets),
        indexes: new Float64Array(this.#buckets).fill(-1),
        lastIndex: index,
      };
      this.#series.set(key, s);
    }
    s.lastIndex = Math.max(s.lastIndex, index);
    const slot = index % this.#buckets;
    if (s.indexes[slot] !== index) {
      s.indexes[slot] = index;
      s.counts[slot] = 0;
    }
    s.counts[slot] = s.counts[slot]! + count;
  }
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string>): boolean {
  if ((a?.size ?? 0) !== b.size) return false;
  for (const x of b) if (!a!.has(x)) return false;
  return true;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
