/**
 * Passive outlier detection for one cluster (Cluster.outlier_detection), following Envoy's
 * "Outlier detection" architecture overview and OutlierDetection proto:
 * - consecutive 5xx / gateway failures (502, 503, 504) / local-origin failures eject a host as
 *   soon as the threshold is reached (each with its enforcing_* % chance);
 * - every `interval`, ejected hosts whose time is up return, and success-rate and
 *   failure-percentage ejection run on the interval's request counts;
 * - a host is ejected for base_ejection_time × its ejection multiplier (capped by
 *   max_ejection_time, plus jitter); the multiplier grows by one per ejection and shrinks by one
 *   per interval the host spends un-ejected;
 * - an ejection is refused when it would take the ejected share of hosts above
 *   max_ejection_percent (unless always_eject_one_host and none is ejected yet).
 *
 * Without split_external_local_origin_errors, local failures count as HTTP statuses as Envoy maps
 * them (connect failure and reset → 503, timeout → 504). With it, they feed only the
 * local-origin counters and success rate.
 *
 * Ferry runs one detector per cluster in the primary (health/outlier-manager.ts), fed with every
 * worker's outcomes, as Envoy's main thread aggregates its worker threads.
 *
 * Kept by cluster name, so ejections survive config versions. Time and randomness are
 * injectable for tests; `tick()` is the interval evaluation.
 */
import type { OutlierDetectionModel } from '../config/model.js';

/**
 * What one upstream attempt ended with: the response status, a local-origin failure, or (for
 * tcp_proxy, which sees no response) a connection that was established.
 */
export type UpstreamOutcome = number | 'connect-failure' | 'timeout' | 'reset' | 'connect-success';

export type EjectionReason =
  | 'consecutive_5xx'
  | 'consecutive_gateway_failure'
  | 'consecutive_local_origin_failure'
  | 'success_rate'
  | 'local_origin_success_rate'
  | 'failure_percentage'
  | 'local_origin_failure_percentage';

export interface OutlierStats {
  ejectionsActive: number;
  ejectionsEnforcedTotal: number;
  ejectionsOverflow: number;
  readonly detected: Record<EjectionReason, number>;
  readonly enforced: Record<EjectionReason, number>;
}

export interface OutlierDetectorOptions {
  /** Milliseconds clock (default Date.now). */
  readonly now?: () => number;
  /** Uniform [0, 1) (default Math.random); decides enforcing_* and jitter. */
  readonly random?: () => number;
}

class HostMonitor {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  ejected = false;
  ejectedAtMs = 0;
  ejectionTimeMs = 0;
  multiplier = 0;
  /** Enforced ejections since the host was first seen (LRS reports their deltas). */
  ejections = 0;
  // Counts of the current interval: external (or all, without the split) and local origin.
  externalTotal = 0;
  externalSuccess = 0;
  localTotal = 0;
  localSuccess = 0;
}

const REASONS: readonly EjectionReason[] = [
  'consecutive_5xx',
  'consecutive_gateway_failure',
  'consecutive_local_origin_failure',
  'success_rate',
  'local_origin_success_rate',
  'failure_percentage',
  'local_origin_failure_percentage',
];

function zeroByReason(): Record<EjectionReason, number> {
  return Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<EjectionReason, number>;
}

export class OutlierDetector {
  #config: OutlierDetectionModel;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #hosts = new Map<string, HostMonitor>();
  readonly #listeners = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #timerIntervalMs = 0;
  /**
   * Hosts are not listed with setHosts but learnt from the outcomes reported for them (DNS
   * clusters, whose addresses only the workers resolve). Set by configure().
   */
  #learnHosts = false;
  readonly stats: OutlierStats = {
    ejectionsActive: 0,
    ejectionsEnforcedTotal: 0,
    ejectionsOverflow: 0,
    detected: zeroByReason(),
    enforced: zeroByReason(),
  };

