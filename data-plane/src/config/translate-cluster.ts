/**
 * Cluster → ClusterModel: discovery type, load balancing, connect timeout, upstream HTTP protocol
 * (typed_extension_protocol_options HttpProtocolOptions, or the deprecated cluster-level
 * http2_protocol_options), circuit breakers, upstream TLS, DNS settings, active health checks
 * (translate-health-check.ts), outlier detection (translate-outlier.ts).
 * EDS clusters get their endpoints from ClusterLoadAssignments in translate.ts.
 */
import {
  DEFAULT_BUFFER_LIMIT_BYTES,
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  adsConfigSource,
  asArray,
  asObject,
  bool,
  checkFields,
  durationMs,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type ExtensionSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { DEFAULT_OVERPROVISIONING_FACTOR, translateAssignment } from './translate-endpoints.js';
import { HEALTH_CHECK_SPECS, translateHealthChecks } from './translate-health-check.js';
import { OUTLIER_DETECTION_SPEC, translateOutlierDetection } from './translate-outlier.js';
import { translateUpstreamTls, type SecretResolver } from './translate-tls.js';
import type {
  CircuitBreakersModel,
  ClusterModel,
  DiscoveryType,
  LbPolicy,
  UpstreamHostNameModel,
  UpstreamHttp2Model,
  UpstreamTlsModel,
} from './model.js';
import { DEFAULT_UPSTREAM_HTTP2 } from './model.js';

export const DISCOVERY_TYPES: readonly DiscoveryType[] = [
  'STATIC',
  'STRICT_DNS',
  'LOGICAL_DNS',
  'EDS',
];
export const LB_POLICIES: readonly LbPolicy[] = [
  'ROUND_ROBIN',
  'LEAST_REQUEST',
  'RANDOM',
  'RING_HASH',
  'MAGLEV',
];
const DNS_FAMILIES = ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'] as const;

/** Defaults from Envoy's Cluster docs. */
export const CLUSTER_DEFAULTS = Object.freeze({
  connectTimeoutMs: 5_000,
  leastRequestChoiceCount: 2,
  ringHashMinSize: 1024,
  ringHashMaxSize: 8 * 1024 * 1024,
  maglevTableSize: 65537,
  healthyPanicThresholdPercent: 50,
  dnsRefreshRateMs: 5_000,
  /** common_http_protocol_options.idle_timeout for upstream connections. */
  upstreamIdleTimeoutMs: 60 * 60_000,
  circuitBreakers: Object.freeze({
    maxConnections: 1024,
    maxPendingRequests: 1024,
    maxRequests: 1024,
    maxRetries: 3,
  }),
});

export const HTTP_PROTOCOL_OPTIONS_NAME = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_PROTOCOL_OPTIONS_TYPE_URL = TYPE_URL_PREFIX + HTTP_PROTOCOL_OPTIONS_NAME;

const CLUSTER_SPEC = messageSpec('envoy.config.cluster.v3.Cluster', {
  name: 'cluster name',
  alt_stat_name: 'stats naming',
  type: DISCOVERY_TYPES.join(', '),
  eds_cluster_config: 'eds_config (ads) and service_name',
  connect_timeout: 'default 5s',
  per_connection_buffer_limit_bytes:
    'default 1 MiB: the upstream write watermark (tcp_proxy splice; HTTP/1 connections and HTTP/2 streams pause the request body past it)',
  lb_policy: LB_POLICIES.join(', '),
  load_assignment: 'endpoints of STATIC / STRICT_DNS / LOGICAL_DNS clusters',
  health_checks: 'HTTP, TCP and gRPC active health checks (run once per proxy, in the primary)',
  outlier_detection: 'passive outlier detection (once per proxy, over all workers)',
  max_requests_per_connection:
    'deprecated form of common_http_protocol_options.max_requests_per_connection',
  circuit_breakers: 'DEFAULT priority thresholds (HIGH thresholds apply to no route: accepted)',
  http2_protocol_options: 'deprecated: upstream HTTP/2 (prior knowledge, or ALPN h2 with TLS)',
  typed_extension_protocol_options: `${HTTP_PROTOCOL_OPTIONS_NAME} only`,
  dns_refresh_rate: 'default 5s',
  dns_lookup_family: DNS_FAMILIES.join(', '),
  ring_hash_lb_config: 'minimum_ring_size (1024), maximum_ring_size (8M)',
  maglev_lb_config: 'table_size (65537, prime)',
  lrs_server:
    'self or ads only: load reports go to the control plane over LRS (one locality per cluster); with `outlier_detection`, ejected endpoints go too, as the endpoint load metrics `ferry.outlier_ejections` and `ferry.outlier_ejected` (Envoy sends neither)',
  least_request_lb_config: 'choice_count (2)',
  round_robin_lb_config: 'no fields supported',
  common_lb_config: 'healthy_panic_threshold only',
  transport_socket: 'UpstreamTlsContext or raw_buffer',
  metadata: 'accepted, no effect',
  protocol_selection: 'USE_CONFIGURED_PROTOCOL (default), USE_DOWNSTREAM_PROTOCOL',
  track_cluster_stats: 'accepted (stats only)',
});

const EDS_CONFIG_SPEC = messageSpec('envoy.config.cluster.v3.Cluster.EdsClusterConfig', {
  eds_config: 'ads only',
  service_name: 'ClusterLoadAssignment name (default: the cluster name)',
});
const RING_HASH_SPEC = messageSpec('envoy.config.cluster.v3.Cluster.RingHashLbConfig', {
  minimum_ring_size: 'default 1024',
  maximum_ring_size: 'default 8388608',
  hash_function: 'XX_HASH only (the default)',
});
const MAGLEV_SPEC = messageSpec('envoy.config.cluster.v3.Cluster.MaglevLbConfig', {
  table_size: 'default 65537; must be prime',
});
const LEAST_REQUEST_SPEC = messageSpec('envoy.config.cluster.v3.Cluster.LeastRequestLbConfig', {
  choice_count: 'default 2',
  active_request_bias: 'default_value (default 1.0); runtime_key has no runtime to read',
});
const RUNTIME_DOUBLE_SPEC = messageSpec('envoy.config.core.v3.RuntimeDouble', {
  default_value: 'the value used',
  runtime_key: 'accepted; ferry-proxy has no runtime, so default_value applies',
});
const ROUND_ROBIN_SPEC = messageSpec('envoy.config.cluster.v3.Cluster.RoundRobinLbConfig', {});
const COMMON_LB_SPEC = messageSpec('envoy.config.cluster.v3.Cluster.CommonLbConfig', {
  healthy_panic_threshold: 'percent (default 50)',
});
const PERCENT_SPEC = messageSpec('envoy.type.v3.Percent', { value: '0-100' });
const CIRCUIT_BREAKERS_SPEC = messageSpec('envoy.config.cluster.v3.CircuitBreakers', {
  thresholds: 'per priority',
});
const THRESHOLDS_SPEC = messageSpec('envoy.config.cluster.v3.CircuitBreakers.Thresholds', {
  priority: 'DEFAULT (HIGH is accepted and unused: every route has DEFAULT priority)',
  max_connections: 'default 1024',
  max_pending_requests: 'default 1024',
  max_requests: 'default 1024',
  max_retries: 'default 3',
  track_remaining: 'accepted (stats only)',
});
const HTTP_OPTIONS_SPEC = messageSpec(HTTP_PROTOCOL_OPTIONS_NAME, {
  explicit_http_config: 'HTTP/1.1 or HTTP/2',
  use_downstream_protocol_config: 'the downstream request’s protocol',
  common_http_protocol_options: 'idle_timeout (1h), max_requests_per_connection',
  upstream_http_protocol_options:
    'auto_sni, auto_san_validation, override_auto_sni_header (names from the downstream request)',
});
const UPSTREAM_HTTP_OPTIONS_SPEC = messageSpec('envoy.config.core.v3.UpstreamHttpProtocolOptions', {
  auto_sni:
    'SNI of new upstream connections = the request’s Host/:authority without port (not for IP addresses); pools are kept per name',
  auto_san_validation:
    'the upstream certificate must carry that name as a SAN (DNS wildcard rules); replaces the SAN matchers; needs a validation_context that verifies',
  override_auto_sni_header: 'take the name from this request header (falls back to :authority)',
});
const EXPLICIT_SPEC = messageSpec(HTTP_PROTOCOL_OPTIONS_NAME + '.ExplicitHttpConfig', {
  http_protocol_options: 'HTTP/1.1 (keep-alive pool)',
  http2_protocol_options: 'HTTP/2',
});
const DOWNSTREAM_SPEC = messageSpec(HTTP_PROTOCOL_OPTIONS_NAME + '.UseDownstreamHttpConfig', {
  http_protocol_options: 'HTTP/1.1 for HTTP/1.x requests',
  http2_protocol_options: 'HTTP/2 for HTTP/2 requests',
});
const UPSTREAM_COMMON_SPEC = messageSpec(
  'envoy.config.core.v3.HttpProtocolOptions',
  {
    idle_timeout: 'pooled connection idle timeout (default 1h)',
    max_requests_per_connection: 'default unlimited',
  },
  'upstream',
);
const UPSTREAM_HTTP1_SPEC = messageSpec(
  'envoy.config.core.v3.Http1ProtocolOptions',
  {},
  'upstream',
);
const UPSTREAM_HTTP2_SPEC = messageSpec(
  'envoy.config.core.v3.Http2ProtocolOptions',
  {
    max_concurrent_streams:
      'streams per upstream connection, capped by the peer’s SETTINGS (default 2147483647); a saturated connection opens another',
    initial_stream_window_size: 'per-stream receive window (65535 to 2147483647; default 65535)',
    initial_connection_window_size:
      'per-connection receive window (65535 to 2147483647; default 16 MiB)',
    connection_keepalive: 'PING every interval; no reply within timeout closes the connection',
  },
  'upstream',
);
const KEEPALIVE_SPEC = messageSpec(
  'envoy.config.core.v3.KeepaliveSettings',
  {
    interval: 'required: time between PINGs',
    timeout: 'required: how long to wait for the PING reply',
    interval_jitter: 'Percent added at random to each interval (default 15)',
  },
  'upstream',
);

export const CLUSTER_SPECS: readonly MessageSpec[] = [
  CLUSTER_SPEC,
  ...HEALTH_CHECK_SPECS,
  OUTLIER_DETECTION_SPEC,
  EDS_CONFIG_SPEC,
  RING_HASH_SPEC,
  MAGLEV_SPEC,
  LEAST_REQUEST_SPEC,
  RUNTIME_DOUBLE_SPEC,
  ROUND_ROBIN_SPEC,
  COMMON_LB_SPEC,
  PERCENT_SPEC,
  CIRCUIT_BREAKERS_SPEC,
  THRESHOLDS_SPEC,
  HTTP_OPTIONS_SPEC,
  EXPLICIT_SPEC,
  DOWNSTREAM_SPEC,
  UPSTREAM_COMMON_SPEC,
  UPSTREAM_HTTP_OPTIONS_SPEC,
  UPSTREAM_HTTP1_SPEC,
  UPSTREAM_HTTP2_SPEC,
  KEEPALIVE_SPEC,
];

export const CLUSTER_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'Cluster typed_extension_protocol_options',
    typeUrl: HTTP_PROTOCOL_OPTIONS_TYPE_URL,
    names: [HTTP_PROTOCOL_OPTIONS_NAME],
    note: 'upstream HTTP/1.1 or HTTP/2, idle timeout, requests per connection',
  },
];

