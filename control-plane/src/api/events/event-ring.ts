/**
 * The recent events of GET /v1/events, kept in memory so that a client that reconnects resumes
 * where it left off (`since`, or the `Last-Event-ID` header). Bounded by a count and by bytes:
 * the oldest go first. A cursor is `<epoch>-<sequence>`; the epoch is drawn when the control plane
 * starts, so a cursor from an earlier run (or another replica) is never mistaken for one of ours:
 * like a cursor older than what is kept, it gets a `reset` (docs/api.md, "Events").
 */
import { randomBytes } from 'node:crypto';
import type { EventType } from '@ferry/shared/api-wire';

export interface StoredEvent {
  readonly seq: number;
  /** The cursor: the SSE `id:`. */
  readonly id: string;
  readonly type: EventType;
  /** The group the event concerns; undefined for every caller (none is kept today). */
  readonly group: string | undefined;
  /** The whole SSE frame, serialized once for every subscriber. */
  readonly frame: string;
}

/** What `since` finds: the events after the cursor, or a reset. */
export type Resume =
  { readonly reset: false; readonly events: readonly StoredEvent[] } | { readonly reset: true };

const CURSOR = /^([0-9a-z]+)-(\d{1,15})$/;

export class EventRing {
  readonly epoch: string;
  /** events[head..] are kept; their sequence numbers are consecutive. */
  private events: StoredEvent[] = [];
  private head = 0;
  private bytes = 0;
  private nextSeq = 1;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
    epoch: string = randomBytes(6).toString('hex'),
  ) {
    this.epoch = epoch;
  }

  /** The cursor of the newest event (of no event yet: `<epoch>-0`). */
  get newest(): string {
    return `${this.epoch}-${this.nextSeq - 1}`;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  append(type: EventType, group: string | undefined, data: unknown): StoredEvent {
    const seq = this.nextSeq++;
    const id = `${this.epoch}-${seq}`;
    // JSON.stringify escapes line breaks, so the data is one `data:` line.
    const frame = `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    const event: StoredEvent = { seq, id, type, group, frame };
    this.events.push(event);
    this.bytes += frame.length;
    while (this.size > this.maxEvents || (this.bytes > this.maxBytes && this.size > 1)) {
      this.bytes -= this.events[this.head]!.frame.length;
      this.events[this.head++] = undefined as unknown as StoredEvent;
    }
    // Compact once the dropped prefix dominates (amortized O(1) per event).
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
    return event;
  }

  /**
   * The events after `cursor`. A cursor of another epoch, from the future, or older than the
   * oldest kept event's predecessor resets: the client cannot know what it missed.
   */
  since(cursor: string): Resume {
    const m = CURSOR.exec(cursor);
    if (!m || m[1] !== this.epoch) return { reset: true };
    const seq = Number(m[2]);
    const newest = this.nextSeq - 1;
    if (seq > newest) return { reset: true };
    if (seq === newest) return { reset: false, events: [] };
    const oldest = this.size > 0 ? this.events[this.head]!.seq : this.nextSeq;
    if (seq < oldest - 1) return { reset: true };
    return { reset: false, events: this.events.slice(this.head + (seq + 1 - oldest)) };
  }
}
