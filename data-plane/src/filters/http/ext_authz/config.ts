/**
 * Config factory of envoy.filters.http.ext_authz: validates Envoy's
 * `envoy.extensions.filters.http.ext_authz.v3.ExtAuthz` (and the per-route `ExtAuthzPerRoute`)
 * into ExtAuthzModel; workers build an ExtAuthzFilter per HCM (ext-authz-filter.ts), which asks
 * the authorization service through the filters' async client (upstream/async-client.ts,
 * upstream/async-grpc-client.ts).
 */
import { protoRegistry, type JsonValue } from '@ferry/proto';
import type { HttpFilterFactory } from '../filter.js';
import type { StringMatcherModel } from '../../../config/model.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  durationMs,
  enumField,
  int,
  join,
  messageSpec,
  objectField,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { stringMatcher } from '../../../config/translate-matchers.js';
import {
  PERCENT_SPECS,
  runtimeFeatureFlag,
  runtimeFractionalPercent,
} from '../common/fractional-percent.js';
import { GRPC_SERVICE_SPECS, validateGrpcService } from '../../../upstream/async-grpc-client.js';
import type {
  BufferSettingsModel,
  ExtAuthzModel,
  ExtAuthzPerRouteModel,
  HttpAuthzServiceModel,
} from './model.js';
import { ExtAuthzFilter } from './ext-authz-filter.js';

/** Envoy's default timeout of the authorization call (gRPC and HTTP). */
const DEFAULT_TIMEOUT_MS = 200;

const EXT_AUTHZ_SPEC = messageSpec('envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', {
  grpc_service:
    'envoy_grpc: envoy.service.auth.v3.Authorization/Check on a cluster with http2_protocol_options (default timeout 200 ms)',
  http_service: 'raw HTTP authorization service (server_uri timeout, default 200 ms)',
  transport_api_version: 'V3 (or AUTO, which is V3)',
  failure_mode_allow: 'let requests through when the service fails or answers 5xx',
  failure_mode_allow_header_add: 'with failure_mode_allow: x-envoy-auth-failure-mode-allowed: true',
  with_request_body: 'buffer the body (max_request_bytes, allow_partial_message, pack_as_bytes)',
  clear_route_cache: 'match the route again after the service changed headers',
  status_on_error: 'status when the service fails (default 403)',
  validate_mutations: 'invalid header mutations from the service answer 500',
  include_peer_certificate: 'source.certificate: the client certificate, URL-encoded PEM',
  include_tls_session: 'tls_session.sni of TLS connections',
  stat_prefix: 'ext_authz_* stats get it as the ext_authz_prefix label',
  filter_enabled: 'RuntimeFractionalPercent of requests checked (default all)',
  deny_at_disable: 'RuntimeFeatureFlag: requests not checked by filter_enabled get status_on_error',
  allowed_headers:
    'request headers sent (gRPC: default all; HTTP: Host, :method, :path, Authorization are always added)',
  disallowed_headers: 'request headers never sent (wins over allowed_headers)',
  encode_raw_headers: 'false only (headers are sent joined with commas)',
  enable_dynamic_metadata_ingestion: 'default true; false ignores the service’s dynamic metadata',
});

const RUNTIME_ONLY = 'no runtime or metadata context in ferry-proxy';

const BUFFER_SETTINGS_SPEC = messageSpec(
  'envoy.extensions.filters.http.ext_authz.v3.BufferSettings',
  {
    max_request_bytes: 'body bytes held and sent; above: 413 unless allow_partial_message',
    allow_partial_message: 'send the first max_request_bytes instead of answering 413',
    pack_as_bytes: 'gRPC: raw_body (bytes) instead of body (UTF-8)',
  },
);

const HTTP_SERVICE_SPEC = messageSpec('envoy.extensions.filters.http.ext_authz.v3.HttpService', {
  server_uri: 'cluster and timeout (required); uri is informational, as in Envoy',
  path_prefix: 'prefixed to the request path of the check request',
  authorization_request: 'allowed_headers, headers_to_add',
  authorization_response:
    'allowed_upstream_headers(_to_append), allowed_client_headers(_on_success), dynamic_metadata_from_headers',
});

const HTTP_URI_SPEC = messageSpec(
  'envoy.config.core.v3.HttpUri',
  {
    uri: 'required; the check request keeps the client’s Host and path (path_prefix + path)',
    cluster: 'the authorization service’s cluster',
    timeout: 'of each check',
  },
  'ext_authz',
);

const AUTHORIZATION_REQUEST_SPEC = messageSpec(
  'envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest',
  {
    allowed_headers: 'client request headers sent besides Host, :method, :path, Authorization',
    headers_to_add: 'headers set on every check request (literal values)',
  },
);