/** Fields refused with a more specific reason than "not supported". */
const CLUSTER_REASONS: Readonly<Record<string, string>> = {
  transport_socket_matches:
    'not supported by ferry-proxy: every endpoint uses the cluster’s transport_socket (set TLS there)',
};

export function translateCluster(
  obj: JsonObject,
  issues: Issues,
  secrets?: SecretResolver,
): ClusterModel {
  checkFields(obj, CLUSTER_SPEC, '', issues, CLUSTER_REASONS);
  const name = str(obj.name);
  const type = enumField(obj.type, DISCOVERY_TYPES, 'STATIC', 'type', issues);
  const lbPolicy = enumField(obj.lb_policy, LB_POLICIES, 'ROUND_ROBIN', 'lb_policy', issues);

  let edsServiceName = '';
  const eds = asObject(obj.eds_cluster_config);
  if (eds) {
    checkFields(eds, EDS_CONFIG_SPEC, 'eds_cluster_config', issues);
    adsConfigSource(asObject(eds.eds_config), 'eds_cluster_config.eds_config', issues);
  }
  if (type === 'EDS') {
    edsServiceName = str(eds?.service_name) || name;
    if (!eds) issues.add('eds_cluster_config', 'required for an EDS cluster');
    if (obj.load_assignment !== undefined)
      issues.add(
        'load_assignment',
        'an EDS cluster gets its endpoints from EDS, not load_assignment',
      );
  }

  const loadAssignment = asObject(obj.load_assignment);
  const assignment = loadAssignment
    ? translateAssignment(loadAssignment, 'load_assignment', issues, {
        allowHostname: type === 'STRICT_DNS' || type === 'LOGICAL_DNS',
      })
    : { localities: [], overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR };
  if (type === 'LOGICAL_DNS') {
    const count = assignment.localities.reduce((n, l) => n + l.endpoints.length, 0);
    if (count !== 1 || assignment.localities.length !== 1)
      issues.add(
        'load_assignment',
        'a LOGICAL_DNS cluster needs exactly one locality with one endpoint',
      );
  }

  const lb = lbSettings(obj, issues);
  const protocol = upstreamProtocol(obj, issues);
  const tls = translateUpstreamTls(
    asObject(obj.transport_socket),
    'transport_socket',
    issues,
    secrets,
  );
  checkUpstreamHostName(protocol.upstreamHostName, tls, issues);
  const outlierDetection = obj.outlier_detection;
  const outlierObj = asObject(outlierDetection);
  const outlier = outlierObj
    ? translateOutlierDetection(outlierObj, 'outlier_detection', issues)
    : undefined;
  const activeHealthChecks = translateHealthChecks(obj, issues);
  const lrsServer = lrsServerField(asObject(obj.lrs_server), issues);
  return {
    name,
    type,
    edsServiceName,
    connectTimeoutMs: durationMs(obj.connect_timeout, CLUSTER_DEFAULTS.connectTimeoutMs),
    lbPolicy,
    ...lb,
    localities: assignment.localities,
    overprovisioningFactor: assignment.overprovisioningFactor,
    dnsRefreshRateMs: durationMs(obj.dns_refresh_rate, CLUSTER_DEFAULTS.dnsRefreshRateMs),
    dnsLookupFamily: enumField(
      obj.dns_lookup_family,
      DNS_FAMILIES,
      'AUTO',
      'dns_lookup_family',
      issues,
    ),
    ...protocol,
    circuitBreakers: circuitBreakers(asObject(obj.circuit_breakers), issues),
    ...(tls ? { tls } : {}),
    perConnectionBufferLimitBytes: int(
      obj.per_connection_buffer_limit_bytes,
      DEFAULT_BUFFER_LIMIT_BYTES,
    ),
    healthChecks: asArray(obj.health_checks),
    ...(activeHealthChecks.length > 0 ? { activeHealthChecks } : {}),
    ...(outlierDetection !== undefined ? { outlierDetection } : {}),
    ...(outlier ? { outlier } : {}),
    ...(lrsServer ? { lrsServer } : {}),
  };
}

