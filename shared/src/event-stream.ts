/**
 * A reader of text/event-stream (Server-Sent Events, WHATWG HTML "Parsing an event stream") for
 * clients that read GET /v1/events with fetch() rather than EventSource (so that an
 * Authorization header can be sent): the dashboard, ferryctl, tests. No Node APIs: it runs in a
 * browser too.
 */

export interface StreamEvent {
  /** The last `id:` seen (the cursor to resume from); '' before any. */
  readonly id: string;
  /** `event:`; "message" when absent. */
  readonly type: string;
  /** The `data:` lines joined by "\n". */
  readonly data: string;
}

/** Feeds text as it arrives; complete events come out. Comments (": ping") are skipped. */
export class EventStreamParser {
  private buffer = '';
  private lastId = '';
  private type = '';
  private data: string[] = [];

  /**
   * The last `id:` seen, also one that came without data (an id-only frame moves the cursor
   * without dispatching an event); '' before any.
   */
  get lastEventId(): string {
    return this.lastId;
  }

  push(text: string): StreamEvent[] {
    this.buffer += text;
    const out: StreamEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): StreamEvent | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.type = '';
        return undefined;
      }
      const event = { id: this.lastId, type: this.type || 'message', data: this.data.join('\n') };
      this.type = '';
      this.data = [];
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\u0000')) this.lastId = value;
    return undefined;
  }
}

/**
 * Responses whose bodies are being read. Node's fetch() cancels a response's body once the
 * Response object is garbage collected, even while its body is read: a reader that keeps only the
 * body would see a long-lived stream end at some collection. So the Response is held here until
 * its stream ends.
 */
const reading = new Set<Response>();

/** The events of a fetch() response, as they arrive; ends when its body does. */
export async function* readEventStream(res: Response): AsyncGenerator<StreamEvent> {
  if (!res.body) return;
  reading.add(res);
  const parser = new EventStreamParser();
  const decoder = new TextDecoder();
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reading.delete(res);
    await reader.cancel().catch(() => undefined);
  }
}
