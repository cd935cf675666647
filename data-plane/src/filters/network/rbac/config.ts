/**
 * Config factory of envoy.filters.network.rbac (`envoy.extensions.filters.network.rbac.v3.RBAC`):
 * the RBAC engine on the connection, before the terminal filter (tcp_proxy or the HTTP
 * connection manager). The rules are translated by filters/common/rbac/translate-rbac.ts.
 */
import type { ReadFilterFactory } from '../filter.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  enumField,
  join,
  messageSpec,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { translateRbac } from '../../common/rbac/translate-rbac.js';
import { NetworkRbacFilter } from './network-rbac-filter.js';
import type { NetworkRbacConfig } from './model.js';

const NETWORK_RBAC_SPEC = messageSpec('envoy.extensions.filters.network.rbac.v3.RBAC', {
  rules:
    'enforced RBAC (header and url_path rules see no request); absent: every connection passes',
  shadow_rules:
    'evaluated, counted and written to the connection’s dynamic metadata (tcp_proxy access logs), never enforced',
  stat_prefix:
    'required; stats network_rbac_allowed{stat_prefix} ... (Envoy: <stat_prefix>.rbac.allowed)',
  shadow_rules_stat_prefix: 'label of the shadow stats',
  enforcement_type:
    'ONE_TIME_ON_FIRST_BYTE only: the decision (which reads nothing of the data) is taken when the connection reaches the filter, before the terminal filter runs',
});

export const NETWORK_RBAC_TYPE_URL = TYPE_URL_PREFIX + NETWORK_RBAC_SPEC.message;

function validate(config: JsonObject, path: string, issues: Issues): NetworkRbacConfig {
  checkFields(config, NETWORK_RBAC_SPEC, path, issues, {
    matcher: 'the matcher form of RBAC is not supported by ferry-proxy; use rules',
    shadow_matcher: 'the matcher form of RBAC is not supported by ferry-proxy; use shadow_rules',
    delay_deny: 'delay_deny is not supported by ferry-proxy (denied connections close at once)',
  });
  const statPrefix = str(config.stat_prefix);
  if (statPrefix === '') issues.add(join(path, 'stat_prefix'), 'required');
  enumField(
    config.enforcement_type,
    ['ONE_TIME_ON_FIRST_BYTE'],
    'ONE_TIME_ON_FIRST_BYTE',
    join(path, 'enforcement_type'),
    issues,
  );
  const rules = asObject(config.rules);
  const shadow = asObject(config.shadow_rules);
  return {
    ...(rules ? { rules: translateRbac(rules, join(path, 'rules'), issues) } : {}),
    ...(shadow ? { shadowRules: translateRbac(shadow, join(path, 'shadow_rules'), issues) } : {}),
    statPrefix,
    shadowRulesStatPrefix: str(config.shadow_rules_stat_prefix),
  };
}

export const networkRbacFilter: ReadFilterFactory<NetworkRbacConfig> = {
  typeUrl: NETWORK_RBAC_TYPE_URL,
  names: ['envoy.filters.network.rbac'],
  terminal: false,
  note: 'RBAC on the connection (addresses, ports, SNI, client certificate); denied connections are closed',
  specs: [NETWORK_RBAC_SPEC],
  validate,
  createFilterFactory(config, context) {
    const filter = new NetworkRbacFilter(config, context);
    return { create: () => filter };
  },
};