/**
 * Cluster.lrs_server: ferry-proxy reports load to the control plane it gets config from, so only
 * the ConfigSources that mean "that server" are accepted: `self: {}` or `ads: {}`.
 */
function lrsServerField(obj: JsonObject | undefined, issues: Issues): 'SELF' | 'ADS' | undefined {
  if (!obj) return undefined;
  const kind = Object.keys(obj).filter((k) => k !== 'resource_api_version');
  enumField(obj.resource_api_version, ['V3'], 'V3', 'lrs_server.resource_api_version', issues);
  if (kind.length === 1 && kind[0] === 'self') return 'SELF';
  if (kind.length === 1 && kind[0] === 'ads') return 'ADS';
  issues.add(
    'lrs_server',
    'only `self: {}` or `ads: {}` is supported: load reports go to the control plane',
  );
  return undefined;
}

type LbSettings = Pick<
  ClusterModel,
  | 'leastRequestChoiceCount'
  | 'leastRequestActiveRequestBias'
  | 'ringHashMinSize'
  | 'ringHashMaxSize'
  | 'maglevTableSize'
  | 'healthyPanicThresholdPercent'
>;

function lbSettings(obj: JsonObject, issues: Issues): LbSettings {
  const ring = asObject(obj.ring_hash_lb_config) ?? {};
  checkFields(ring, RING_HASH_SPEC, 'ring_hash_lb_config', issues);
  enumField(
    ring.hash_function,
    ['XX_HASH'],
    'XX_HASH',
    'ring_hash_lb_config.hash_function',
    issues,
  );
  const maglev = asObject(obj.maglev_lb_config) ?? {};
  checkFields(maglev, MAGLEV_SPEC, 'maglev_lb_config', issues);
  const leastRequest = asObject(obj.least_request_lb_config) ?? {};
  checkFields(leastRequest, LEAST_REQUEST_SPEC, 'least_request_lb_config', issues);
  const bias = asObject(leastRequest.active_request_bias);
  if (bias)
    checkFields(bias, RUNTIME_DOUBLE_SPEC, 'least_request_lb_config.active_request_bias', issues);
  const roundRobin = asObject(obj.round_robin_lb_config);
  if (roundRobin) checkFields(roundRobin, ROUND_ROBIN_SPEC, 'round_robin_lb_config', issues);
  const common = asObject(obj.common_lb_config) ?? {};
  checkFields(common, COMMON_LB_SPEC, 'common_lb_config', issues);
  const panic = asObject(common.healthy_panic_threshold);
  if (panic) checkFields(panic, PERCENT_SPEC, 'common_lb_config.healthy_panic_threshold', issues);

  const settings: LbSettings = {
    leastRequestChoiceCount: int(
      leastRequest.choice_count,
      CLUSTER_DEFAULTS.leastRequestChoiceCount,
    ),
    ...(typeof bias?.default_value === 'number'
      ? { leastRequestActiveRequestBias: bias.default_value }
      : {}),
    ringHashMinSize: int(ring.minimum_ring_size, CLUSTER_DEFAULTS.ringHashMinSize),
    ringHashMaxSize: int(ring.maximum_ring_size, CLUSTER_DEFAULTS.ringHashMaxSize),
    maglevTableSize: int(maglev.table_size, CLUSTER_DEFAULTS.maglevTableSize),
    healthyPanicThresholdPercent:
      typeof panic?.value === 'number'
        ? panic.value
        : CLUSTER_DEFAULTS.healthyPanicThresholdPercent,
  };
  if (settings.ringHashMinSize > settings.ringHashMaxSize)
    issues.add('ring_hash_lb_config', 'minimum_ring_size is above maximum_ring_size');
  if (!isPrime(settings.maglevTableSize))
    issues.add('maglev_lb_config.table_size', `${settings.maglevTableSize} is not a prime number`);
  return settings;
}

