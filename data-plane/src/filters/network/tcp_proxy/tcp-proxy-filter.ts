/**
 * The worker side of envoy.filters.network.tcp_proxy for one filter chain and config version:
 * chooses each connection's cluster (weighted at random, as Envoy does) and runs a
 * TcpProxySession per connection. In-flight sessions keep the filter (and the cluster runtimes)
 * they started with.
 */
import type { TcpProxyModel } from '../../../config/model.js';
import type { AccessLogRecord } from '../../../access-log/access-log-record.js';
import type { ClusterRuntime } from '../../../upstream/cluster-runtime.js';
import type {
  NetworkConnection,
  NetworkFilterFactoryContext,
  TerminalNetworkFilter,
} from '../filter.js';
import { TcpProxySession, type TcpProxySessionContext } from './tcp-proxy-session.js';
import { TcpProxyStats } from './tcp-proxy-stats.js';

export class TcpProxyFilter implements TerminalNetworkFilter, TcpProxySessionContext {
  readonly config: TcpProxyModel;
  readonly stats: TcpProxyStats;
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  readonly accessLog: ((record: AccessLogRecord) => void) | undefined;
  readonly #weights: readonly { readonly name: string; readonly upTo: number }[];
  readonly #totalWeight: number;

  constructor(config: TcpProxyModel, context: NetworkFilterFactoryContext) {
    this.config = config;
    this.stats = new TcpProxyStats(context.stats, config.statPrefix);
    this.clusters = context.clusters;
    this.accessLog = context.accessLog;
    let total = 0;
    this.#weights = (config.weightedClusters ?? []).map((w) => ({
      name: w.name,
      upTo: (total += w.weight),
    }));
    this.#totalWeight = total;
  }

  takeConnection(connection: NetworkConnection): void {
    new TcpProxySession(this, connection).start();
  }

  /** The cluster name for a new connection: `cluster`, or one of weighted_clusters by weight. */
  pickClusterName(random: number = Math.random()): string {
    if (this.#totalWeight === 0) return this.config.cluster ?? '';
    const point = random * this.#totalWeight;
    for (const weight of this.#weights) if (point < weight.upTo) return weight.name;
    return this.#weights[this.#weights.length - 1]!.name;
  }
}
