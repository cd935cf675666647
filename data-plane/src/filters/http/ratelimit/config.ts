/**
 * Config factory of envoy.filters.http.ratelimit (Envoy's global rate limit filter): validates
 * `envoy.extensions.filters.http.ratelimit.v3.RateLimit` and its per-route `RateLimitPerRoute`
 * into plain models; workers build a RateLimitFilter that asks a RateLimitService
 * (`envoy.service.ratelimit.v3`, e.g. Ferry's control plane) about the descriptors of the route's
 * `rate_limits` (router/rate-limit-descriptors.ts).
 */
import { requireMessageSchema } from '@ferry/proto';
import type { HttpFilterFactory } from '../filter.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  durationMs,
  enumField,
  int,
  join,
  messageSpec,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import {
  GRPC_SERVICE_SPECS,
  validateGrpcService,
  type GrpcServiceModel,
} from '../../../upstream/async-grpc-client.js';
import { RateLimitFilterFactory } from './ratelimit-filter.js';
import {
  DEFAULT_TIMEOUT_MS,
  type RateLimitFilterModel,
  type RateLimitPerRouteModel,
} from './model.js';

const RATE_LIMIT_SPEC = messageSpec('envoy.extensions.filters.http.ratelimit.v3.RateLimit', {
  domain: 'sent in every RateLimitRequest (Ferry: selects the RateLimitPolicy of the group)',
  stage: 'only route rate_limits entries with this stage apply (default 0)',
  request_type: 'internal (x-envoy-internal: true), external or both (default)',
  timeout:
    'deadline of each call (default 20 ms); the GrpcService timeout is not used, as in Envoy',
  failure_mode_deny:
    'on a call error: deny with status_on_error (500) and response flag RLSE; otherwise allow and count failure_mode_allowed',
  rate_limited_as_resource_exhausted:
    'gRPC requests limited get grpc-status RESOURCE_EXHAUSTED instead of UNAVAILABLE',
  rate_limit_service: 'required: grpc_service (envoy_grpc) and transport_api_version V3',
  enable_x_ratelimit_headers:
    'DRAFT_VERSION_03: x-ratelimit-limit, x-ratelimit-remaining and x-ratelimit-reset from the descriptor statuses',
  disable_x_envoy_ratelimited_header: 'leave out x-envoy-ratelimited: true on limited replies',
  rate_limited_status: 'status of limited replies (default 429; below 400 means 429)',
  status_on_error:
    'status of replies denied by failure_mode_deny (default 500; below 400 means 500)',
});

const SERVICE_SPEC = messageSpec('envoy.config.ratelimit.v3.RateLimitServiceConfig', {
  grpc_service: 'required: envoy_grpc with the cluster of the rate limit service',
  transport_api_version: 'must be V3',
});

const HTTP_STATUS_SPEC = messageSpec(
  'envoy.type.v3.HttpStatus',
  { code: 'the status code' },
  'ratelimit',
);

const PER_ROUTE_SPEC = messageSpec('envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute', {
  vh_rate_limits:
    'OVERRIDE (default: the virtual host rate_limits apply only when the route has none), INCLUDE or IGNORE',
  domain: "replaces the filter's domain for this route",
});

export const RATE_LIMIT_FILTER_TYPE_URL = TYPE_URL_PREFIX + RATE_LIMIT_SPEC.message;
const PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + PER_ROUTE_SPEC.message;

export const rateLimitFilter: HttpFilterFactory<RateLimitFilterModel, RateLimitPerRouteModel> = {
  typeUrl: RATE_LIMIT_FILTER_TYPE_URL,
  names: ['envoy.filters.http.ratelimit', 'envoy.rate_limit'],
  terminal: false,
  note: 'global rate limits: asks a RateLimitService (Ferry’s control plane serves one) about the route’s rate_limits descriptors; 429 RL when over the limit',
  specs: [RATE_LIMIT_SPEC, SERVICE_SPEC, ...GRPC_SERVICE_SPECS, HTTP_STATUS_SPEC, PER_ROUTE_SPEC],
  perRouteTypeUrls: [PER_ROUTE_TYPE_URL],
  validate: validateRateLimit,
  validatePerRoute: (_typeUrl, config, path, issues) => validatePerRoute(config, path, issues),
  createFilterFactory(config, context) {
    const factory = new RateLimitFilterFactory(config, context);
    return { create: (callbacks) => factory.create(callbacks) };
  },
};

