/**
 * Envoy's response flags (access log `%RESPONSE_FLAGS%`), recorded on every request the proxy
 * answers itself or that failed upstream. Same short codes as Envoy so dashboards and log
 * queries written for Envoy keep working.
 */
export const ResponseFlag = {
  /** No route configured for the request. */
  NO_ROUTE_FOUND: 'NR',
  /** No healthy upstream host in the cluster. */
  NO_HEALTHY_UPSTREAM: 'UH',
  /** Upstream connection failure. */
  UPSTREAM_CONNECTION_FAILURE: 'UF',
  /** Upstream request timeout (route timeout or per-try timeout with no retry left). */
  UPSTREAM_REQUEST_TIMEOUT: 'UT',
  /** Upstream connection reset / terminated mid-request. */
  UPSTREAM_CONNECTION_TERMINATION: 'UC',
  /** Upstream remote reset. */
  UPSTREAM_REMOTE_RESET: 'UR',
  /** Circuit breaker overflow. */
  UPSTREAM_OVERFLOW: 'UO',
  /** Upstream retry limit exceeded (the circuit breaker for retries). */
  UPSTREAM_RETRY_LIMIT_EXCEEDED: 'URX',
  /** The route's cluster does not exist. */
  NO_CLUSTER_FOUND: 'NC',
  /** Downstream closed the connection before the response was complete. */
  DOWNSTREAM_CONNECTION_TERMINATION: 'DC',
  /** Direct response route action. */
  DIRECT_RESPONSE: 'DR',
  /** The downstream request headers / request exceeded a timeout. */
  STREAM_IDLE_TIMEOUT: 'SI',
  /** envoy.filters.http.health_check answered 503 because the proxy fails health checks. */
  FAILED_LOCAL_HEALTH_CHECK: 'LH',
  /** The upstream's response was malformed or ambiguous (never forwarded). */
  UPSTREAM_PROTOCOL_ERROR: 'UPE',
  /** Downstream protocol error (malformed request). */
  DOWNSTREAM_PROTOCOL_ERROR: 'DPE',
  /** envoy.filters.http.fault delayed the request. */
  DELAY_INJECTED: 'DI',
  /** envoy.filters.http.fault aborted the request. */
  FAULT_INJECTED: 'FI',
  /** A rate limit filter (local, or envoy.filters.http.ratelimit) refused the request. */
  RATE_LIMITED: 'RL',
  /** envoy.filters.http.ratelimit denied the request: its rate limit service failed (failure_mode_deny). */
  RATE_LIMIT_SERVICE_ERROR: 'RLSE',
  /** envoy.filters.http.ext_authz denied the request, or its service failed. */
  UNAUTHORIZED_EXTERNAL_SERVICE: 'UAEX',
  /** The overload manager refused the request (stop_accepting_requests). */
  OVERLOAD_MANAGER: 'OM',
} as const;

export type ResponseFlagCode = (typeof ResponseFlag)[keyof typeof ResponseFlag];
