/**
 * Watch delivery shared by the ResourceStore implementations. Each watcher keeps a cursor (the last
 * revision it was given) and every delivery reads the committed log after the smallest cursor, so
 * a watcher sees each revision exactly once and in order however replay, local commits and commits
 * by other processes interleave: there is no separate "replay then switch to live" step to race.
 */
import type { ChangeEvent, Watch } from './store.js';

/** The committed log a hub reads from; both calls are synchronous and see committed data only. */
export interface ChangeLog {
  latestRevision(): number;
  /**
   * Events with `after < revision <= upTo`, ascending; at most `limit` revisions. When `after` is
   * older than the log's base, a single reset event at the base instead (read in one snapshot
   * with the base, so a concurrent trim cannot leave a gap); the hub then reads on from the base.
   */
  eventsBetween(after: number, upTo: number, limit: number): ChangeEvent[];
}

interface Watcher {
  cursor: number;
  active: boolean;
  readonly onEvent: (event: ChangeEvent) => void;
}

/** Revisions read per query, so a watcher that starts at 0 on a long history does not load it all. */
const READ_CHUNK_REVISIONS = 256;

export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private drainScheduled = false;
  private lastDrainFailed = false;
  private closed = false;

  /**
   * `onReadError` receives failures of `log` reads; the watchers keep their cursors, so the next
   * notify() retries from where delivery stopped. Default: rethrown as an uncaught exception.
   */
  constructor(
    private readonly log: ChangeLog,
    private readonly onReadError: (err: Error) => void = rethrowLater,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  /** True when the last delivery attempt failed to read the log and should be retried. */
  get needsRetry(): boolean {
    return this.lastDrainFailed;
  }

  /**
   * Registers a watcher. Delivery (replay included) starts on a later microtask, never inside this
   * call, so the caller holds the returned Watch before its callback first runs.
   */
  add(fromRevision: number, onEvent: (event: ChangeEvent) => void): Watch {
    const watcher: Watcher = { cursor: Math.max(0, fromRevision), active: true, onEvent };
    this.watchers.add(watcher);
    this.notify();
    return {
      close: () => {
        watcher.active = false;
        this.watchers.delete(watcher);
      },
    };
  }

  /**
   * Tells the hub that new revisions may have been committed. Delivery runs on a microtask queued
   * now: callers (apply) resolve after it, so `await store.apply(...)` returns after local watchers
   * saw the revision, and a callback that applies again cannot nest deliveries out of order.
   */
  notify(): void {
    if (this.drainScheduled || this.closed || this.watchers.size === 0) return;
    this.drainScheduled = true;
    queueMicrotask(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
  }

  private drain(): void {
    if (this.closed || this.watchers.size === 0) return;
    try {
      this.deliverUpToLatest();
      this.lastDrainFailed = false;
    } catch (err) {
      this.lastDrainFailed = true;
      this.onReadError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private deliverUpToLatest(): void {
    const latest = this.log.latestRevision();
    let from = Math.min(...[...this.watchers].map((w) => w.cursor));
    while (from < latest && !this.closed) {
      const events = this.log.eventsBetween(from, latest, READ_CHUNK_REVISIONS);
      if (events.length === 0) break;
      for (const event of events) this.deliver(event);
      from = events[events.length - 1]!.revision;
    }
  }

  private deliver(event: ChangeEvent): void {
    for (const w of [...this.watchers]) {
      // A callback may close other watchers or the store; a closed watcher gets nothing more.
      if (!w.active || this.closed || event.revision <= w.cursor) continue;
      w.cursor = event.revision;
      try {
        w.onEvent(event);
      } catch (err) {
        // The contract forbids throwing; surface the bug as an uncaught exception without letting
        // it stop delivery to the other watchers.
        rethrowLater(err);
      }
    }
  }
}

function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
