/**
 * The management API's event stream (GET /v1/events; docs/api.md, "Events"): what changes in the
 * store, the fleet, endpoint health and rollouts, pushed to every subscriber that may read the
 * event's group. Store, health and rollout events are kept in a bounded ring (event-ring.ts) for
 * resuming; node events are not: each node's last change is remembered as a number
 * (node-cursors.ts), and a resuming client is sent the node's current row. So memory does not
 * grow with the fleet, and while nobody is subscribed a node change costs a sequence number and
 * no row, no JSON.
 *
 * Node and health events are coalesced: a change marks the node (or cluster) pending, and one
 * timer publishes every pending one's latest state each `coalesceMs`, so a node changes the
 * stream at most 1000/coalesceMs times a second however many responses and ACKs it goes through,
 * and 10,000 proxies reconnecting make 10,000 events, not ten times that.
 *
 * Subscribers own their buffering (http-events.ts): one whose unsent bytes pass its bound is cut
 * off and resumes from its last event when it reconnects; the hub never buffers per subscriber.
 */
import { FerryError } from '@ferry/shared';
import type { EventDataJson, EventType } from '@ferry/shared/api-wire';
import { canRead, type Caller } from '../access.js';
import { EventRing, eventFrame, type StoredEvent } from './event-ring.js';
import { DEFAULT_NODE_DEPARTURES, NodeCursors, type NodeResume } from './node-cursors.js';

export const DEFAULT_EVENTS_HISTORY = 10_000;
export const DEFAULT_EVENTS_HISTORY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_EVENTS_MAX_STREAMS = 256;
export const DEFAULT_EVENTS_COALESCE_MS = 250;
export const DEFAULT_EVENTS_PING_MS = 15_000;
/** Nodes and clusters published per turn of the event loop. */
const FLUSH_BATCH = 500;

/** One open stream. */
export interface EventSubscriber {
  readonly caller: Caller;
  /** The event types it asked for; undefined for all. */
  readonly types?: ReadonlySet<EventType> | undefined;
  /** Sends an SSE frame; false when the subscriber is cut off (the hub drops it). */
  send(frame: string): boolean;
  /** The hub is closing: end the stream. */
  close(): void;
}

/** Where a new stream starts. */
export interface SubscribeOptions {
  /** Node events only: first the current row of every node (a client that knows none yet). */
  readonly allNodes?: boolean;
  /**
   * After what is replayed, an `id:`-only frame with the newest cursor, so that the client holds
   * a cursor before the first event (a peer merging streams needs one to resume from).
   */
  readonly announce?: boolean;
}

export interface EventHubOptions {
  /** Store, health and rollout events kept for resuming (count, and bytes of their frames). */
  readonly history?: number;
  readonly historyBytes?: number;
  /** Departed nodes remembered for resuming; a resume from before the oldest gets a reset. */
  readonly departures?: number;
  /** Open streams at most; more are refused (FERRY_RESOURCE_EXHAUSTED). */
  readonly maxStreams?: number;
  readonly coalesceMs?: number;
  /** A `: ping` comment on every stream this often (keeps proxies and idle timers quiet). */
  readonly pingMs?: number;
  /** A node's row as GET /v1/status shows it; undefined once it is gone. */
  readonly node?: (nodeId: string) => EventDataJson['node'] | undefined;
  /** A cluster's health as GET /v1/health shows it. */
  readonly health?: (group: string, cluster: string) => EventDataJson['health'];
  /** A cluster's outlier-ejected endpoints as this replica's load history shows them. */
  readonly outliers?: (group: string, cluster: string) => EventDataJson['outlier'];
  /** Cursor epoch (tests). */
  readonly epoch?: string;
}

const RING_TYPES: readonly EventType[] = ['store', 'health', 'outlier', 'rollout'];
const NO_NODES: NodeResume = { changed: [], gone: [] };

function wants(s: EventSubscriber, type: EventType): boolean {
  return s.types === undefined || s.types.has(type);
}