const AUTHORIZATION_RESPONSE_SPEC = messageSpec(
  'envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse',
  {
    allowed_upstream_headers: 'on 200: service headers set on the upstream request',
    allowed_upstream_headers_to_append: 'on 200: service headers added to the upstream request',
    allowed_client_headers:
      'on deny: service headers sent to the client (default all but Host; when set, plus content-length, www-authenticate, location)',
    allowed_client_headers_on_success: 'on 200: service headers added to the response',
    dynamic_metadata_from_headers:
      'on 200: service headers as dynamic metadata (envoy.filters.http.ext_authz)',
  },
);

const LIST_STRING_MATCHER_SPEC = messageSpec('envoy.type.matcher.v3.ListStringMatcher', {
  patterns: 'StringMatchers; any may match (header names are lower-case)',
});

const HEADER_VALUE_SPEC = messageSpec(
  'envoy.config.core.v3.HeaderValue',
  { key: 'header name', value: 'literal value' },
  'ext_authz headers_to_add',
);

const HTTP_STATUS_SPEC = messageSpec('envoy.type.v3.HttpStatus', { code: 'HTTP status' });

const PER_ROUTE_SPEC = messageSpec('envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', {
  disabled: 'no check on this virtual host / route',
  check_settings: 'context_extensions, disable_request_body_buffering, with_request_body',
});

const CHECK_SETTINGS_SPEC = messageSpec(
  'envoy.extensions.filters.http.ext_authz.v3.CheckSettings',
  {
    context_extensions:
      'gRPC: attributes.context_extensions, merged from route configuration to route (more specific wins)',
    disable_request_body_buffering: 'do not buffer or send the body on this route',
    with_request_body: 'this route’s BufferSettings',
  },
);

export const EXT_AUTHZ_TYPE_URL = TYPE_URL_PREFIX + EXT_AUTHZ_SPEC.message;
export const EXT_AUTHZ_PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + PER_ROUTE_SPEC.message;

