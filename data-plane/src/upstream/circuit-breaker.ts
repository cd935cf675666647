/**
 * Envoy's cluster circuit breakers (default priority): counts of active requests, pending
 * requests (dispatched but not yet written to a connection) and active retries. One
 * CircuitBreakerState lives per cluster *name* and is carried across config applies, so requests
 * started on an older version of the cluster still release what they took; the limits are read
 * from whichever ClusterModel the caller started with.
 *
 * max_connections: HTTP connections are bounded by the per-host connection pools
 * (upstream-pool.ts); tcp_proxy's upstream connections, one per downstream connection, are
 * counted here for the whole cluster, as Envoy's connection circuit breaker does.
 */
import type { CircuitBreakersModel } from '../config/model.js';

export class CircuitBreakerState {
  activeRequests = 0;
  pendingRequests = 0;
  activeRetries = 0;
  /** tcp_proxy upstream connections open or connecting. */
  activeConnections = 0;

  /** True when a new request would exceed max_requests or max_pending_requests (→ 503 UO). */
  requestOverflow(limits: CircuitBreakersModel): boolean {
    return (
      this.activeRequests >= limits.maxRequests || this.pendingRequests >= limits.maxPendingRequests
    );
  }

  /** True when one more tcp_proxy connection would exceed max_connections (→ UO). */
  connectionOverflow(limits: CircuitBreakersModel): boolean {
    return this.activeConnections >= limits.maxConnections;
  }

  /** True when one more retry would exceed max_retries (the retry is then not attempted). */
  retryOverflow(limits: CircuitBreakersModel): boolean {
    return this.activeRetries >= limits.maxRetries;
  }
}
