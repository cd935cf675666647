/**
 * GET /v1/events over HTTP: Server-Sent Events (text/event-stream) from the event hub. The
 * cursor comes from `?since=` or the `Last-Event-ID` header (what EventSource sends when it
 * reconnects). Each stream is bounded: once more than `maxBufferBytes` wait unsent (a client
 * that reads slower than events come), the connection is cut; the client reconnects and resumes
 * from its last event, or gets a `reset`. So a slow client costs at most that many bytes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@ferry/shared';
import type { Caller } from '../access.js';
import type { EventHub, EventSubscriber } from './event-hub.js';

export const DEFAULT_EVENTS_BUFFER_BYTES = 4 * 1024 * 1024;

class SseSubscriber implements EventSubscriber {
  private open = true;

  constructor(
    readonly caller: Caller,
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

export interface ServeEventsOptions {
  readonly hub: EventHub;
  readonly caller: Caller;
  readonly cursor: string | undefined;
  readonly maxBufferBytes: number;
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

/**
 * Serves a stream on `res` until the client goes away or the hub closes. Throws, before anything
 * is written, when the hub refuses another stream.
 */
export function serveEvents(
  req: IncomingMessage,
  res: ServerResponse,
  o: ServeEventsOptions,
): void {
  o.hub.checkAdmission();
  const subscriber = new SseSubscriber(o.caller, res, o.maxBufferBytes, o.logger);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // Reverse proxies (nginx) must pass events on as they come, not buffer the response.
    'x-accel-buffering': 'no',
  });
  // Headers go out now: a client's fetch() resolves before the first event.
  res.write(': ferry events\n\n');
  const done = (): void => o.hub.unsubscribe(subscriber);
  res.once('close', done);
  req.once('error', done);
  o.hub.subscribe(subscriber, o.cursor);
}