export const extAuthzFilter: HttpFilterFactory<ExtAuthzModel, ExtAuthzPerRouteModel> = {
  typeUrl: EXT_AUTHZ_TYPE_URL,
  names: ['envoy.filters.http.ext_authz', 'envoy.ext_authz'],
  terminal: false,
  note: 'asks an authorization service (gRPC Authorization/Check or raw HTTP) before the request goes on; deny → its response, UAEX',
  specs: [
    EXT_AUTHZ_SPEC,
    BUFFER_SETTINGS_SPEC,
    HTTP_SERVICE_SPEC,
    HTTP_URI_SPEC,
    AUTHORIZATION_REQUEST_SPEC,
    AUTHORIZATION_RESPONSE_SPEC,
    LIST_STRING_MATCHER_SPEC,
    HEADER_VALUE_SPEC,
    HTTP_STATUS_SPEC,
    PER_ROUTE_SPEC,
    CHECK_SETTINGS_SPEC,
    ...GRPC_SERVICE_SPECS,
    ...PERCENT_SPECS,
  ],
  perRouteTypeUrls: [EXT_AUTHZ_PER_ROUTE_TYPE_URL],
  validate: validateExtAuthz,
  validatePerRoute: (_typeUrl, config, path, issues) => validatePerRoute(config, path, issues),
  createFilterFactory(config, context) {
    const filter = new ExtAuthzFilter(config, context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};

export function validateExtAuthz(config: JsonObject, path: string, issues: Issues): ExtAuthzModel {
  checkFields(config, EXT_AUTHZ_SPEC, path, issues, {
    metadata_context_namespaces: `metadata_context_namespaces is ${NOT_SUPPORTED} (${RUNTIME_ONLY})`,
    typed_metadata_context_namespaces: `typed_metadata_context_namespaces is ${NOT_SUPPORTED} (${RUNTIME_ONLY})`,
    route_metadata_context_namespaces: `route_metadata_context_namespaces is ${NOT_SUPPORTED}`,
    route_typed_metadata_context_namespaces: `route_typed_metadata_context_namespaces is ${NOT_SUPPORTED}`,
    filter_enabled_metadata: `filter_enabled_metadata is ${NOT_SUPPORTED}; use filter_enabled or per-route disabled`,
    bootstrap_metadata_labels_key: `bootstrap_metadata_labels_key is ${NOT_SUPPORTED}`,
    charge_cluster_response_stats: `charge_cluster_response_stats is ${NOT_SUPPORTED} (ferry-proxy keeps no per-cluster ext_authz stats)`,
    decoder_header_mutation_rules: `decoder_header_mutation_rules is ${NOT_SUPPORTED}`,
  });
  enumField(
    config.transport_api_version,
    ['AUTO', 'V3'],
    'V3',
    join(path, 'transport_api_version'),
    issues,
  );
  if (config.encode_raw_headers === true)
    issues.add(join(path, 'encode_raw_headers'), `true is ${NOT_SUPPORTED}`);
  const grpcObj = asObject(config.grpc_service);
  const httpObj = asObject(config.http_service);
  let model: Pick<ExtAuthzModel, 'grpc' | 'http' | 'timeoutMs'>;
  if (grpcObj !== undefined) {
    const grpc = validateGrpcService(grpcObj, join(path, 'grpc_service'), issues);
    model = { grpc, timeoutMs: grpc.timeoutMs || DEFAULT_TIMEOUT_MS };
  } else if (httpObj !== undefined) {
    const { http, timeoutMs } = httpService(httpObj, join(path, 'http_service'), issues);
    model = { http, timeoutMs };
  } else {
    issues.add(join(path, 'grpc_service'), 'one of grpc_service or http_service is required');
    model = { timeoutMs: DEFAULT_TIMEOUT_MS };
  }
  const body = asObject(config.with_request_body);
  const filterEnabled = asObject(config.filter_enabled);
  const allowed = asObject(config.allowed_headers);
  return {
    ...model,
    failureModeAllow: bool(config.failure_mode_allow, false),
    failureModeAllowHeaderAdd: bool(config.failure_mode_allow_header_add, false),
    statusOnError: httpStatus(
      asObject(config.status_on_error),
      join(path, 'status_on_error'),
      issues,
      403,
    ),
    ...(body
      ? { withRequestBody: bufferSettings(body, join(path, 'with_request_body'), issues) }
      : {}),
    clearRouteCache: bool(config.clear_route_cache, false),
    validateMutations: bool(config.validate_mutations, false),
    includePeerCertificate: bool(config.include_peer_certificate, false),
    includeTlsSession: bool(config.include_tls_session, false),
    statPrefix: str(config.stat_prefix),
    ...(filterEnabled
      ? {
          filterEnabled: runtimeFractionalPercent(
            filterEnabled,
            join(path, 'filter_enabled'),
            issues,
          ),
        }
      : {}),
    denyAtDisable: runtimeFeatureFlag(
      asObject(config.deny_at_disable),
      join(path, 'deny_at_disable'),
      issues,
      false,
    ),
    ...(allowed
      ? { allowedHeaders: listStringMatcher(allowed, join(path, 'allowed_headers'), issues) }
      : {}),
    disallowedHeaders: listStringMatcher(
      objectField(config, 'disallowed_headers'),
      join(path, 'disallowed_headers'),
      issues,
    ),
    enableDynamicMetadataIngestion: bool(config.enable_dynamic_metadata_ingestion, true),
  };
}

function httpService(
  obj: JsonObject,
  path: string,
  issues: Issues,
): { http: HttpAuthzServiceModel; timeoutMs: number } {
  checkFields(obj, HTTP_SERVICE_SPEC, path, issues);
  const uriPath = join(path, 'server_uri');
  const uri = objectField(obj, 'server_uri');
  checkFields(uri, HTTP_URI_SPEC, uriPath, issues);
  const cluster = str(uri.cluster);
  if (cluster === '') issues.add(join(uriPath, 'cluster'), 'required');
  if (str(uri.uri) === '') issues.add(join(uriPath, 'uri'), 'required');
  const timeoutMs = durationMs(uri.timeout, -1);
  if (timeoutMs <= 0) issues.add(join(uriPath, 'timeout'), 'required (a positive duration)');
  const requestPath = join(path, 'authorization_request');
  const request = objectField(obj, 'authorization_request');
  checkFields(request, AUTHORIZATION_REQUEST_SPEC, requestPath, issues);
  const headersToAdd: string[] = [];
  for (const [header, headerPath] of objectsOf(request, 'headers_to_add', requestPath)) {
    checkFields(header, HEADER_VALUE_SPEC, headerPath, issues);
    const key = str(header.key).toLowerCase();
    const value = str(header.value);
    if (!HEADER_NAME.test(key))
      issues.add(join(headerPath, 'key'), `${JSON.stringify(key)} is not a header name`);
    else if (key.startsWith(':') || key === 'host' || key === 'content-length')
      issues.add(join(headerPath, 'key'), `${key} may not be set`);
    if (/[\r\n\0]/.test(value))
      issues.add(join(headerPath, 'value'), 'CR, LF and NUL are not allowed in header values');
    else if (/%[A-Z_]+(\(.*?\))?%/.test(value))
      issues.add(
        join(headerPath, 'value'),
        `header value variables (${value}) are not supported here by ferry-proxy`,
      );
    headersToAdd.push(key, value);
  }
  const responsePath = join(path, 'authorization_response');
  const response = objectField(obj, 'authorization_response');
  checkFields(response, AUTHORIZATION_RESPONSE_SPEC, responsePath, issues);
  const list = (o: JsonObject, key: string, base: string): StringMatcherModel[] =>
    listStringMatcher(objectField(o, key), join(base, key), issues);
  return {
    timeoutMs: Math.max(timeoutMs, 0),
    http: {
      cluster,
      pathPrefix: pathPrefix(obj.path_prefix, join(path, 'path_prefix'), issues),
      allowedHeaders: list(request, 'allowed_headers', requestPath),
      headersToAdd,
      allowedUpstreamHeaders: list(response, 'allowed_upstream_headers', responsePath),
      allowedUpstreamHeadersToAppend: list(
        response,
        'allowed_upstream_headers_to_append',
        responsePath,
      ),
      allowedClientHeaders: list(response, 'allowed_client_headers', responsePath),
      allowedClientHeadersOnSuccess: list(
        response,
        'allowed_client_headers_on_success',
        responsePath,
      ),
      dynamicMetadataFromHeaders: list(response, 'dynamic_metadata_from_headers', responsePath),
    },
  };
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function pathPrefix(value: JsonValue | undefined, path: string, issues: Issues): string {
  const prefix = str(value);
  if (prefix !== '' && (!prefix.startsWith('/') || /[\s?#]/.test(prefix)))
    issues.add(path, `${JSON.stringify(prefix)} must start with "/" and hold no spaces, ? or #`);
  return prefix;
}

function listStringMatcher(obj: JsonObject, path: string, issues: Issues): StringMatcherModel[] {
  checkFields(obj, LIST_STRING_MATCHER_SPEC, path, issues);
  return objectsOf(obj, 'patterns', path).map(([m, p]) => stringMatcher(m, p, issues));
}

function bufferSettings(obj: JsonObject, path: string, issues: Issues): BufferSettingsModel {
  checkFields(obj, BUFFER_SETTINGS_SPEC, path, issues);
  const maxRequestBytes = int(obj.max_request_bytes, 0);
  if (maxRequestBytes <= 0) issues.add(join(path, 'max_request_bytes'), 'must be greater than 0');
  return {
    maxRequestBytes,
    allowPartialMessage: bool(obj.allow_partial_message, false),
    packAsBytes: bool(obj.pack_as_bytes, false),
  };
}

let statusCodes: ReadonlyMap<string, number> | undefined;

/** envoy.type.v3.StatusCode names (proto3 JSON writes enums by name) → numbers. */
function statusCodeByName(): ReadonlyMap<string, number> {
  if (statusCodes === undefined) {
    const codes = protoRegistry().getEnum('envoy.type.v3.StatusCode');
    statusCodes = new Map((codes?.values ?? []).map((v) => [v.name, v.number]));
  }
  return statusCodes;
}

function httpStatus(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
  fallback: number,
): number {
  if (obj === undefined) return fallback;
  checkFields(obj, HTTP_STATUS_SPEC, path, issues);
  const code = obj.code;
  const value = typeof code === 'string' ? statusCodeByName().get(code) : int(code, -1);
  if (value === undefined || value < 200 || value > 599) {
    issues.add(join(path, 'code'), `${JSON.stringify(code)} is not an HTTP status (200-599)`);
    return fallback;
  }
  return value;
}

export function validatePerRoute(
  config: JsonObject,
  path: string,
  issues: Issues,
): ExtAuthzPerRouteModel {
  checkFields(config, PER_ROUTE_SPEC, path, issues);
  const settings = asObject(config.check_settings);
  if (config.disabled === true)
    return { disabled: true, contextExtensions: {}, disableRequestBodyBuffering: false };
  if (settings === undefined) {
    issues.add(path, 'one of disabled (true) or check_settings is required');
    return { disabled: false, contextExtensions: {}, disableRequestBodyBuffering: false };
  }
  const settingsPath = join(path, 'check_settings');
  checkFields(settings, CHECK_SETTINGS_SPEC, settingsPath, issues);
  const extensions = objectField(settings, 'context_extensions');
  const contextExtensions: Record<string, string> = {};
  for (const [key, value] of Object.entries(extensions)) contextExtensions[key] = str(value);
  const disableBody = bool(settings.disable_request_body_buffering, false);
  const body = asObject(settings.with_request_body);
  if (disableBody && body !== undefined)
    issues.add(
      join(settingsPath, 'with_request_body'),
      'only one of disable_request_body_buffering or with_request_body may be set',
    );
  return {
    disabled: false,
    contextExtensions,
    disableRequestBodyBuffering: disableBody,
    ...(body
      ? { withRequestBody: bufferSettings(body, join(settingsPath, 'with_request_body'), issues) }
      : {}),
  };
}
