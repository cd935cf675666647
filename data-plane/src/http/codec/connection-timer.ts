/**
 * A connection's re-armable timeout (idle, request headers, connect, a pool's idle connection):
 * an entry of the worker's deadline queue for its duration (../deadline-queue.ts), so arming and
 * disarming it on every request costs no Node timer operation. Connection timers do not keep
 * the process alive.
 */
import { deadlineQueueFor, type DeadlineEntry, type DeadlineQueue } from '../deadline-queue.js';

export class ConnectionTimer implements DeadlineEntry {
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineQueue: DeadlineQueue | undefined = undefined;
  /** The queue of the last duration armed (durations rarely change on a connection). */
  private queue: DeadlineQueue | undefined;

  constructor(private readonly onExpiry: () => void) {}

  /** Starts (or restarts) the countdown; 0 means no timeout. */
  arm(timeoutMs: number): void {
    if (timeoutMs <= 0) {
      this.disarm();
      return;
    }
    let queue = this.queue;
    if (queue === undefined || queue.durationMs !== timeoutMs) {
      queue = deadlineQueueFor(timeoutMs, false);
      this.queue = queue;
    }
    queue.add(this);
  }

  disarm(): void {
    this.deadlineQueue?.remove(this);
  }

  /** Disarms for good (the connection is gone); arm() may still be called and works. */
  stop(): void {
    this.disarm();
  }

  onDeadline(): void {
    this.onExpiry();
  }
}
