/**
 * Config factory of envoy.filters.http.local_ratelimit: validates Envoy's
 * `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit` (also its per-route type)
 * into LocalRateLimitModel. Buckets are proxy-wide (docs/architecture.md, "Proxy-wide rate
 * limit buckets"), identified by the config's place and content.
 */
import type { HttpFilterFactory } from '../filter.js';
import type { FractionalPercentModel, HeaderValueOptionModel } from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  sortedKeysJson,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { headerValueOption } from '../../../config/translate-matchers.js';
import { PERCENT_SPECS, runtimeFractionalPercent } from '../common/fractional-percent.js';
import { MAX_RATE_LIMIT_STAGE } from '../../../config/translate-rate-limits.js';
import { TOKEN_BUCKET_SPEC, tokenBucket } from '../../../rate-limit/translate-token-bucket.js';
import { bucketId } from '../../../rate-limit/shared-bucket.js';
import { messageSchema } from '@ferry/proto';
import { LocalRateLimitFilter } from './local-ratelimit-filter.js';
import type { LocalRateLimitDescriptorModel, LocalRateLimitModel } from './model.js';

const LOCAL_RATE_LIMIT_SPEC = messageSpec(
  'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  {
    stat_prefix: 'label of the http_local_rate_limit_* stats',
    status: 'default 429 (codes below 400 become 429)',
    token_bucket:
      'the default bucket, proxy-wide (shared by all workers); required per route; absent in the filter: only descriptors limit',
    filter_enabled:
      'default 0%: the filter does nothing (runtime_key: no runtime, default_value applies)',
    filter_enforced:
      'default 0%: limited requests are counted (rate_limited) and pass with request_headers_to_add_when_not_enforced',
    request_headers_to_add_when_not_enforced: 'added to limited requests that are not enforced',
    response_headers_to_add: 'added to the 429 reply',
    descriptors:
      "buckets for the route's rate_limits descriptors (exact entries); a request must pass every matching one",
    stage: "0-10: which of the route's rate_limits entries are used",
    local_rate_limit_per_downstream_connection:
      'buckets per downstream connection instead of proxy-wide',
    enable_x_ratelimit_headers:
      'OFF (default), DRAFT_VERSION_03: x-ratelimit-limit/-remaining/-reset',
    vh_rate_limits: 'OVERRIDE (default), INCLUDE, IGNORE',
    always_consume_default_token_bucket:
      'default true: the default bucket is spent even when a descriptor matched',
    rate_limited_as_resource_exhausted:
      'gRPC requests get RESOURCE_EXHAUSTED instead of UNAVAILABLE',
  },
);

const HTTP_STATUS_SPEC = messageSpec('envoy.type.v3.HttpStatus', { code: 'the HTTP status' });

const DESCRIPTOR_SPEC = messageSpec(
  'envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor',
  {
    entries: 'the descriptor to match, exactly (key and value)',
    token_bucket: 'its own proxy-wide bucket',
  },
);

const ENTRY_SPEC = messageSpec('envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry', {
  key: 'descriptor key',
  value: 'descriptor value (exact)',
});

export const LOCAL_RATE_LIMIT_TYPE_URL = TYPE_URL_PREFIX + LOCAL_RATE_LIMIT_SPEC.message;

/** Envoy's toErrorCode: a status below 400 is replaced by 429. */
function status(obj: JsonObject | undefined, path: string, issues: Issues): number {
  if (obj === undefined) return 429;
  checkFields(obj, HTTP_STATUS_SPEC, path, issues);
  const code = obj.code;
  let value = 0;
  if (typeof code === 'number') value = code;
  else if (typeof code === 'string') {
    const field = messageSchema('envoy.type.v3.HttpStatus')?.fields.find((f) => f.name === 'code');
    value = field?.enum?.values.find((v) => v.name === code)?.number ?? Number(code);
  }
  if (!Number.isInteger(value) || value < 100 || value > 599) {
    issues.add(join(path, 'code'), `${JSON.stringify(code)} is not an HTTP status`);
    return 429;
  }
  return value >= 400 ? value : 429;
}

function descriptor(obj: JsonObject, path: string, issues: Issues): LocalRateLimitDescriptorModel {
  checkFields(obj, DESCRIPTOR_SPEC, path, issues);
  const entries = objectsOf(obj, 'entries', path).map(([e, p]) => {
    checkFields(e, ENTRY_SPEC, p, issues);
    const key = str(e.key);
    const value = str(e.value);
    if (key === '') issues.add(join(p, 'key'), 'is required (non-empty)');
    if (value === '') issues.add(join(p, 'value'), 'is required (non-empty)');
    return { key, value };
  });
  if (entries.length === 0) issues.add(join(path, 'entries'), 'at least one entry is required');
  const bucket = asObject(obj.token_bucket);
  if (bucket === undefined) issues.add(join(path, 'token_bucket'), 'is required');
  return {
    entries,
    tokenBucket: tokenBucket(
      bucket ?? { max_tokens: 1, fill_interval: '1s' },
      join(path, 'token_bucket'),
      issues,
    ),
  };
}

