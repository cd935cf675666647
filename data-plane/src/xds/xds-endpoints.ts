/**
 * Which control plane the proxy's xDS streams (ADS, HDS, LRS) connect to, when the xDS cluster
 * of the bootstrap has several endpoints (docs/architecture.md, "Control-plane replicas"). One
 * picker is shared by the three streams, like the host set of Envoy's xDS cluster, so they all go
 * to the same replica while it works and all move when it fails.
 *
 * The rule, first healthy by priority with round robin inside a priority:
 * - an endpoint is healthy unless its last stream failed (could not connect, or ended) less than
 *   `failureMemoryMs` ago; a stream that gets a response clears the mark;
 * - a stream opens to the current endpoint while it is healthy; otherwise the next healthy one of
 *   the lowest priority level (0 first) that has one, in round-robin order from where that level
 *   left off (each proxy starts at a random position, so a fleet spreads over the replicas);
 * - when no endpoint is healthy, every mark is cleared and the round starts again at priority 0.
 * Envoy itself moves to priority 1 only when priority 0's hosts are unhealthy by health checks;
 * the xDS streams' own failures stand in for those checks here.
 *
 * An endpoint that is a DNS name is one endpoint: grpc-js resolves it and tries its addresses.
 */
export interface XdsEndpoint {
  /** gRPC target, host:port. */
  readonly target: string;
  /** LocalityLbEndpoints.priority (0 is highest). */
  readonly priority: number;
}

export interface XdsEndpointPickerOptions {
  /** How long a failed endpoint is passed over (default 30 s, the longest reconnect backoff). */
  readonly failureMemoryMs?: number;
  readonly now?: () => number;
  /** [0, 1); picks each priority level's first endpoint. */
  readonly random?: () => number;
}

export class XdsEndpointPicker {
  /** Endpoints per priority level, lowest priority number first; order as in the bootstrap. */
  readonly #levels: (readonly string[])[];
  /** Per level: where round robin goes on. */
  readonly #cursors: number[];
  /** target → when its last stream failed. */
  readonly #failedAt = new Map<string, number>();
  readonly #failureMemoryMs: number;
  readonly #now: () => number;
  #current: string | undefined;

  constructor(endpoints: readonly XdsEndpoint[], options: XdsEndpointPickerOptions = {}) {
    if (endpoints.length === 0) throw new RangeError('the xDS cluster has no endpoint');
    const priorities = [...new Set(endpoints.map((e) => e.priority))].sort((a, b) => a - b);
    this.#levels = priorities.map((p) => [
      ...new Set(endpoints.filter((e) => e.priority === p).map((e) => e.target)),
    ]);
    const random = options.random ?? Math.random;
    this.#cursors = this.#levels.map((level) => Math.floor(random() * level.length));
    this.#failureMemoryMs = options.failureMemoryMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** Every endpoint, by priority. */
  get targets(): readonly string[] {
    return this.#levels.flat();
  }

  /** The endpoint the last pick() chose (undefined before the first). */
  get current(): string | undefined {
    return this.#current;
  }

  /** The endpoint a stream opening now connects to. */
  pick(): string {
    if (this.#current !== undefined && this.#healthy(this.#current)) return this.#current;
    for (let level = 0; level < this.#levels.length; level++) {
      const chosen = this.#next(level);
      if (chosen !== undefined) return (this.#current = chosen);
    }
    // Every endpoint failed recently: try them all again, best priority first.
    this.#failedAt.clear();
    return (this.#current = this.#next(0)!);
  }

  /** A stream to `target` could not connect or ended. */
  failed(target: string): void {
    this.#failedAt.set(target, this.#now());
  }

  /** A stream to `target` got a response. */
  succeeded(target: string): void {
    this.#failedAt.delete(target);
  }

  #healthy(target: string): boolean {
    const at = this.#failedAt.get(target);
    if (at === undefined) return true;
    if (this.#now() - at < this.#failureMemoryMs) return false;
    this.#failedAt.delete(target);
    return true;
  }

  /** The next healthy endpoint of `level` in round-robin order, advancing its cursor. */
  #next(level: number): string | undefined {
    const targets = this.#levels[level]!;
    for (let i = 0; i < targets.length; i++) {
      const index = (this.#cursors[level]! + i) % targets.length;
      const target = targets[index]!;
      if (this.#healthy(target)) {
        this.#cursors[level] = (index + 1) % targets.length;
        return target;
      }
    }
    return undefined;
  }
}
