/**
 * typed_per_filter_config of a RouteConfiguration, VirtualHost, Route or
 * WeightedCluster.ClusterWeight → PerFilterConfigsModel, keyed by HttpFilter.name.
 *
 * Each value is either a filter's per-route message (its factory is found by the message's type
 * URL, filters/http/registry.ts) or an envoy.config.route.v3.FilterConfig wrapping one, with
 * `is_optional` and `disabled`. Envoy's rules (route_components.proto FilterConfig and
 * source/common/router/config_impl.cc PerFilterConfigs):
 * - `disabled: true` disables the filter on this route; `config` is then ignored;
 * - otherwise `config` is required; an empty Any (`config: {}`) only enables the filter;
 * - a type no filter knows, or a filter without per-route config, is an error unless the entry
 *   is a FilterConfig with `is_optional` (the entry then only enables the filter).
 */
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  join,
  messageSpec,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { httpFilterByPerRouteTypeUrl } from '../filters/http/registry.js';
import type { PerFilterConfigModel, PerFilterConfigsModel } from './model.js';

const FILTER_CONFIG_SPEC = messageSpec('envoy.config.route.v3.FilterConfig', {
  config: 'the filter’s per-route message; an empty Any (`{}`) only enables the filter',
  is_optional: 'an unknown config type is skipped instead of rejected',
  disabled: 'the filter does not run on this route (enables nothing; config is ignored)',
});

export const FILTER_CONFIG_TYPE_URL = TYPE_URL_PREFIX + FILTER_CONFIG_SPEC.message;

export const PER_FILTER_CONFIG_SPECS: readonly MessageSpec[] = [FILTER_CONFIG_SPEC];

/** The allow-list note of typed_per_filter_config in the route messages' specs. */
export const TYPED_PER_FILTER_CONFIG_NOTE =
  'per-route filter configs by HttpFilter name (a filter’s per-route message or a FilterConfig)';

/**
 * The level's typed_per_filter_config, spread into its model (absent when empty, so configs
 * without it keep their versions and shapes).
 */
export function typedPerFilterConfig(
  obj: JsonObject,
  path: string,
  issues: Issues,
): { typedPerFilterConfig?: PerFilterConfigsModel } {
  const map = asObject(obj.typed_per_filter_config);
  if (map === undefined) return {};
  const mapPath = join(path, 'typed_per_filter_config');
  const out: Record<string, PerFilterConfigModel> = {};
  for (const [name, value] of Object.entries(map)) {
    const entry = perFilterEntry(asObject(value) ?? {}, `${mapPath}["${name}"]`, issues);
    if (entry !== undefined) out[name] = entry;
  }
  return Object.keys(out).length > 0 ? { typedPerFilterConfig: out } : {};
}

function perFilterEntry(
  any: JsonObject,
  path: string,
  issues: Issues,
): PerFilterConfigModel | undefined {
  const typeUrl = str(any['@type']);
  if (typeUrl !== FILTER_CONFIG_TYPE_URL) return filterMessage(any, typeUrl, path, false, issues);
  checkFields(any, FILTER_CONFIG_SPEC, path, issues);
  if (bool(any.disabled, false)) return { config: undefined, disabled: true };
  const config = asObject(any.config);
  if (config === undefined) {
    issues.add(join(path, 'config'), 'is required unless disabled is true');
    return undefined;
  }
  const innerType = str(config['@type']);
  if (innerType === '') return { config: undefined, disabled: false };
  return filterMessage(
    config,
    innerType,
    join(path, 'config'),
    bool(any.is_optional, false),
    issues,
  );
}

function filterMessage(
  message: JsonObject,
  typeUrl: string,
  path: string,
  optional: boolean,
  issues: Issues,
): PerFilterConfigModel | undefined {
  const factory = httpFilterByPerRouteTypeUrl(typeUrl);
  const shortType = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const accepted =
    factory?.validatePerRoute !== undefined && factory.perRouteTypeUrls?.includes(typeUrl) === true;
  if (factory === undefined || !accepted) {
    // Envoy keeps an optional entry it cannot use as "enabled, without config".
    if (optional) return { config: undefined, disabled: false };
    issues.add(
      path,
      factory === undefined
        ? `per-route config ${shortType} is ${NOT_SUPPORTED} (no HTTP filter takes it; wrap it in a FilterConfig with is_optional to skip it)`
        : `${shortType} is not a per-route config of ${factory.names[0]} (accepted: ${
            (factory.perRouteTypeUrls ?? [])
              .map((url) => url.slice(url.lastIndexOf('/') + 1))
              .join(', ') || 'none'
          })`,
    );
    return undefined;
  }
  return { config: factory.validatePerRoute!(typeUrl, message, path, issues), disabled: false };
}
