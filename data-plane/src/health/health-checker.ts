/**
 * One active health check of one host (Envoy "Health checking"): the interface every checker
 * implements (`health-checker-<kind>.ts`) and the outcomes they share; health-checker-factory.ts
 * picks the implementation for a HealthCheck's checker kind. A checker only performs one probe
 * and reports its outcome; thresholds, intervals and jitter are health-state.ts's and
 * health-manager.ts's business.
 */

export interface HealthCheckTarget {
  readonly host: string;
  readonly port: number;
  /** Default Host / :authority for HTTP and gRPC checks (Envoy uses the cluster name). */
  readonly clusterName: string;
}

/**
 * `active`: the host answered and said it is not healthy (unexpected HTTP status, NOT_SERVING):
 * Envoy marks it unhealthy at once unless `retriable`. `network`: no usable answer (refused,
 * reset, timeout): counts towards unhealthy_threshold.
 */
export type CheckOutcome =
  | { readonly healthy: true }
  | {
      readonly healthy: false;
      readonly failure: 'active' | 'network';
      readonly retriable: boolean;
      readonly detail: string;
    };

export interface HealthChecker {
  /**
   * Probes `target` once. Never rejects. When `signal` aborts (the timeout, or the host going
   * away) the probe releases its sockets and resolves with a network failure.
   */
  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome>;
}

export function networkFailure(detail: string): CheckOutcome {
  return { healthy: false, failure: 'network', retriable: false, detail };
}

export function activeFailure(detail: string, retriable = false): CheckOutcome {
  return { healthy: false, failure: 'active', retriable, detail };
}

export const HEALTHY: CheckOutcome = Object.freeze({ healthy: true });
