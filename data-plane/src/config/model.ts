/**
 * The proxy's internal config model: what Envoy resources are translated into (translate-*.ts,
 * in the primary, where unsupported fields become NACKs) and what workers compile into runtime
 * objects (regexes, load balancers, pools). Plain data only — no functions, classes, RegExps or
 * Buffers — so it crosses the primary → worker IPC boundary (structured clone / JSON) and can be
 * persisted as the last good config. Durations are milliseconds; 0 means "disabled" where Envoy
 * says so.
 */
import type { CorsPolicyModel } from './model-http-filters.js';
import type { PathNormalizationConfig } from '../http/path-normalization.js';
import type {
  HeaderMatcherModel,
  HeaderValueOptionModel,
  StringMatcherModel,
} from './model-values.js';

export type {
  HeaderMatcherModel,
  HeaderValueOptionModel,
  StringMatcherModel,
} from './model-values.js';

export interface ProxyConfig {
  /** Content version of the whole config (changes whenever anything changes). */
  readonly version: string;
  readonly listeners: readonly ListenerModel[];
  /** RDS route configurations by name (inline route_config is stored on the HCM instead). */
  readonly routeConfigs: Readonly<Record<string, RouteConfigModel>>;
  readonly clusters: Readonly<Record<string, ClusterModel>>;
  /**
   * Listeners and clusters waiting for SDS secrets not received yet (Envoy's warming), by name,
   * with the secret names they wait for. A waiting listener or cluster is served in its previous
   * version if it had one, else not at all (docs/architecture.md, "Secrets").
   */
  readonly warming?: {
    readonly listeners: Readonly<Record<string, readonly string[]>>;
    readonly clusters: Readonly<Record<string, readonly string[]>>;
  };
  /** Files and directories of Secrets to watch: a change re-reads them (secret rotation). */
  readonly secretWatches?: readonly SecretWatchModel[];
}

/**
 * A directory watched for a Secret's files: `names` are the file names in it whose change
 * matters (a `filename` DataSource), or undefined for any entry (a `watched_directory`, where a
 * symlink swap renames an entry the DataSources do not name).
 */
export interface SecretWatchModel {
  readonly directory: string;
  readonly names?: readonly string[];
}

// ---------------------------------------------------------------- listeners

export interface SocketAddressModel {
  readonly host: string;
  readonly port: number;
}

export interface ListenerModel {
  readonly name: string;
  readonly address: SocketAddressModel;
  /** listener_filters, in order (e.g. envoy.filters.listener.tls_inspector). */
  readonly listenerFilters: readonly ListenerFilterModel[];
  /** listener_filters_timeout (default 15 s; 0 = none): listener filters must finish in it. */
  readonly listenerFiltersTimeoutMs: number;
  /** continue_on_listener_filters_timeout: on that timeout, match a chain with what is known. */
  readonly continueOnListenerFiltersTimeout: boolean;
  readonly filterChains: readonly FilterChainModel[];
  readonly defaultFilterChain?: FilterChainModel;
  /**
   * Listener.per_connection_buffer_limit_bytes (default 1 MiB): the downstream connection's
   * buffer watermark (tcp_proxy's splice, the HTTP codec's write buffer).
   */
  readonly perConnectionBufferLimitBytes: number;
}

/** A listener filter: its type URL keys the factory (filters/listener/registry.ts). */
export interface ListenerFilterModel {
  readonly name: string;
  readonly typeUrl: string;
  /** What the factory's validate returned (plain data). */
  readonly config: unknown;
}

/** FilterChainMatch.source_type. */
export type SourceTypeModel = 'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL';

/** A CIDR range, normalised: the address masked to its prefix length ("10.0.0.0", 8). */
export interface CidrRangeModel {
  readonly address: string;
  readonly prefixLen: number;
}

/**
 * The filter_chain_match fields (listener/filter-chain-match.ts applies Envoy's order and
 * "most specific wins"). Empty lists and absent values match anything.
 */