export class EventHub {
  private readonly ring: EventRing;
  private readonly nodes: NodeCursors;
  private readonly subscribers = new Set<EventSubscriber>();
  private readonly maxStreams: number;
  private readonly coalesceMs: number;
  private readonly pingMs: number;
  private readonly nodeRow: EventHubOptions['node'];
  private readonly healthView: EventHubOptions['health'];
  private readonly pendingNodes = new Set<string>();
  private readonly pendingHealth = new Map<string, [group: string, cluster: string]>();
  private readonly outlierView: EventHubOptions['outliers'];
  private readonly pendingOutliers = new Map<string, [group: string, cluster: string]>();
  private flushTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: EventHubOptions = {}) {
    this.ring = new EventRing(
      options.history ?? DEFAULT_EVENTS_HISTORY,
      options.historyBytes ?? DEFAULT_EVENTS_HISTORY_BYTES,
      options.epoch,
    );
    this.nodes = new NodeCursors(options.departures ?? DEFAULT_NODE_DEPARTURES);
    this.maxStreams = options.maxStreams ?? DEFAULT_EVENTS_MAX_STREAMS;
    this.coalesceMs = options.coalesceMs ?? DEFAULT_EVENTS_COALESCE_MS;
    this.pingMs = options.pingMs ?? DEFAULT_EVENTS_PING_MS;
    this.nodeRow = options.node;
    this.healthView = options.health;
    this.outlierView = options.outliers;
  }

  get streams(): number {
    return this.subscribers.size;
  }

  /** The epoch of this run's cursors. */
  get epoch(): string {
    return this.ring.epoch;
  }

  /** The cursor of the newest event. */
  get newest(): string {
    return this.ring.newest;
  }

  /** Records an event and sends it to every subscriber that may read `group`. */
  publish<T extends EventType>(type: T, group: string, data: EventDataJson[T]): StoredEvent {
    const event = this.ring.append(type, group, data);
    for (const s of this.subscribers)
      if (wants(s, type) && canRead(s.caller, group)) this.deliver(s, event.frame);
    return event;
  }

  /**
   * A node changed: its row is published within coalesceMs (the latest state wins). With nobody
   * subscribed, only its cursor moves: no row is built (the ACK path of a whole fleet must not
   * pay for an idle stream).
   */
  nodeChanged(nodeId: string): void {
    if (this.closed) return;
    if (this.subscribers.size === 0) {
      this.nodes.changed(nodeId, this.ring.take());
      return;
    }
    this.pendingNodes.add(nodeId);
    this.arm();
  }

  /** A node's record was forgotten: published at once (a pending change of it is dropped). */
  nodeGone(nodeId: string, group: string): void {
    if (this.closed) return;
    this.pendingNodes.delete(nodeId);
    const seq = this.ring.take();
    this.nodes.gone(nodeId, group, seq);
    if (this.subscribers.size === 0) return;
    const frame = eventFrame(this.ring.cursor(seq), 'node_gone', { node_id: nodeId, group });
    for (const s of this.subscribers)
      if (wants(s, 'node_gone') && canRead(s.caller, group)) this.deliver(s, frame);
  }

  /** A cluster's endpoint health changed: published within coalesceMs. */
  healthChanged(group: string, cluster: string): void {
    if (this.closed) return;
    this.pendingHealth.set(`${group}\u0000${cluster}`, [group, cluster]);
    this.arm();
  }

  /** Which endpoints of a cluster the proxies eject changed: published within coalesceMs. */
  outlierChanged(group: string, cluster: string): void {
    if (this.closed || !this.outlierView) return;
    this.pendingOutliers.set(`${group}\u0000${cluster}`, [group, cluster]);
    this.arm();
  }

  /**
   * Adds a stream. With a cursor, what happened after it is sent first (or a `reset` when that
   * is no longer known): the kept events after it, merged in cursor order with the current row
   * of every node changed after it and a `node_gone` for every node that left after it. Without
   * one, only what happens from now on. Replay and registration happen in one turn, so no event
   * falls between them.
   */
  subscribe(
    subscriber: EventSubscriber,
    cursor: string | undefined,
    options: SubscribeOptions = {},
  ): void {
    this.checkAdmission();
    if (options.allNodes === true) {
      if (!this.replay(subscriber, [], this.nodes.all())) return;
    } else if (cursor !== undefined && !this.resume(subscriber, cursor)) return;
    if (options.announce === true && !subscriber.send(`id: ${this.ring.newest}\n\n`)) return;
    this.subscribers.add(subscriber);
    this.pingTimer ??= setInterval(() => this.ping(), this.pingMs).unref();
  }

  /** Throws FERRY_RESOURCE_EXHAUSTED when a stream would be refused now. */
  checkAdmission(): void {
    if (this.closed)
      throw new FerryError(
        'FERRY_RESOURCE_EXHAUSTED',
        'event streams: the control plane is shutting down; reconnect to another replica or retry',
      );
    if (this.subscribers.size >= this.maxStreams)
      throw new FerryError(
        'FERRY_RESOURCE_EXHAUSTED',
        `event streams: ${this.maxStreams} are open, the most this control plane serves (--api-events-max-streams); retry later or raise the limit`,
      );
  }

  unsubscribe(subscriber: EventSubscriber): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0 && this.pingTimer) {
      clearInterval(this.pingTimer);
      this.pingTimer = undefined;
    }
  }

  /** Ends every stream and stops the timers; later changes are ignored. Idempotent. */
  close(): void {
    this.closed = true;
    clearTimeout(this.flushTimer);
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.pendingNodes.clear();
    this.pendingHealth.clear();
    this.pendingOutliers.clear();
    for (const s of [...this.subscribers]) {
      this.subscribers.delete(s);
      s.close();
    }
  }

  /** Sends what happened after `cursor`, or a reset; false when the subscriber is cut off. */
  private resume(s: EventSubscriber, cursor: string): boolean {
    const seq = this.ring.seqOf(cursor);
    // Only what the subscriber asked for decides: a node-only stream does not reset for a
    // store event dropped from the ring.
    let kept: readonly StoredEvent[] | undefined;
    let nodes: NodeResume | undefined;
    if (seq !== undefined) {
      kept = RING_TYPES.some((t) => wants(s, t)) ? this.ring.after(seq) : [];
      nodes = wants(s, 'node') || wants(s, 'node_gone') ? this.nodes.since(seq) : NO_NODES;
    }
    // The newest cursor as the reset's id: after refetching, the client resumes from here.
    if (!kept || !nodes) return s.send(`id: ${this.ring.newest}\nevent: reset\ndata: {}\n\n`);
    return this.replay(s, kept, nodes);
  }

  /** Sends kept events and node rows and departures merged in cursor order. */
  private replay(s: EventSubscriber, kept: readonly StoredEvent[], nodes: NodeResume): boolean {
    const { changed, gone } = nodes;
    let k = 0;
    let c = 0;
    let g = 0;
    for (;;) {
      const ks = k < kept.length ? kept[k]!.seq : Infinity;
      const cs = c < changed.length ? changed[c]![1] : Infinity;
      const gs = g < gone.length ? gone[g]!.seq : Infinity;
      let frame: string | undefined;
      if (ks === Infinity && cs === Infinity && gs === Infinity) return true;
      if (ks < cs && ks < gs) {
        const e = kept[k++]!;
        if (wants(s, e.type) && (e.group === undefined || canRead(s.caller, e.group)))
          frame = e.frame;
      } else if (cs < gs) {
        const [nodeId, seq] = changed[c++]!;
        const row = wants(s, 'node') ? this.nodeRow?.(nodeId) : undefined;
        if (row && canRead(s.caller, row.group))
          frame = eventFrame(this.ring.cursor(seq), 'node', row);
      } else {
        const d = gone[g++]!;
        if (wants(s, 'node_gone') && canRead(s.caller, d.group))
          frame = eventFrame(this.ring.cursor(d.seq), 'node_gone', {
            node_id: d.nodeId,
            group: d.group,
          });
      }
      if (frame !== undefined && !s.send(frame)) return false;
    }
  }

  private deliver(s: EventSubscriber, frame: string): void {
    if (!s.send(frame)) this.unsubscribe(s);
  }

  private ping(): void {
    for (const s of this.subscribers) this.deliver(s, ': ping\n\n');
  }

  private arm(): void {
    if (this.flushTimer === undefined)
      this.flushTimer = setTimeout(() => this.flush(), this.coalesceMs).unref();
  }

  /**
   * Publishes pending nodes and clusters, each once with its state now: at most FLUSH_BATCH per
   * turn of the event loop, so that a change of the whole fleet (a push to 10,000 proxies) does
   * not hold the xDS streams up; the rest follows on the next turn. True while some remain.
   */
  flush(): boolean {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    let budget = FLUSH_BATCH;
    let rows = false;
    for (const s of this.subscribers) rows ||= wants(s, 'node');
    for (const id of this.pendingNodes) {
      if (budget-- <= 0) break;
      this.pendingNodes.delete(id);
      // Nobody (left) who reads node events: only the cursor moves (see nodeChanged).
      if (!rows) {
        this.nodes.changed(id, this.ring.take());
        continue;
      }
      const row = this.nodeRow?.(id);
      if (!row) continue;
      const seq = this.ring.take();
      this.nodes.changed(id, seq);
      const frame = eventFrame(this.ring.cursor(seq), 'node', row);
      for (const s of this.subscribers)
        if (wants(s, 'node') && canRead(s.caller, row.group)) this.deliver(s, frame);
    }
    for (const [key, [group, cluster]] of this.pendingHealth) {
      if (budget-- <= 0) break;
      this.pendingHealth.delete(key);
      const view = this.healthView?.(group, cluster);
      if (view) this.publish('health', group, view);
    }
    for (const [key, [group, cluster]] of this.pendingOutliers) {
      if (budget-- <= 0) break;
      this.pendingOutliers.delete(key);
      const view = this.outlierView?.(group, cluster);
      if (view) this.publish('outlier', group, view);
    }
    const more =
      this.pendingNodes.size > 0 || this.pendingHealth.size > 0 || this.pendingOutliers.size > 0;
    if (more && !this.closed) this.flushTimer = setTimeout(() => this.flush(), 0).unref();
    return more;
  }
}
