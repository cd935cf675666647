/**
 * The one live feed: GET /v1/events read with fetch() and a stream reader (EventSource cannot
 * send the Authorization header). After a drop it reconnects with `since` set to the last event's
 * id, so nothing is missed; the server answers `reset` when that is too old, and the listeners
 * refetch everything. Reconnects back off from 0.5 s to 10 s; there is no polling.
 */
import type { StreamEvent } from '@ferry/shared/event-stream';

/** The event-stream reader (the workspace's, served to the browser under /ui/vendor/). */
export type EventStreamReader = (res: Response) => AsyncIterable<StreamEvent>;

export interface FeedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
}

export type FeedState = 'connecting' | 'live' | 'retrying' | 'unavailable';

export interface FeedListener {
  event(e: FeedEvent): void;
  state(s: FeedState, detail: string): void;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

export class EventFeed {
  private cursor: string | undefined;
  private abort: AbortController | undefined;
  private retryMs = MIN_RETRY_MS;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  /** `origin`: the API's origin; "" in the dashboard (same origin). */
  constructor(
    private readonly headers: Record<string, string>,
    private readonly listener: FeedListener,
    private readonly readStream: EventStreamReader,
    private readonly origin = '',
  ) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.listener.state('connecting', '');
    const abort = new AbortController();
    this.abort = abort;
    try {
      const url =
        this.cursor === undefined
          ? `${this.origin}/v1/events`
          : `${this.origin}/v1/events?since=${encodeURIComponent(this.cursor)}`;
      const res = await fetch(url, {
        headers: { ...this.headers, accept: 'text/event-stream' },
        signal: abort.signal,
        cache: 'no-store',
      });
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        this.listener.state('unavailable', `live updates: HTTP ${res.status}`);
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      this.listener.state('live', '');
      this.retryMs = MIN_RETRY_MS;
      await this.read(res);
      throw new Error('the server ended the stream');
    } catch (err) {
      if (this.stopped) return;
      this.listener.state('retrying', err instanceof Error ? err.message : String(err));
      this.timer = setTimeout(() => void this.connect(), this.retryMs);
      this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    }
  }

  private async read(res: Response): Promise<void> {
    for await (const e of this.readStream(res)) this.dispatch(e);
  }

  private dispatch(e: StreamEvent): void {
    if (e.id !== '') this.cursor = e.id;
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    this.listener.event({ id: e.id, type: e.type, data });
  }
}
