/**
 * Who is connected and what each node has: the xDS streams report sends, ACKs and NACKs here; the
 * management API (`FleetStatusSource`) and CSDS read it. One record per node id, shared by all
 * of that node's streams (ADS, or one stream per type service). Disconnected nodes stay visible
 * with connected=false for `retainMs` so that an operator can see a proxy that just went away;
 * they are pruned lazily, without timers, at most once per `pruneIntervalMs` so that connecting a
 * fleet of N nodes stays O(N). Times are kept as epoch milliseconds and formatted only when
 * status is read: the streams stamp them on every request, send and ACK.
 */
import type { FleetStatusSource, NackStatus, NodeStatus, TypeStatus } from './fleet-status.js';
import type { MetricChild } from '../metrics/registry.js';
import { xdsMetrics } from '../metrics/xds-metrics.js';

/**
 * The parts of Envoy's Node message kept per node. `extensions` and `client_features` are
 * dropped: Envoy sends hundreds of extension entries, which would dominate per-node memory.
 */
export interface NodeIdentity {
  readonly id: string;
  readonly cluster: string;
  readonly metadata?: unknown;
  readonly locality?: unknown;
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
}

/** What a stream currently asks for on one type (shared by reference, never copied). */
export interface SubscriptionView {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

interface TypeRecord {
  versionSent: string;
  versionAcked: string;
  resources: number;
  /** When versionSent was last sent, epoch ms (0 = never). */
  lastSent: number;
  lastNack: NackStatus | undefined;
  subscription: SubscriptionView | undefined;
}

interface NodeRecord {
  node: NodeIdentity;
  group: string;
  address: string;
  streams: string[];
  /** Epoch ms. */
  connectedSince: number;
  /** Epoch ms. */
  lastSeen: number;
  disconnectedAt: number | undefined;
  types: Map<string, TypeRecord>;
}

/** A stream's handle on its node's record; every method is cheap and never throws. */
export interface NodeHandle {
  readonly node: NodeIdentity;
  readonly group: string;
  seen(): void;
  sent(typeUrl: string, version: string, resources: number, subscription: SubscriptionView): void;
  acked(typeUrl: string, version: string): void;
  /**
   * Records a NACK of the response that sent `version`; `resources` are the names that response
   * carried (the ones CSDS reports as NACKED).
   */
  nacked(typeUrl: string, version: string, error: string, resources: readonly string[]): void;
  /** Called once when the stream ends. */
  disconnect(): void;
}

export interface FleetTrackerOptions {
  /** How long a disconnected node stays listed (default 10 minutes). */
  readonly retainMs?: number;
  /**
   * How many disconnected nodes stay listed at most (default 10,000): the oldest go first, so
   * that clients connecting under ever new node ids cannot grow the tracker within `retainMs`.
   */
  readonly maxDisconnected?: number;
  /** Least time between two scans for expired records (default min(retainMs, 10 s)). */
  readonly pruneIntervalMs?: number;
  readonly now?: () => number;
  /**
   * The gauge of connected proxies of a group (default: `ferry_xds_connected_proxies` in the
   * process registry). A node counts once however many streams it has.
   */
  readonly connectedProxies?: (group: string) => MetricChild;
}

/** A node's record as CSDS reads it. */
export interface FleetNodeView {
  readonly node: NodeIdentity;
  readonly group: string;
  readonly connected: boolean;
  readonly types: ReadonlyMap<string, Readonly<TypeRecord>>;
}

export function groupOf(node: { readonly cluster?: string }): string {
  return node.cluster ? node.cluster : 'default';
}

export class FleetTracker implements FleetStatusSource {
  private readonly records = new Map<string, NodeRecord>();
  private readonly retainMs: number;
  private readonly pruneIntervalMs: number;
  private readonly now: () => number;
  private lastPruneAt = -Infinity;
  private readonly connectedProxies: (group: string) => MetricChild;
  private readonly maxDisconnected: number;
  /**
   * Node ids and disconnect times in the order they were disconnected (entries of reconnected or
   * pruned records linger until shifted out; they hold no record, so they cost a few bytes).
   */
  private readonly disconnectedOrder: Array<[string, number]> = [];

  constructor(options: FleetTrackerOptions = {}) {
    if (options.connectedProxies) this.connectedProxies = options.connectedProxies;
    else {
      const metrics = xdsMetrics();
      this.connectedProxies = (group) => metrics.connectedProxies(group);
    }
    this.retainMs = options.retainMs ?? 10 * 60 * 1000;
    this.maxDisconnected = options.maxDisconnected ?? 10_000;
    this.pruneIntervalMs = options.pruneIntervalMs ?? Math.min(this.retainMs, 10_000);
    this.now = options.now ?? Date.now;
  }

