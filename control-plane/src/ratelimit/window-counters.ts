/**
 * Fixed-window counters, aligned to the unit's boundaries in UTC as envoyproxy/ratelimit aligns
 * them: a MINUTE limit counts from hh:mm:00.000 to hh:mm:59.999, then starts from zero. Accuracy:
 * within one window at most `requests_per_unit` requests are answered OK by the replica that owns
 * the key, exactly; across a boundary a client can get up to twice the rate within one unit's
 * span (the end of one window and the start of the next), the known cost of fixed windows, paid
 * for O(1) memory per key and no clock coordination beyond the hosts' clocks.
 *
 * Memory: one entry per key seen in the current window; entries of ended windows are dropped by
 * sweep(), which the owner calls on a timer. At most `maxKeys` live at once (many client
 * addresses under a per-address rule would otherwise grow the map for a whole window): a new key
 * beyond that is refused (hit() returns undefined) after ended windows are swept.
 */

interface Entry {
  /** Epoch ms at which the entry's window ends. */
  windowEnd: number;
  count: number;
}

export interface HitResult {
  /** The count after this hit, within the current window. */
  readonly count: number;
  /** Epoch ms at which the window resets. */
  readonly windowEnd: number;
}

/** Default bound on live counters (about 150 bytes each). */
export const DEFAULT_MAX_COUNTERS = 1_000_000;

export class WindowCounters {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly maxKeys = DEFAULT_MAX_COUNTERS) {}

  /**
   * Adds `hits` to `key`'s counter for the `unitMs` window that contains `now`; undefined when
   * `key` is new and `maxKeys` counters are live.
   */
  hit(key: string, unitMs: number, hits: number, now: number): HitResult | undefined {
    const windowEnd = (Math.floor(now / unitMs) + 1) * unitMs;
    let entry = this.#entries.get(key);
    if (entry === undefined && this.#entries.size >= this.maxKeys) {
      this.sweep(now);
      if (this.#entries.size >= this.maxKeys) return undefined;
    }
    if (entry === undefined || entry.windowEnd !== windowEnd) {
      if (entry === undefined || entry.windowEnd < windowEnd) {
        entry = { windowEnd, count: 0 };
        this.#entries.set(key, entry);
      } else {
        // A clock that stepped back: count in the newer window rather than reopen an old one.
        return { count: (entry.count += hits), windowEnd: entry.windowEnd };
      }
    }
    entry.count += hits;
    return { count: entry.count, windowEnd };
  }

  /** Drops the counters of windows that ended before `now`. */
  sweep(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.windowEnd <= now) this.#entries.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** Forgets a counter (its key moved to another replica, which counts from zero). */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
