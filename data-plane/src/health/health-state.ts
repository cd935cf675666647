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
>;

export class HostHealthState {
  #status: ActiveHealthStatus = 'UNHEALTHY';
  #pending = true;
  #consecutiveSuccesses = 0;
  #consecutiveFailures = 0;
  #lastTransition: HealthTransition = 'unchanged';

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
    return this.#lastTransition;
  }

  /**
   * Delay before the next check (Envoy's HealthCheckerImplBase::interval): the edge intervals
   * right after a transition, unhealthy_interval while unhealthy, interval otherwise; then
   * interval_jitter_percent of that and interval_jitter, each scaled by `random()` ∈ [0, 1).
   *
   * no_traffic_interval is not used: ferry-proxy's primary does not see the workers' traffic,
   * so it checks as if the cluster always had traffic (more checks, never fewer).
   */
  nextIntervalMs(settings: IntervalSettings, random: () => number): number {
    let base: number;
    if (this.#status === 'HEALTHY')
      base =
        this.#lastTransition === 'changed' ? settings.healthyEdgeIntervalMs : settings.intervalMs;
    else
      base =
        this.#lastTransition === 'changed'
          ? settings.unhealthyEdgeIntervalMs
          : settings.unhealthyIntervalMs;
    let jitter = 0;
    if (settings.intervalJitterPercent > 0)
      jitter += Math.floor(random() * ((base * settings.intervalJitterPercent) / 100));
    if (settings.intervalJitterMs > 0) jitter += Math.floor(random() * settings.intervalJitterMs);
    return base + jitter;
  }
}