export interface FilterChainMatchModel {
  readonly destinationPort?: number;
  /** prefix_ranges: the destination (local) address. */
  readonly prefixRanges: readonly CidrRangeModel[];
  /** server_names, lower-cased: exact or `*.suffix`. */
  readonly serverNames: readonly string[];
  /** "tls", "raw_buffer" or "" (any). */
  readonly transportProtocol: string;
  /** application_protocols (ALPN offered by the client). */
  readonly applicationProtocols: readonly string[];
  readonly directSourcePrefixRanges: readonly CidrRangeModel[];
  readonly sourceType: SourceTypeModel;
  readonly sourcePrefixRanges: readonly CidrRangeModel[];
  readonly sourcePorts: readonly number[];
}

export interface FilterChainModel extends FilterChainMatchModel {
  readonly name: string;
  readonly tls?: DownstreamTlsModel;
  /** The non-terminal network filters in order; the terminal one is `http` or `tcpProxy`. */
  readonly networkFilters: readonly NetworkFilterModel[];
  /**
   * envoy.filters.network.http_connection_manager. At most one of http and tcpProxy is set;
   * neither when the chain has no filters (its connections are closed, as Envoy does).
   */
  readonly http?: HttpConnectionManagerModel;
  /** envoy.filters.network.tcp_proxy. */
  readonly tcpProxy?: TcpProxyModel;
}

/** A non-terminal network filter: its type URL keys the factory (filters/network/registry.ts). */
export interface NetworkFilterModel {
  readonly name: string;
  readonly typeUrl: string;
  readonly config: unknown;
}

/** envoy.filters.network.tcp_proxy (envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy). */
export interface TcpProxyModel {
  readonly statPrefix: string;
  /** cluster, or weighted_clusters: exactly one is set. */
  readonly cluster?: string;
  readonly weightedClusters?: readonly { readonly name: string; readonly weight: number }[];
  /** idle_timeout: no byte either way for this long closes both sides (default 1 h; 0 = none). */
  readonly idleTimeoutMs: number;
  /** max_connect_attempts (default 1). */
  readonly maxConnectAttempts: number;
  /** access_log: one entry per TCP session, when it ends (absent: none). */
  readonly accessLogs?: readonly AccessLogModel[];
}

export interface TlsCertificateModel {
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  /** certificate_chain.filename, when read from a file (admin /certs shows it). */
  readonly certificateChainPath?: string;
  /** The SDS secret it came from, when it did. */
  readonly secretName?: string;
}

export interface DownstreamTlsModel {
  readonly certificates: readonly TlsCertificateModel[];
  /** ALPN, e.g. ["h2", "http/1.1"]. */
  readonly alpnProtocols: readonly string[];
  /** "TLSv1.2" | "TLSv1.3". */
  readonly minVersion: string;
  readonly maxVersion: string;
  /** OpenSSL cipher list (TLS 1.2); empty = Ferry's modern AEAD default. */
  readonly cipherSuites: readonly string[];
  readonly requireClientCertificate: boolean;
  readonly trustedCaPem?: string;
  /** trusted_ca.filename, when read from a file (admin /certs shows it). */
  readonly trustedCaPath?: string;
}

export type CodecType = 'AUTO' | 'HTTP1' | 'HTTP2';