function localRateLimit(
  config: JsonObject,
  path: string,
  issues: Issues,
  perRoute: boolean,
): LocalRateLimitModel {
  checkFields(config, LOCAL_RATE_LIMIT_SPEC, path, issues);
  const statPrefix = str(config.stat_prefix);
  if (statPrefix === '') issues.add(join(path, 'stat_prefix'), 'is required (non-empty)');
  const bucket = asObject(config.token_bucket);
  if (perRoute && bucket === undefined)
    issues.add(
      join(path, 'token_bucket'),
      'is required in a per-route config (Envoy: "local rate limit token bucket must be set for per filter configs")',
    );
  const stage = int(config.stage, 0);
  if (stage < 0 || stage > MAX_RATE_LIMIT_STAGE)
    issues.add(join(path, 'stage'), `${stage} is out of range (0-${MAX_RATE_LIMIT_STAGE})`);
  const percent = (field: string): FractionalPercentModel => {
    const obj = asObject(config[field]);
    return obj === undefined
      ? { numerator: 0, denominator: 100 }
      : runtimeFractionalPercent(obj, join(path, field), issues);
  };
  const headers = (field: string): HeaderValueOptionModel[] =>
    objectsOf(config, field, path).map(([h, p]) =>
      headerValueOption(h, p, issues, { formatters: true, modifiableOnly: true }),
    );
  const descriptors = objectsOf(config, 'descriptors', path).map(([d, p]) =>
    descriptor(d, p, issues),
  );
  const seen = new Set<string>();
  descriptors.forEach((d, i) => {
    const key = JSON.stringify(d.entries);
    if (seen.has(key))
      issues.add(
        join(join(path, 'descriptors'), i),
        'duplicate descriptor (same entries as an earlier one)',
      );
    seen.add(key);
  });
  const xHeaders = enumField(
    config.enable_x_ratelimit_headers,
    ['OFF', 'DRAFT_VERSION_03'],
    'OFF',
    join(path, 'enable_x_ratelimit_headers'),
    issues,
  );
  const vhRateLimits = enumField(
    config.vh_rate_limits,
    ['OVERRIDE', 'INCLUDE', 'IGNORE'],
    'OVERRIDE',
    join(path, 'vh_rate_limits'),
    issues,
  );
  return {
    statPrefix,
    status: status(asObject(config.status), join(path, 'status'), issues),
    ...(bucket ? { tokenBucket: tokenBucket(bucket, join(path, 'token_bucket'), issues) } : {}),
    filterEnabled: percent('filter_enabled'),
    filterEnforced: percent('filter_enforced'),
    requestHeadersToAddWhenNotEnforced: headers('request_headers_to_add_when_not_enforced'),
    responseHeadersToAdd: headers('response_headers_to_add'),
    descriptors,
    stage,
    perConnection: bool(config.local_rate_limit_per_downstream_connection, false),
    xRateLimitHeaders: xHeaders === 'DRAFT_VERSION_03',
    vhRateLimits,
    alwaysConsumeDefaultTokenBucket: bool(config.always_consume_default_token_bucket, true),
    rateLimitedAsResourceExhausted: bool(config.rate_limited_as_resource_exhausted, false),
    bucketId: bucketId(issues.label, path, sortedKeysJson(config)),
  };
}

export const localRateLimitFilter: HttpFilterFactory<LocalRateLimitModel, LocalRateLimitModel> = {
  typeUrl: LOCAL_RATE_LIMIT_TYPE_URL,
  names: ['envoy.filters.http.local_ratelimit'],
  terminal: false,
  note: 'token buckets shared by all workers (the configured rate is the proxy’s); descriptors from the route’s rate_limits; per route: LocalRateLimit',
  specs: [
    LOCAL_RATE_LIMIT_SPEC,
    HTTP_STATUS_SPEC,
    TOKEN_BUCKET_SPEC,
    DESCRIPTOR_SPEC,
    ENTRY_SPEC,
    ...PERCENT_SPECS,
  ],
  perRouteTypeUrls: [LOCAL_RATE_LIMIT_TYPE_URL],
  validate(config, path, issues) {
    return localRateLimit(config, path, issues, false);
  },
  validatePerRoute(_typeUrl, config, path, issues) {
    return localRateLimit(config, path, issues, true);
  },
  createFilterFactory(config, context) {
    const filter = new LocalRateLimitFilter(config, context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};
