/**
 * Watch delivery for the etcd store: the asynchronous counterpart of store-watch-hub.ts. Each
 * watcher keeps a cursor (the last revision it was given) and every drain reads Ferry's revision
 * log after the smallest cursor, so a watcher sees each revision exactly once and in order, however
 * replay, local applies, other control planes' applies and reconnects interleave. The etcd watch
 * (store-etcd.ts) only says "the counter moved"; what is delivered always comes from the log, which
 * etcd's compaction does not touch. A watcher whose cursor fell behind the trimmed log's base (a
 * resume after a long disconnect) gets a reset from the same read.
 */
import type { ChangeEvent, Watch } from './store.js';

/** The committed log a feed reads; both calls see committed data only. */
export interface AsyncChangeLog {
  latestRevision(): Promise<number>;
  /**
   * Events with `after < revision <= upTo`, ascending; at most `limit` revisions. When `after` is
   * older than the log's base, a single reset event at the base instead (store-watch-hub.ts).
   */
  eventsBetween(after: number, upTo: number, limit: number): Promise<ChangeEvent[]>;
}

interface Watcher {
  cursor: number;
  active: boolean;
  readonly onEvent: (event: ChangeEvent) => void;
}

const READ_CHUNK_REVISIONS = 64;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

export class EtcdFeed {
  private readonly watchers = new Set<Watcher>();
  private draining = false;
  private drainAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private closed = false;
  private readonly waiters: Array<{ revision: number; resolve: () => void }> = [];

  /**
   * `onReadError` receives failures of log reads; the watchers keep their cursors and the feed
   * retries with backoff until a read succeeds or the feed is closed.
   */
  constructor(
    private readonly log: AsyncChangeLog,
    private readonly onReadError: (err: Error) => void,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  /** Registers a watcher; delivery starts after this call returns, never inside it. */
  add(fromRevision: number, onEvent: (event: ChangeEvent) => void): Watch {
    const watcher: Watcher = { cursor: Math.max(0, fromRevision), active: true, onEvent };
    this.watchers.add(watcher);
    this.notify();
    return {
      close: () => {
        watcher.active = false;
        this.watchers.delete(watcher);
        this.settleWaiters();
      },
    };
  }

  /** New revisions may have been committed (a local apply, an etcd watch event, a reconnect). */
  notify(): void {
    if (this.closed || this.watchers.size === 0) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    queueMicrotask(() => void this.drain());
  }

  /**
   * Resolves once every current watcher has been given `revision` (at once when there are none),
   * so that `await store.apply(...)` returns after this process's watchers saw the revision, as
   * with the other stores. Never rejects; it also resolves when the feed is closed or a read of
   * the log fails (delivery then follows on a retry).
   */
  delivered(revision: number): Promise<void> {
    if (this.allPast(revision)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ revision, resolve }));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
    this.settleWaiters();
  }

  private async drain(): Promise<void> {
    do {
      this.drainAgain = false;
      try {
        await this.deliverUpToLatest();
        this.retryMs = RETRY_MIN_MS;
      } catch (err) {
        this.onReadError(err instanceof Error ? err : new Error(String(err)));
        this.scheduleRetry();
        // An apply waiting for delivery has committed: it returns now rather than wait for etcd
        // to come back; its watchers get the revision on the retry.
        this.releaseWaiters();
        break;
      }
    } while (this.drainAgain && !this.closed);
    this.draining = false;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.notify();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private async deliverUpToLatest(): Promise<void> {
    if (this.watchers.size === 0) return;
    const latest = await this.log.latestRevision();
    let from = Math.min(...[...this.watchers].map((w) => w.cursor));
    while (from < latest && !this.closed && this.watchers.size > 0) {
      const events = await this.log.eventsBetween(from, latest, READ_CHUNK_REVISIONS);
      if (events.length === 0) break;
      for (const event of events) this.deliver(event, from);
      from = events[events.length - 1]!.revision;
    }
    this.settleWaiters();
  }

  /**
   * Gives `event`, read from the log after revision `readFrom`, to every watcher that has seen
   * everything up to `readFrom`. A watcher added while this read was in flight may be further
   * behind: it waits for the next drain (its add() asked for one), which starts from its cursor;
   * given this event now, it would skip the revisions in between (a replica starting while
   * applies are committed would load a store missing its older resources).
   */
  private deliver(event: ChangeEvent, readFrom: number): void {
    for (const w of [...this.watchers]) {
      // A callback may close other watchers or the store; a closed watcher gets nothing more.
      if (!w.active || this.closed || event.revision <= w.cursor || w.cursor < readFrom) continue;
      w.cursor = event.revision;
      try {
        w.onEvent(event);
      } catch (err) {
        // The contract forbids throwing; surface the bug without stopping the other watchers.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    this.settleWaiters();
  }

  private allPast(revision: number): boolean {
    if (this.closed) return true;
    for (const w of this.watchers) if (w.cursor < revision) return false;
    return true;
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  private settleWaiters(): void {
    for (const waiter of [...this.waiters]) {
      if (this.allPast(waiter.revision)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}
