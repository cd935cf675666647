/**
 * RouteAction.rate_limits and VirtualHost.rate_limits (envoy.config.route.v3.RateLimit) →
 * RateLimitModel. The rate limit filters (envoy.filters.http.local_ratelimit,
 * envoy.filters.http.ratelimit) turn them into descriptors per request with
 * router/rate-limit-descriptors.ts. Actions ferry-proxy cannot produce (metadata, extensions)
 * and the dynamic-metadata `limit` override are NACKed with their field path.
 */
import {
  asObject,
  bool,
  checkFields,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { headerMatcher, queryParameterMatcher } from './translate-matchers.js';
import type { RateLimitActionModel, RateLimitModel } from './model.js';

/** Envoy's RateLimitPolicyImpl::MAX_STAGE_NUMBER. */
export const MAX_RATE_LIMIT_STAGE = 10;

export const RATE_LIMITS_NOTE =
  'descriptors for the rate limit filters (see RateLimit); stage, disable_key and actions';

const RATE_LIMIT_SPEC = messageSpec('envoy.config.route.v3.RateLimit', {
  stage: '0-10 (default 0): only the filters of the same stage use the entry',
  disable_key:
    'envoy.filters.http.local_ratelimit skips entries that have one (as Envoy); envoy.filters.http.ratelimit uses them (no runtime to disable them)',
  actions: 'all must produce their entry, else the whole descriptor is dropped',
});

const ACTION_SPEC = messageSpec('envoy.config.route.v3.RateLimit.Action', {
  source_cluster: '("source_cluster", the node cluster)',
  destination_cluster: '("destination_cluster", the routed cluster)',
  request_headers: '(descriptor_key, first value of header_name)',
  remote_address: '("remote_address", the trusted client address after XFF processing)',
  masked_remote_address: '("masked_remote_address", the client address masked, as a CIDR)',
  generic_key: '(descriptor_key, default "generic_key", descriptor_value)',
  header_value_match: '(descriptor_key, default "header_match", descriptor_value) on a match',
  query_parameter_value_match:
    '(descriptor_key, default "query_match", descriptor_value) on a match',
});

const EMPTY_ACTION_FIELDS = (name: string): MessageSpec =>
  messageSpec(`envoy.config.route.v3.RateLimit.Action.${name}`, {});

const REQUEST_HEADERS_SPEC = messageSpec('envoy.config.route.v3.RateLimit.Action.RequestHeaders', {
  header_name: 'request header (pseudo-headers such as :path included)',
  descriptor_key: 'entry key',
  skip_if_absent: 'absent header: skip the entry (true) or drop the descriptor (false, default)',
});

const MASKED_SPEC = messageSpec('envoy.config.route.v3.RateLimit.Action.MaskedRemoteAddress', {
  v4_prefix_mask_len: 'default 32',
  v6_prefix_mask_len: 'default 128',
});

const GENERIC_KEY_SPEC = messageSpec('envoy.config.route.v3.RateLimit.Action.GenericKey', {
  descriptor_value: 'entry value (required)',
  descriptor_key: 'entry key (default "generic_key")',
});

const HEADER_VALUE_MATCH_SPEC = messageSpec(
  'envoy.config.route.v3.RateLimit.Action.HeaderValueMatch',
  {
    descriptor_key: 'entry key (default "header_match")',
    descriptor_value: 'entry value (required)',
    expect_match: 'default true: the entry when every header matcher matches (false: when not)',
    headers: 'HeaderMatcher list (all must match)',
  },
);

const QUERY_VALUE_MATCH_SPEC = messageSpec(
  'envoy.config.route.v3.RateLimit.Action.QueryParameterValueMatch',
  {
    descriptor_key: 'entry key (default "query_match")',
    descriptor_value: 'entry value (required)',
    expect_match: 'default true',
    query_parameters: 'QueryParameterMatcher list (all must match)',
  },
);

export const RATE_LIMIT_SPECS: readonly MessageSpec[] = [
  RATE_LIMIT_SPEC,
  ACTION_SPEC,
  EMPTY_ACTION_FIELDS('SourceCluster'),
  EMPTY_ACTION_FIELDS('DestinationCluster'),
  EMPTY_ACTION_FIELDS('RemoteAddress'),
  REQUEST_HEADERS_SPEC,
  MASKED_SPEC,
  GENERIC_KEY_SPEC,
  HEADER_VALUE_MATCH_SPEC,
  QUERY_VALUE_MATCH_SPEC,
];

/** `obj.rate_limits` of a RouteAction or VirtualHost; undefined when there are none. */
export function rateLimits(
  obj: JsonObject,
  path: string,
  issues: Issues,
): readonly RateLimitModel[] | undefined {
  const entries = objectsOf(obj, 'rate_limits', path).map(([o, p]) => rateLimit(o, p, issues));
  return entries.length > 0 ? entries : undefined;
}

function rateLimit(obj: JsonObject, path: string, issues: Issues): RateLimitModel {
  checkFields(obj, RATE_LIMIT_SPEC, path, issues, {
    limit: `the dynamic_metadata limit override is not supported by ferry-proxy (limits come from the rate limit service's configuration)`,
  });
  const stage = int(obj.stage, 0);
  if (stage < 0 || stage > MAX_RATE_LIMIT_STAGE)
    issues.add(join(path, 'stage'), `${stage} is out of range (0-${MAX_RATE_LIMIT_STAGE})`);
  const actions = objectsOf(obj, 'actions', path).map(([o, p]) => action(o, p, issues));
  if (actions.length === 0) issues.add(join(path, 'actions'), 'at least one action is required');
  return { stage, disableKey: str(obj.disable_key), actions };
}

function requiredString(obj: JsonObject, field: string, path: string, issues: Issues): string {
  const value = str(obj[field]);
  if (value === '') issues.add(join(path, field), 'is required (non-empty)');
  return value;
}

const UNSUPPORTED_ACTIONS: Readonly<Record<string, string>> = {
  metadata:
    'the metadata action is not supported by ferry-proxy (it keeps no route or dynamic metadata for descriptors)',
  dynamic_metadata:
    'the dynamic_metadata action is not supported by ferry-proxy (deprecated in Envoy as well)',
  extension: 'descriptor extensions are not supported by ferry-proxy',
};

function action(obj: JsonObject, path: string, issues: Issues): RateLimitActionModel {
  checkFields(obj, ACTION_SPEC, path, issues, UNSUPPORTED_ACTIONS);
  const kinds = Object.keys(obj).filter((k) => Object.hasOwn(ACTION_SPEC.fields, k));
  if (kinds.length !== 1) {
    if (kinds.length === 0 && Object.keys(obj).every((k) => !Object.hasOwn(UNSUPPORTED_ACTIONS, k)))
      issues.add(path, `one action is required (${Object.keys(ACTION_SPEC.fields).join(', ')})`);
    else if (kinds.length > 1)
      issues.add(path, `only one action per entry (got ${kinds.join(', ')})`);
    return { kind: 'source_cluster' };
  }
  const kind = kinds[0]!;
  const body = asObject(obj[kind]) ?? {};
  const at = join(path, kind);
  switch (kind) {
    case 'source_cluster':
      checkFields(body, EMPTY_ACTION_FIELDS('SourceCluster'), at, issues);
      return { kind };
    case 'destination_cluster':
      checkFields(body, EMPTY_ACTION_FIELDS('DestinationCluster'), at, issues);
      return { kind };
    case 'remote_address':
      checkFields(body, EMPTY_ACTION_FIELDS('RemoteAddress'), at, issues);
      return { kind };
    case 'request_headers':
      checkFields(body, REQUEST_HEADERS_SPEC, at, issues);
      return {
        kind,
        headerName: requiredString(body, 'header_name', at, issues).toLowerCase(),
        descriptorKey: requiredString(body, 'descriptor_key', at, issues),
        skipIfAbsent: bool(body.skip_if_absent, false),
      };
    case 'masked_remote_address': {
      checkFields(body, MASKED_SPEC, at, issues);
      const v4 = int(body.v4_prefix_mask_len, 32);
      const v6 = int(body.v6_prefix_mask_len, 128);
      if (v4 < 0 || v4 > 32)
        issues.add(join(at, 'v4_prefix_mask_len'), `${v4} is out of range (0-32)`);
      if (v6 < 0 || v6 > 128)
        issues.add(join(at, 'v6_prefix_mask_len'), `${v6} is out of range (0-128)`);
      return { kind, v4PrefixMaskLen: v4, v6PrefixMaskLen: v6 };
    }
    case 'generic_key':
      checkFields(body, GENERIC_KEY_SPEC, at, issues);
      return {
        kind,
        descriptorKey: str(body.descriptor_key) || 'generic_key',
        descriptorValue: requiredString(body, 'descriptor_value', at, issues),
      };
    case 'header_value_match': {
      checkFields(body, HEADER_VALUE_MATCH_SPEC, at, issues);
      const headers = objectsOf(body, 'headers', at).map(([h, p]) => headerMatcher(h, p, issues));
      if (headers.length === 0) issues.add(join(at, 'headers'), 'at least one matcher is required');
      return {
        kind,
        descriptorKey: str(body.descriptor_key) || 'header_match',
        descriptorValue: requiredString(body, 'descriptor_value', at, issues),
        expectMatch: bool(body.expect_match, true),
        headers,
      };
    }
    default: {
      checkFields(body, QUERY_VALUE_MATCH_SPEC, at, issues);
      const queryParameters = objectsOf(body, 'query_parameters', at).map(([q, p]) =>
        queryParameterMatcher(q, p, issues),
      );
      if (queryParameters.length === 0)
        issues.add(join(at, 'query_parameters'), 'at least one matcher is required');
      return {
        kind: 'query_parameter_value_match',
        descriptorKey: str(body.descriptor_key) || 'query_match',
        descriptorValue: requiredString(body, 'descriptor_value', at, issues),
        expectMatch: bool(body.expect_match, true),
        queryParameters,
      };
    }
  }
}
