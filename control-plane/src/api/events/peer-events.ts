/**
 * Node and outlier events of every replica on one stream (docs/api.md, "Events"). Each replica
 * knows only the proxies whose xDS and load streams it holds, so while a client reads GET
 * /v1/events from one replica, that replica reads every other live replica's node and outlier
 * events (GET /v1/events?local=true&types=node,node_gone,outlier) with the client's credentials,
 * and passes them on. A peer that does not know outlier events yet (an older version during an
 * upgrade) is asked for node events only. Replicas share the token store, so a peer authorizes the caller exactly as the first
 * one did and sends only the groups it may read (like GET /v1/status across replicas,
 * replicas/peer-status.ts). Nothing of this runs while nobody is subscribed.
 *
 * Resuming: the `id:` the client sees is a merged cursor, `<own>_<peer>_<peer>...`: this
 * replica's cursor first, then the last cursor read from each peer. A peer given a merged
 * cursor resumes from the part of its own run, or, holding none (it restarted, or joined after
 * the cursor was sent), sends the current row of each of its nodes, so no change is missed.
 * A peer stream that drops is reopened from its last cursor; replicas that join or leave the
 * membership records are followed as they change.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '@ferry/shared';
import type { EventType } from '@ferry/shared/api-wire';
import { EventStreamParser } from '@ferry/shared/event-stream';
import type { Caller } from '../access.js';
import type { ForwardedCaller, PeerReplica } from '../../replicas/peer-status.js';
import type { EventSubscriber } from './event-hub.js';
import { parseCursor } from './event-ring.js';

/** Separates the parts of a merged cursor (no part contains it). */
export const CURSOR_SEPARATOR = '_';
/** What a peer stream asks a peer for. */
export const PEER_EVENT_TYPES = 'node,node_gone,outlier';
/** What it asks a peer that refuses outlier events for. */
const PEER_NODE_EVENT_TYPES = 'node,node_gone';
/** The cursor that asks a peer for all its nodes (of no run, so none is resumed). */
const ALL_NODES = 'all';

/** The part of a merged cursor that is of the run `epoch`; undefined when none is. */
export function cursorOfEpoch(cursor: string, epoch: string): string | undefined {
  return cursor.split(CURSOR_SEPARATOR).find((part) => parseCursor(part)?.epoch === epoch);
}

export interface EventPeersOptions {
  /** The live replicas (membership records), this one included. */
  readonly replicas: () => readonly PeerReplica[];
  /** This replica's id. */
  readonly self: () => string;
  /** First wait before reopening a dropped peer stream; doubles up to maxRetryMs. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** A peer stream silent this long (no event, no ping) is dropped and reopened. */
  readonly idleMs?: number;
  readonly logger?: Logger;
}

/** The other live replicas, and when they change. */
export class EventPeers {
  readonly retryMs: number;
  readonly maxRetryMs: number;
  readonly idleMs: number;
  readonly logger: Logger | undefined;
  readonly #options: EventPeersOptions;
  readonly #changes = new EventEmitter().setMaxListeners(0);

  constructor(options: EventPeersOptions) {
    this.#options = options;
    this.retryMs = options.retryMs ?? 500;
    this.maxRetryMs = options.maxRetryMs ?? 10_000;
    // Three of the hub's default pings (15 s).
    this.idleMs = options.idleMs ?? 45_000;
    this.logger = options.logger;
  }

  peers(): PeerReplica[] {
    const self = this.#options.self();
    return this.#options.replicas().filter((r) => r.id !== self);
  }

  /** The membership changed: merged streams open and close peer streams to match. */
  changed(): void {
    this.#changes.emit('change');
  }

  /** Calls `listener` on each change; the returned function stops that. */
  watch(listener: () => void): () => void {
    this.#changes.on('change', listener);
    return () => this.#changes.off('change', listener);
  }
}

/**
 * The hub's subscriber for a client of a merged stream: it puts the merged cursor on this
 * replica's events and passes peers' node events to the client with it.
 */
