/**
 * The fleet's view of endpoint health, built from what proxies report over HDS (hds-server.ts).
 *
 * Each proxy (node id) holds one report: the latest complete set of endpoints it checks, by
 * cluster, each HEALTHY or UNHEALTHY. A new report replaces the node's previous one (HDS
 * reports are complete, not deltas); a node whose HDS stream ends is forgotten, since a proxy
 * that is gone sees nothing. The aggregate is per group (the node's `node.cluster`), cluster and
 * endpoint: how many proxies see the endpoint healthy and unhealthy, and since
 * when that pair of counts last changed (`since`), so operators can tell a fresh flap from a
 * long outage.
 *
 * The clock is injectable so tests need no timing. Nothing here holds timers.
 */
import { EventEmitter } from 'node:events';

/** What one proxy says about one endpoint. */
export type ReportedHealth = 'HEALTHY' | 'UNHEALTHY';

/** One cluster of a node's report: endpoint address ("host:port") → health. */
export interface ClusterHealthReport {
  readonly cluster: string;
  readonly endpoints: ReadonlyMap<string, ReportedHealth>;
}

/** The aggregate of one endpoint over the proxies of a group that report it. */
export interface EndpointAggregate {
  readonly address: string;
  readonly healthy: number;
  readonly unhealthy: number;
  /** Proxies reporting this endpoint (healthy + unhealthy). */
  readonly proxies: number;
  /**
   * HEALTHY when every reporting proxy sees it healthy, UNHEALTHY when every one sees it
   * unhealthy, otherwise MIXED.
   */
  readonly status: 'HEALTHY' | 'UNHEALTHY' | 'MIXED';
  /** When the (healthy, unhealthy) counts last changed, ms since the epoch. */
  readonly since: number;
  /** Node ids that see it unhealthy (sorted). */
  readonly unhealthyNodes: readonly string[];
}

export interface ClusterAggregate {
  readonly group: string;
  readonly cluster: string;
  readonly endpoints: readonly EndpointAggregate[];
}

/** One proxy's own view, as it last reported it. */
export interface NodeHealthView {
  readonly nodeId: string;
  readonly group: string;
  readonly reportedAt: number;
  readonly clusters: ReadonlyArray<{
    readonly cluster: string;
    readonly endpoints: ReadonlyArray<{
      readonly address: string;
      readonly status: ReportedHealth;
    }>;
  }>;
}

/** What the quorum rule (quorum.ts) decides for one cluster of a group. */
export interface QuorumView {
  readonly unhealthyPercent: number;
  readonly minProxies: number;
  /** Endpoints served as UNHEALTHY in the group's EDS because of the rule. */
  readonly marked: ReadonlySet<string>;
}

/**
 * `cluster` when an endpoint of (group, cluster) changed its counts, appeared or disappeared (the
 * management API's event stream). Listeners run inside the HDS handlers: cheap, never throwing.
 */
export interface HealthChangeEvents {
  cluster: [group: string, cluster: string];
}

/** What the management API reads. */
export interface HealthStatusSource {
  /** Pushed changes, for sources that have them. */
  readonly changes?: EventEmitter<HealthChangeEvents>;
  clusters(): ClusterAggregate[];
  nodes(): NodeHealthView[];
  /** The quorum rule's state for a cluster that uses it (undefined otherwise). */
  quorum?(group: string, cluster: string): QuorumView | undefined;
}

interface NodeReport {
  readonly group: string;
  readonly reportedAt: number;
  readonly clusters: ReadonlyMap<string, ReadonlyMap<string, ReportedHealth>>;
}

/** group → cluster → address. */
function endpointId(group: string, cluster: string, address: string): string {
  return JSON.stringify([group, cluster, address]);
}

export interface HealthAggregateOptions {
  readonly now?: () => number;
  /**
   * Called when an endpoint's aggregate status changes or first appears (metrics); not when it
   * disappears.
   */
  readonly onTransition?: (status: EndpointAggregate['status']) => void;
  /** Called after each node report, with the report merged per cluster (the quorum rule's writer). */
  readonly onReport?: (nodeId: string, group: string, clusters: ClusterHealthReport[]) => void;
  /** Called when a node's HDS stream ended. */
  readonly onForget?: (nodeId: string) => void;
  /** The quorum rule's state, shown beside the aggregate. */
  readonly quorum?: (group: string, cluster: string) => QuorumView | undefined;
}

export class HealthAggregate implements HealthStatusSource {
  readonly #now: () => number;
  readonly #reports = new Map<string, NodeReport>();
  /** Last counts seen per endpoint and when they changed; pruned when no node reports it. */
  readonly #since = new Map<
    string,
    { counts: string; since: number; status: EndpointAggregate['status'] }
  >();

  readonly #onTransition: ((status: EndpointAggregate['status']) => void) | undefined;
  readonly #onReport: HealthAggregateOptions['onReport'];
  readonly #onForget: HealthAggregateOptions['onForget'];
  readonly #quorum: HealthAggregateOptions['quorum'];
  readonly changes = new EventEmitter<HealthChangeEvents>();

  constructor(options: HealthAggregateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#onTransition = options.onTransition;
    this.#onReport = options.onReport;
    this.#onForget = options.onForget;
    this.#quorum = options.quorum;
  }