  constructor(config: OutlierDetectionModel, options: OutlierDetectorOptions = {}) {
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  get config(): OutlierDetectionModel {
    return this.#config;
  }

  /** Takes a new config version's settings (counters and ejections are kept). */
  configure(config: OutlierDetectionModel, options: { learnHosts?: boolean } = {}): void {
    this.#config = config;
    if (options.learnHosts !== undefined) this.#learnHosts = options.learnHosts;
    if (this.#timer !== undefined && this.#timerIntervalMs !== config.intervalMs) {
      this.close();
      this.start();
    }
  }

  /** Starts the interval timer (unref'd; idempotent). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timerIntervalMs = this.#config.intervalMs;
    this.#timer = setInterval(() => this.tick(), this.#timerIntervalMs);
    this.#timer.unref();
  }

  /** Stops the interval timer (idempotent); `start()` may restart it. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The cluster's current hosts: monitors of other hosts are dropped (with their ejections). */
  setHosts(keys: Iterable<string>): void {
    const wanted = new Set(keys);
    let changed = false;
    for (const [key, monitor] of this.#hosts) {
      if (wanted.has(key)) continue;
      if (monitor.ejected) {
        this.stats.ejectionsActive--;
        changed = true;
      }
      this.#hosts.delete(key);
    }
    for (const key of wanted) if (!this.#hosts.has(key)) this.#hosts.set(key, new HostMonitor());
    if (changed) this.#notify();
  }

  isEjected(key: string): boolean {
    return this.#hosts.get(key)?.ejected === true;
  }

  ejectedHosts(): ReadonlySet<string> {
    const out = new Set<string>();
    for (const [key, monitor] of this.#hosts) if (monitor.ejected) out.add(key);
    return out;
  }

  /**
   * Per host: whether it is ejected now and its enforced ejections since it was first seen (a
   * host dropped by setHosts and listed again starts from 0). Read by each LRS report.
   */
  hostEjections(): ReadonlyMap<string, { readonly ejected: boolean; readonly ejections: number }> {
    const out = new Map<string, { ejected: boolean; ejections: number }>();
    for (const [key, monitor] of this.#hosts)
      out.set(key, { ejected: monitor.ejected, ejections: monitor.ejections });
    return out;
  }

  /** Calls `listener` after each change of the ejected set; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Records the outcome of one upstream attempt to `key`. The primary's OutlierManager calls it
   * with the outcomes the workers' ClusterRuntime.reportOutcome batched up.
   */
  report(key: string, outcome: UpstreamOutcome): void {
    let monitor = this.#hosts.get(key);
    if (monitor === undefined) {
      if (!this.#learnHosts) return;
      monitor = new HostMonitor();
      this.#hosts.set(key, monitor);
    }
    if (!this.#config.splitExternalLocalOriginErrors) {
      // Envoy maps local-origin results to statuses here (LocalOriginConnectSuccessFinal → 200).
      const status =
        outcome === 'timeout'
          ? 504
          : outcome === 'connect-success'
            ? 200
            : typeof outcome === 'number'
              ? outcome
              : 503;
      this.#recordStatus(key, monitor, status);
      return;
    }
    if (outcome === 'connect-success') {
      monitor.consecutiveLocal = 0;
      monitor.localTotal++;
      monitor.localSuccess++;
      return;
    }
    if (typeof outcome === 'number') {
      // A response means the connection worked: a local-origin success.
      monitor.consecutiveLocal = 0;
      monitor.localTotal++;
      monitor.localSuccess++;
      this.#recordStatus(key, monitor, outcome);
      return;
    }
    monitor.localTotal++;
    if (++monitor.consecutiveLocal >= this.#config.consecutiveLocalOriginFailure) {
      monitor.consecutiveLocal = 0;
      this.#tryEject(
        monitor,
        'consecutive_local_origin_failure',
        this.#config.enforcingConsecutiveLocalOriginFailure,
      );
    }
  }

  #recordStatus(key: string, monitor: HostMonitor, status: number): void {
    const config = this.#config;
    monitor.externalTotal++;
    if (status < 500) {
      monitor.externalSuccess++;
      monitor.consecutive5xx = 0;
      monitor.consecutiveGateway = 0;
      return;
    }
    if (status === 502 || status === 503 || status === 504) {
      if (++monitor.consecutiveGateway >= config.consecutiveGatewayFailure) {
        monitor.consecutiveGateway = 0;
        this.#tryEject(
          monitor,
          'consecutive_gateway_failure',
          config.enforcingConsecutiveGatewayFailure,
        );
      }
    } else {
      monitor.consecutiveGateway = 0;
    }
    if (++monitor.consecutive5xx >= config.consecutive5xx) {
      monitor.consecutive5xx = 0;
      this.#tryEject(monitor, 'consecutive_5xx', config.enforcingConsecutive5xx);
    }
  }

  /** Unejects `key` now (a successful active health check, when the config says so). */
  unejectIfHealthy(key: string): void {
    if (!this.#config.successfulActiveHealthCheckUnejectHost) return;
    const monitor = this.#hosts.get(key);
    if (monitor?.ejected !== true) return;
    this.#uneject(monitor);
    this.#notify();
  }

  /** The interval evaluation: unejections, then success-rate and failure-percentage ejections. */
  tick(): void {
    const now = this.#now();
    let changed = false;
    for (const monitor of this.#hosts.values()) {
      if (monitor.ejected) {
        if (now >= monitor.ejectedAtMs + monitor.ejectionTimeMs) {
          this.#uneject(monitor);
          changed = true;
        }
      } else if (monitor.multiplier > 0) {
        monitor.multiplier--;
      }
    }
    if (changed) this.#notify();
    const config = this.#config;
    this.#statisticalEjections(
      (m) => [m.externalTotal, m.externalSuccess],
      'success_rate',
      config.enforcingSuccessRate,
      'failure_percentage',
      config.enforcingFailurePercentage,
    );
    if (config.splitExternalLocalOriginErrors)
      this.#statisticalEjections(
        (m) => [m.localTotal, m.localSuccess],
        'local_origin_success_rate',
        config.enforcingLocalOriginSuccessRate,
        'local_origin_failure_percentage',
        config.enforcingFailurePercentageLocalOrigin,
      );
    for (const monitor of this.#hosts.values()) {
      monitor.externalTotal = 0;
      monitor.externalSuccess = 0;
      monitor.localTotal = 0;
      monitor.localSuccess = 0;
    }
  }

  #statisticalEjections(
    counts: (m: HostMonitor) => readonly [total: number, success: number],
    successRateReason: EjectionReason,
    successRateEnforcing: number,
    failureReason: EjectionReason,
    failureEnforcing: number,
  ): void {
    const config = this.#config;
    const rateHosts: [HostMonitor, number][] = [];
    const failureHosts: [HostMonitor, number][] = [];
    for (const monitor of this.#hosts.values()) {
      if (monitor.ejected) continue;
      const [total, success] = counts(monitor);
      if (total === 0) continue;
      const rate = (100 * success) / total;
      if (total >= config.successRateRequestVolume) rateHosts.push([monitor, rate]);
      if (total >= config.failurePercentageRequestVolume) failureHosts.push([monitor, rate]);
    }
    if (rateHosts.length > 0 && rateHosts.length >= config.successRateMinimumHosts) {
      const threshold = successRateThreshold(
        rateHosts.map(([, rate]) => rate),
        config.successRateStdevFactor,
      );
      for (const [monitor, rate] of rateHosts)
        if (rate < threshold) this.#tryEject(monitor, successRateReason, successRateEnforcing);
    }
    if (failureHosts.length > 0 && failureHosts.length >= config.failurePercentageMinimumHosts) {
      for (const [monitor, rate] of failureHosts)
        if (100 - rate >= config.failurePercentageThreshold)
          this.#tryEject(monitor, failureReason, failureEnforcing);
    }
  }

