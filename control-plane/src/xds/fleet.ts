/**
 * Who is connected and what each node has: the xDS streams report sends, ACKs and NACKs here; the
 * management API (`FleetStatusSource`) and CSDS read it. One record per node id, shared by all
 * of that node's streams (ADS, or one stream per type service). Disconnected nodes stay visible
 * with connected=false for `retainMs` so that an operator can see a proxy that just went away;
 * they are pruned lazily, without timers, at most once per `pruneIntervalMs` so that connecting a
 * fleet of N nodes stays O(N). Times are kept as epoch milliseconds and formatted only when
 * status is read: the streams stamp them on every request, send and ACK.
 *
 * Per resource (docs/architecture.md, "Per-resource acceptance"): a client that names the
 * resources it rejected (ferry-proxy's NACK carries a google.rpc.BadRequest) applied the rest of
 * the response, so the type's `versionApplied` moves on and only the rejected resources are
 * recorded, with the version each still runs. Everything else is derived when status is read:
 * a resource runs `versionApplied` if the snapshot of that version (kept by reference, shared by
 * the group's nodes) had it. A NACK without names rejects the whole response, as before.
 */
import { EventEmitter } from 'node:events';
import type {
  FleetStatusSource,
  NackStatus,
  NodeStatus,
  NodeSummary,
  ResourceStatus,
  StatusOptions,
  TypeStatus,
} from './fleet-status.js';
import {
  resourceState,
  statusNames,
  type ResourceDeviation,
  type ResourceState,
  type SubscriptionView,
  type TypeRecordView,
} from './resource-status.js';

export type { ResourceDeviation, SubscriptionView, TypeRecordView } from './resource-status.js';
import { isoTime } from './iso-time.js';
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

/** One rejected resource as a client's NACK names it (the field violations of its BadRequest). */
export interface RejectedByClient {
  readonly name: string;
  readonly error: string;
}

interface TypeRecord {
  versionSent: string;
  versionAcked: string;
  /**
   * The version that every resource of the type not in `rejected` runs: the last ACKed one, or
   * the last one NACKed in part (its other resources were applied).
   */
  versionApplied: string;
  resources: number;
  /** When versionSent was last sent, epoch ms (0 = never). */
  lastSent: number;
  lastNack: NackStatus | undefined;
  subscription: SubscriptionView | undefined;
  /** The resources of the snapshot last sent and of the one applied (shared, not copied). */
  snapshotSent: ReadonlyMap<string, unknown> | undefined;
  snapshotApplied: ReadonlyMap<string, unknown> | undefined;
  /** Only the resources rejected alone; undefined (no map) in the common case. */
  rejected: Map<string, ResourceDeviation> | undefined;
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
  /** `snapshot`: the resources of the snapshot the response came from (kept by reference). */
  sent(
    typeUrl: string,
    version: string,
    resources: number,
    subscription: SubscriptionView,
    snapshot?: ReadonlyMap<string, unknown>,
  ): void;
  /**
   * Records an ACK of `version`. `carried`: the names the ACKed response carried, when it did
   * not carry the whole state (delta); rejections of other names still hold.
   */
  acked(typeUrl: string, version: string, carried?: readonly string[]): void;
  /**
   * Records a NACK of the response that sent `version`; `resources` are the names that response
   * carried. `rejected`: the resources the client names as rejected alone (the rest of the
   * response was applied); undefined when the client does not say, and the whole response counts
   * as rejected. `delta`: the response carried only changes, so earlier rejections of names it
   * does not carry still hold.
   */
  nacked(
    typeUrl: string,
    version: string,
    error: string,
    resources: readonly string[],
    rejected?: readonly RejectedByClient[],
  ): void;
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
  /** The current snapshot's resources of a group and type (status with every resource). */
  readonly snapshots?: (group: string, typeUrl: string) => ReadonlyMap<string, unknown>;
}

/**
 * What FleetTracker.changes tells (the management API's event stream): `change` when a node
 * connected a stream, was sent a response, ACKed, NACKed or lost a stream; `gone` when its record
 * was forgotten (expired, over the cap of disconnected nodes, or replaced by one in another group).
 * Listeners run synchronously inside the xDS streams' handlers: they must be cheap and not throw.
 */
export interface FleetChangeEvents {
  change: [nodeId: string];
  gone: [nodeId: string, group: string];
}

/** A node's record as CSDS reads it. */
export interface FleetNodeView {
  readonly node: NodeIdentity;
  readonly group: string;
  readonly connected: boolean;
  readonly types: ReadonlyMap<string, TypeRecordView>;
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
  private readonly snapshots: FleetTrackerOptions['snapshots'];
  /** Told of every NACK (the rollout controller's NACK gate); must not throw. */
  onNack: ((nodeId: string, group: string, typeUrl: string, error: string) => void) | undefined;
  private readonly maxDisconnected: number;
  /**
   * Node ids and disconnect times in the order they were disconnected (entries of reconnected or
   * pruned records linger until shifted out; they hold no record, so they cost a few bytes).
   */
  private readonly disconnectedOrder: Array<[string, number]> = [];
  /** Node state changes, pushed (never polled); see FleetChangeEvents. */
  readonly changes = new EventEmitter<FleetChangeEvents>();