  quorum(group: string, cluster: string): QuorumView | undefined {
    return this.#quorum?.(group, cluster);
  }

  /** Replaces a node's report. Called by the HDS server for every EndpointHealthResponse. */
  report(nodeId: string, group: string, clusters: readonly ClusterHealthReport[]): void {
    const byCluster = new Map<string, ReadonlyMap<string, ReportedHealth>>();
    for (const c of clusters) {
      const merged = new Map(byCluster.get(c.cluster) ?? []);
      for (const [address, status] of c.endpoints) {
        // The same endpoint twice (two localities): unhealthy wins, as in the proxy itself.
        if (merged.get(address) !== 'UNHEALTHY') merged.set(address, status);
      }
      byCluster.set(c.cluster, merged);
    }
    this.#reports.set(nodeId, { group, reportedAt: this.#now(), clusters: byCluster });
    this.#refresh();
    this.#onReport?.(
      nodeId,
      group,
      [...byCluster].map(([cluster, endpoints]) => ({ cluster, endpoints })),
    );
  }

  /** Drops a node's report (its HDS stream ended). */
  forget(nodeId: string): void {
    if (this.#reports.delete(nodeId)) this.#refresh();
    this.#onForget?.(nodeId);
  }

  clusters(): ClusterAggregate[] {
    const tallies = this.#tally();
    const byCluster = new Map<
      string,
      { group: string; cluster: string; list: EndpointAggregate[] }
    >();
    for (const [id, t] of tallies) {
      const clusterId = JSON.stringify([t.group, t.cluster]);
      let entry = byCluster.get(clusterId);
      if (!entry) {
        entry = { group: t.group, cluster: t.cluster, list: [] };
        byCluster.set(clusterId, entry);
      }
      const proxies = t.healthy + t.unhealthyNodes.length;
      entry.list.push({
        address: t.address,
        healthy: t.healthy,
        unhealthy: t.unhealthyNodes.length,
        proxies,
        status: statusOf(t.healthy, t.unhealthyNodes.length),
        since: this.#since.get(id)?.since ?? this.#now(),
        unhealthyNodes: [...t.unhealthyNodes].sort(),
      });
    }
    return [...byCluster.values()]
      .map((e) => ({
        group: e.group,
        cluster: e.cluster,
        endpoints: e.list.sort((a, b) => a.address.localeCompare(b.address)),
      }))
      .sort((a, b) => a.group.localeCompare(b.group) || a.cluster.localeCompare(b.cluster));
  }

  nodes(): NodeHealthView[] {
    return [...this.#reports]
      .map(([nodeId, r]) => ({
        nodeId,
        group: r.group,
        reportedAt: r.reportedAt,
        clusters: [...r.clusters]
          .map(([cluster, endpoints]) => ({
            cluster,
            endpoints: [...endpoints]
              .map(([address, status]) => ({ address, status }))
              .sort((a, b) => a.address.localeCompare(b.address)),
          }))
          .sort((a, b) => a.cluster.localeCompare(b.cluster)),
      }))
      .sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  #tally(): Map<
    string,
    { group: string; cluster: string; address: string; healthy: number; unhealthyNodes: string[] }
  > {
    const tallies = new Map<
      string,
      { group: string; cluster: string; address: string; healthy: number; unhealthyNodes: string[] }
    >();
    for (const [nodeId, report] of this.#reports) {
      for (const [cluster, endpoints] of report.clusters) {
        for (const [address, status] of endpoints) {
          const id = endpointId(report.group, cluster, address);
          let t = tallies.get(id);
          if (!t) {
            t = { group: report.group, cluster, address, healthy: 0, unhealthyNodes: [] };
            tallies.set(id, t);
          }
          if (status === 'HEALTHY') t.healthy += 1;
          else t.unhealthyNodes.push(nodeId);
        }
      }
    }
    return tallies;
  }

  /** Records when each endpoint's counts changed; forgets endpoints nobody reports any more. */
  #refresh(): void {
    const now = this.#now();
    const tallies = this.#tally();
    const changed = new Map<string, [group: string, cluster: string]>();
    for (const [id, t] of tallies) {
      const counts = `${t.healthy}/${t.unhealthyNodes.length}`;
      const previous = this.#since.get(id);
      if (previous?.counts === counts) continue;
      const status = statusOf(t.healthy, t.unhealthyNodes.length);
      this.#since.set(id, { counts, since: now, status });
      if (previous?.status !== status) this.#onTransition?.(status);
      changed.set(JSON.stringify([t.group, t.cluster]), [t.group, t.cluster]);
    }
    for (const id of [...this.#since.keys()]) {
      if (tallies.has(id)) continue;
      this.#since.delete(id);
      const [group, cluster] = JSON.parse(id) as [string, string];
      changed.set(JSON.stringify([group, cluster]), [group, cluster]);
    }
    for (const [group, cluster] of changed.values()) this.changes.emit('cluster', group, cluster);
  }
}

function statusOf(healthy: number, unhealthy: number): EndpointAggregate['status'] {
  return unhealthy === 0 ? 'HEALTHY' : healthy === 0 ? 'UNHEALTHY' : 'MIXED';
}
