/**
 * Envoy's token bucket for local rate limits (AtomicTokenBucketImpl, used by the local_ratelimit
 * filters since Envoy 1.31): it starts full, refills continuously at
 * tokens_per_fill / fill_interval (not in steps at each interval) and never holds more than
 * max_tokens. Time is passed in (milliseconds from a monotonic clock) so tests drive it.
 */

/** A bucket's parameters (envoy.type.v3.TokenBucket with defaults applied). */
export interface TokenBucketSpec {
  readonly maxTokens: number;
  /** tokens_per_fill (default 1). */
  readonly tokensPerFill: number;
  /** fill_interval in ms (at least 50, as Envoy requires). */
  readonly fillIntervalMs: number;
}

export class TokenBucket {
  readonly maxTokens: number;
  /** Tokens per millisecond. */
  readonly fillRate: number;
  #tokens: number;
  #updatedMs: number;

  constructor(spec: TokenBucketSpec, nowMs: number) {
    this.maxTokens = spec.maxTokens;
    this.fillRate = spec.tokensPerFill / spec.fillIntervalMs;
    this.#tokens = spec.maxTokens;
    this.#updatedMs = nowMs;
  }

  #refill(nowMs: number): void {
    const elapsed = nowMs - this.#updatedMs;
    if (elapsed <= 0) return;
    this.#tokens = Math.min(this.maxTokens, this.#tokens + elapsed * this.fillRate);
    this.#updatedMs = nowMs;
  }

  /** Takes one token if there is one (Envoy's consume). */
  consume(nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Takes up to `count` whole tokens; returns how many were taken. */
  take(count: number, nowMs: number): number {
    this.#refill(nowMs);
    const taken = Math.max(0, Math.min(count, Math.floor(this.#tokens)));
    this.#tokens -= taken;
    return taken;
  }

  /** Puts back tokens taken earlier and not used (capped at max_tokens). */
  give(count: number, nowMs: number): void {
    this.#refill(nowMs);
    this.#tokens = Math.min(this.maxTokens, this.#tokens + count);
  }

  /** Whole tokens available now (x-ratelimit-remaining). */
  remaining(nowMs: number): number {
    this.#refill(nowMs);
    return Math.floor(this.#tokens);
  }

  /** Milliseconds until one whole token is available (0 when there is one). */
  msUntilNextToken(nowMs: number): number {
    this.#refill(nowMs);
    if (this.#tokens >= 1) return 0;
    return Math.ceil((1 - this.#tokens) / this.fillRate);
  }

  /** True when the bucket is full now: dropping it and starting a new one changes nothing. */
  full(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= this.maxTokens;
  }
}

/**
 * x-ratelimit-reset as Envoy writes it: whole seconds (rounded down) until the next token,
 * 0 when a token is available.
 */
export function resetSeconds(msUntilNextToken: number): number {
  return Math.floor(msUntilNextToken / 1000);
}
