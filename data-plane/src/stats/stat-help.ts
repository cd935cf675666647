/**
 * The `# HELP` text of ferry-proxy's stats (Prometheus exposition), by stat name. Names follow
 * Envoy's stats; docs/observability.md lists them with their labels. A stat missing here still
 * gets a generic HELP line.
 */
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

const HELP: Record<string, string> = {
  downstream_rq_total: 'Downstream requests completed, by listener, stat_prefix and route.',
  downstream_rq_time: 'Downstream request time (start to response complete), milliseconds.',
  downstream_rq_active: 'Downstream requests in flight, by listener.',
  downstream_cx_active: 'Open downstream connections, by listener.',
  downstream_rq_failed_path_normalization:
    'Requests answered 400 by path normalization or the escaped-slashes action, by listener and stat_prefix.',
  downstream_rq_redirected_with_normalized_path:
    'Requests redirected (307) to their path with escaped slashes decoded, by listener and stat_prefix.',
  requests_rejected_with_underscores_in_headers:
    'Requests refused for a header name with an underscore (HTTP/1 400, HTTP/2 reset), by listener, stat_prefix and codec.',
  dropped_headers_with_underscores:
    'Request headers dropped for an underscore in their name, by listener, stat_prefix and codec.',
  downstream_rq_too_many_premature_resets:
    'HTTP/2 connections closed for resetting too many streams prematurely (rapid reset), by listener and stat_prefix.',
  downstream_flow_control_paused_reading_total:
    "Times a stream stopped reading its request from the client: the router while the upstream connection holds the cluster's per_connection_buffer_limit_bytes of request bytes, or a filter holding the body; by listener and stat_prefix.",
  downstream_flow_control_resumed_reading_total:
    'Times a stream resumed reading its request from the client after such a pause, by listener and stat_prefix.',
  downstream_cx_total: 'Downstream connections accepted, by listener.',
  upstream_rq_total: 'Upstream requests sent on a connection, one per attempt, by cluster.',
  upstream_rq_time:
    'Upstream request time of the final attempt (sent to response complete), milliseconds.',
  upstream_rq_retry: 'Upstream request retries, by cluster.',
  upstream_rq_retry_overflow: 'Retries refused by the max_retries circuit breaker, by cluster.',
  upstream_rq_pending_overflow: 'Requests refused by a circuit breaker (503 UO), by cluster.',
  upstream_rq_timeout: 'Upstream requests that hit the route timeout, by cluster.',
  upstream_rq_per_try_timeout: 'Upstream attempts that hit the per-try timeout, by cluster.',
  upstream_rq_rx_reset: 'Upstream requests reset by the upstream, by cluster.',
  upstream_cx_connect_fail: 'Upstream connection failures, by cluster.',
  upstream_cx_active: 'Open upstream connections, by cluster.',
  upstream_rq_active: 'Upstream requests on a connection now (per attempt), by cluster.',
  upstream_rq_pending_active: 'Upstream attempts waiting for a connection, by cluster.',
  upstream_cx_total: 'Upstream connections opened (HTTP pools and tcp_proxy), by cluster.',
  upstream_cx_connect_timeout: 'tcp_proxy connect attempts that hit connect_timeout, by cluster.',
  upstream_cx_overflow:
    'tcp_proxy connections refused by the max_connections circuit breaker (UO), by cluster.',
  upstream_cx_none_healthy: 'tcp_proxy connections with no healthy host (UH), by cluster.',
  upstream_cx_connect_attempts_exceeded:
    'tcp_proxy sessions whose every connect attempt failed (UF), by cluster.',
  upstream_cx_rx_bytes_total: 'Bytes read from tcp_proxy upstream connections, by cluster.',
  upstream_cx_tx_bytes_total: 'Bytes written to tcp_proxy upstream connections, by cluster.',
  upstream_flow_control_paused_reading_total:
    'Times reading from a tcp_proxy upstream paused for a slow client, by cluster.',
  upstream_flow_control_resumed_reading_total:
    'Times reading from a tcp_proxy upstream resumed, by cluster.',
  tcp_downstream_cx_total: 'tcp_proxy sessions, by stat_prefix.',
  tcp_downstream_cx_no_route: 'tcp_proxy sessions whose cluster does not exist (NC).',
  tcp_downstream_cx_rx_bytes_total: 'Bytes read from tcp_proxy clients, by stat_prefix.',
  tcp_downstream_cx_tx_bytes_total: 'Bytes written to tcp_proxy clients, by stat_prefix.',
  tcp_downstream_flow_control_paused_reading_total:
    'Times reading from a tcp_proxy client paused for a slow upstream, by stat_prefix.',
  tcp_downstream_flow_control_resumed_reading_total:
    'Times reading from a tcp_proxy client resumed, by stat_prefix.',
  tcp_idle_timeout: 'tcp_proxy sessions closed by idle_timeout, by stat_prefix.',
  tls_inspector_tls_found: 'Connections the tls_inspector saw a ClientHello on, by listener.',
  tls_inspector_tls_not_found:
    'Connections the tls_inspector saw no TLS on (raw_buffer), by listener.',
  tls_inspector_client_hello_too_large:
    'Connections closed for a ClientHello over 64 KiB, by listener.',
  tls_inspector_sni_found: 'ClientHellos with a server name, by listener.',
  tls_inspector_sni_not_found: 'ClientHellos without a server name, by listener.',
  tls_inspector_alpn_found: 'ClientHellos offering ALPN, by listener.',
  tls_inspector_alpn_not_found: 'ClientHellos without ALPN, by listener.',
  no_filter_chain_match:
    'Connections closed because no filter chain matched and there is no default chain.',
  downstream_pre_cx_timeout:
    'Connections closed because listener filters did not finish within listener_filters_timeout.',
  membership_total: 'Hosts in the cluster.',
  membership_healthy:
    'Healthy hosts in the cluster (EDS, active health checks, outlier detection).',
  membership_degraded: 'Degraded hosts in the cluster.',
  membership_excluded: 'Hosts excluded from load balancing (pending their first health check).',
  outlier_ejections_total: 'Outlier-detection ejections enforced, by cluster.',
  outlier_ejections_active: 'Hosts currently ejected by outlier detection, by cluster.',
  xds_connected: '1 while the ADS stream to the control plane is up.',
  xds_connects_total: 'ADS streams established.',
  xds_update_success_total: 'xDS responses accepted (ACK), by type URL.',
  xds_update_rejected_total: 'xDS responses rejected (NACK), by type URL.',
  xds_last_update_timestamp_seconds:
    'When a config from xDS was last applied (Unix time; 0: never).',
  worker_config_apply_failures_total: 'Config applies that failed in a worker.',
  workers_live: 'Worker processes serving traffic.',
  server_live: '1 while the proxy is LIVE (not draining).',
  uptime_seconds: 'Seconds since the proxy started.',
  server_days_until_first_cert_expiring:
    'Days until the first TLS certificate in use (listeners, clusters, CAs) expires.',
  ssl_certificate_expiration_unix_time_seconds:
    'When a TLS certificate in use expires (Unix time), by listener or cluster and certificate.',
  access_log_dropped_total: 'Access log lines dropped (write buffer full or the file failed).',
  process_resident_memory_bytes: 'Resident memory of the process.',
  process_heap_used_bytes: 'V8 heap in use.',
  overload_pressure:
    "Overload manager: a resource monitor's pressure as a whole percent, by monitor and worker.",
  overload_active: 'Overload manager: 1 while an action is active, by action and worker.',
  overload_scale_percent: "Overload manager: an action's scale (0 or 100), by action and worker.",
  process_heap_total_bytes: 'V8 heap allocated.',
  event_loop_delay_p50_ms: 'Event-loop delay median since the previous scrape, milliseconds.',
  event_loop_delay_p99_ms:
    'Event-loop delay 99th percentile since the previous scrape, milliseconds.',
  event_loop_delay_max_ms: 'Event-loop delay maximum since the previous scrape, milliseconds.',
  ext_authz_ok: 'Requests envoy.filters.http.ext_authz allowed.',
  ext_authz_denied: 'Requests the authorization service denied.',
  ext_authz_error: 'Authorization checks that failed (no answer, gRPC error, HTTP 5xx).',
  ext_authz_failure_mode_allowed: 'Failed checks let through by failure_mode_allow.',
  ext_authz_disabled: 'Requests not checked because of filter_enabled.',
  ext_authz_ignored_dynamic_metadata:
    'Dynamic metadata from the service ignored (enable_dynamic_metadata_ingestion false).',
  fault_delays_injected: 'Requests delayed by envoy.filters.http.fault.',
  fault_aborts_injected: 'Requests aborted by envoy.filters.http.fault.',
  fault_faults_overflow: 'Faults not injected because max_active_faults were active.',
  fault_active_faults: 'Faults active now (per worker count, summed).',
  cors_origin_valid: 'Requests whose Origin the CORS policy allows.',
  cors_origin_invalid: 'Requests whose Origin the CORS policy does not allow.',
  rbac_allowed: 'Requests envoy.filters.http.rbac allowed (enforced rules).',
  rbac_denied: 'Requests envoy.filters.http.rbac denied with 403 (enforced rules).',
  rbac_shadow_allowed: 'Requests the shadow rules of envoy.filters.http.rbac would allow.',
  rbac_shadow_denied: 'Requests the shadow rules of envoy.filters.http.rbac would deny.',
  network_rbac_allowed: 'Connections envoy.filters.network.rbac allowed.',
  network_rbac_denied: 'Connections envoy.filters.network.rbac closed (enforced rules).',
  network_rbac_shadow_allowed:
    'Connections the shadow rules of envoy.filters.network.rbac would allow.',
  network_rbac_shadow_denied:
    'Connections the shadow rules of envoy.filters.network.rbac would deny.',
  compressor_compressed: 'Bodies compressed, by library and direction.',
  compressor_not_compressed: 'Bodies left uncompressed, by library and direction.',
  compressor_total_uncompressed_bytes: 'Bytes before compression, by library and direction.',
  compressor_total_compressed_bytes: 'Bytes after compression, by library and direction.',
  decompressor_decompressed: 'Bodies decompressed, by library and direction.',
  decompressor_not_decompressed: 'Bodies left as they were, by library and direction.',
  decompressor_total_compressed_bytes: 'Bytes before decompression, by library and direction.',
  decompressor_total_uncompressed_bytes: 'Bytes after decompression, by library and direction.',
  ratelimit_ok:
    'Requests the rate limit service answered OK (envoy.filters.http.ratelimit), by cluster.',
  ratelimit_over_limit: 'Requests the rate limit service answered OVER_LIMIT, by cluster.',
  ratelimit_error: 'Rate limit service calls that failed, by cluster.',
  ratelimit_failure_mode_allowed:
    'Requests let through after a rate limit service failure (no failure_mode_deny), by cluster.',
  http_local_rate_limit_enabled:
    'Requests envoy.filters.http.local_ratelimit considered (filter_enabled), by stat_prefix.',
  http_local_rate_limit_ok: 'Requests within the local rate limit, by stat_prefix.',
  http_local_rate_limit_rate_limited:
    'Requests over the local rate limit (enforced or not), by stat_prefix.',
  http_local_rate_limit_enforced: 'Requests answered 429 by the local rate limit, by stat_prefix.',
  network_local_rate_limit_rate_limited:
    'Connections closed by envoy.filters.network.local_ratelimit, by stat_prefix.',
};

for (const c of STATUS_CLASSES) {
  HELP[`downstream_rq_${c}`] = `Downstream requests answered ${c}.`;
  HELP[`upstream_rq_${c}`] = `Final upstream responses ${c}, by cluster.`;
  HELP[`retry_upstream_rq_${c}`] = `Upstream responses ${c} that were retried, by cluster.`;
}

export function statHelp(name: string): string {
  return HELP[name] ?? `ferry-proxy stat ${name}.`;
}
