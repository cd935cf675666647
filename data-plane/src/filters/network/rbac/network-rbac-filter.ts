/**
 * The connection side of envoy.filters.network.rbac (Envoy's network rbac_filter.cc). Shadow
 * rules are evaluated and counted (network_rbac_shadow_allowed / _shadow_denied); the enforced
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
import type { NetworkRbacConfig } from './config.js';

const input = new RbacInput();

/** Stateless per connection: one instance serves every connection of its chain. */
export class NetworkRbacFilter implements NetworkFilter {
  readonly #rules: RbacEngine | undefined;
  readonly #shadow: RbacEngine | undefined;
  readonly #allowed: CounterHandle;
  readonly #denied: CounterHandle;
  readonly #shadowAllowed: CounterHandle;
  readonly #shadowDenied: CounterHandle;

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
  }

  onNewConnection(
    connection: NetworkConnection,
    callbacks: NetworkFilterCallbacks,
  ): NetworkFilterStatus {
    if (this.#rules === undefined && this.#shadow === undefined) return 'continue';
    input.forConnection(
      connectionFacts(connection.socket, connection.encrypted, connection.serverName ?? ''),
    );
    if (this.#shadow !== undefined)
      (this.#shadow.evaluate(input).allowed ? this.#shadowAllowed : this.#shadowDenied).inc();
    if (this.#rules === undefined || this.#rules.evaluate(input).allowed) {
      if (this.#rules !== undefined) this.#allowed.inc();
      return 'continue';
    }
    this.#denied.inc();
    callbacks.close();
    return 'stop';
  }
}
