/**
 * Bounding a benchmark run: a deadline every wait races against (so a stuck control plane ends
 * the run with a report instead of hanging), and a progress signal that waits on conditions
 * re-checked whenever a client event arrives (no polling timers per client).
 */

export class RunAborted extends Error {
  override readonly name = 'RunAborted';
}

export class Deadline {
  private readonly aborted: Promise<never>;
  private rejectAborted!: (err: Error) => void;
  private readonly timer: NodeJS.Timeout;
  private reason: Error | undefined;

  constructor(totalMs: number) {
    this.aborted = new Promise<never>((_, reject) => (this.rejectAborted = reject));
    // Every race attaches its own handler; this one keeps an unraced abort from being unhandled.
    this.aborted.catch(() => undefined);
    this.timer = setTimeout(
      () => this.abort(new RunAborted(`run exceeded its ${Math.round(totalMs / 1000)} s budget`)),
      totalMs,
    );
  }

  get abortedReason(): Error | undefined {
    return this.reason;
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    clearTimeout(this.timer);
    this.rejectAborted(reason);
  }

  /** Resolves like `promise`, or rejects when the run is aborted, or after `timeoutMs` with `what`. */
  async race<T>(promise: Promise<T>, what: string, timeoutMs?: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const contenders: Promise<T>[] = [promise, this.aborted];
    if (timeoutMs !== undefined) {
      contenders.push(
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new RunAborted(`timed out after ${timeoutMs} ms waiting for ${what}`)),
            timeoutMs,
          );
        }),
      );
    }
    try {
      return await Promise.race(contenders);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the budget timer; later aborts are still honoured. Idempotent. */
  close(): void {
    clearTimeout(this.timer);
  }
}

export class Progress {
  private waiters: { done: () => boolean; resolve: () => void }[] = [];

  /** Resolves once `done()` is true; it is checked now and on every `notify()`. */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.done()) return true;
      w.resolve();
      return false;
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
