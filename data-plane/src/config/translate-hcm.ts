/**
 * envoy.filters.network.http_connection_manager's typed_config → HttpConnectionManagerModel,
 * with Envoy's documented defaults (and its edge guidance's HTTP/2 stream limit). Called by
 * translate-listener.ts for every filter chain.
 */
import {
  NOT_SUPPORTED,
  adsConfigSource,
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
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { translateAccessLogs } from './translate-access-log.js';
import { translateRouteConfig } from './translate-route.js';
import { translateHcmTracing } from './translate-tracing.js';
import { httpFilterByName, httpFilterByTypeUrl } from '../filters/http/registry.js';
import type { CodecType, HttpConnectionManagerModel, HttpFilterModel } from './model.js';
import { normalizationEnabled, type PathNormalizationConfig } from '../http/path-normalization.js';

export const HCM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const HCM_NAME = 'envoy.filters.network.http_connection_manager';

/** Defaults, from Envoy's HttpConnectionManager docs unless noted. */
export const HCM_DEFAULTS = Object.freeze({
  streamIdleTimeoutMs: 5 * 60_000,
  requestTimeoutMs: 0,
  requestHeadersTimeoutMs: 0,
  drainTimeoutMs: 5_000,
  /** common_http_protocol_options.idle_timeout: 1 hour for downstream connections. */
  idleTimeoutMs: 60 * 60_000,
  maxRequestHeadersKb: 60,
  maxHeadersCount: 100,
  /** Envoy's edge best practices, not its default (2^31-1): Node's is unbounded. */
  http2MaxConcurrentStreams: 100,
  /** Envoy's default is "envoy"; ferry-proxy names itself. */
  serverName: 'ferry-proxy',
});

const CODECS = ['AUTO', 'HTTP1', 'HTTP2'] as const;
const ESCAPED_SLASHES = [
  'IMPLEMENTATION_SPECIFIC_DEFAULT',
  'KEEP_UNCHANGED',
  'REJECT_REQUEST',
  'UNESCAPE_AND_REDIRECT',
  'UNESCAPE_AND_FORWARD',
] as const;
const UNDERSCORES = ['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER'] as const;
const SERVER_HEADER = ['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH'] as const;

const HCM_SPEC = messageSpec(
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  {
    codec_type: 'AUTO (HTTP/1.1 or h2c prior knowledge; ALPN under TLS), HTTP1, HTTP2',
    stat_prefix: 'stats naming',
    rds: 'route configuration by name over ADS',
    route_config: 'inline route configuration',
    http_filters: 'see the HTTP filter list; router required, last',
    common_http_protocol_options:
      'idle_timeout (default 1h), max_headers_count (default 100), headers_with_underscores_action',
    http_protocol_options: 'accept_http_10',
    http2_protocol_options: 'max_concurrent_streams (default 100)',
    server_name: `Server header (default ${HCM_DEFAULTS.serverName})`,
    server_header_transformation: 'OVERWRITE (default), APPEND_IF_ABSENT, PASS_THROUGH',
    max_request_headers_kb: 'default 60 (431 above)',
    stream_idle_timeout: 'default 5m, 0s disables',
    request_timeout: 'default disabled',
    request_headers_timeout: 'default disabled',
    drain_timeout: 'default 5s',
    use_remote_address: 'default false',
    xff_num_trusted_hops: 'default 0',
    skip_xff_append: 'default false',
    via: 'Via header appended to requests and responses',
    generate_request_id: 'default true',
    preserve_external_request_id: 'default false',
    upgrade_configs: 'e.g. websocket',
    access_log: 'envoy.access_loggers.stdout and .file (see Access logs)',
    tracing: 'envoy.tracers.opentelemetry (see Tracing)',
    normalize_path:
      'default false: RFC 3986 dot segments, unreserved escapes decoded, backslash as slash; NUL → 400',
    merge_slashes: 'default false: runs of / become one',
    path_with_escaped_slashes_action:
      'IMPLEMENTATION_SPECIFIC_DEFAULT (= KEEP_UNCHANGED), KEEP_UNCHANGED, REJECT_REQUEST (400), UNESCAPE_AND_REDIRECT (307), UNESCAPE_AND_FORWARD',
  },
);

/** Fields ferry-proxy refuses with a reason more useful than "not supported". */
const HCM_REASONS: Readonly<Record<string, string>> = {
  path_normalization_options:
    'not implemented by Envoy either (hidden in its API): use normalize_path and merge_slashes',
};

const RDS_SPEC = messageSpec('envoy.extensions.filters.network.http_connection_manager.v3.Rds', {
  config_source: 'ads only',
  route_config_name: 'RDS resource name',
});

const HTTP_FILTER_SPEC = messageSpec(
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  {
    name: 'label; also selects the filter when typed_config is absent',
    typed_config: 'the filter config; its type selects the filter',
    is_optional: 'an unsupported optional filter is skipped (Envoy semantics)',
    disabled:
      'off unless a route enables it: its most specific typed_per_filter_config entry is not a FilterConfig with disabled: true',
  },
);

const UPGRADE_SPEC = messageSpec(
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig',
  { upgrade_type: 'e.g. websocket (case-insensitive)', enabled: 'default true' },
);

const COMMON_OPTIONS_SPEC = messageSpec(
  'envoy.config.core.v3.HttpProtocolOptions',
  {
    idle_timeout: 'connection idle timeout',
    max_headers_count: 'request headers limit (431 above)',
    headers_with_underscores_action:
      'ALLOW (default), REJECT_REQUEST (HTTP/1: 400; HTTP/2: stream reset), DROP_HEADER',
  },
  'downstream',
);

const HTTP1_SPEC = messageSpec(
  'envoy.config.core.v3.Http1ProtocolOptions',
  { accept_http_10: 'default false: HTTP/1.0 requests get 426, as in Envoy' },
  'downstream',
);

const HTTP2_SPEC = messageSpec(
  'envoy.config.core.v3.Http2ProtocolOptions',
  { max_concurrent_streams: 'per connection (default 100)' },
  'downstream',
);

export const HCM_SPECS: readonly MessageSpec[] = [
  HCM_SPEC,
  RDS_SPEC,
  HTTP_FILTER_SPEC,
  UPGRADE_SPEC,
  COMMON_OPTIONS_SPEC,
  HTTP1_SPEC,
  HTTP2_SPEC,
];

export interface HcmOptions {
  /** Cluster names for inline route configs' validate_clusters (absent: not checked). */
  readonly clusterNames?: ReadonlySet<string>;
}

export function translateHcm(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: HcmOptions,
): HttpConnectionManagerModel {
  checkFields(obj, HCM_SPEC, path, issues, HCM_REASONS);
  const common = asObject(obj.common_http_protocol_options) ?? {};
  checkFields(common, COMMON_OPTIONS_SPEC, join(path, 'common_http_protocol_options'), issues);
  const http1 = asObject(obj.http_protocol_options);
  if (http1) checkFields(http1, HTTP1_SPEC, join(path, 'http_protocol_options'), issues);
  const http2 = asObject(obj.http2_protocol_options) ?? {};
  checkFields(http2, HTTP2_SPEC, join(path, 'http2_protocol_options'), issues);

  const routes: {
    -readonly [K in 'rdsRouteConfigName' | 'routeConfig']?: HttpConnectionManagerModel[K];
  } = {};
  const rds = asObject(obj.rds);
  const inline = asObject(obj.route_config);
  if (rds) {
    const rdsPath = join(path, 'rds');
    checkFields(rds, RDS_SPEC, rdsPath, issues);
    adsConfigSource(asObject(rds.config_source), join(rdsPath, 'config_source'), issues);
    routes.rdsRouteConfigName = str(rds.route_config_name);
  } else if (inline) {
    routes.routeConfig = translateRouteConfig(inline, join(path, 'route_config'), issues, {
      validateClustersDefault: true,
      ...(options.clusterNames ? { clusterNames: options.clusterNames } : {}),
    });
  } else if (obj.scoped_routes === undefined) {
    issues.add(path, 'one of rds or route_config is required');
  }

  return {
    statPrefix: str(obj.stat_prefix),
    codecType: enumField<CodecType>(
      obj.codec_type,
      CODECS,
      'AUTO',
      join(path, 'codec_type'),
      issues,
    ),
    ...routes,
    useRemoteAddress: bool(obj.use_remote_address, false),
    xffNumTrustedHops: int(obj.xff_num_trusted_hops, 0),
    skipXffAppend: bool(obj.skip_xff_append, false),
    via: str(obj.via),
    generateRequestId: bool(obj.generate_request_id, true),
    preserveExternalRequestId: bool(obj.preserve_external_request_id, false),
    serverName: str(obj.server_name) || HCM_DEFAULTS.serverName,
    serverHeaderTransformation: enumField(
      obj.server_header_transformation,
      SERVER_HEADER,
      'OVERWRITE',
      join(path, 'server_header_transformation'),
      issues,
    ),
    streamIdleTimeoutMs: durationMs(obj.stream_idle_timeout, HCM_DEFAULTS.streamIdleTimeoutMs),
    requestTimeoutMs: durationMs(obj.request_timeout, HCM_DEFAULTS.requestTimeoutMs),
    requestHeadersTimeoutMs: durationMs(
      obj.request_headers_timeout,
      HCM_DEFAULTS.requestHeadersTimeoutMs,
    ),
    idleTimeoutMs: durationMs(common.idle_timeout, HCM_DEFAULTS.idleTimeoutMs),
    drainTimeoutMs: durationMs(obj.drain_timeout, HCM_DEFAULTS.drainTimeoutMs),
    maxRequestHeadersKb: int(obj.max_request_headers_kb, HCM_DEFAULTS.maxRequestHeadersKb),
    maxHeadersCount: int(common.max_headers_count, HCM_DEFAULTS.maxHeadersCount),
    acceptHttp10: bool(http1?.accept_http_10, false),
    upgradeTypes: objectsOf(obj, 'upgrade_configs', path).flatMap(([u, p]) => {
      checkFields(u, UPGRADE_SPEC, p, issues);
      return bool(u.enabled, true) ? [str(u.upgrade_type).toLowerCase()] : [];
    }),
    http2MaxConcurrentStreams: int(
      http2.max_concurrent_streams,
      HCM_DEFAULTS.http2MaxConcurrentStreams,
    ),
    httpFilters: httpFilters(obj, path, issues),
    ...pathNormalization(obj, path, issues),
    ...underscores(common, join(path, 'common_http_protocol_options'), issues),
    ...accessLogs(obj, path, issues),
    ...tracing(obj, path, issues, options),
  };
}

/** The path settings, present in the model only when they change paths (keeps versions stable). */
function pathNormalization(
  obj: JsonObject,
  path: string,
  issues: Issues,
): Pick<HttpConnectionManagerModel, 'pathNormalization'> {
  const action = enumField(
    obj.path_with_escaped_slashes_action,
    ESCAPED_SLASHES,
    'IMPLEMENTATION_SPECIFIC_DEFAULT',
    join(path, 'path_with_escaped_slashes_action'),
    issues,
  );
  const config: PathNormalizationConfig = {
    normalizePath: bool(obj.normalize_path, false),
    mergeSlashes: bool(obj.merge_slashes, false),
    // Envoy's implementation-specific default keeps escaped slashes.
    escapedSlashesAction: action === 'IMPLEMENTATION_SPECIFIC_DEFAULT' ? 'KEEP_UNCHANGED' : action,
  };
  return normalizationEnabled(config) ? { pathNormalization: config } : {};
}

/** headers_with_underscores_action, present in the model only when not ALLOW. */
function underscores(
  common: JsonObject,
  path: string,
  issues: Issues,
): Pick<HttpConnectionManagerModel, 'headersWithUnderscoresAction'> {
  const action = enumField(
    common.headers_with_underscores_action,
    UNDERSCORES,
    'ALLOW',
    join(path, 'headers_with_underscores_action'),
    issues,
  );
  return action === 'ALLOW' ? {} : { headersWithUnderscoresAction: action };
}

/** The tracing field, present in the model only when configured (keeps versions stable). */
function tracing(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: HcmOptions,
): Pick<HttpConnectionManagerModel, 'tracing'> {
  const tracingObj = asObject(obj.tracing);
  if (!tracingObj) return {};
  return {
    tracing: translateHcmTracing(tracingObj, join(path, 'tracing'), issues, {
      ...(options.clusterNames ? { clusterNames: options.clusterNames } : {}),
    }),
  };
}

/** The access_log field, present in the model only when configured (keeps versions stable). */
function accessLogs(
  obj: JsonObject,
  path: string,
  issues: Issues,
): Pick<HttpConnectionManagerModel, 'accessLogs'> {
  const logs = translateAccessLogs(obj, path, issues);
  return logs.length ? { accessLogs: logs } : {};
}

function httpFilters(obj: JsonObject, path: string, issues: Issues): HttpFilterModel[] {
  const filters: HttpFilterModel[] = [];
  const entries = objectsOf(obj, 'http_filters', path);
  entries.forEach(([filter, filterPath], index) => {
    checkFields(filter, HTTP_FILTER_SPEC, filterPath, issues);
    const name = str(filter.name);
    const typed = asObject(filter.typed_config);
    const typeUrl = str(typed?.['@type']);
    const factory = typed ? httpFilterByTypeUrl(typeUrl) : httpFilterByName(name);
    if (!factory) {
      if (bool(filter.is_optional, false)) return;
      const what = typed ? typeUrl.slice(typeUrl.lastIndexOf('/') + 1) : name;
      issues.add(
        typed ? join(filterPath, 'typed_config') : filterPath,
        `HTTP filter ${what} is ${NOT_SUPPORTED}`,
      );
      return;
    }
    const disabled = bool(filter.disabled, false);
    if (disabled && factory.terminal)
      issues.add(join(filterPath, 'disabled'), 'the terminal filter cannot be disabled');
    if (factory.terminal && index !== entries.length - 1)
      issues.add(
        filterPath,
        `${name || factory.names[0]} is terminal and must be the last HTTP filter`,
      );
    const config = factory.validate(typed ?? {}, join(filterPath, 'typed_config'), issues);
    filters.push({ name, typeUrl: factory.typeUrl, config, disabled });
  });
  const last = filters[filters.length - 1];
  if (!last || !httpFilterByTypeUrl(last.typeUrl)?.terminal)
    issues.add(
      join(path, 'http_filters'),
      'the last HTTP filter must be envoy.filters.http.router',
    );
  return filters;
}
