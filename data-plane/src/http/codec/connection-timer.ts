/**
 * A connection's re-armable timeout without a timer allocation per arm: one Node Timeout is
 * kept and `refresh()`ed; disarming only clears a flag, so a stale expiry is ignored. `stop()`
 * clears the timer for good (the connection is gone).
 */
export class ConnectionTimer {
  private timer: NodeJS.Timeout | undefined;
  private timeoutMs = 0;
  private armed = false;
  private readonly onTimerBound = this.onTimer.bind(this);

  constructor(private readonly onExpiry: () => void) {}

  /** Starts (or restarts) the countdown; 0 means no timeout. */
  arm(timeoutMs: number): void {
    if (timeoutMs <= 0) {
      this.armed = false;
      return;
    }
    this.armed = true;
    if (this.timer !== undefined && this.timeoutMs === timeoutMs) {
      this.timer.refresh();
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timeoutMs = timeoutMs;
    this.timer = setTimeout(this.onTimerBound, timeoutMs);
    this.timer.unref();
  }

  disarm(): void {
    this.armed = false;
  }

  stop(): void {
    this.armed = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onTimer(): void {
    if (!this.armed) return;
    this.armed = false;
    this.onExpiry();
  }
}
