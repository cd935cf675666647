/**
 * Timeouts armed and disarmed on every request (a connection's idle and head timers, the route
 * timeout) without a Node timer operation per arm. Entries of one duration form a list in
 * deadline order (an entry is appended when armed, and every entry of the list waits as long),
 * and the list has one Node timer, due when its head expires. Arming and disarming are list
 * operations on fields of the owner: no allocation, no timer insert, refresh or clear. The
 * list's timer is set again only when it fires (for the new head, when the old one was disarmed
 * meanwhile) or when the list gets its first entry.
 *
 * An entry expires no earlier than its duration after it was armed (performance.now(), a
 * monotonic clock) and, like a Node timer, as soon as the event loop runs after that.
 */

/** Node's largest timer delay; a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An owner of one timeout; the fields belong to the queue. */
export interface DeadlineEntry {
  /** performance.now() at which the entry expires, while queued. */
  deadlineAt: number;
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  /** The queue the entry is in; undefined when disarmed. */
  deadlineQueue: DeadlineQueue | undefined;
  /** The timeout expired (the entry has left its queue). */
  onDeadline(): void;
}

export class DeadlineQueue {
  #head: DeadlineEntry | undefined;
  #tail: DeadlineEntry | undefined;
  #timer: NodeJS.Timeout | undefined;
  #firing = false;

  /**
   * `keepsAlive`: the list's timer keeps the process running while entries wait (request
   * timeouts, as a Node timer would); otherwise it is unref'd (connection timers).
   */
  constructor(
    readonly durationMs: number,
    readonly keepsAlive: boolean,
  ) {}

  /** Arms (or re-arms) `entry`: it expires durationMs from now, unless removed before. */
  add(entry: DeadlineEntry): void {
    entry.deadlineQueue?.remove(entry);
    const now = performance.now();
    entry.deadlineAt = now + this.durationMs;
    entry.deadlineQueue = this;
    entry.deadlineNext = undefined;
    entry.deadlinePrev = this.#tail;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.deadlineNext = entry;
    this.#tail = entry;
    if (!this.#firing) this.#schedule(now);
  }

  /** Disarms `entry` (a no-op when it is not in this queue). */
  remove(entry: DeadlineEntry): void {
    if (entry.deadlineQueue !== this) return;
    const prev = entry.deadlinePrev;
    const next = entry.deadlineNext;
    if (prev === undefined) this.#head = next;
    else prev.deadlineNext = next;
    if (next === undefined) this.#tail = prev;
    else next.deadlinePrev = prev;
    entry.deadlinePrev = undefined;
    entry.deadlineNext = undefined;
    entry.deadlineQueue = undefined;
    // A timer that keeps the process alive must not outlast the last entry.
    if (this.#head === undefined && this.keepsAlive && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #schedule(now: number): void {
    const head = this.#head;
    if (this.#timer !== undefined || head === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(head.deadlineAt - now)));
    this.#timer = setTimeout(this.#fire, delay);
    if (!this.keepsAlive) this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    this.#firing = true;
    try {
      for (let entry = this.#head; entry !== undefined && entry.deadlineAt <= now;) {
        this.remove(entry);
        entry.onDeadline();
        entry = this.#head;
      }
    } finally {
      this.#firing = false;
      this.#schedule(performance.now());
    }
  };
}

const kept = new Map<number, DeadlineQueue>();
const unrefd = new Map<number, DeadlineQueue>();

/** The worker's queue for timeouts of `durationMs` (one per distinct duration). */
export function deadlineQueueFor(durationMs: number, keepsAlive: boolean): DeadlineQueue {
  const queues = keepsAlive ? kept : unrefd;
  let queue = queues.get(durationMs);
  if (queue === undefined) {
    queue = new DeadlineQueue(durationMs, keepsAlive);
    queues.set(durationMs, queue);
  }
  return queue;
}