  /** Registers a stream of `kind` ("ads-sotw", "lds-delta", ...) for `node`. */
  connect(node: NodeIdentity, kind: string, address: string): NodeHandle {
    this.maybePrune();
    const now = this.now();
    let record = this.records.get(node.id);
    if (!record || record.disconnectedAt !== undefined || record.group !== groupOf(node)) {
      // A node that reconnects starts over: what it had is unknown until it asks again.
      record = {
        node,
        group: groupOf(node),
        address,
        streams: [],
        connectedSince: now,
        lastSeen: now,
        disconnectedAt: undefined,
        types:
          record && record.disconnectedAt === undefined
            ? record.types
            : new Map<string, TypeRecord>(),
      };
      this.records.set(node.id, record);
      // A record replaced while connected (the node moved group) is decremented by its own
      // streams' disconnects, so each record counts exactly while it has streams.
      this.connectedProxies(record.group).inc();
    }
    record.node = node;
    record.address = address;
    record.lastSeen = now;
    record.streams.push(kind);
    const owner = record;
    let open = true;
    const type = (typeUrl: string): TypeRecord => {
      let t = owner.types.get(typeUrl);
      if (!t) {
        t = {
          versionSent: '',
          versionAcked: '',
          resources: 0,
          lastSent: 0,
          lastNack: undefined,
          subscription: undefined,
        };
        owner.types.set(typeUrl, t);
      }
      return t;
    };
    const stamp = (): number => (owner.lastSeen = this.now());
    return {
      node,
      group: owner.group,
      seen: () => void stamp(),
      sent: (typeUrl, version, resources, subscription) => {
        const t = type(typeUrl);
        t.versionSent = version;
        t.resources = resources;
        t.subscription = subscription;
        t.lastSent = stamp();
      },
      acked: (typeUrl, version) => {
        const t = type(typeUrl);
        t.versionAcked = version;
        // An ACK means the node now runs an accepted config: the earlier rejection is history.
        t.lastNack = undefined;
        stamp();
      },
      nacked: (typeUrl, version, error, resources) => {
        const time = new Date(stamp()).toISOString();
        type(typeUrl).lastNack = { version, error, time, resources: [...resources] };
      },
      disconnect: () => {
        if (!open) return;
        open = false;
        const i = owner.streams.indexOf(kind);
        if (i >= 0) owner.streams.splice(i, 1);
        stamp();
        if (owner.streams.length === 0) {
          owner.disconnectedAt = this.now();
          this.connectedProxies(owner.group).inc(-1);
          this.retainDisconnected(owner);
        }
      },
    };
  }

  nodes(): NodeStatus[] {
    this.prune();
    return [...this.records.values()].map((r) => ({
      nodeId: r.node.id,
      cluster: r.node.cluster,
      group: r.group,
      userAgent: [r.node.user_agent_name, r.node.user_agent_version].filter(Boolean).join('/'),
      address: r.address,
      streams: [...r.streams],
      connected: r.disconnectedAt === undefined,
      connectedSince: new Date(r.connectedSince).toISOString(),
      lastSeen: new Date(r.lastSeen).toISOString(),
      types: [...r.types].map(([typeUrl, t]): TypeStatus => ({
        typeUrl,
        versionSent: t.versionSent,
        versionAcked: t.versionAcked,
        resources: t.resources,
        ...(t.lastNack
          ? {
              lastNack: {
                ...t.lastNack,
                ...(t.lastNack.resources ? { resources: [...t.lastNack.resources] } : {}),
              },
            }
          : {}),
      })),
    }));
  }

  /** Records for CSDS, connected or recently disconnected. */
  views(): FleetNodeView[] {
    this.prune();
    return [...this.records.values()].map((r) => ({
      node: r.node,
      group: r.group,
      connected: r.disconnectedAt === undefined,
      types: r.types,
    }));
  }

  /** Lists a disconnected record, forgetting the oldest disconnected one past the cap. */
  private retainDisconnected(record: NodeRecord): void {
    this.disconnectedOrder.push([record.node.id, record.disconnectedAt ?? 0]);
    while (this.disconnectedOrder.length > this.maxDisconnected) {
      const [id, at] = this.disconnectedOrder.shift()!;
      // Only if the node is still disconnected since then (not reconnected meanwhile).
      if (this.records.get(id)?.disconnectedAt === at) this.records.delete(id);
    }
  }

  private maybePrune(): void {
    if (this.now() - this.lastPruneAt >= this.pruneIntervalMs) this.prune();
  }

  private prune(): void {
    this.lastPruneAt = this.now();
    const cutoff = this.now() - this.retainMs;
    for (const [id, r] of this.records) {
      if (r.disconnectedAt !== undefined && r.disconnectedAt < cutoff) this.records.delete(id);
    }
  }
}