  constructor(options: FleetTrackerOptions = {}) {
    this.snapshots = options.snapshots;
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
    if (record && record.group !== groupOf(node)) this.changes.emit('gone', node.id, record.group);
    if (!record || record.disconnectedAt !== undefined || record.group !== groupOf(node)) {
      // A node that reconnects starts over: what it had is unknown until it asks again.
      record = {
        node,
        group: groupOf(node),
        address,
        // Sized for its one stream (an empty literal grows to room for 17 on its first push).
        streams: [kind],
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
    } else record.streams.push(kind);
    record.node = node;
    record.address = address;
    record.lastSeen = now;
    this.changes.emit('change', node.id);
    return new StreamHandle(this, record, node, kind);
  }

  /** The node's state changed (StreamHandle). */
  changed(record: NodeRecord): void {
    this.changes.emit('change', record.node.id);
  }

  /** A NACK for the rollout controller's gate (StreamHandle). */
  notifyNack(record: NodeRecord, typeUrl: string, error: string): void {
    this.onNack?.(record.node.id, record.group, typeUrl, error);
  }

  /** The clock, for StreamHandle. */
  time(): number {
    return this.now();
  }

  /** The last stream of `record` ended (StreamHandle). */
  lastStreamClosed(record: NodeRecord): void {
    record.disconnectedAt = this.now();
    this.connectedProxies(record.group).inc(-1);
    this.retainDisconnected(record);
  }

  nodes(options: StatusOptions = {}): NodeStatus[] {
    if (options.nodeId === undefined) {
      this.prune();
      return [...this.records.values()].map((r) => this.status(r, options));
    }
    // One node: no scan of the whole fleet (the event stream reads nodes one by one).
    this.maybePrune();
    const record = this.records.get(options.nodeId);
    if (!record || this.expired(record, this.now() - this.retainMs)) return [];
    return [this.status(record, options)];
  }

  /**
   * Every node's summary for paging: no times formatted, no type rows built. The state follows
   * the rule of GET /v1/nodes (api/nodes-page.ts, nodeSyncState) on the same fields.
   */
  summaries(): NodeSummary[] {
    this.prune();
    const out: NodeSummary[] = [];
    for (const r of this.records.values()) {
      let state: NodeSummary['state'] = r.disconnectedAt === undefined ? 'SYNCED' : 'STALE';
      for (const t of r.types.values()) {
        if (t.lastNack !== undefined || t.rejected !== undefined) {
          state = 'NACKED';
          break;
        }
        if (t.versionSent !== t.versionApplied) state = 'STALE';
      }
      out.push({
        nodeId: r.node.id,
        group: r.group,
        address: r.address,
        userAgent: userAgentOf(r.node),
        state,
      });
    }
    return out;
  }

  private status(r: NodeRecord, options: StatusOptions): NodeStatus {
    return {
      nodeId: r.node.id,
      cluster: r.node.cluster,
      group: r.group,
      userAgent: userAgentOf(r.node),
      address: r.address,
      streams: [...r.streams],
      connected: r.disconnectedAt === undefined,
      connectedSince: isoTime(r.connectedSince),
      lastSeen: isoTime(r.lastSeen),
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
        versionApplied: t.versionApplied,
        ...(t.rejected
          ? {
              rejectedResources: [...t.rejected.keys()]
                .sort()
                .map((name) => resourceStatus(resourceState(t, name, true))),
            }
          : {}),
        ...(options.resources && this.snapshots
          ? { resourceStatuses: this.resourceStatuses(r.group, typeUrl, t) }
          : {}),
        ...(t.subscription?.pushTraceId !== undefined
          ? { pushTraceId: t.subscription.pushTraceId }
          : {}),
      })),
    };
  }

  /** The nodes of `group` connected now, with their identity (the pre-flight's fleet). */
  connectedNodes(group: string): NodeIdentity[] {
    const out: NodeIdentity[] = [];
    for (const r of this.records.values())
      if (r.group === group && r.disconnectedAt === undefined) out.push(r.node);
    return out;
  }

  private resourceStatuses(group: string, typeUrl: string, t: TypeRecord): ResourceStatus[] {
    const snapshot = this.snapshots?.(group, typeUrl) ?? new Map<string, unknown>();
    return statusNames(t, snapshot).map((name) =>
      resourceStatus(resourceState(t, name, snapshot.has(name))),
    );
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
      const r = this.records.get(id);
      if (r?.disconnectedAt === at) this.forget(id, r);
    }
  }

  private maybePrune(): void {
    if (this.now() - this.lastPruneAt >= this.pruneIntervalMs) this.prune();
  }

  private prune(): void {
    this.lastPruneAt = this.now();
    const cutoff = this.now() - this.retainMs;
    for (const [id, r] of this.records) if (this.expired(r, cutoff)) this.forget(id, r);
  }

  private expired(r: NodeRecord, cutoff: number): boolean {
    return r.disconnectedAt !== undefined && r.disconnectedAt < cutoff;
  }

  private forget(id: string, r: NodeRecord): void {
    this.records.delete(id);
    this.changes.emit('gone', id, r.group);
  }
}

