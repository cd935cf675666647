/**
 * GET /v1/events over HTTP: Server-Sent Events (text/event-stream) from the event hub. The
 * cursor comes from `?since=` or the `Last-Event-ID` header (what EventSource sends when it
 * reconnects). Each stream is bounded: once more than `maxBufferBytes` wait unsent (a client
 * that reads slower than events come), the connection is cut; the client reconnects and resumes
 * from its last event, or gets a `reset`. So a slow client costs at most that many bytes.
 *
 * Query: `types=` (a comma list) keeps only those event types; `local=true` keeps the stream to
 * this replica's own events; without it, node events of the other replicas are merged in
 * (peer-events.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FerryError, type Logger } from '@ferry/shared';
import type { EventType } from '@ferry/shared/api-wire';
import type { Caller } from '../access.js';
import type { ForwardedCaller } from '../../replicas/peer-status.js';
import type { EventHub, EventSubscriber } from './event-hub.js';
import {
  CURSOR_SEPARATOR,
  cursorOfEpoch,
  MergedSubscriber,
  type EventPeers,
} from './peer-events.js';

export const DEFAULT_EVENTS_BUFFER_BYTES = 4 * 1024 * 1024;

const EVENT_TYPES: ReadonlySet<string> = new Set<EventType>([
  'store',
  'node',
  'node_gone',
  'health',
  'outlier',
  'rollout',
]);

class SseSubscriber implements EventSubscriber {
  private open = true;

  constructor(
    readonly caller: Caller,
    readonly types: ReadonlySet<EventType> | undefined,
    private readonly res: ServerResponse,
    private readonly maxBufferBytes: number,
    private readonly logger: Logger | undefined,
  ) {}

  send(frame: string): boolean {
    if (!this.open || this.res.destroyed) return false;
    this.res.write(frame);
    // Bytes queued in the response and its socket: what the client has not taken yet.
    if (this.res.writableLength <= this.maxBufferBytes) return true;
    this.open = false;
    this.logger?.warn(
      { caller: this.caller.name, buffered: this.res.writableLength, limit: this.maxBufferBytes },
      'events: stream cut off, the client reads slower than events come (it resumes when it reconnects; --api-events-buffer-bytes)',
    );
    this.res.destroy();
    return false;
  }

  close(): void {
    this.open = false;
    this.res.end();
  }
}

export interface EventsQuery {
  /** `since`, else `Last-Event-ID`; undefined for "from now on". */
  readonly cursor: string | undefined;
  /** `types=`; undefined for all. */
  readonly types: ReadonlySet<EventType> | undefined;
  /** `local=true`: this replica's events only (what a peer asks for). */
  readonly local: boolean;
}

export interface ServeEventsOptions {
  readonly hub: EventHub;
  readonly caller: Caller;
  readonly query: EventsQuery;
  readonly maxBufferBytes: number;
  /** The other replicas whose node events are merged in; undefined: none. */
  readonly peers?: EventPeers | undefined;
  /** The caller's credentials as a peer is asked with them. */
  readonly forward?: ForwardedCaller;
  readonly logger?: Logger;
}

/** The cursor of a request: `since`, else `Last-Event-ID`; undefined for "from now on". */
export function eventsCursor(req: IncomingMessage, url: URL): string | undefined {
  const since = url.searchParams.get('since');
  if (since !== null && since !== '') return since;
  const header = req.headers['last-event-id'];
  const value = Array.isArray(header) ? header[0] : header;
  return value === undefined || value === '' ? undefined : value;
}

/** A request's cursor, types and scope; FERRY_BAD_REQUEST for an unknown type or flag. */
export function eventsQuery(req: IncomingMessage, url: URL): EventsQuery {
  const list = url.searchParams.get('types');
  let types: Set<EventType> | undefined;
  if (list !== null && list !== '') {
    types = new Set();
    for (const t of list.split(',')) {
      if (!EVENT_TYPES.has(t))
        throw new FerryError(
          'FERRY_BAD_REQUEST',
          `types: unknown event type "${t}" (known: ${[...EVENT_TYPES].join(', ')})`,
        );
      types.add(t as EventType);
    }
  }
  const local = url.searchParams.get('local');
  if (local !== null && local !== 'true' && local !== 'false')
    throw new FerryError('FERRY_BAD_REQUEST', `local: "${local}" is not true or false`);
  return { cursor: eventsCursor(req, url), types, local: local === 'true' };
}

/** The events of a replica's own proxies, which peers pass on (peer-events.ts). */
const PER_REPLICA_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'node',
  'node_gone',
  'outlier',
]);

/**
 * Node events, with outlier events or not (what a peer asks for): all nodes are known now, so a
 * stream can begin with every node.
 */
function nodesOnly(types: ReadonlySet<EventType> | undefined): boolean {
  return (
    types !== undefined && types.has('node') && [...types].every((t) => PER_REPLICA_TYPES.has(t))
  );
}

/**
 * Serves a stream on `res` until the client goes away or the hub closes. Throws, before anything
 * is written, when the hub refuses another stream.
 *
 * The client is sent the newest cursor at once (an `id:`-only frame), so it can resume even
 * before its first event. A merged cursor's own part is its first; a stream of node events only
 * takes the part of this run wherever it stands, and without one begins with the current row of
 * every node (what a peer that restarted or joined since needs; peer-events.ts).
 */
export function serveEvents(
  req: IncomingMessage,
  res: ServerResponse,
  o: ServeEventsOptions,
): void {
  o.hub.checkAdmission();
  const { cursor, types, local } = o.query;
  const sse = new SseSubscriber(o.caller, types, res, o.maxBufferBytes, o.logger);
  const merge =
    !local &&
    o.peers !== undefined &&
    (types === undefined || [...types].some((t) => PER_REPLICA_TYPES.has(t)));
  const subscriber = merge
    ? new MergedSubscriber(sse, o.peers, o.forward ?? { viaCertificate: false })
    : sse;
  let own: string | undefined;
  let allNodes = false;
  if (cursor !== undefined) {
    if (nodesOnly(types)) {
      own = cursorOfEpoch(cursor, o.hub.epoch);
      allNodes = own === undefined;
    } else own = cursor.split(CURSOR_SEPARATOR)[0];
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // Reverse proxies (nginx) must pass events on as they come, not buffer the response.
    'x-accel-buffering': 'no',
  });
  // Headers go out now: a client's fetch() resolves before the first event.
  res.write(': ferry events\n\n');
  const done = (): void => {
    o.hub.unsubscribe(subscriber);
    if (subscriber instanceof MergedSubscriber) subscriber.stop();
  };
  res.once('close', done);
  req.once('error', done);
  o.hub.subscribe(subscriber, own, { allNodes, announce: true });
  if (subscriber instanceof MergedSubscriber && !res.destroyed) subscriber.start(cursor);
}
