/**
 * The management API's event stream (GET /v1/events; docs/api.md, "Events"): what changes in the
 * store, the fleet, endpoint health and rollouts, pushed to every subscriber that may read the
 * event's group, and kept in a bounded ring (event-ring.ts) for resuming.
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
import { EventRing, type StoredEvent } from './event-ring.js';

export const DEFAULT_EVENTS_HISTORY = 10_000;
export const DEFAULT_EVENTS_HISTORY_BYTES = 32 * 1024 * 1024;
export const DEFAULT_EVENTS_MAX_STREAMS = 256;
export const DEFAULT_EVENTS_COALESCE_MS = 250;
export const DEFAULT_EVENTS_PING_MS = 15_000;
/** Nodes and clusters published per turn of the event loop. */
const FLUSH_BATCH = 500;

/** One open stream. */
export interface EventSubscriber {
  readonly caller: Caller;
  /** Sends an SSE frame; false when the subscriber is cut off (the hub drops it). */
  send(frame: string): boolean;
  /** The hub is closing: end the stream. */
  close(): void;
}

export interface EventHubOptions {
  /** Events kept for resuming (count, and bytes of their frames). */
  readonly history?: number;
  readonly historyBytes?: number;
  /** Open streams at most; more are refused (FERRY_RESOURCE_EXHAUSTED). */
  readonly maxStreams?: number;
  readonly coalesceMs?: number;
  /** A `: ping` comment on every stream this often (keeps proxies and idle timers quiet). */
  readonly pingMs?: number;
  /** A node's row as GET /v1/status shows it; undefined once it is gone. */
  readonly node?: (nodeId: string) => EventDataJson['node'] | undefined;
  /** A cluster's health as GET /v1/health shows it. */
  readonly health?: (group: string, cluster: string) => EventDataJson['health'];
  /** Cursor epoch (tests). */
  readonly epoch?: string;
}

export class EventHub {
  private readonly ring: EventRing;
  private readonly subscribers = new Set<EventSubscriber>();
  private readonly maxStreams: number;
  private readonly coalesceMs: number;
  private readonly pingMs: number;
  private readonly nodeRow: EventHubOptions['node'];
  private readonly healthView: EventHubOptions['health'];
  private readonly pendingNodes = new Set<string>();
  private readonly pendingHealth = new Map<string, [group: string, cluster: string]>();
  private flushTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: EventHubOptions = {}) {
    this.ring = new EventRing(
      options.history ?? DEFAULT_EVENTS_HISTORY,
      options.historyBytes ?? DEFAULT_EVENTS_HISTORY_BYTES,
      options.epoch,
    );
    this.maxStreams = options.maxStreams ?? DEFAULT_EVENTS_MAX_STREAMS;
    this.coalesceMs = options.coalesceMs ?? DEFAULT_EVENTS_COALESCE_MS;
    this.pingMs = options.pingMs ?? DEFAULT_EVENTS_PING_MS;
    this.nodeRow = options.node;
    this.healthView = options.health;
  }

  get streams(): number {
    return this.subscribers.size;
  }

  /** The cursor of the newest event. */
  get newest(): string {
    return this.ring.newest;
  }

  /** Records an event and sends it to every subscriber that may read `group`. */
  publish<T extends EventType>(type: T, group: string, data: EventDataJson[T]): StoredEvent {
    const event = this.ring.append(type, group, data);
    for (const s of this.subscribers) if (canRead(s.caller, group)) this.deliver(s, event.frame);
    return event;
  }

  /** A node changed: its row is published within coalesceMs (the latest state wins). */
  nodeChanged(nodeId: string): void {
    if (this.closed) return;
    this.pendingNodes.add(nodeId);
    this.arm();
  }

  /** A node's record was forgotten: published at once (a pending change of it is dropped). */
  nodeGone(nodeId: string, group: string): void {
    if (this.closed) return;
    this.pendingNodes.delete(nodeId);
    this.publish('node_gone', group, { node_id: nodeId, group });
  }

  /** A cluster's endpoint health changed: published within coalesceMs. */
  healthChanged(group: string, cluster: string): void {
    if (this.closed) return;
    this.pendingHealth.set(`${group}\u0000${cluster}`, [group, cluster]);
    this.arm();
  }

  /**
   * Adds a stream. With a cursor, the events after it are sent first (or a `reset` when they
   * are no longer kept); without one, only what happens from now on. Replay and registration
   * happen in one turn, so no event falls between them.
   */
  subscribe(subscriber: EventSubscriber, cursor: string | undefined): void {
    this.checkAdmission();
    if (cursor !== undefined) {
      const resume = this.ring.since(cursor);
      if (resume.reset) {
        // The newest cursor as the reset's id: after refetching, the client resumes from here.
        if (!subscriber.send(`id: ${this.ring.newest}\nevent: reset\ndata: {}\n\n`)) return;
      } else {
        for (const e of resume.events) {
          if (e.group !== undefined && !canRead(subscriber.caller, e.group)) continue;
          if (!subscriber.send(e.frame)) return;
        }
      }
    }
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
    for (const s of [...this.subscribers]) {
      this.subscribers.delete(s);
      s.close();
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
    for (const id of this.pendingNodes) {
      if (budget-- <= 0) break;
      this.pendingNodes.delete(id);
      const row = this.nodeRow?.(id);
      if (row) this.publish('node', row.group, row);
    }
    for (const [key, [group, cluster]] of this.pendingHealth) {
      if (budget-- <= 0) break;
      this.pendingHealth.delete(key);
      const view = this.healthView?.(group, cluster);
      if (view) this.publish('health', group, view);
    }
    const more = this.pendingNodes.size > 0 || this.pendingHealth.size > 0;
    if (more && !this.closed) this.flushTimer = setTimeout(() => this.flush(), 0).unref();
    return more;
  }
}