export interface HttpConnectionManagerModel {
  readonly statPrefix: string;
  readonly codecType: CodecType;
  /** RDS name, or an inline route configuration. Exactly one is set. */
  readonly rdsRouteConfigName?: string;
  readonly routeConfig?: RouteConfigModel;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  /** Via header value to append, or "" for none. */
  readonly via: string;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  /** server_name for the Server response header ("" = pass upstream's through: server_header_transformation). */
  readonly serverName: string;
  readonly serverHeaderTransformation: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  readonly streamIdleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly requestHeadersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly maxRequestHeadersKb: number;
  readonly maxHeadersCount: number;
  /** http_protocol_options.accept_http_10 (Envoy's default false: HTTP/1.0 gets 426). */
  readonly acceptHttp10: boolean;
  readonly upgradeTypes: readonly string[];
  readonly http2MaxConcurrentStreams: number;
  /** Names of the HTTP filters in order (only supported ones pass translation; router last). */
  readonly httpFilters: readonly HttpFilterModel[];
  /**
   * normalize_path, merge_slashes, path_with_escaped_slashes_action (absent: paths are
   * forwarded as received, Envoy's default).
   */
  readonly pathNormalization?: PathNormalizationConfig;
  /** common_http_protocol_options.headers_with_underscores_action (absent: ALLOW). */
  readonly headersWithUnderscoresAction?: 'REJECT_REQUEST' | 'DROP_HEADER';
  /** access_log: where each finished request is logged, and how (absent or empty: nowhere). */
  readonly accessLogs?: readonly AccessLogModel[];
  /** tracing (absent: no spans, no trace context injected, as Envoy without tracing). */
  readonly tracing?: TracingModel;
}

// ---------------------------------------------------------------- tracing

/**
 * HttpConnectionManager.tracing with Envoy's defaults applied (translate-tracing.ts). Sampling
 * percentages are 0-100.
 */
export interface TracingModel {
  /** client_sampling: requests carrying x-client-trace-id are traced at this % (default 100). */
  readonly clientSamplingPercent: number;
  /** random_sampling (default 100). */
  readonly randomSamplingPercent: number;
  /** overall_sampling, applied after the other two (default 100). */
  readonly overallSamplingPercent: number;
  /** spawn_upstream_span: a client span per upstream attempt (Envoy's default: false). */
  readonly spawnUpstreamSpan: boolean;
  /** max_path_tag_length (default 256): longer url.path values are truncated. */
  readonly maxPathTagLength: number;
  readonly customTags: readonly CustomTagModel[];
  /** envoy.tracers.opentelemetry; absent = tracing without a provider: nothing is traced. */
  readonly provider?: OpenTelemetryProviderModel;
}

/**
 * A custom_tags entry. Environment tags are read at translation time and arrive as literals
 * (Envoy reads them once at config load as well).
 */
export type CustomTagModel =
  | { readonly kind: 'literal'; readonly tag: string; readonly value: string }
  | {
      readonly kind: 'request_header';
      readonly tag: string;
      readonly name: string;
      /** Used when the header is absent ("" = the tag is not set). */
      readonly defaultValue: string;
    };

/** envoy.config.trace.v3.OpenTelemetryConfig: where spans are exported. */
export interface OpenTelemetryProviderModel {
  /** grpc_service (OTLP/gRPC) or http_service (OTLP/HTTP, protobuf body). */
  readonly transport: 'grpc' | 'http';
  /** The cluster whose first healthy endpoint is the collector. */
  readonly clusterName: string;
  /** OTLP/HTTP: the path of http_uri.uri (e.g. /v1/traces). */
  readonly httpPath?: string;
  /** Per-export timeout (grpc_service.timeout / http_uri.timeout). */
  readonly timeoutMs: number;
  /** service_name ("" = the node's cluster, see tracing/). */
  readonly serviceName: string;
  /** initial_metadata / request_headers_to_add: sent with every export. */
  readonly headers: readonly { readonly key: string; readonly value: string }[];
}

/** Route.tracing overrides; absent fields fall back to the HCM's. */
export interface RouteTracingModel {
  readonly clientSamplingPercent?: number;
  readonly randomSamplingPercent?: number;
  readonly overallSamplingPercent?: number;
  /** Added to (and overriding by tag name) the HCM's custom_tags. */
  readonly customTags?: readonly CustomTagModel[];
}

/**
 * One HCM access_log entry (envoy.access_loggers.stdout or .file). The format has been checked
 * by translation (only supported command operators); workers compile it once per config.
 */
