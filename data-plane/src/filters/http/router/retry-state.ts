/**
 * The router's retry decisions for one request (Envoy's RetryStateImpl): whether a response
 * status or a reset is retriable under the route's retry_on, how many retries are left, the
 * jittered exponential back-off before the next attempt, and which hosts a retry should avoid.
 * No I/O and no timers: the router asks, then acts.
 */
import type { RetryPolicyModel } from '../../../config/model.js';

/** Envoy's default retry back-off base (retry_back_off.base_interval). */
export const DEFAULT_BACKOFF_BASE_MS = 25;

/** How an upstream attempt failed. */
export type FailureKind = 'connect-failure' | 'reset' | 'timeout' | 'status';

/** Returns a number in [0, 1) (Math.random; tests inject a sequence). */
export type RandomSource = () => number;

export class RetryState {
  readonly policy: RetryPolicyModel;
  readonly #random: RandomSource;
  /** Retries scheduled so far. */
  #retries = 0;
  /** Hosts tried so far (only kept with previous_hosts). */
  #triedHosts: Set<string> | undefined;

  constructor(policy: RetryPolicyModel, random: RandomSource = Math.random) {
    this.policy = policy;
    this.#random = random;
  }

  /** num_retries not used up yet. */
  get retriesLeft(): boolean {
    return this.#retries < this.policy.numRetries;
  }

  /** Whether a final response with `status` is retriable under retry_on. */
  retriableStatus(status: number): boolean {
    const on = this.policy.retryOn;
    return (
      (status >= 500 && on.includes('5xx')) ||
      ((status === 502 || status === 503 || status === 504) && on.includes('gateway-error')) ||
      (on.includes('retriable-status-codes') && this.policy.retriableStatusCodes.includes(status))
    );
  }

  /**
   * Whether a transport failure is retriable (RetryStateImpl::wouldRetryFromReset): a per-try
   * timeout is a local reset, and any reset (connect failures included) is retried under reset,
   * 5xx and gateway-error; connect-failure covers connect failures only, refused-stream only
   * HTTP/2 streams the upstream refused (`refusedStream`).
   */
  retriableFailure(kind: FailureKind, refusedStream = false): boolean {
    const on = this.policy.retryOn;
    return (
      on.includes('reset') ||
      on.includes('5xx') ||
      on.includes('gateway-error') ||
      (kind === 'connect-failure' && on.includes('connect-failure')) ||
      (refusedStream && on.includes('refused-stream'))
    );
  }

  /**
   * Counts one more retry and returns its back-off delay: Envoy's JitteredExponentialBackOff,
   * uniform in [0, min(base · 2^(n-1), max)) for the n-th retry (max defaults to 10 × base).
   */
  nextBackoffMs(): number {
    this.#retries++;
    const policy = this.policy;
    const base = policy.backoffBaseMs > 0 ? policy.backoffBaseMs : DEFAULT_BACKOFF_BASE_MS;
    const max = policy.backoffMaxMs > 0 ? policy.backoffMaxMs : base * 10;
    const ceiling = Math.min(base * 2 ** (this.#retries - 1), max);
    return Math.floor(this.#random() * ceiling);
  }

  /** Records the host an attempt went to (envoy.retry_host_predicates.previous_hosts). */
  onHostChosen(hostKey: string): void {
    if (this.policy.previousHostsPredicate) (this.#triedHosts ??= new Set()).add(hostKey);
  }

  /** Hosts the next pick should avoid (undefined: none). */
  get excludedHosts(): ReadonlySet<string> | undefined {
    return this.#triedHosts;
  }

  /**
   * host_selection_retry_max_attempts: how many times host selection is reattempted when the
   * pick is a host the retry predicate rejects, before that last pick is used anyway (Envoy's
   * default: once).
   */
  get hostSelectionRetryMaxAttempts(): number {
    return Math.max(1, this.policy.hostSelectionRetryMaxAttempts);
  }
}
