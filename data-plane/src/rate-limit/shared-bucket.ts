/**
 * A worker's side of the proxy-wide token buckets (docs/architecture.md, "Proxy-wide rate limit
 * buckets"). The request path only decrements a local stock of leased tokens; when the stock
 * runs low the worker asks the primary for more (rate-limit/bucket-server.ts) ahead of need.
 *
 * A request is decided at once when the worker has stock (take one) or knows the bucket is
 * empty (the primary granted nothing a moment ago: deny, as Envoy does, without asking). Only a
 * worker with no stock and no recent answer (cold, or its stock just ran out) holds the request
 * for the lease in flight, one IPC round trip, and decides when the grant arrives: denying it
 * instead would refuse requests well under the limit. Stock left unused for an idle period goes
 * back to the primary, so tokens do not stay stranded in a worker that gets no traffic.
 *
 * Without a transport (a proxy runtime outside a worker, unit tests) the buckets are served by
 * an in-process TokenBucketServer and grants arrive synchronously.
 */
import { createHash } from 'node:crypto';
import {
  TokenBucketServer,
  type TokenLeaseGrant,
  type TokenLeaseRequest,
} from './bucket-server.js';
import { resetSeconds, type TokenBucketSpec } from './token-bucket.js';

/** How the worker reaches the primary's buckets. */
export interface LeaseTransport {
  send(request: TokenLeaseRequest): void;
}

/** Unused stock is returned after this long without a request on its bucket. */
export const IDLE_RETURN_MS = 100;

/**
 * After the primary granted nothing, requests are denied at once for this long (at most until
 * the bucket's next token) before the worker asks again: an exhausted bucket costs one IPC
 * round trip per worker and period, not one per request.
 */
export const KNOWN_EMPTY_MS = 100;

/** A request held until a bucket can decide (SharedBucket.ready). */
export interface BucketWaiter {
  onBucketReady(): void;
}

/**
 * A stable bucket identity: the same config at the same place is the same bucket in every
 * worker and across config updates that leave it unchanged; a changed config (or a config at a
 * different place) is a new bucket, as Envoy starts a new bucket with a new filter config.
 */