export interface AccessLogModel {
  /** The AccessLog's name, e.g. "envoy.access_loggers.file". */
  readonly name: string;
  readonly sink: 'stdout' | 'file';
  /** FileAccessLog.path (sink "file"). */
  readonly path?: string;
  /** A text format (Envoy's default when neither this nor jsonFormat is set). */
  readonly textFormat?: string;
  /** json_format as plain JSON (a Struct): one JSON object per line. */
  readonly jsonFormat?: Readonly<Record<string, unknown>>;
  /** SubstitutionFormatString.omit_empty_values: "" instead of "-", JSON keys left out. */
  readonly omitEmptyValues?: boolean;
}

export interface HttpFilterModel {
  /** HttpFilter.name: the key of its typed_per_filter_config entries in route configurations. */
  readonly name: string;
  /** Type URL of the typed_config (keys the filter factory). */
  readonly typeUrl: string;
  /** What the factory's validate returned for the typed_config. */
  readonly config: unknown;
  /**
   * HttpFilter.disabled: the filter is in the chain but off by default. Envoy's rule
   * (route_components.proto FilterConfig, "route based filter chain"): for each request the most
   * specific typed_per_filter_config entry under this filter's name (weighted cluster, route,
   * virtual host, route configuration; RouteMatchResult.perFilterConfig) decides — an entry that
   * is a FilterConfig with `disabled: true` turns the filter off, any other entry (a FilterConfig
   * with `disabled: false`, an empty `config: {}` included, or the filter's own per-route message)
   * turns it on; without an entry the filter runs unless this flag is set. The decision is taken
   * once, when the stream's chain is built from the first route match.
   */
  readonly disabled?: boolean;
}

// ---------------------------------------------------------------- routes

/**
 * One typed_per_filter_config entry (RouteConfiguration, VirtualHost, Route or
 * WeightedCluster.ClusterWeight), keyed by the HttpFilter.name it configures.
 */
export interface PerFilterConfigModel {
  /**
   * What the filter factory's validatePerRoute returned; undefined when the entry only enables
   * (`FilterConfig { config: {} }`) or disables (`FilterConfig { disabled: true }`) the filter.
   */
  readonly config: unknown;
  /** FilterConfig.disabled: the filter does not run for requests on this route. */
  readonly disabled: boolean;
}

/** typed_per_filter_config of one level, by HttpFilter.name; absent when the level has none. */
export type PerFilterConfigsModel = Readonly<Record<string, PerFilterConfigModel>>;

export interface HeaderMutationsModel {
  readonly requestHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly requestHeadersToRemove: readonly string[];
  readonly responseHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly responseHeadersToRemove: readonly string[];
}

export interface RouteConfigModel extends HeaderMutationsModel {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostModel[];
  /** most_specific_header_mutations_wins (default false: route config level applied last, wins). */
  readonly mostSpecificHeaderMutationsWins?: boolean;
  /** ignore_port_in_host_matching (default false: the authority is matched with its port). */
  readonly ignorePortInHostMatching?: boolean;
  readonly typedPerFilterConfig?: PerFilterConfigsModel;
}

export interface VirtualHostModel extends HeaderMutationsModel {
  readonly name: string;
  /** Lower-cased; Envoy's order: exact, `*.suffix`/`*suffix`, `prefix*`, `*`. */
  readonly domains: readonly string[];
  readonly routes: readonly RouteModel[];
  readonly retryPolicy?: RetryPolicyModel;
  readonly requireTls: 'NONE' | 'EXTERNAL_ONLY' | 'ALL';
  readonly typedPerFilterConfig?: PerFilterConfigsModel;
  /** The deprecated inline `cors` (used by the CORS filter when no level has a CorsPolicy). */
  readonly cors?: CorsPolicyModel;
  /** VirtualHost.rate_limits (absent: none). */
  readonly rateLimits?: readonly RateLimitModel[];
}

/**
 * One RateLimit entry of a RouteAction or VirtualHost (route_components.proto): the actions
 * that, all together, produce one descriptor (router/rate-limit-descriptors.ts).
 */
export interface RateLimitModel {
  /** stage (0-10, default 0): a rate limit filter only uses the entries of its own stage. */
  readonly stage: number;
  /** disable_key ("" = none). */
  readonly disableKey: string;
  readonly actions: readonly RateLimitActionModel[];
}

