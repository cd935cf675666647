/**
 * The recent events of GET /v1/events that are kept for resuming (`since`, or the
 * `Last-Event-ID` header): store, health and rollout events. Node events take their cursor from
 * the same sequence but are not kept here (node-cursors.ts remembers the cursor of each node's
 * last change instead), so the ring does not grow with the fleet. Bounded by a count and by
 * bytes: the oldest go first. A cursor is `<epoch>-<sequence>`; the epoch is drawn when the
 * control plane starts, so a cursor from an earlier run (or another replica) is never mistaken
 * for one of ours: like a cursor older than what is kept, it gets a `reset` (docs/api.md,
 * "Events").
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

/** One SSE event. JSON.stringify escapes line breaks, so the data is one `data:` line. */
export function eventFrame(id: string, type: EventType, data: unknown): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The epoch and sequence of a cursor; undefined when it is not one. */
export function parseCursor(cursor: string): { epoch: string; seq: number } | undefined {
  const m = CURSOR.exec(cursor);
  return m ? { epoch: m[1]!, seq: Number(m[2]) } : undefined;
}

export class EventRing {
  readonly epoch: string;
  /** events[head..] are kept, in increasing sequence (with gaps: node events are elsewhere). */
  private events: StoredEvent[] = [];
  private head = 0;
  private bytes = 0;
  private nextSeq = 1;
  /** The sequence of the newest event dropped for the bounds (0: none). */
  private dropped = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
    epoch: string = randomBytes(6).toString('hex'),
  ) {
    this.epoch = epoch;
  }

  /** The cursor of the newest event, kept or not (of no event yet: `<epoch>-0`). */
  get newest(): string {
    return this.cursor(this.nextSeq - 1);
  }

  get newestSeq(): number {
    return this.nextSeq - 1;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  cursor(seq: number): string {
    return `${this.epoch}-${seq}`;
  }

  /** A sequence number for an event that is not kept here (a node's). */
  take(): number {
    return this.nextSeq++;
  }

  append(type: EventType, group: string | undefined, data: unknown): StoredEvent {
    const seq = this.nextSeq++;
    const id = this.cursor(seq);
    const event: StoredEvent = { seq, id, type, group, frame: eventFrame(id, type, data) };
    this.events.push(event);
    this.bytes += event.frame.length;
    while (this.size > this.maxEvents || (this.bytes > this.maxBytes && this.size > 1)) {
      const old = this.events[this.head]!;
      this.bytes -= old.frame.length;
      this.dropped = old.seq;
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
   * The sequence of one of our cursors; undefined for a cursor of another epoch, from the future
   * or malformed: the client cannot know what it missed.
   */
  seqOf(cursor: string): number | undefined {
    const c = parseCursor(cursor);
    if (!c || c.epoch !== this.epoch || c.seq > this.nextSeq - 1) return undefined;
    return c.seq;
  }

  /** The kept events after `seq`; undefined when one of them was dropped. */
  after(seq: number): readonly StoredEvent[] | undefined {
    if (seq < this.dropped) return undefined;
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo);
  }

  /** The events after `cursor`, or a reset (see seqOf and after). */
  since(cursor: string): Resume {
    const seq = this.seqOf(cursor);
    const events = seq === undefined ? undefined : this.after(seq);
    return events ? { reset: false, events } : { reset: true };
  }
}
