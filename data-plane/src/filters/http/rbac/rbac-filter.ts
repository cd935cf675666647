/**
 * The per-request side of envoy.filters.http.rbac (Envoy's rbac_filter.cc), run on the request
 * headers:
 * - the rules in force are the most specific RBACPerRoute's, else the filter's; a route whose
 *   override has no rules has RBAC off. The override's stat prefixes name the metadata keys of
 *   its decisions; the counters are the filter's (Envoy's RouteSpecificFilterConfig);
 * - shadow rules are evaluated first: counted (shadow_allowed / shadow_denied) and written to
 *   dynamic metadata (`<shadow_rules_stat_prefix>shadow_effective_policy_id` when a policy
 *   matched, `<shadow_rules_stat_prefix>shadow_engine_result` "allowed" / "denied"), never
 *   enforced;
 * - the enforced rules are counted (allowed / denied) and written the same way
 *   (`<rules_stat_prefix>enforced_effective_policy_id`, `..._engine_result`); a LOG action
 *   also sets `envoy.common: access_log_hint`. A denied request gets 403 "RBAC: access denied"
 *   with %RESPONSE_CODE_DETAILS% `rbac_access_denied_matched_policy[<policy>|none]` (Envoy sets
 *   no response flag for it).
 * Metadata goes in the `envoy.filters.http.rbac` namespace:
 * `%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%` reads it in access logs.
 */
import type { RequestHeaderMap } from '../../../http/header-map.js';
import type { CounterHandle } from '../../../stats/stats.js';
import { connectionFacts } from '../../common/rbac/connection-facts.js';
import { RbacEngine, RbacInput } from '../../common/rbac/rbac-engine.js';
import type {
  FilterCallbacks,
  FilterFactoryContext,
  FilterHeadersStatus,
  StreamFilter,
} from '../filter.js';
import { RBAC_METADATA_NAMESPACE, type HttpRbacConfig, type HttpRbacPerRoute } from './model.js';

export const RBAC_DENIED_BODY = 'RBAC: access denied';

/** Envoy's Filters::Common::RBAC::responseDetail. */
export function rbacDeniedDetails(policyId: string): string {
  return `rbac_access_denied_matched_policy[${policyId === '' ? 'none' : policyId}]`;
}

const COMMON_NAMESPACE = 'envoy.common';
const ACCESS_LOG_HINT = 'access_log_hint';

/** Compiled rules with the dynamic metadata keys of their decisions. */
class Engines {
  readonly rules: RbacEngine | undefined;
  readonly shadow: RbacEngine | undefined;
  readonly enforcedPolicyKey: string;
  readonly enforcedResultKey: string;
  readonly shadowPolicyKey: string;
  readonly shadowResultKey: string;

  constructor(config: HttpRbacConfig) {
    this.rules = config.rules ? new RbacEngine(config.rules) : undefined;
    this.shadow = config.shadowRules ? new RbacEngine(config.shadowRules) : undefined;
    this.enforcedPolicyKey = `${config.rulesStatPrefix}enforced_effective_policy_id`;
    this.enforcedResultKey = `${config.rulesStatPrefix}enforced_engine_result`;
    this.shadowPolicyKey = `${config.shadowRulesStatPrefix}shadow_effective_policy_id`;
    this.shadowResultKey = `${config.shadowRulesStatPrefix}shadow_engine_result`;
  }
}

// Evaluation is synchronous: one input per worker is enough.
const input = new RbacInput();

/** Per HCM and config version: the compiled rules, stats and metadata keys. */
export class RbacFilter {
  readonly #engines: Engines;
  readonly #perRoute = new WeakMap<HttpRbacPerRoute, Engines>();
  readonly allowed: CounterHandle;
  readonly denied: CounterHandle;
  readonly shadowAllowed: CounterHandle;
  readonly shadowDenied: CounterHandle;

  constructor(
    config: HttpRbacConfig,
    context: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'listenerName'>,
  ) {
    this.#engines = new Engines(config);
    const base = { listener: context.listenerName, stat_prefix: context.statPrefix };
    const rules = { ...base, rules_stat_prefix: config.rulesStatPrefix };
    const shadow = { ...base, shadow_rules_stat_prefix: config.shadowRulesStatPrefix };
    this.allowed = context.stats.counter('rbac_allowed', rules);
    this.denied = context.stats.counter('rbac_denied', rules);
    this.shadowAllowed = context.stats.counter('rbac_shadow_allowed', shadow);
    this.shadowDenied = context.stats.counter('rbac_shadow_denied', shadow);
  }

  create(callbacks: FilterCallbacks): StreamFilter {
    return new RbacStreamFilter(this, callbacks);
  }

  /** The engines for this request: the route's override, else the filter's. */
  enginesFor(perRoute: unknown): Engines {
    if (perRoute === undefined) return this.#engines;
    const override = perRoute as HttpRbacPerRoute;
    let engines = this.#perRoute.get(override);
    if (engines === undefined) {
      engines = new Engines(override);
      this.#perRoute.set(override, engines);
    }
    return engines;
  }
}

class RbacStreamFilter implements StreamFilter {
  constructor(
    readonly filter: RbacFilter,
    readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const filter = this.filter;
    const engines = filter.enginesFor(this.callbacks.perFilterConfig());
    if (engines.rules === undefined && engines.shadow === undefined) return 'continue';
    const info = this.callbacks.streamInfo;
    const connection = info.connection;
    input.forRequest(
      connectionFacts(connection.socket, connection.encrypted, connection.serverName ?? ''),
      headers,
      headers.path,
      info.downstreamRemoteIp,
    );
    let metadata: Record<string, unknown> | undefined;
    if (engines.shadow !== undefined) {
      const result = engines.shadow.evaluate(input);
      (result.allowed ? filter.shadowAllowed : filter.shadowDenied).inc();
      metadata = this.#metadata();
      if (result.effectivePolicyId !== '')
        metadata[engines.shadowPolicyKey] = result.effectivePolicyId;
      metadata[engines.shadowResultKey] = result.allowed ? 'allowed' : 'denied';
    }
    if (engines.rules === undefined) return 'continue';
    const result = engines.rules.evaluate(input);
    metadata ??= this.#metadata();
    if (result.effectivePolicyId !== '')
      metadata[engines.enforcedPolicyKey] = result.effectivePolicyId;
    metadata[engines.enforcedResultKey] = result.allowed ? 'allowed' : 'denied';
    if (engines.rules.action === 'LOG') {
      let common = info.dynamicMetadata.get(COMMON_NAMESPACE);
      if (common === undefined) info.dynamicMetadata.set(COMMON_NAMESPACE, (common = {}));
      // Shared metadata: a true hint from another filter is never overwritten with false.
      if (result.matched || common[ACCESS_LOG_HINT] !== true)
        common[ACCESS_LOG_HINT] = result.matched;
    }
    if (result.allowed) {
      filter.allowed.inc();
      return 'continue';
    }
    filter.denied.inc();
    this.callbacks.sendLocalReply(403, RBAC_DENIED_BODY, {
      details: rbacDeniedDetails(result.effectivePolicyId),
    });
    return 'stop';
  }

  #metadata(): Record<string, unknown> {
    const all = this.callbacks.streamInfo.dynamicMetadata;
    let metadata = all.get(RBAC_METADATA_NAMESPACE);
    if (metadata === undefined) all.set(RBAC_METADATA_NAMESPACE, (metadata = {}));
    return metadata;
  }
}