function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

type ProtocolSettings = Pick<
  ClusterModel,
  | 'upstreamProtocol'
  | 'maxRequestsPerConnection'
  | 'upstreamIdleTimeoutMs'
  | 'upstreamHostName'
  | 'upstreamHttp2'
>;

function upstreamProtocol(obj: JsonObject, issues: Issues): ProtocolSettings {
  let protocol: ClusterModel['upstreamProtocol'] = 'HTTP1';
  let maxRequestsPerConnection = int(obj.max_requests_per_connection, 0);
  let idleTimeoutMs: number = CLUSTER_DEFAULTS.upstreamIdleTimeoutMs;
  let upstreamHostName: UpstreamHostNameModel | undefined;
  let http2: UpstreamHttp2Model = DEFAULT_UPSTREAM_HTTP2;

  const legacyHttp2 = asObject(obj.http2_protocol_options);
  if (legacyHttp2) {
    http2 = upstreamHttp2Options(legacyHttp2, 'http2_protocol_options', issues);
    protocol = 'HTTP2';
  }
  const selection = enumField(
    obj.protocol_selection,
    ['USE_CONFIGURED_PROTOCOL', 'USE_DOWNSTREAM_PROTOCOL'],
    'USE_CONFIGURED_PROTOCOL',
    'protocol_selection',
    issues,
  );
  if (selection === 'USE_DOWNSTREAM_PROTOCOL') protocol = 'USE_DOWNSTREAM';

  const extensions = asObject(obj.typed_extension_protocol_options) ?? {};
  for (const [key, value] of Object.entries(extensions)) {
    const path = join('typed_extension_protocol_options', key);
    const typed = asObject(value) ?? {};
    const typeUrl = str(typed['@type']);
    if (typeUrl !== HTTP_PROTOCOL_OPTIONS_TYPE_URL) {
      issues.add(
        path,
        `${typeUrl.slice(typeUrl.lastIndexOf('/') + 1) || key} is ${NOT_SUPPORTED} (supported: ${HTTP_PROTOCOL_OPTIONS_NAME})`,
      );
      continue;
    }
    checkFields(typed, HTTP_OPTIONS_SPEC, path, issues);
    const explicit = asObject(typed.explicit_http_config);
    const downstream = asObject(typed.use_downstream_protocol_config);
    if (explicit) {
      checkFields(explicit, EXPLICIT_SPEC, join(path, 'explicit_http_config'), issues);
      http2 = protocolOptions(explicit, join(path, 'explicit_http_config'), issues) ?? http2;
      protocol = explicit.http2_protocol_options !== undefined ? 'HTTP2' : 'HTTP1';
    } else if (downstream) {
      checkFields(
        downstream,
        DOWNSTREAM_SPEC,
        join(path, 'use_downstream_protocol_config'),
        issues,
      );
      http2 =
        protocolOptions(downstream, join(path, 'use_downstream_protocol_config'), issues) ?? http2;
      protocol = 'USE_DOWNSTREAM';
    }
    const commonPath = join(path, 'common_http_protocol_options');
    const common = asObject(typed.common_http_protocol_options) ?? {};
    checkFields(common, UPSTREAM_COMMON_SPEC, commonPath, issues);
    idleTimeoutMs = durationMs(common.idle_timeout, idleTimeoutMs);
    maxRequestsPerConnection = int(common.max_requests_per_connection, maxRequestsPerConnection);
    const hostNamePath = join(path, 'upstream_http_protocol_options');
    const hostName = asObject(typed.upstream_http_protocol_options);
    if (hostName) {
      checkFields(hostName, UPSTREAM_HTTP_OPTIONS_SPEC, hostNamePath, issues);
      const header = str(hostName.override_auto_sni_header).toLowerCase();
      if (header !== '' && !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(header))
        issues.add(join(hostNamePath, 'override_auto_sni_header'), 'not a valid header name');
      const autoSni = bool(hostName.auto_sni, false);
      const autoSanValidation = bool(hostName.auto_san_validation, false);
      if (autoSni || autoSanValidation) upstreamHostName = { autoSni, autoSanValidation, header };
    }
  }
  return {
    upstreamProtocol: protocol,
    maxRequestsPerConnection,
    upstreamIdleTimeoutMs: idleTimeoutMs,
    ...(upstreamHostName ? { upstreamHostName } : {}),
    upstreamHttp2: http2,
  };
}

