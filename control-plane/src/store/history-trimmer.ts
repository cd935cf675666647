/**
 * Keeps the store's revision log bounded (docs/architecture.md, "How the log is trimmed"): the
 * leader replica trims, in the background, the revisions beyond `--history-retain` and those older
 * than `--history-retain-age`, whichever limit is reached first. Each step is one
 * ResourceStore.trimHistory call (one transaction of at most `batchRevisions` revisions), with a
 * pause between steps so that applies and reads are never held up behind a long trim.
 *
 * Only the leader trims, so replicas do not repeat each other's work; a second trimmer (a
 * leadership hand-over in progress) is still safe, because every store guards each step.
 */
import type { Logger } from '@ferry/shared';
import type { Leadership } from '../replicas/leader.js';
import type { ResourceStore } from './store.js';

/** Revisions kept by default (`--history-retain`). */
export const DEFAULT_HISTORY_RETAIN = 10_000;

export interface HistoryRetention {
  /** The newest revisions kept; 0 keeps every revision (as far as the age allows). */
  readonly revisions: number;
  /** Revisions recorded longer ago than this go; 0 keeps any age. */
  readonly maxAgeMs: number;
}

export interface HistoryTrimmerOptions {
  readonly store: Pick<ResourceStore, 'currentRevision' | 'trimHistory'>;
  readonly leadership: Leadership;
  readonly retention: HistoryRetention;
  /** Revisions per trim transaction (default 100). */
  readonly batchRevisions?: number;
  /** Pause between two trim transactions (default 20). */
  readonly batchPauseMs?: number;
  /** How often the leader looks for revisions to trim (default 60000). */
  readonly intervalMs?: number;
  readonly logger?: Logger;
  /** Default Date.now. */
  readonly now?: () => number;
}

export class HistoryTrimmer {
  readonly #options: HistoryTrimmerOptions;
  readonly #batchRevisions: number;
  readonly #batchPauseMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #pause: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  #unsubscribe: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: HistoryTrimmerOptions) {
    this.#options = options;
    this.#batchRevisions = options.batchRevisions ?? 100;
    this.#batchPauseMs = options.batchPauseMs ?? 20;
    this.#now = options.now ?? Date.now;
  }

  /** False when the retention keeps everything (then start() does nothing). */
  get enabled(): boolean {
    const { revisions, maxAgeMs } = this.#options.retention;
    return revisions > 0 || maxAgeMs > 0;
  }

  /** Trims at once when (and whenever) this replica becomes leader, then every interval. */
  start(): void {
    if (this.#closed || !this.enabled || this.#timer !== undefined) return;
    this.#unsubscribe = this.#options.leadership.subscribe((leading) => {
      if (leading) void this.kick();
    });
    this.#timer = setInterval(() => void this.kick(), this.#options.intervalMs ?? 60_000);
  }

  /**
   * Runs a pass now, or right after the one in progress. Resolves when that pass is over; never
   * rejects (a failed pass is logged and retried at the next interval).
   */
  kick(): Promise<void> {
    if (this.#closed || !this.#options.leadership.isLeader) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pass();
      } while (this.#again && !this.#closed);
      this.#running = undefined;
    })();
    return this.#running;
  }

  /** Stops; a trim transaction in flight completes (it is atomic), no further one starts. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    if (this.#pause) {
      clearTimeout(this.#pause.timer);
      this.#pause.resolve();
    }
    await this.#running;
  }

  async #pass(): Promise<void> {
    const { store, retention, logger } = this.#options;
    let trimmed = 0;
    let base: number | undefined;
    try {
      const latest = await store.currentRevision();
      // The count limit, then the age limit: a revision goes when either says so.
      const steps = [
        ...(retention.revisions > 0 ? [{ throughRevision: latest - retention.revisions }] : []),
        ...(retention.maxAgeMs > 0
          ? [{ throughRevision: latest, recordedBefore: this.#now() - retention.maxAgeMs }]
          : []),
      ];
      for (const step of steps) {
        if (step.throughRevision <= 0) continue;
        for (;;) {
          if (this.#closed || !this.#options.leadership.isLeader) return;
          const result = await store.trimHistory({
            ...step,
            maxRevisions: this.#batchRevisions,
          });
          base = result.base;
          trimmed += result.trimmed;
          if (result.trimmed === 0) break;
          await this.#sleep(this.#batchPauseMs);
        }
      }
    } catch (err) {
      logger?.warn(
        { err, trimmed },
        'revision log: trimming failed; it is retried at the next interval (the log keeps growing meanwhile)',
      );
      return;
    } finally {
      if (trimmed > 0) logger?.info({ trimmed, base }, 'revision log trimmed');
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#pause = {
        timer: setTimeout(() => {
          this.#pause = undefined;
          resolve();
        }, ms),
        resolve,
      };
    });
  }
}