export function bucketId(...parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}`);
  return hash.digest('base64url').slice(0, 22);
}

export class SharedBucket {
  readonly id: string;
  readonly spec: TokenBucketSpec;
  readonly #owner: SharedBuckets;
  #stock = 0;
  #lowWater = 0;
  #pending = false;
  /** The lease in flight is a prefetch (no request waits for it). */
  #pendingPrefetch = false;
  /** Requests seen; the idle sweep compares it with its last look. */
  #uses = 0;
  #usesAtSweep = 0;
  #primaryRemaining: number;
  #msUntilNextToken = 0;
  #grantAtMs = 0;
  /** The owner clock until which the bucket is known to be empty. */
  #emptyUntilMs = 0;
  #waiters: BucketWaiter[] = [];

  constructor(id: string, spec: TokenBucketSpec, owner: SharedBuckets) {
    this.id = id;
    this.spec = spec;
    this.#owner = owner;
    this.#primaryRemaining = spec.maxTokens;
  }

  get maxTokens(): number {
    return this.spec.maxTokens;
  }

  /**
   * Whether consume() can decide now: the worker has stock, or knows the bucket is empty. If
   * not, a lease is asked for (unless one is in flight) and `waiter` hears onBucketReady when
   * its grant arrives.
   */
  ready(waiter: BucketWaiter): boolean {
    if (this.#stock > 0) return true;
    if (this.#emptyUntilMs !== 0) {
      if (this.#owner.now() < this.#emptyUntilMs) return true;
      this.#emptyUntilMs = 0;
    }
    if (!this.#pending) {
      this.#ask(true);
      // The in-process server answers synchronously.
      if (this.#stock > 0 || this.#emptyUntilMs !== 0) return true;
    }
    if (!this.#waiters.includes(waiter)) this.#waiters.push(waiter);
    return false;
  }

  /** Takes a token for a request; false: rate limited. Call when ready() said so. */
  consume(): boolean {
    this.#uses++;
    if (this.#stock === 0) {
      if (!this.#pending && this.#emptyUntilMs === 0) this.#ask(true, true);
      return false;
    }
    this.#stock--;
    // Ahead of need: no request waits for this lease.
    if (this.#stock <= this.#lowWater && !this.#pending) this.#ask(true, true);
    return true;
  }

  /**
   * Tokens left proxy-wide, as this worker knows it: the primary's count at the last grant plus
   * this worker's stock (x-ratelimit-remaining).
   */
  remaining(): number {
    return this.#primaryRemaining + this.#stock;
  }

  /** x-ratelimit-reset: whole seconds until a token is available again (0: one is). */
  resetSeconds(): number {
    if (this.remaining() >= 1) return 0;
    const elapsed = this.#owner.now() - this.#grantAtMs;
    return resetSeconds(Math.max(0, this.#msUntilNextToken - elapsed));
  }

  /** Stock the worker holds (tests). */
  get stock(): number {
    return this.#stock;
  }

  #ask(want: boolean, prefetch = false): void {
    const returned = want ? 0 : this.#stock;
    if (!want) this.#stock = 0;
    if (want) {
      this.#pending = true;
      this.#pendingPrefetch = prefetch;
    }
    this.#owner.send(this, want, returned, prefetch);
  }

  /** The primary's answer to this bucket's request. */
  onGrant(grant: TokenLeaseGrant): void {
    this.#pending = false;
    this.#stock += grant.granted;
    this.#lowWater = Math.floor(grant.granted / 2);
    this.#primaryRemaining = grant.remaining;
    this.#msUntilNextToken = grant.msUntilNextToken;
    this.#grantAtMs = this.#owner.now();
    if (this.#stock > 0) this.#owner.holding(this);
    // A prefetch that got nothing says the bucket is low, not empty.
    else if (!this.#pendingPrefetch || grant.remaining === 0)
      this.#emptyUntilMs =
        this.#grantAtMs + Math.max(1, Math.min(KNOWN_EMPTY_MS, grant.msUntilNextToken));
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    // In arrival order; a waiter that finds the stock spent waits again (another lease).
    for (const waiter of waiters) waiter.onBucketReady();
  }

  /** Idle sweep: returns the stock when no request used this bucket since the last sweep. */
  sweep(): boolean {
    const idle = this.#uses === this.#usesAtSweep;
    this.#usesAtSweep = this.#uses;
    if (!idle || this.#pending || this.#stock === 0 || this.#waiters.length > 0)
      return this.#stock > 0;
    this.#ask(false);
    return false;
  }
}

/** The buckets of one worker, by identity. */
export class SharedBuckets {
  readonly #buckets = new Map<string, SharedBucket>();
  readonly #waiting = new Map<number, SharedBucket>();
  readonly #holding = new Set<SharedBucket>();
  #transport: LeaseTransport;
  #local: TokenBucketServer | undefined;
  #seq = 0;
  #sweep: NodeJS.Timeout | undefined;

  /** Monotonic milliseconds (tests drive it). */
  readonly now: () => number;

  /** `transport` undefined: an in-process server (one worker: the process). */
  constructor(transport?: LeaseTransport, now: () => number = () => performance.now()) {
    this.now = now;
    this.#transport = transport ?? this.#localTransport();
  }

  /** Worker start: leases go to the primary from now on. */
  connect(transport: LeaseTransport): void {
    this.#transport = transport;
    this.#local?.close();
    this.#local = undefined;
  }

  /** The bucket `id` (created with `spec` on first use). */
  bucket(id: string, spec: TokenBucketSpec): SharedBucket {
    let bucket = this.#buckets.get(id);
    if (bucket === undefined) {
      bucket = new SharedBucket(id, spec, this);
      this.#buckets.set(id, bucket);
    }
    return bucket;
  }

  /** A grant from the primary. */
  onGrant(grant: TokenLeaseGrant): void {
    const bucket = this.#waiting.get(grant.seq);
    if (bucket === undefined) return;
    this.#waiting.delete(grant.seq);
    bucket.onGrant(grant);
  }

  /** @internal SharedBucket's request to the primary. */
  send(bucket: SharedBucket, want: boolean, returned: number, prefetch: boolean): void {
    const seq = ++this.#seq;
    if (want) this.#waiting.set(seq, bucket);
    this.#transport.send({ bucket: bucket.id, spec: bucket.spec, returned, want, prefetch, seq });
  }

  /** @internal A bucket got stock: the idle sweep watches it. */
  holding(bucket: SharedBucket): void {
    this.#holding.add(bucket);
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(this.#onSweep, IDLE_RETURN_MS);
    this.#sweep.unref();
  }

  readonly #onSweep = (): void => {
    for (const bucket of this.#holding) if (!bucket.sweep()) this.#holding.delete(bucket);
    if (this.#holding.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
      // Buckets no config uses any more are forgotten once they hold nothing.
      for (const [id, bucket] of this.#buckets)
        if (bucket.stock === 0 && !this.#isWaiting(bucket)) this.#buckets.delete(id);
    }
  };

  #isWaiting(bucket: SharedBucket): boolean {
    for (const waiting of this.#waiting.values()) if (waiting === bucket) return true;
    return false;
  }

  #localTransport(): LeaseTransport {
    const server = (this.#local = new TokenBucketServer(() => 1, this.now));
    return {
      send: (request) => {
        const grant = server.lease(request);
        if (grant !== undefined) this.onGrant(grant);
      },
    };
  }
}

/** The worker's buckets: worker-main connects them to the primary at start. */
export const workerBuckets = new SharedBuckets();