/** RateLimit.Action: one descriptor entry each (Envoy's router_ratelimit.cc). */
export type RateLimitActionModel =
  | { readonly kind: 'source_cluster' }
  | { readonly kind: 'destination_cluster' }
  | {
      readonly kind: 'request_headers';
      /** Lower-cased. */
      readonly headerName: string;
      readonly descriptorKey: string;
      readonly skipIfAbsent: boolean;
    }
  | { readonly kind: 'remote_address' }
  | {
      readonly kind: 'masked_remote_address';
      /** Defaults 32 and 128. */
      readonly v4PrefixMaskLen: number;
      readonly v6PrefixMaskLen: number;
    }
  | {
      readonly kind: 'generic_key';
      readonly descriptorKey: string;
      readonly descriptorValue: string;
    }
  | {
      readonly kind: 'header_value_match';
      readonly descriptorKey: string;
      readonly descriptorValue: string;
      readonly expectMatch: boolean;
      readonly headers: readonly HeaderMatcherModel[];
    }
  | {
      readonly kind: 'query_parameter_value_match';
      readonly descriptorKey: string;
      readonly descriptorValue: string;
      readonly expectMatch: boolean;
      readonly queryParameters: readonly QueryParameterMatcherModel[];
    };

export interface QueryParameterMatcherModel {
  readonly name: string;
  /** Absent string matcher = present_match. */
  readonly string?: StringMatcherModel;
  readonly present?: boolean;
}

export interface RouteMatchModel {
  readonly kind: 'prefix' | 'path' | 'safe_regex' | 'path_separated_prefix';
  readonly value: string;
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderMatcherModel[];
  readonly queryParameters: readonly QueryParameterMatcherModel[];
  /** match.grpc: only requests with content-type application/grpc*. */
  readonly grpc: boolean;
  /** runtime_fraction is not supported; translation NACKs it. */
}

export interface RetryPolicyModel {
  /** Envoy retry_on conditions: "5xx", "gateway-error", "connect-failure", "reset", "retriable-status-codes", ... */
  readonly retryOn: readonly string[];
  readonly numRetries: number;
  /** 0 = use the route timeout. */
  readonly perTryTimeoutMs: number;
  readonly retriableStatusCodes: readonly number[];
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** retry_host_predicate envoy.retry_host_predicates.previous_hosts. */
  readonly previousHostsPredicate: boolean;
  readonly hostSelectionRetryMaxAttempts: number;
}

export type HashPolicyModel =
  | { readonly kind: 'header'; readonly name: string; readonly terminal: boolean }
  | {
      readonly kind: 'cookie';
      readonly name: string;
      readonly ttlMs?: number;
      readonly path?: string;
      readonly terminal: boolean;
    }
  | { readonly kind: 'source_ip'; readonly terminal: boolean }
  | { readonly kind: 'query_parameter'; readonly name: string; readonly terminal: boolean };

export interface WeightedClusterModel {
  readonly name: string;
  readonly weight: number;
  readonly mutations: HeaderMutationsModel;
  readonly typedPerFilterConfig?: PerFilterConfigsModel;
}

export interface ForwardActionModel {
  readonly kind: 'route';
  /** Exactly one of cluster, clusterHeader, weightedClusters. */
  readonly cluster?: string;
  readonly clusterHeader?: string;
  readonly weightedClusters?: readonly WeightedClusterModel[];
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly pattern: string; readonly substitution: string };
  readonly hostRewriteLiteral?: string;
  readonly autoHostRewrite: boolean;
  readonly hostRewriteHeader?: string;
  /** Route timeout (default 15 s; 0 disables). */
  readonly timeoutMs: number;
  /** 0 = none. */
  readonly idleTimeoutMs: number;
  readonly retryPolicy?: RetryPolicyModel;
  readonly hashPolicy: readonly HashPolicyModel[];
  readonly upgradeTypes: readonly string[];
  /** The deprecated inline `cors` (used by the CORS filter when no level has a CorsPolicy). */
  readonly cors?: CorsPolicyModel;
  /** RouteAction.rate_limits (absent: none). */
  readonly rateLimits?: readonly RateLimitModel[];
  /** include_vh_rate_limits: the virtual host's rate_limits apply as well (absent: false). */
  readonly includeVhRateLimits?: boolean;
}