/**
 * auto_sni / auto_san_validation only mean something over TLS, and auto_san_validation only when
 * the certificate is verified (without a validation context Envoy checks nothing, so the option
 * would silently do nothing).
 */
function checkUpstreamHostName(
  options: UpstreamHostNameModel | undefined,
  tls: UpstreamTlsModel | undefined,
  issues: Issues,
): void {
  if (options === undefined) return;
  const path = 'typed_extension_protocol_options.upstream_http_protocol_options';
  if (tls === undefined) {
    issues.add(
      path,
      'auto_sni and auto_san_validation need an UpstreamTlsContext transport_socket',
    );
    return;
  }
  const verifies =
    tls.trustedCaPem !== undefined ||
    tls.sanMatchers.length > 0 ||
    tls.certificateHashes.length > 0 ||
    tls.spkiHashes.length > 0;
  // A trusted_ca left unread (host access 'skip') cannot be judged missing.
  if (options.autoSanValidation && !verifies && issues.unchecked.length === 0)
    issues.add(
      `${path}.auto_san_validation`,
      'needs transport_socket common_tls_context.validation_context.trusted_ca: without a validation context the upstream certificate is not verified at all',
    );
}

/** Checks the protocol options of an explicit / downstream config; returns the HTTP/2 ones. */
function protocolOptions(
  obj: JsonObject,
  path: string,
  issues: Issues,
): UpstreamHttp2Model | undefined {
  const http1 = asObject(obj.http_protocol_options);
  if (http1) checkFields(http1, UPSTREAM_HTTP1_SPEC, join(path, 'http_protocol_options'), issues);
  const http2 = asObject(obj.http2_protocol_options);
  return http2 === undefined
    ? undefined
    : upstreamHttp2Options(http2, join(path, 'http2_protocol_options'), issues);
}

