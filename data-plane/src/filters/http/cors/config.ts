/**
 * Config factory of envoy.filters.http.cors. The filter's own config
 * (`envoy.extensions.filters.http.cors.v3.Cors`) is empty; what it enforces is a CorsPolicy in
 * typed_per_filter_config at any route level (`envoy.extensions.filters.http.cors.v3.CorsPolicy`),
 * or, when no level has one, the deprecated inline `cors` of the route and its virtual host
 * (`envoy.config.route.v3.CorsPolicy`, translated by translate-route.ts with inlineCorsPolicy),
 * as Envoy does. Both become CorsPolicyModel.
 */
import type { HttpFilterFactory } from '../filter.js';
import type { CorsPolicyModel } from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  join,
  messageSpec,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from '../../../config/translate-common.js';
import { stringMatcher } from '../../../config/translate-matchers.js';
import { runtimeFractionalPercent } from '../common/fractional-percent.js';
import { CorsFilter } from './cors-filter.js';

const CORS_SPEC = messageSpec('envoy.extensions.filters.http.cors.v3.Cors', {});

const POLICY_FIELDS: Readonly<Record<string, string>> = {
  allow_origin_string_match:
    'StringMatchers; the request Origin (or a matcher matching "*") allows it',
  allow_methods: 'access-control-allow-methods of preflights ("*": the requested method)',
  allow_headers: 'access-control-allow-headers of preflights ("*": the requested headers)',
  expose_headers: 'access-control-expose-headers of responses to allowed origins',
  max_age: 'access-control-max-age of preflights',
  allow_credentials: 'access-control-allow-credentials: true',
  filter_enabled: 'RuntimeFractionalPercent (default 100%)',
  shadow_enabled: 'RuntimeFractionalPercent: origins are only counted, not enforced',
  allow_private_network_access:
    'preflights with access-control-request-private-network: true get access-control-allow-private-network: true',
  forward_not_matching_preflights:
    'default true: preflights from origins not allowed go upstream; false: answered without CORS headers',
};

const CORS_POLICY_SPEC = messageSpec(
  'envoy.extensions.filters.http.cors.v3.CorsPolicy',
  POLICY_FIELDS,
);

const INLINE_CORS_SPEC = messageSpec('envoy.config.route.v3.CorsPolicy', POLICY_FIELDS);

export const CORS_FILTER_TYPE_URL = TYPE_URL_PREFIX + CORS_SPEC.message;
export const CORS_POLICY_TYPE_URL = TYPE_URL_PREFIX + CORS_POLICY_SPEC.message;

/** Allow-list note of the deprecated VirtualHost/Route `cors` field. */
export const INLINE_CORS_NOTE =
  'deprecated CorsPolicy; used by the CORS filter only when no level has a CorsPolicy in typed_per_filter_config';

export const INLINE_CORS_SPECS: readonly MessageSpec[] = [INLINE_CORS_SPEC];

export const corsFilter: HttpFilterFactory<Record<string, never>, CorsPolicyModel> = {
  typeUrl: CORS_FILTER_TYPE_URL,
  names: ['envoy.filters.http.cors', 'envoy.cors'],
  terminal: false,
  note: 'answers CORS preflights and adds CORS headers per the route’s CorsPolicy',
  specs: [CORS_SPEC, CORS_POLICY_SPEC],
  perRouteTypeUrls: [CORS_POLICY_TYPE_URL],
  validate(config, path, issues) {
    checkFields(config, CORS_SPEC, path, issues);
    return {};
  },
  validatePerRoute: (_typeUrl, config, path, issues) =>
    corsPolicy(config, path, issues, CORS_POLICY_SPEC),
  createFilterFactory(_config, context) {
    const filter = new CorsFilter(context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};

/** The deprecated inline Route/VirtualHost `cors`. */
export function inlineCorsPolicy(obj: JsonObject, path: string, issues: Issues): CorsPolicyModel {
  return corsPolicy(obj, path, issues, INLINE_CORS_SPEC);
}

function corsPolicy(
  obj: JsonObject,
  path: string,
  issues: Issues,
  spec: MessageSpec,
): CorsPolicyModel {
  checkFields(obj, spec, path, issues);
  const filterEnabled = asObject(obj.filter_enabled);
  const shadowEnabled = asObject(obj.shadow_enabled);
  return {
    allowOriginStringMatch: objectsOf(obj, 'allow_origin_string_match', path).map(([m, p]) =>
      stringMatcher(m, p, issues),
    ),
    allowMethods: str(obj.allow_methods),
    allowHeaders: str(obj.allow_headers),
    exposeHeaders: str(obj.expose_headers),
    maxAge: str(obj.max_age),
    ...optionalBool(obj, 'allow_credentials', 'allowCredentials'),
    ...(filterEnabled
      ? {
          filterEnabled: runtimeFractionalPercent(
            filterEnabled,
            join(path, 'filter_enabled'),
            issues,
          ),
        }
      : {}),
    ...(shadowEnabled
      ? {
          shadowEnabled: runtimeFractionalPercent(
            shadowEnabled,
            join(path, 'shadow_enabled'),
            issues,
          ),
        }
      : {}),
    ...optionalBool(obj, 'allow_private_network_access', 'allowPrivateNetworkAccess'),
    ...optionalBool(obj, 'forward_not_matching_preflights', 'forwardNotMatchingPreflights'),
  };
}

/** A BoolValue that is absent when unset (a less specific level's value then applies). */
function optionalBool<K extends keyof CorsPolicyModel>(
  obj: JsonObject,
  field: string,
  key: K,
): Partial<Record<K, boolean>> {
  const value = obj[field];
  return typeof value === 'boolean' ? ({ [key]: value } as Partial<Record<K, boolean>>) : {};
}