export interface RedirectActionModel {
  readonly kind: 'redirect';
  readonly schemeRedirect?: string;
  readonly httpsRedirect: boolean;
  readonly hostRedirect?: string;
  readonly portRedirect?: number;
  readonly pathRedirect?: string;
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly pattern: string; readonly substitution: string };
  /** 301, 302, 303, 307, 308. */
  readonly responseCode: number;
  readonly stripQuery: boolean;
}

export interface DirectResponseActionModel {
  readonly kind: 'direct_response';
  readonly status: number;
  /** Inline body (inline_string / inline_bytes as UTF-8); filenames are read at translation. */
  readonly body?: string;
}

export type RouteActionModel = ForwardActionModel | RedirectActionModel | DirectResponseActionModel;

export interface RouteModel extends HeaderMutationsModel {
  readonly name: string;
  readonly match: RouteMatchModel;
  readonly action: RouteActionModel;
  /** Route.tracing (absent: the HCM's tracing settings apply unchanged). */
  readonly tracing?: RouteTracingModel;
  readonly typedPerFilterConfig?: PerFilterConfigsModel;
}

// ---------------------------------------------------------------- clusters

export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS';
export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';
export type HealthStatus =
  'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';

export interface EndpointModel {
  /** IP address or DNS name (STRICT_DNS / LOGICAL_DNS resolve it). */
  readonly host: string;
  readonly port: number;
  /** load_balancing_weight (default 1). */
  readonly weight: number;
  readonly healthStatus: HealthStatus;
  /** endpoint.hostname, used by auto_host_rewrite when set. */
  readonly hostname: string;
}

export interface LocalityEndpointsModel {
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly priority: number;
  readonly weight: number;
  readonly endpoints: readonly EndpointModel[];
}