const MAX_INT32 = 2_147_483_647;

/** Http2ProtocolOptions of upstream connections, with Envoy's ranges (upstream-http2-pool.ts). */
function upstreamHttp2Options(obj: JsonObject, path: string, issues: Issues): UpstreamHttp2Model {
  checkFields(obj, UPSTREAM_HTTP2_SPEC, path, issues);
  const ranged = (key: string, min: number, fallback: number): number => {
    const value = int(obj[key], fallback);
    if (!Number.isInteger(value) || value < min || value > MAX_INT32) {
      issues.add(join(path, key), `must be between ${min} and ${MAX_INT32}`);
      return fallback;
    }
    return value;
  };
  const defaults = DEFAULT_UPSTREAM_HTTP2;
  const model: UpstreamHttp2Model = {
    maxConcurrentStreams: ranged('max_concurrent_streams', 1, defaults.maxConcurrentStreams),
    initialStreamWindowSize: ranged(
      'initial_stream_window_size',
      65_535,
      defaults.initialStreamWindowSize,
    ),
    initialConnectionWindowSize: ranged(
      'initial_connection_window_size',
      65_535,
      defaults.initialConnectionWindowSize,
    ),
  };
  const keepalive = asObject(obj.connection_keepalive);
  if (keepalive === undefined) return model;
  const keepalivePath = join(path, 'connection_keepalive');
  checkFields(keepalive, KEEPALIVE_SPEC, keepalivePath, issues, {
    connection_idle_interval:
      'not supported by ferry-proxy: PINGs are sent every interval whether or not the connection is idle',
  });
  const intervalMs = durationMs(keepalive.interval, 0);
  const timeoutMs = durationMs(keepalive.timeout, 0);
  if (intervalMs <= 0) issues.add(join(keepalivePath, 'interval'), 'required: a positive duration');
  if (timeoutMs <= 0) issues.add(join(keepalivePath, 'timeout'), 'required: a positive duration');
  const jitterObj = asObject(keepalive.interval_jitter);
  if (jitterObj)
    checkFields(jitterObj, PERCENT_SPEC, join(keepalivePath, 'interval_jitter'), issues);
  const jitter = jitterObj === undefined ? 15 : Number(jitterObj.value ?? 0);
  if (!(jitter >= 0 && jitter <= 100))
    issues.add(join(keepalivePath, 'interval_jitter.value'), 'must be between 0 and 100');
  return intervalMs > 0 && timeoutMs > 0
    ? { ...model, keepalive: { intervalMs, timeoutMs, jitter: jitter / 100 } }
    : model;
}

function circuitBreakers(obj: JsonObject | undefined, issues: Issues): CircuitBreakersModel {
  const defaults = CLUSTER_DEFAULTS.circuitBreakers;
  if (!obj) return { ...defaults };
  checkFields(obj, CIRCUIT_BREAKERS_SPEC, 'circuit_breakers', issues);
  let result: CircuitBreakersModel = { ...defaults };
  for (const [thresholds, path] of objectsOf(obj, 'thresholds', 'circuit_breakers')) {
    checkFields(thresholds, THRESHOLDS_SPEC, path, issues);
    const priority = enumField(
      thresholds.priority,
      ['DEFAULT', 'HIGH'],
      'DEFAULT',
      join(path, 'priority'),
      issues,
    );
    if (priority !== 'DEFAULT') continue;
    result = {
      maxConnections: int(thresholds.max_connections, defaults.maxConnections),
      maxPendingRequests: int(thresholds.max_pending_requests, defaults.maxPendingRequests),
      maxRequests: int(thresholds.max_requests, defaults.maxRequests),
      maxRetries: int(thresholds.max_retries, defaults.maxRetries),
    };
  }
  return result;
}