export class MergedSubscriber implements EventSubscriber {
  readonly caller: Caller;
  readonly types: ReadonlySet<EventType> | undefined;
  #local = '';
  readonly #streams = new Map<string, PeerStream>();
  readonly #told = new Set<string>();
  #unwatch: (() => void) | undefined;
  #stopped = false;

  constructor(
    private readonly out: EventSubscriber,
    private readonly peers: EventPeers,
    private readonly forward: ForwardedCaller,
  ) {
    this.caller = out.caller;
    this.types = out.types;
  }

  /**
   * Opens a stream to every peer: from the client's merged cursor, or from now on (the peers
   * present now; one that joins later sends all its nodes).
   */
  start(cursor: string | undefined): void {
    if (this.#stopped) return;
    this.#unwatch = this.peers.watch(() => this.reconcile(ALL_NODES));
    this.reconcile(cursor);
  }

  send(frame: string): boolean {
    if (frame.startsWith('id: ')) {
      const end = frame.indexOf('\n');
      this.#local = frame.slice(4, end);
      if (this.#streams.size > 0) frame = `id: ${this.cursor()}${frame.slice(end)}`;
    }
    return this.out.send(frame);
  }

  close(): void {
    this.stop();
    this.out.close();
  }

  /** Ends the peer streams (the client went away). Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#unwatch?.();
    for (const s of this.#streams.values()) s.stop();
    this.#streams.clear();
  }

  /** The merged cursor: this replica's, then each peer's that has one. */
  cursor(): string {
    let id = this.#local;
    for (const s of this.#streams.values())
      if (s.cursor !== undefined) id += CURSOR_SEPARATOR + s.cursor;
    return id;
  }

  /** A peer's event, passed on under the merged cursor. */
  peerEvent(type: EventType, data: string): void {
    if (this.types !== undefined && type !== 'reset' && !this.types.has(type)) return;
    if (!this.#stopped) this.out.send(`id: ${this.cursor()}\nevent: ${type}\ndata: ${data}\n\n`);
  }

  /** A peer's cursor moved without an event: the client holds the merged cursor anyway. */
  peerCursor(): void {
    if (!this.#stopped) this.out.send(`id: ${this.cursor()}\n\n`);
  }

  /** Something the client should know about a peer, as an SSE comment (one line). */
  notice(text: string): void {
    if (!this.#stopped) this.out.send(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  private reconcile(since: string | undefined): void {
    if (this.#stopped) return;
    const live = new Map(this.peers.peers().map((p) => [p.id, p]));
    for (const [id, s] of this.#streams) {
      if (live.get(id)?.apiUrl === s.peer.apiUrl) continue;
      s.stop();
      this.#streams.delete(id);
    }
    for (const peer of live.values()) {
      if (this.#streams.has(peer.id)) continue;
      const why =
        peer.apiUrl === ''
          ? 'its membership record names no management API address (a replica of an older version)'
          : this.forward.authorization === undefined && this.forward.viaCertificate
            ? 'the caller authenticated with a client certificate, which cannot be forwarded; use a token'
            : undefined;
      if (why !== undefined) {
        if (!this.#told.has(peer.id))
          this.notice(`node events of replica ${peer.id} are not included: ${why}`);
        this.#told.add(peer.id);
        continue;
      }
      const stream = new PeerStream(peer, this, this.peers, this.forward.authorization, since);
      this.#streams.set(peer.id, stream);
      stream.run();
    }
  }
}

/** One peer's node events for one merged stream, reopened when it drops. */
class PeerStream {
  /** The last cursor the peer sent; undefined before any. */
  cursor: string | undefined;
  #abort: AbortController | undefined;
  /**
   * The response being read. Held because fetch() cancels the body of a Response that is
   * garbage collected, which would end a healthy stream at some collection.
   */
  #response: Response | undefined;
  #stopped = false;
  #failing = false;
  /** The event types asked for: PEER_EVENT_TYPES, or node events only from an older peer. */
  #types = PEER_EVENT_TYPES;

  constructor(
    readonly peer: PeerReplica,
    private readonly owner: MergedSubscriber,
    private readonly peers: EventPeers,
    private readonly authorization: string | undefined,
    /** Where the first request starts (undefined: from now on). */
    private since: string | undefined,
  ) {}

  run(): void {
    void this.loop();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }

  private async loop(): Promise<void> {
    let wait = this.peers.retryMs;
    while (!this.#stopped) {
      const outcome = await this.read();
      if (this.#stopped) return;
      if (outcome.read) wait = this.peers.retryMs;
      // A reopened stream resumes; one that never got a cursor (and was opened from now on)
      // asks for every node, so that nothing that happened meanwhile is missed.
      this.since = this.cursor ?? this.since ?? ALL_NODES;
      if (!this.#failing) {
        this.#failing = true;
        this.peers.logger?.warn(
          { replica: this.peer.id, api_url: this.peer.apiUrl, error: outcome.error },
          'events: node events of a peer replica interrupted; reopening from its last cursor',
        );
        this.owner.notice(`replica ${this.peer.id}: ${outcome.error}; reopening`);
      }
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
      wait = Math.min(wait * 2, this.peers.maxRetryMs);
    }
  }

  /** A peer's node row names the replica holding the proxy, as GET /v1/nodes lists it. */
  private withReplica(data: string): string {
    try {
      const row = JSON.parse(data) as Record<string, unknown>;
      if (typeof row.replica === 'string' && row.replica !== '') return data;
      return JSON.stringify({ ...row, replica: this.peer.id });
    } catch {
      return data;
    }
  }

  /** One request, until it ends or fails: why it ended, and whether anything came. */
  private async read(): Promise<{ error: string; read: boolean }> {
    const abort = (this.#abort = new AbortController());
    const url = new URL('/v1/events', this.peer.apiUrl);
    url.searchParams.set('local', 'true');
    url.searchParams.set('types', this.#types);
    if (this.since !== undefined) url.searchParams.set('since', this.since);
    const idle = setTimeout(
      () => abort.abort(new Error(`nothing received within ${this.peers.idleMs} ms`)),
      this.peers.idleMs,
    ).unref();
    let read = false;
    try {
      this.#response = await fetch(url, {
        headers: this.authorization !== undefined ? { authorization: this.authorization } : {},
        signal: abort.signal,
      });
      const res = this.#response;
      if (res.status !== 200 || !res.body) {
        const text = await res.text();
        if (
          res.status === 400 &&
          this.#types !== PEER_NODE_EVENT_TYPES &&
          text.includes('outlier')
        ) {
          this.#types = PEER_NODE_EVENT_TYPES;
          clearTimeout(idle);
          return await this.read();
        }
        return { error: `answered ${res.status}: ${text.slice(0, 200)}`, read };
      }
      const parser = new EventStreamParser();
      const decoder = new TextDecoder();
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { error: 'the stream ended', read };
        idle.refresh();
        if (!read && this.#failing)
          this.peers.logger?.info(
            { replica: this.peer.id },
            'events: node events of a peer replica resumed',
          );
        read = true;
        this.#failing = false;
        for (const e of parser.push(decoder.decode(value, { stream: true }))) {
          if (
            e.type !== 'node' &&
            e.type !== 'node_gone' &&
            e.type !== 'outlier' &&
            e.type !== 'reset'
          )
            continue;
          this.cursor = e.id;
          this.owner.peerEvent(e.type, e.type === 'node' ? this.withReplica(e.data) : e.data);
        }
        if (parser.lastEventId !== '' && parser.lastEventId !== this.cursor) {
          this.cursor = parser.lastEventId;
          this.owner.peerCursor();
        }
      }
    } catch (err) {
      const e = err as Error;
      const reason = abort.signal.reason as Error | undefined;
      if (abort.signal.aborted && reason instanceof Error && reason.name !== 'AbortError')
        return { error: reason.message, read };
      const cause = (e.cause as Error | undefined)?.message;
      return { error: `not reachable: ${cause ?? e.message}`, read };
    } finally {
      this.#response = undefined;
      clearTimeout(idle);
      abort.abort();
    }
  }
}