  #tryEject(monitor: HostMonitor, reason: EjectionReason, enforcing: number): void {
    if (monitor.ejected) return;
    this.stats.detected[reason]++;
    if (!(this.#random() * 100 < enforcing)) return;
    const config = this.#config;
    const active = this.stats.ejectionsActive;
    const percentAfter = (100 * (active + 1)) / this.#hosts.size;
    if (percentAfter > config.maxEjectionPercent && !(config.alwaysEjectOneHost && active === 0)) {
      this.stats.ejectionsOverflow++;
      return;
    }
    const base = config.baseEjectionTimeMs;
    const cap = Math.max(config.maxEjectionTimeMs, base);
    // The multiplier stops growing once the cap is reached, so recovery takes as many quiet
    // intervals as ejections that counted.
    if (base * monitor.multiplier < cap) monitor.multiplier++;
    const jitter = Math.floor(this.#random() * config.maxEjectionTimeJitterMs);
    monitor.ejected = true;
    monitor.ejectedAtMs = this.#now();
    monitor.ejectionTimeMs = Math.min(base * monitor.multiplier, cap) + jitter;
    monitor.ejections++;
    this.stats.ejectionsActive++;
    this.stats.ejectionsEnforcedTotal++;
    this.stats.enforced[reason]++;
    this.#notify();
  }

  #uneject(monitor: HostMonitor): void {
    monitor.ejected = false;
    monitor.consecutive5xx = 0;
    monitor.consecutiveGateway = 0;
    monitor.consecutiveLocal = 0;
    this.stats.ejectionsActive--;
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/**
 * Envoy's success-rate ejection threshold: mean − (stdev_factor / 1000) × population standard
 * deviation of the hosts' success rates (in percent).
 */
export function successRateThreshold(rates: readonly number[], stdevFactor: number): number {
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const variance = rates.reduce((a, r) => a + (r - mean) ** 2, 0) / rates.length;
  return mean - (stdevFactor / 1000) * Math.sqrt(variance);
}
