/**
 * The gRPC messages Ferry exchanges, as @grpc/proto-loader decodes them with grpc.ts's loader
 * options: field names as in the .proto (snake_case), 64-bit integers as strings, enums as their
 * names, oneofs named by a virtual field (`request_type: 'health_check_request'`), and no
 * defaults: a field the peer did not send is absent, so every field is optional. Only the fields
 * Ferry reads or writes are listed; messages whose content Ferry passes on untouched are
 * `unknown`. These types stop at the gRPC boundary: the code behind it works on its own types.
 */

/** google.protobuf.Any: resources cross the boundary encoded, once per version. */
export interface AnyMessage {
  type_url: string;
  value: Buffer | Uint8Array;
}

/** google.protobuf.Duration and Timestamp (seconds is int64). */
export interface DurationMessage {
  seconds?: string | number;
  nanos?: number;
}

/** google.rpc.Status. */
export interface StatusMessage {
  code?: number;
  message?: string;
  details?: readonly AnyMessage[];
}

/** envoy.config.core.v3.Locality. */
export interface LocalityMessage {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

/** envoy.config.core.v3.BuildVersion. */
export interface BuildVersionMessage {
  version?: { major_number?: number; minor_number?: number; patch?: number };
  metadata?: unknown;
}

/** envoy.config.core.v3.Node. */
export interface NodeMessage {
  id?: string;
  cluster?: string;
  /** google.protobuf.Struct. */
  metadata?: unknown;
  locality?: LocalityMessage;
  user_agent_name?: string;
  user_agent_version?: string;
  user_agent_build_version?: BuildVersionMessage;
  user_agent_version_type?: 'user_agent_version' | 'user_agent_build_version';
  client_features?: readonly string[];
}

/** envoy.config.core.v3.SocketAddress (the fields Ferry uses). */
export interface SocketAddressMessage {
  address?: string;
  port_value?: number;
  protocol?: string;
}

/** envoy.config.endpoint.v3.Endpoint (the fields Ferry uses). */
export interface EndpointMessage {
  address?: { socket_address?: SocketAddressMessage };
  hostname?: string;
}

// ---------------------------------------------------------------------- ADS (discovery.proto)

export interface DiscoveryRequest {
  version_info?: string;
  node?: NodeMessage;
  resource_names?: readonly string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: StatusMessage;
}

export interface DiscoveryResponse {
  version_info?: string;
  resources?: readonly AnyMessage[];
  type_url?: string;
  nonce?: string;
  control_plane?: { identifier?: string };
}

export interface DeltaDiscoveryRequest {
  node?: NodeMessage;
  type_url?: string;
  resource_names_subscribe?: readonly string[];
  resource_names_unsubscribe?: readonly string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: StatusMessage;
}

/** envoy.service.discovery.v3.Resource. */
export interface DeltaResource {
  name?: string;
  aliases?: readonly string[];
  version?: string;
  resource?: AnyMessage;
}

export interface DeltaDiscoveryResponse {
  system_version_info?: string;
  resources?: readonly DeltaResource[];
  type_url?: string;
  removed_resources?: readonly string[];
  nonce?: string;
  control_plane?: { identifier?: string };
}

// ---------------------------------------------------------------------- CSDS (csds.proto)

/** envoy.type.matcher.v3.StringMatcher. */
export interface StringMatcherMessage {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: unknown;
  ignore_case?: boolean;
}

export interface ClientStatusRequest {
  node_matchers?: ReadonlyArray<{ node_id?: StringMatcherMessage; node_metadatas?: unknown[] }>;
  node?: NodeMessage;
  exclude_resource_contents?: boolean;
}

export interface GenericXdsConfigMessage {
  type_url?: string;
  name?: string;
  version_info?: string;
  xds_config?: AnyMessage;
  last_updated?: DurationMessage;
  config_status?: string;
  client_status?: string;
  error_state?: {
    failed_configuration?: AnyMessage;
    last_update_attempt?: DurationMessage;
    details?: string;
    version_info?: string;
  };
}

export interface ClientStatusResponse {
  config?: ReadonlyArray<{ node?: NodeMessage; generic_xds_configs?: GenericXdsConfigMessage[] }>;
}

// ---------------------------------------------------------------------- HDS (hds.proto)

/** envoy.config.core.v3.HealthStatus by name (a number from a peer that sends enums so). */
export type HealthStatusValue = string | number;

export interface EndpointHealthMessage {
  endpoint?: EndpointMessage;
  health_status?: HealthStatusValue;
}

export interface ClusterEndpointsHealthMessage {
  cluster_name?: string;
  locality_endpoints_health?: ReadonlyArray<{
    locality?: LocalityMessage;
    endpoints_health?: readonly EndpointHealthMessage[];
  }>;
}

export interface EndpointHealthResponse {
  endpoints_health?: readonly EndpointHealthMessage[];
  cluster_endpoints_health?: readonly ClusterEndpointsHealthMessage[];
}

export interface HealthCheckRequest {
  node?: NodeMessage;
  capability?: { health_check_protocols?: string[] };
}

export interface HealthCheckRequestOrEndpointHealthResponse {
  health_check_request?: HealthCheckRequest;
  endpoint_health_response?: EndpointHealthResponse;
  request_type?: 'health_check_request' | 'endpoint_health_response';
}

export interface LocalityEndpointsMessage {
  locality?: LocalityMessage;
  endpoints?: readonly EndpointMessage[];
}

export interface ClusterHealthCheckMessage {
  cluster_name?: string;
  /** envoy.config.core.v3.HealthCheck, translated by the checker. */
  health_checks?: readonly unknown[];
  locality_endpoints?: readonly LocalityEndpointsMessage[];
  transport_socket_matches?: readonly unknown[];
}

export interface HealthCheckSpecifier {
  cluster_health_checks?: readonly ClusterHealthCheckMessage[];
  interval?: DurationMessage;
}

// ---------------------------------------------------------------------- LRS (lrs.proto)

export interface UpstreamLocalityStatsMessage {
  locality?: LocalityMessage;
  total_successful_requests?: string;
  total_requests_in_progress?: string;
  total_error_requests?: string;
  total_issued_requests?: string;
  load_metric_stats?: readonly EndpointLoadMetricStatsMessage[];
  upstream_endpoint_stats?: readonly UpstreamEndpointStatsMessage[];
  priority?: number;
}

/** One endpoint of a locality (envoy.config.endpoint.v3.UpstreamEndpointStats). */
export interface UpstreamEndpointStatsMessage {
  address?: { socket_address?: SocketAddressMessage };
  total_successful_requests?: string;
  total_requests_in_progress?: string;
  total_error_requests?: string;
  total_issued_requests?: string;
  load_metric_stats?: readonly EndpointLoadMetricStatsMessage[];
}

/** A named load metric of a locality or endpoint (envoy.config.endpoint.v3.EndpointLoadMetricStats). */
export interface EndpointLoadMetricStatsMessage {
  metric_name?: string;
  num_requests_finished_with_metric?: string;
  total_metric_value?: number;
}

export interface ClusterStatsMessage {
  cluster_name?: string;
  cluster_service_name?: string;
  upstream_locality_stats?: readonly UpstreamLocalityStatsMessage[];
  total_dropped_requests?: string;
  dropped_requests?: ReadonlyArray<{ category?: string; dropped_count?: string }>;
  load_report_interval?: DurationMessage;
}

export interface LoadStatsRequest {
  node?: NodeMessage;
  cluster_stats?: readonly ClusterStatsMessage[];
}

export interface LoadStatsResponse {
  clusters?: readonly string[];
  send_all_clusters?: boolean;
  load_reporting_interval?: DurationMessage;
  report_endpoint_granularity?: boolean;
}

// ---------------------------------------------------------------------- ferry.v1.Management

export interface ResourceChangeMessage {
  type_url?: string;
  group?: string;
  name?: string;
  action?: string;
  version?: string;
}

export interface ApplyRequestMessage {
  group?: string;
  resources?: readonly AnyMessage[];
  dry_run?: boolean;
  expected_revision?: string | number;
  message?: string;
  force?: boolean;
}

export interface PreflightMessage {
  group?: string;
  translator_version?: string;
  checked_resources?: number;
  resources?: ReadonlyArray<{
    type_url?: string;
    name?: string;
    changed?: boolean;
    errors?: readonly string[];
    unchecked?: readonly string[];
    rejected_by?: readonly string[];
    blocking?: boolean;
    kind?: string;
  }>;
  proxies?: ReadonlyArray<{
    node_id?: string;
    user_agent?: string;
    pre_checked?: boolean;
    would_ack?: boolean;
    rejects?: readonly string[];
    note?: string;
  }>;
  warnings?: readonly string[];
  refuse?: boolean;
  pre_checked_proxies?: number;
  other_proxies?: number;
}

export interface ApplyResponseMessage {
  revision?: string | number;
  dry_run?: boolean;
  changes?: readonly ResourceChangeMessage[];
  preflight?: readonly PreflightMessage[];
}

export interface ListRequestMessage {
  type_url?: string;
  name?: string;
  group?: string;
  show_secrets?: boolean;
}

export interface ListResponseMessage {
  revision?: string | number;
  resources?: ReadonlyArray<{
    type_url?: string;
    group?: string;
    name?: string;
    version?: string;
    revision?: string | number;
    resource?: AnyMessage;
  }>;
}

export interface DeleteRequestMessage {
  group?: string;
  resources?: ReadonlyArray<{ type_url?: string; name?: string }>;
  dry_run?: boolean;
  expected_revision?: string | number;
  message?: string;
  force?: boolean;
}

export interface HistoryRequestMessage {
  limit?: number;
}

export interface HistoryResponseMessage {
  entries?: ReadonlyArray<{
    revision?: string | number;
    time?: DurationMessage;
    message?: string;
    actor?: string;
    changes?: readonly ResourceChangeMessage[];
  }>;
}

export interface CreateTokenRequestMessage {
  name?: string;
  role?: string;
  groups?: readonly string[];
  expires_in_seconds?: string | number;
  client_identity?: string;
}

export interface RevokeTokenRequestMessage {
  name?: string;
}

export interface RollbackRequestMessage {
  revision?: string | number;
  group?: string;
  dry_run?: boolean;
  message?: string;
  force?: boolean;
}

/** HealthRequest and LoadRequest: empty fields select every group / cluster. */
export interface ViewFilterMessage {
  group?: string;
  cluster?: string;
}

export interface StatusResponseMessage {
  revision?: string | number;
  nodes?: ReadonlyArray<{ node_id?: string; group?: string; connected?: boolean }>;
}

export interface HealthResponseMessage {
  clusters?: ReadonlyArray<{
    group?: string;
    cluster?: string;
    quorum?: { unhealthy_percent?: number; min_proxies?: number };
    endpoints?: ReadonlyArray<{
      address?: string;
      status?: string;
      healthy?: number;
      unhealthy?: number;
      proxies?: number;
      since?: DurationMessage;
      unhealthy_nodes?: readonly string[];
      eds_unhealthy_by_quorum?: boolean;
    }>;
  }>;
  nodes?: ReadonlyArray<{
    node_id?: string;
    group?: string;
    reported_at?: DurationMessage;
    clusters?: ReadonlyArray<{
      cluster?: string;
      endpoints?: ReadonlyArray<{ address?: string; status?: string }>;
    }>;
  }>;
}

/** ferry.v1.LoadCounts (uint64 fields). */
export interface LoadCountsMessage {
  total_successful_requests?: string | number;
  total_error_requests?: string | number;
  total_issued_requests?: string | number;
  total_requests_in_progress?: string | number;
  total_dropped_requests?: string | number;
}

export interface LoadResponseMessage {
  clusters?: ReadonlyArray<{
    group?: string;
    cluster?: string;
    total?: LoadCountsMessage;
    nodes?: ReadonlyArray<{
      node?: string;
      reported_at?: DurationMessage;
      load_report_interval_ms?: string | number;
      dropped_latest?: string | number;
      dropped_total?: string | number;
      localities?: ReadonlyArray<{
        locality?: LocalityMessage;
        latest?: LoadCountsMessage;
        total?: LoadCountsMessage;
      }>;
    }>;
  }>;
}
