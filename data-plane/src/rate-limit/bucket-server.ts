/**
 * The proxy-wide token buckets, held by the primary (docs/architecture.md, "Proxy-wide rate
 * limit buckets"). Workers lease tokens in small batches (rate-limit/shared-bucket.ts) so that
 * the configured rate is the proxy's, whatever the number of workers, as Envoy's buckets are
 * shared by all its worker threads.
 *
 * A bucket is created on its first lease request (the request carries its parameters) and
 * dropped when it is full again and idle: a new bucket starts full, so nothing is lost.
 */
import { TokenBucket, type TokenBucketSpec } from './token-bucket.js';

/** A worker's request: give back `returned` unused tokens and, when `want`, lease more. */
export interface TokenLeaseRequest {
  /** The bucket's identity (see shared-bucket.ts, bucketId). */
  readonly bucket: string;
  readonly spec: TokenBucketSpec;
  readonly returned: number;
  readonly want: boolean;
  /**
   * The worker still has stock and asks ahead of need: it gets tokens only while the bucket
   * holds enough for every worker, so a nearly empty bucket is not hoarded by one worker.
   */
  readonly prefetch: boolean;
  /** The worker's sequence number for this request, echoed in the grant. */
  readonly seq: number;
}

export interface TokenLeaseGrant {
  readonly seq: number;
  readonly granted: number;
  /** Whole tokens left in the proxy-wide bucket after this grant. */
  readonly remaining: number;
  /** Milliseconds until the proxy-wide bucket has a token again (0: it has one). */
  readonly msUntilNextToken: number;
}

/** How often full, idle buckets are dropped. */
const SWEEP_MS = 10_000;

export class TokenBucketServer {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #workers: () => number;
  readonly #now: () => number;
  #sweep: NodeJS.Timeout | undefined;

  /**
   * `workers` is the number of workers sharing the buckets (lease sizes depend on it); `now`
   * a monotonic clock in ms.
   */
  constructor(workers: () => number, now: () => number = () => performance.now()) {
    this.#workers = workers;
    this.#now = now;
  }

  /**
   * Applies a request. The lease is a share of what is left: a worker gets at most
   * 1 / (2 × workers) of the available tokens, so that tokens held by workers stay a small part
   * of the limit and every worker can get some of a nearly empty bucket. A worker that needs a
   * token now gets one while there is one; a prefetch gets nothing when the share rounds to
   * zero. Undefined when the request only returned tokens.
   */
  lease(request: TokenLeaseRequest): TokenLeaseGrant | undefined {
    const now = this.#now();
    let bucket = this.#buckets.get(request.bucket);
    if (bucket === undefined) {
      bucket = new TokenBucket(request.spec, now);
      this.#buckets.set(request.bucket, bucket);
      this.#startSweep();
    }
    if (request.returned > 0) bucket.give(request.returned, now);
    if (!request.want) return undefined;
    const available = bucket.remaining(now);
    const fair = Math.floor(available / (2 * Math.max(1, this.#workers())));
    const share = request.prefetch ? fair : Math.max(1, fair);
    const granted = bucket.take(share, now);
    return {
      seq: request.seq,
      granted,
      remaining: bucket.remaining(now),
      msUntilNextToken: bucket.msUntilNextToken(now),
    };
  }

  /** Buckets held now (tests, admin). */
  get size(): number {
    return this.#buckets.size;
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = this.#now();
      for (const [id, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(id);
      if (this.#buckets.size === 0) this.close();
    }, SWEEP_MS);
    this.#sweep.unref();
  }
}
