/**
 * The per-host, per-check threshold state machine of Envoy's active health checking
 * (HealthCheckerImplBase::ActiveHealthCheckSession): consecutive successes and failures move a
 * host between healthy and unhealthy, and the outcome decides how long until the next check.
 *
 * - A host starts unhealthy and pending (Envoy's FAILED_ACTIVE_HC + PENDING_ACTIVE_HC); its first
 *   successful check makes it healthy at once ("during startup, only a single successful health
 *   check is required", HealthCheck.healthy_threshold).
 * - Otherwise healthy_threshold consecutive successes make an unhealthy host healthy.
 * - A network failure (refused, reset, timeout) or a retriable status counts towards
 *   unhealthy_threshold; an active failure (the host answered "not healthy") fails it at once.
 */
import type { HealthCheckModel } from '../config/model.js';
import type { CheckOutcome } from './health-checker.js';

export type ActiveHealthStatus = 'HEALTHY' | 'UNHEALTHY';

/** Whether the last check moved the host to the other status (Envoy's HealthTransition). */
export type HealthTransition = 'changed' | 'unchanged';

export type Thresholds = Pick<HealthCheckModel, 'healthyThreshold' | 'unhealthyThreshold'>;

export type IntervalSettings = Pick<
  HealthCheckModel,
  | 'intervalMs'
  | 'intervalJitterMs'
  | 'intervalJitterPercent'
  | 'unhealthyIntervalMs'
  | 'unhealthyEdgeIntervalMs'
  | 'healthyEdgeIntervalMs'
  | 'noTrafficIntervalMs'
  | 'noTrafficHealthyIntervalMs'
>;

/**
 * Envoy's HealthTransition as its interval choice sees it: `pending` when the check moved the
 * host towards the other status without reaching the threshold; `changed` when the status changed
 * or this was the host's first check (Envoy clears PENDING_ACTIVE_HC and reports Changed).
 */
type IntervalTransition = 'changed' | 'pending' | 'unchanged';

export class HostHealthState {
  #status: ActiveHealthStatus = 'UNHEALTHY';
  #pending = true;
  #consecutiveSuccesses = 0;
  #consecutiveFailures = 0;
  #lastTransition: HealthTransition = 'unchanged';
  #intervalTransition: IntervalTransition = 'unchanged';
  /** The last check's result (Envoy's HealthState argument of interval()). */
  #lastCheckHealthy = false;

  get status(): ActiveHealthStatus {
    return this.#status;
  }

  /** True until the first check has completed (Envoy's PENDING_ACTIVE_HC). */
  get pending(): boolean {
    return this.#pending;
  }

  get lastTransition(): HealthTransition {
    return this.#lastTransition;
  }

  /** Records one check's outcome; returns whether the status changed. */
  record(outcome: CheckOutcome, thresholds: Thresholds): HealthTransition {
    const wasPending = this.#pending;
    this.#pending = false;
    const before = this.#status;
    if (outcome.healthy) {
      this.#consecutiveFailures = 0;
      this.#consecutiveSuccesses++;
      if (
        this.#status === 'UNHEALTHY' &&
        (wasPending || this.#consecutiveSuccesses >= thresholds.healthyThreshold)
      )
        this.#status = 'HEALTHY';
    } else {
      this.#consecutiveSuccesses = 0;
      this.#consecutiveFailures++;
      const immediate = outcome.failure === 'active' && !outcome.retriable;
      if (
        this.#status === 'HEALTHY' &&
        (immediate || this.#consecutiveFailures >= thresholds.unhealthyThreshold)
      )
        this.#status = 'UNHEALTHY';
    }
    this.#lastTransition = this.#status !== before ? 'changed' : 'unchanged';
    // Moving towards the other status without reaching its threshold yet.
    const towards = outcome.healthy ? before === 'UNHEALTHY' : before === 'HEALTHY';
    this.#intervalTransition =
      wasPending || this.#lastTransition === 'changed'
        ? 'changed'
        : towards
          ? 'pending'
          : 'unchanged';
    this.#lastCheckHealthy = outcome.healthy;
    return this.#lastTransition;
  }

  /**
   * Delay before the next check, as Envoy's HealthCheckerImplBase::interval chooses it from the
   * last check's result and transition:
   * - a cluster that has had traffic: after a failed check, unhealthy_edge_interval while the
   *   host is on its way to unhealthy (threshold not reached yet), else unhealthy_interval; after
   *   a successful one, healthy_edge_interval while on its way to healthy, else interval;
   * - a cluster that never had traffic: no_traffic_healthy_interval after a success that settles
   *   (no transition pending), else no_traffic_interval;
   * then interval_jitter_percent of that and interval_jitter, each scaled by `random()` ∈ [0, 1).
   */
  nextIntervalMs(settings: IntervalSettings, random: () => number, hadTraffic = true): number {
    const pending = this.#intervalTransition === 'pending';
    let base: number;
    if (!hadTraffic)
      base =
        this.#lastCheckHealthy && !pending
          ? settings.noTrafficHealthyIntervalMs
          : settings.noTrafficIntervalMs;
    else if (this.#lastCheckHealthy)
      base = pending ? settings.healthyEdgeIntervalMs : settings.intervalMs;
    else base = pending ? settings.unhealthyEdgeIntervalMs : settings.unhealthyIntervalMs;
    let jitter = 0;
    if (settings.intervalJitterPercent > 0)
      jitter += Math.floor(random() * ((base * settings.intervalJitterPercent) / 100));
    if (settings.intervalJitterMs > 0) jitter += Math.floor(random() * settings.intervalJitterMs);
    return base + jitter;
  }
}