function userAgentOf(node: NodeIdentity): string {
  return [node.user_agent_name, node.user_agent_version].filter(Boolean).join('/');
}

/** The type runs `version` now (all of it, or all but its rejected resources). */
function applied(t: TypeRecord, version: string): void {
  t.versionApplied = version;
  if (t.versionSent === version) t.snapshotApplied = t.snapshotSent;
}

/**
 * `rejected` without the names of `carried` (their new state is known) and, given the snapshot
 * now in force, without the names it no longer has (removed); undefined if empty.
 */
function settle(
  rejected: Map<string, ResourceDeviation> | undefined,
  carried: readonly string[],
  current?: ReadonlyMap<string, unknown>,
): Map<string, ResourceDeviation> | undefined {
  if (!rejected) return undefined;
  const next = new Map(rejected);
  for (const name of carried) next.delete(name);
  if (current) for (const name of next.keys()) if (!current.has(name)) next.delete(name);
  return next.size > 0 ? next : undefined;
}

function resourceStatus(state: ResourceState): ResourceStatus {
  return {
    name: state.name,
    state: state.clientStatus,
    versionRunning: state.versionRunning,
    versionSent: state.versionSent,
    ...(state.error
      ? {
          nack: {
            version: state.error.version,
            error: state.error.message,
            time: isoTime(state.error.time),
          },
        }
      : {}),
  };
}

/**
 * One stream's handle: a plain object with prototype methods rather than closures, because a
 * fleet holds one per connected stream (docs/architecture.md, "Scale": memory per proxy).
 */
class StreamHandle implements NodeHandle {
  readonly group: string;
  private open = true;

  constructor(
    private readonly tracker: FleetTracker,
    private readonly owner: NodeRecord,
    readonly node: NodeIdentity,
    private readonly kind: string,
  ) {
    this.group = owner.group;
  }

  private type(typeUrl: string): TypeRecord {
    let t = this.owner.types.get(typeUrl);
    if (!t) {
      t = {
        versionSent: '',
        versionAcked: '',
        versionApplied: '',
        resources: 0,
        lastSent: 0,
        lastNack: undefined,
        subscription: undefined,
        snapshotSent: undefined,
        snapshotApplied: undefined,
        rejected: undefined,
      };
      this.owner.types.set(typeUrl, t);
    }
    return t;
  }

  private stamp(): number {
    return (this.owner.lastSeen = this.tracker.time());
  }

  seen(): void {
    this.stamp();
  }

  sent(
    typeUrl: string,
    version: string,
    resources: number,
    subscription: SubscriptionView,
    snapshot?: ReadonlyMap<string, unknown>,
  ): void {
    const t = this.type(typeUrl);
    t.versionSent = version;
    t.resources = resources;
    t.subscription = subscription;
    t.snapshotSent = snapshot;
    t.lastSent = this.stamp();
    this.tracker.changed(this.owner);
  }

  acked(typeUrl: string, version: string, carried?: readonly string[]): void {
    const t = this.type(typeUrl);
    t.versionAcked = version;
    applied(t, version);
    // An ACK means the node now runs an accepted config: the earlier rejection is history
    // (delta: of the names this response carried; the others' rejections still hold).
    t.rejected = carried ? settle(t.rejected, carried, t.snapshotSent) : undefined;
    if (!t.rejected) t.lastNack = undefined;
    this.stamp();
    this.tracker.changed(this.owner);
  }

  nacked(
    typeUrl: string,
    version: string,
    error: string,
    resources: readonly string[],
    rejected?: readonly RejectedByClient[],
  ): void {
    const now = this.stamp();
    const t = this.type(typeUrl);
    this.tracker.notifyNack(this.owner, typeUrl, error);
    if (rejected === undefined) {
      t.lastNack = {
        version,
        error,
        time: isoTime(now),
        resources: [...resources],
      };
      this.tracker.changed(this.owner);
      return;
    }
    // Rejected in part: the named resources keep what they ran, the rest runs `version`.
    const next = this.kind.endsWith('delta')
      ? (settle(t.rejected, resources) ?? new Map<string, ResourceDeviation>())
      : new Map<string, ResourceDeviation>();
    for (const r of rejected) {
      const before = t.rejected?.get(r.name);
      const running = before?.running ?? (t.snapshotApplied?.has(r.name) ? t.versionApplied : '');
      next.set(r.name, { running, rejected: version, error: r.error, time: now });
    }
    t.rejected = next.size > 0 ? next : undefined;
    applied(t, version);
    t.lastNack = {
      version,
      error,
      time: isoTime(now),
      resources: rejected.map((r) => r.name),
    };
    this.tracker.changed(this.owner);
  }

  disconnect(): void {
    if (!this.open) return;
    this.open = false;
    const owner = this.owner;
    const i = owner.streams.indexOf(this.kind);
    if (i >= 0) owner.streams.splice(i, 1);
    this.stamp();
    if (owner.streams.length === 0) this.tracker.lastStreamClosed(owner);
    this.tracker.changed(owner);
  }
}
