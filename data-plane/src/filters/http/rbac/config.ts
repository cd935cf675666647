/**
 * Config factory of envoy.filters.http.rbac (`envoy.extensions.filters.http.rbac.v3.RBAC`) and
 * its per-route override `RBACPerRoute` (typed_per_filter_config at any route level). The rules
 * themselves are translated by filters/common/rbac/translate-rbac.ts.
 */
import type { HttpFilterFactory } from '../filter.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  join,
  messageSpec,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { RBAC_RULES_SPECS, translateRbac } from '../../common/rbac/translate-rbac.js';
import { RbacFilter } from './rbac-filter.js';
import type { HttpRbacConfig, HttpRbacPerRoute } from './model.js';

const RBAC_FILTER_SPEC = messageSpec('envoy.extensions.filters.http.rbac.v3.RBAC', {
  rules: 'enforced RBAC; absent: every request passes (and nothing is counted)',
  shadow_rules: 'evaluated, counted and written to dynamic metadata, never enforced',
  rules_stat_prefix:
    'prefix of the enforced stats (a label) and of the enforced_* dynamic metadata keys',
  shadow_rules_stat_prefix:
    'prefix of the shadow stats (a label) and of the shadow_* dynamic metadata keys',
  track_per_rule_stats: 'false only (per-policy stats are not supported)',
});

const RBAC_PER_ROUTE_SPEC = messageSpec('envoy.extensions.filters.http.rbac.v3.RBACPerRoute', {
  rbac: 'replaces the filter’s rules and shadow_rules for the route (its stat prefixes name the dynamic metadata keys; the counters stay the filter’s, as in Envoy); absent or without rules: RBAC is off for the route',
});

export const RBAC_FILTER_TYPE_URL = TYPE_URL_PREFIX + RBAC_FILTER_SPEC.message;
export const RBAC_PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + RBAC_PER_ROUTE_SPEC.message;

function translateConfig(config: JsonObject, path: string, issues: Issues): HttpRbacConfig {
  checkFields(config, RBAC_FILTER_SPEC, path, issues, {
    matcher: 'the matcher form of RBAC is not supported by ferry-proxy; use rules',
    shadow_matcher: 'the matcher form of RBAC is not supported by ferry-proxy; use shadow_rules',
  });
  if (config.track_per_rule_stats === true)
    issues.add(
      join(path, 'track_per_rule_stats'),
      'per-policy stats are not supported by ferry-proxy (use the allowed/denied counters and the effective policy in dynamic metadata)',
    );
  const rules = asObject(config.rules);
  const shadow = asObject(config.shadow_rules);
  return {
    ...(rules ? { rules: translateRbac(rules, join(path, 'rules'), issues) } : {}),
    ...(shadow ? { shadowRules: translateRbac(shadow, join(path, 'shadow_rules'), issues) } : {}),
    rulesStatPrefix: str(config.rules_stat_prefix),
    shadowRulesStatPrefix: str(config.shadow_rules_stat_prefix),
  };
}

export const rbacFilter: HttpFilterFactory<HttpRbacConfig, HttpRbacPerRoute> = {
  typeUrl: RBAC_FILTER_TYPE_URL,
  names: ['envoy.filters.http.rbac'],
  terminal: false,
  note: 'RBAC on the connection and request (403 "RBAC: access denied"), shadow rules, per-route overrides',
  specs: [RBAC_FILTER_SPEC, RBAC_PER_ROUTE_SPEC, ...RBAC_RULES_SPECS],
  perRouteTypeUrls: [RBAC_PER_ROUTE_TYPE_URL],
  validate: translateConfig,
  validatePerRoute(_typeUrl, config, path, issues) {
    checkFields(config, RBAC_PER_ROUTE_SPEC, path, issues);
    const rbac = asObject(config.rbac);
    return rbac
      ? translateConfig(rbac, join(path, 'rbac'), issues)
      : { rulesStatPrefix: '', shadowRulesStatPrefix: '' };
  },
  createFilterFactory(config, context) {
    const filter = new RbacFilter(config, context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};