export interface CircuitBreakersModel {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

/** SubjectAltNameMatcher.san_type ferry-proxy checks (OTHER_NAME is refused). */
export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';

/** CertificateValidationContext.match_typed_subject_alt_names[] (or the deprecated form). */
export interface SanMatcherModel {
  readonly sanType: SanType;
  readonly matcher: StringMatcherModel;
}

/**
 * UpstreamTlsContext. Verification follows Envoy's DefaultCertValidator: with no trusted CA,
 * no SAN matcher and no pinned hash the peer is not verified at all; with trusted_ca the chain
 * must verify; every configured SAN matcher / hash list must match as well.
 */
export interface UpstreamTlsModel {
  readonly sni: string;
  readonly alpnProtocols: readonly string[];
  /** Trusted CA bundle; absent = the chain is not verified. */
  readonly trustedCaPem?: string;
  /** trusted_ca.filename, when read from a file (admin /certs shows it). */
  readonly trustedCaPath?: string;
  readonly certificate?: TlsCertificateModel;
  readonly minVersion: string;
  readonly maxVersion: string;
  /** TLS 1.2 suites (OpenSSL names) in preference order; empty = Envoy's defaults. */
  readonly cipherSuites: readonly string[];
  /** The certificate must carry a SAN matching one of these (empty = no SAN check). */
  readonly sanMatchers: readonly SanMatcherModel[];
  /** verify_certificate_hash: lowercase hex SHA-256 of the DER certificate. */
  readonly certificateHashes: readonly string[];
  /** verify_certificate_spki: base64 SHA-256 of the DER SubjectPublicKeyInfo. */
  readonly spkiHashes: readonly string[];
}

/**
 * HttpProtocolOptions.upstream_http_protocol_options: names taken per request from the
 * downstream request (`header`, falling back to :authority when absent or empty).
 */
export interface UpstreamHostNameModel {
  /** auto_sni: the name is the SNI of new upstream connections. */
  readonly autoSni: boolean;
  /** auto_san_validation: the upstream certificate must carry the name as a SAN. */
  readonly autoSanValidation: boolean;
  /** override_auto_sni_header (lowercase) or '' for :authority. */
  readonly header: string;
}

/** Http2ProtocolOptions of a cluster's upstream connections (Envoy's defaults where unset). */
export interface UpstreamHttp2Model {
  /** max_concurrent_streams: streams per connection (also capped by the peer's SETTINGS). */
  readonly maxConcurrentStreams: number;
  readonly initialStreamWindowSize: number;
  readonly initialConnectionWindowSize: number;
  /** connection_keepalive (absent: no PINGs); jitter is a fraction of the interval. */
  readonly keepalive?: {
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly jitter: number;
  };
}

export const DEFAULT_UPSTREAM_HTTP2: UpstreamHttp2Model = Object.freeze({
  maxConcurrentStreams: 2_147_483_647,
  initialStreamWindowSize: 65_535,
  initialConnectionWindowSize: 16 * 1024 * 1024,
});

export interface ClusterModel {
  readonly name: string;
  readonly type: DiscoveryType;
  /** EDS service name (eds_cluster_config.service_name or the cluster name). */
  readonly edsServiceName: string;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  readonly leastRequestChoiceCount: number;
  /** least_request_lb_config.active_request_bias (default 1.0). */
  readonly leastRequestActiveRequestBias?: number;
  readonly ringHashMinSize: number;
  readonly ringHashMaxSize: number;
  readonly maglevTableSize: number;
  /** From load_assignment (STATIC/DNS) or the ClusterLoadAssignment (EDS). */
  readonly localities: readonly LocalityEndpointsModel[];
  readonly overprovisioningFactor: number;
  readonly healthyPanicThresholdPercent: number;
  readonly dnsRefreshRateMs: number;
  readonly dnsLookupFamily: 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
  /** Upstream protocol (typed_extension_protocol_options HttpProtocolOptions). */
  readonly upstreamProtocol: 'HTTP1' | 'HTTP2' | 'USE_DOWNSTREAM';
  readonly maxRequestsPerConnection: number;
  /** common_http_protocol_options.idle_timeout (default 1 h). */
  readonly upstreamIdleTimeoutMs: number;
  /** Http2ProtocolOptions for HTTP/2 upstream connections (defaults when HTTP/1 only). */
  readonly upstreamHttp2?: UpstreamHttp2Model;
  readonly circuitBreakers: CircuitBreakersModel;
  readonly tls?: UpstreamTlsModel;
  /** auto_sni / auto_san_validation (absent = neither). */
  readonly upstreamHostName?: UpstreamHostNameModel;
  /**
   * per_connection_buffer_limit_bytes (default 1 MiB): the upstream write watermark. tcp_proxy
   * stops reading the downstream past it; HTTP/1 connections and HTTP/2 streams pause the
   * request body (and so the downstream read) past it.
   */
  readonly perConnectionBufferLimitBytes: number;
  /** Normalised Envoy JSON of health_checks / outlier_detection (used by the health issue). */
  readonly healthChecks: readonly unknown[];
  /** health_checks translated (absent or empty = no active health checking). */
  readonly activeHealthChecks?: readonly HealthCheckModel[];
  readonly outlierDetection?: unknown;
  /** outlier_detection translated (absent = no passive outlier detection). */
  readonly outlier?: OutlierDetectionModel;
  /** lrs_server (`self` or `ads`): load for this cluster is reported to the control plane (LRS). */
  readonly lrsServer?: 'SELF' | 'ADS';
}

// ---------------------------------------------------------------- outlier detection

/**
 * Cluster.outlier_detection (envoy.config.cluster.v3.OutlierDetection) with Envoy's defaults
 * applied. Percentages are 0-100; enforcing* are the % chance that a detected outlier is ejected.
 */
export interface OutlierDetectionModel {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailure: number;
  readonly consecutiveLocalOriginFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionTimeJitterMs: number;
  readonly maxEjectionPercent: number;
  readonly alwaysEjectOneHost: boolean;
  readonly enforcingConsecutive5xx: number;
  readonly enforcingConsecutiveGatewayFailure: number;
  readonly enforcingConsecutiveLocalOriginFailure: number;
  readonly enforcingSuccessRate: number;
  readonly enforcingLocalOriginSuccessRate: number;
  readonly successRateMinimumHosts: number;
  readonly successRateRequestVolume: number;
  /** Divided by 1000 to get the factor (1900 → 1.9). */
  readonly successRateStdevFactor: number;
  readonly failurePercentageThreshold: number;
  readonly enforcingFailurePercentage: number;
  readonly enforcingFailurePercentageLocalOrigin: number;
  readonly failurePercentageMinimumHosts: number;
  readonly failurePercentageRequestVolume: number;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly successfulActiveHealthCheckUnejectHost: boolean;
}

// ---------------------------------------------------------------- active health checks

/** A status range [start, end) as in envoy.type.v3.Int64Range. */
export interface StatusRangeModel {
  readonly start: number;
  readonly end: number;
}

export interface HttpHealthCheckModel {
  readonly kind: 'http';
  readonly path: string;
  /** Host/:authority sent; "" = the cluster name (Envoy's default). */
  readonly host: string;
  /** Default [200, 201): only 200 passes. */
  readonly expectedStatuses: readonly StatusRangeModel[];
  /** Failures with these statuses count towards unhealthy_threshold instead of failing at once. */
  readonly retriableStatuses: readonly StatusRangeModel[];
  readonly requestHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly requestHeadersToRemove: readonly string[];
  /** codec_client_type: HTTP1 (default) or HTTP2 (prior knowledge). */
  readonly protocol: 'HTTP1' | 'HTTP2';
}

export interface TcpHealthCheckModel {
  readonly kind: 'tcp';
  /** Hex payload sent after connecting; "" = connect only. */
  readonly sendHex: string;
  /** Hex payloads that must all appear in the response, in order (fuzzy match as in Envoy). */
  readonly receiveHex: readonly string[];
}

export interface GrpcHealthCheckModel {
  readonly kind: 'grpc';
  /** HealthCheckRequest.service ("" = the whole server). */
  readonly serviceName: string;
  /** :authority; "" = the cluster name. */
  readonly authority: string;
}

/** One entry of Cluster.health_checks (envoy.config.core.v3.HealthCheck), defaults applied. */
export interface HealthCheckModel {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly initialJitterMs: number;
  readonly intervalJitterMs: number;
  readonly intervalJitterPercent: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  /** Used while the cluster has never had upstream traffic (default 60 s). */
  readonly noTrafficIntervalMs: number;
  /** Used instead for a healthy host while the cluster has no traffic. Default: noTrafficIntervalMs. */
  readonly noTrafficHealthyIntervalMs: number;
  /** Default: intervalMs. */
  readonly unhealthyIntervalMs: number;
  /** Default: unhealthyIntervalMs. */
  readonly unhealthyEdgeIntervalMs: number;
  /** Default: intervalMs. */
  readonly healthyEdgeIntervalMs: number;
  readonly checker: HttpHealthCheckModel | TcpHealthCheckModel | GrpcHealthCheckModel;
}

// ---------------------------------------------------------------- HTTP filter configs

/**
 * envoy.filters.http.health_check (envoy.extensions.filters.http.health_check.v3.HealthCheck),
 * validated: the `config` of its HttpFilterModel.
 */
export interface HealthCheckFilterModel {
  /** pass_through_mode: forward matching requests (still 503 locally while failing). */
  readonly passThroughMode: boolean;
  /** headers: all must match for a request to be a health check (empty = every request). */
  readonly headers: readonly HeaderMatcherModel[];
  /** cluster_min_healthy_percentages: cluster name → minimum % of healthy + degraded hosts. */
  readonly clusterMinHealthyPercentages: Readonly<Record<string, number>>;
}

// The configs of the other HTTP filters live in their own module.
export type * from './model-http-filters.js';
