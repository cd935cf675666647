/**
 * When the server PINGs which connection (server.ts's keepalive): rounds that go through every
 * connection once, spread evenly over the interval, so that a server holding 10,000 connections
 * sends about tick / interval of its PINGs per tick instead of all of them in one turn of the
 * event loop, where they would hold up whatever else is due (an xDS push and its ACKs).
 */
export class KeepaliveRounds<T> {
  /** The round under way: the members left, how many there were, when it began, how far it is. */
  private members: Iterator<T> | null = null;
  private size = 0;
  private startedAt = 0;
  private sent = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  /** A round ends one tick before the next is due, so that rounds do not overlap. */
  private readonly spanMs: number;

  /**
   * @param intervalMs Time between two rounds' starts: a member is visited about this often.
   * @param tickMs Time between two calls of `visit`.
   */
  constructor(
    private readonly intervalMs: number,
    private readonly tickMs: number,
  ) {
    this.spanMs = Math.max(tickMs, intervalMs - tickMs);
  }

  /**
   * Called every tick: passes to `visit` the members whose turn has come by the end of this tick.
   * `all` is iterated live: a member removed before its turn is skipped, one added during a round
   * may be visited in it or waits for the next.
   */
  tick(all: ReadonlySet<T>, now: number, visit: (member: T) => void): void {
    if (this.members === null) {
      if (now - this.lastStart < this.intervalMs) return;
      this.lastStart = now;
      this.members = all.values();
      this.size = all.size;
      this.startedAt = now;
      this.sent = 0;
    }
    const due = Math.min(
      this.size,
      Math.ceil((this.size * (now - this.startedAt + this.tickMs)) / this.spanMs),
    );
    while (this.sent < due) {
      const next = this.members.next();
      if (next.done === true) {
        this.members = null;
        return;
      }
      this.sent += 1;
      visit(next.value);
    }
    if (this.sent >= this.size) this.members = null;
  }
}