export function validateRateLimit(
  config: JsonObject,
  path: string,
  issues: Issues,
): RateLimitFilterModel {
  checkFields(config, RATE_LIMIT_SPEC, path, issues, {
    response_headers_to_add: `response_headers_to_add (formatted headers on limited replies) is ${NOT_SUPPORTED}; the RateLimitService's response_headers_to_add are honoured`,
    stat_prefix: `stat_prefix is ${NOT_SUPPORTED}: the ratelimit_* stats carry the route's cluster`,
  });
  const domain = str(config.domain);
  if (domain === '') issues.add(join(path, 'domain'), 'required');
  const stage = int(config.stage, 0);
  const requestType = str(config.request_type, 'both') || 'both';
  const service = asObject(config.rate_limit_service);
  const servicePath = join(path, 'rate_limit_service');
  let grpc: GrpcServiceModel = {
    clusterName: '',
    authority: '',
    timeoutMs: 0,
    initialMetadata: [],
  };
  if (!service) issues.add(servicePath, 'required');
  else {
    checkFields(service, SERVICE_SPEC, servicePath, issues);
    const grpcService = asObject(service.grpc_service);
    if (!grpcService) issues.add(join(servicePath, 'grpc_service'), 'required');
    else grpc = validateGrpcService(grpcService, join(servicePath, 'grpc_service'), issues);
    // proto3 JSON leaves AUTO (0) out; Envoy refuses every version but V3.
    if (service.transport_api_version !== 'V3')
      issues.add(
        join(servicePath, 'transport_api_version'),
        `must be V3 (got ${str(service.transport_api_version, 'AUTO')})`,
      );
  }
  const headers = enumField(
    config.enable_x_ratelimit_headers,
    ['OFF', 'DRAFT_VERSION_03'] as const,
    'OFF',
    join(path, 'enable_x_ratelimit_headers'),
    issues,
  );
  const timeoutMs = durationMs(config.timeout, DEFAULT_TIMEOUT_MS);
  if (timeoutMs <= 0) issues.add(join(path, 'timeout'), 'must be positive');
  return {
    domain,
    stage,
    requestType: requestType as RateLimitFilterModel['requestType'],
    timeoutMs,
    failureModeDeny: config.failure_mode_deny === true,
    rateLimitedAsResourceExhausted: config.rate_limited_as_resource_exhausted === true,
    service: grpc,
    xRateLimitHeaders: headers === 'DRAFT_VERSION_03',
    disableXEnvoyRateLimitedHeader: config.disable_x_envoy_ratelimited_header === true,
    rateLimitedStatus: httpStatus(
      config.rate_limited_status,
      429,
      join(path, 'rate_limited_status'),
      issues,
    ),
    statusOnError: httpStatus(config.status_on_error, 500, join(path, 'status_on_error'), issues),
  };
}

/** Envoy's toErrorCode: a code below 400 (or none) means the default. */
function httpStatus(
  value: JsonObject[string] | undefined,
  fallback: number,
  path: string,
  issues: Issues,
): number {
  const obj = asObject(value);
  if (!obj) return fallback;
  checkFields(obj, HTTP_STATUS_SPEC, path, issues);
  // proto3 JSON names the StatusCode enum value ("TooManyRequests"); a number may come through.
  const code = typeof obj.code === 'string' ? (statusCodes().get(obj.code) ?? 0) : int(obj.code, 0);
  return code >= 400 && code <= 599 ? code : fallback;
}

let codesByName: Map<string, number> | undefined;

/** envoy.type.v3.StatusCode names → numbers, from the descriptors (config time only). */
function statusCodes(): Map<string, number> {
  if (!codesByName) {
    codesByName = new Map();
    const field = requireMessageSchema('envoy.type.v3.HttpStatus').fields.find(
      (f) => f.name === 'code',
    );
    for (const v of field?.enum?.values ?? []) codesByName.set(v.name, v.number);
  }
  return codesByName;
}

function validatePerRoute(
  config: JsonObject,
  path: string,
  issues: Issues,
): RateLimitPerRouteModel {
  checkFields(config, PER_ROUTE_SPEC, path, issues, {
    rate_limits: `rate_limits in RateLimitPerRoute is ${NOT_SUPPORTED}: put them on the route (route.rate_limits)`,
  });
  return {
    vhRateLimits: enumField(
      config.vh_rate_limits,
      ['OVERRIDE', 'INCLUDE', 'IGNORE'] as const,
      'OVERRIDE',
      join(path, 'vh_rate_limits'),
      issues,
    ),
    domain: str(config.domain),
  };
}
