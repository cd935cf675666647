/**
 * The connection side of envoy.filters.network.rbac (Envoy's network rbac_filter.cc). Shadow
 * rules are evaluated, counted (network_rbac_shadow_allowed / _shadow_denied) and written to the
 * connection's dynamic metadata (`envoy.filters.network.rbac`:
 * `<shadow_rules_stat_prefix>shadow_engine_result`, `..._shadow_effective_policy_id`, which
 * tcp_proxy access logs read); the enforced
 * rules are counted (network_rbac_allowed / _denied) and a denied connection is closed before
 * the next filter runs. Envoy takes the ONE_TIME_ON_FIRST_BYTE decision when the first byte
 * arrives; nothing the rules read depends on the data, so the decision is the same, and taking
 * it when the connection reaches the filter keeps a denied client away from the terminal filter
 * (no upstream connection is opened for it).
 */
import type { CounterHandle } from '../../../stats/stats.js';
import { connectionFacts } from '../../common/rbac/connection-facts.js';
import { RbacEngine, RbacInput } from '../../common/rbac/rbac-engine.js';
import type {
  NetworkConnection,
  NetworkFilter,
  NetworkFilterCallbacks,
  NetworkFilterFactoryContext,
  NetworkFilterStatus,
} from '../filter.js';
import type { NetworkRbacConfig } from './model.js';

const input = new RbacInput();

/** Namespace of the filter's connection metadata (Envoy's canonical filter name). */
export const NETWORK_RBAC_METADATA_NAMESPACE = 'envoy.filters.network.rbac';

/** Stateless per connection: one instance serves every connection of its chain. */
export class NetworkRbacFilter implements NetworkFilter {
  readonly #rules: RbacEngine | undefined;
  readonly #shadow: RbacEngine | undefined;
  readonly #allowed: CounterHandle;
  readonly #denied: CounterHandle;
  readonly #shadowAllowed: CounterHandle;
  readonly #shadowDenied: CounterHandle;
  readonly #shadowPolicyKey: string;
  readonly #shadowResultKey: string;

  constructor(
    config: NetworkRbacConfig,
    context: Pick<NetworkFilterFactoryContext, 'stats' | 'listenerName'>,
  ) {
    this.#rules = config.rules ? new RbacEngine(config.rules) : undefined;
    this.#shadow = config.shadowRules ? new RbacEngine(config.shadowRules) : undefined;
    const labels = { listener: context.listenerName, stat_prefix: config.statPrefix };
    const shadow = { ...labels, shadow_rules_stat_prefix: config.shadowRulesStatPrefix };
    this.#allowed = context.stats.counter('network_rbac_allowed', labels);
    this.#denied = context.stats.counter('network_rbac_denied', labels);
    this.#shadowAllowed = context.stats.counter('network_rbac_shadow_allowed', shadow);
    this.#shadowDenied = context.stats.counter('network_rbac_shadow_denied', shadow);
    this.#shadowPolicyKey = `${config.shadowRulesStatPrefix}shadow_effective_policy_id`;
    this.#shadowResultKey = `${config.shadowRulesStatPrefix}shadow_engine_result`;
  }

  onNewConnection(
    connection: NetworkConnection,
    callbacks: NetworkFilterCallbacks,
  ): NetworkFilterStatus {
    if (this.#rules === undefined && this.#shadow === undefined) return 'continue';
    input.forConnection(
      connectionFacts(connection.socket, connection.encrypted, connection.serverName ?? ''),
    );
    if (this.#shadow !== undefined) {
      const result = this.#shadow.evaluate(input);
      (result.allowed ? this.#shadowAllowed : this.#shadowDenied).inc();
      const all = (connection.dynamicMetadata ??= new Map<string, Record<string, unknown>>());
      let metadata = all.get(NETWORK_RBAC_METADATA_NAMESPACE);
      if (metadata === undefined) all.set(NETWORK_RBAC_METADATA_NAMESPACE, (metadata = {}));
      if (result.effectivePolicyId !== '')
        metadata[this.#shadowPolicyKey] = result.effectivePolicyId;
      metadata[this.#shadowResultKey] = result.allowed ? 'allowed' : 'denied';
    }
    if (this.#rules === undefined || this.#rules.evaluate(input).allowed) {
      if (this.#rules !== undefined) this.#allowed.inc();
      return 'continue';
    }
    this.#denied.inc();
    callbacks.close();
    return 'stop';
  }
}
