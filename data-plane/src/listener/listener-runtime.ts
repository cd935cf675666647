/**
 * A listener compiled for one config version: its listener filters, its filter chain matcher,
 * and per filter chain the TLS termination settings, the non-terminal network filters and the
 * terminal one. Built by ProxyRuntime when a config is applied (compileListenerRuntime); the
 * ListenerServer reads the runtime current when a connection is accepted, and that connection
 * keeps it to the end.
 */
import type { SecureContextOptions } from 'node:tls';
import type { FilterChainModel, ListenerModel } from '../config/model.js';
import type { ListenerFilter } from '../filters/listener/filter.js';
import { listenerFilterByTypeUrl } from '../filters/listener/registry.js';
import type {
  NetworkFilterFactoryContext,
  NetworkFilterInstanceFactory,
  TerminalNetworkFilter,
} from '../filters/network/filter.js';
import { NETWORK_FILTERS, networkFilterByTypeUrl } from '../filters/network/registry.js';
import { secureContextOptions } from '../http/tls-contexts.js';
import type { CounterHandle } from '../stats/stats.js';
import type { ConnectionProperties } from './connection-properties.js';
import { FilterChainMatcher } from './filter-chain-match.js';

/** A chain's transport_socket (DownstreamTlsContext): TLS is terminated before its filters. */
export interface ChainTls {
  /** Certificates, versions, ciphers, client CA (the tls.Server's options). */
  readonly options: SecureContextOptions;
  /** ALPN the server selects from (empty: none negotiated). */
  readonly alpnProtocols: readonly string[];
  /** require_client_certificate: ask for a client certificate and reject a missing or bad one. */
  readonly requireClientCertificate: boolean;
}

export interface FilterChainRuntime {
  /** Index among the listener's chains, the default chain last. */
  readonly index: number;
  readonly model: FilterChainModel;
  readonly tls: ChainTls | undefined;
  readonly filters: readonly NetworkFilterInstanceFactory[];
  /**
   * The terminal filter. Undefined for an HttpConnectionManager chain when the context builds
   * no HCM runtime (the listener's HTTP hand-off serves it), and for a chain without filters
   * (its connections are closed, as Envoy closes them).
   */
  readonly terminal: TerminalNetworkFilter | undefined;
}

/** Listener stats Envoy keeps under `listener.<address>.` (labelled by listener name here). */
export interface ListenerRuntimeStats {
  /** No filter chain matched and there is no default chain: the connection was closed. */
  readonly noFilterChainMatch: CounterHandle;
  /** Listener filters did not finish within listener_filters_timeout. */
  readonly downstreamPreCxTimeout: CounterHandle;
}

export class ListenerRuntime {
  readonly model: ListenerModel;
  readonly listenerFilters: readonly ListenerFilter[];
  /** Bytes the listener filters may read (the largest maxReadBytes). */
  readonly maxPeekBytes: number;
  /** Every chain: model.filterChains in order, then the default chain. */
  readonly chains: readonly FilterChainRuntime[];
  readonly stats: ListenerRuntimeStats;
  readonly #matcher: FilterChainMatcher;
  readonly #defaultChain: FilterChainRuntime | undefined;

  constructor(
    model: ListenerModel,
    listenerFilters: readonly ListenerFilter[],
    chains: readonly FilterChainRuntime[],
    stats: ListenerRuntimeStats,
  ) {
    this.model = model;
    this.listenerFilters = listenerFilters;
    this.maxPeekBytes = Math.max(0, ...listenerFilters.map((f) => f.maxReadBytes));
    this.chains = chains;
    this.stats = stats;
    this.#matcher = new FilterChainMatcher(model.filterChains);
    this.#defaultChain =
      model.defaultFilterChain !== undefined ? chains[model.filterChains.length] : undefined;
  }

  /** The chain for a connection: the matching one, else the default one, else undefined. */
  select(connection: ConnectionProperties): FilterChainRuntime | undefined {
    const index = this.#matcher.match(connection);
    return index >= 0 ? this.chains[index] : this.#defaultChain;
  }
}

function chainTls(chain: FilterChainModel): ChainTls | undefined {
  const tls = chain.tls;
  if (tls === undefined) return undefined;
  // An HCM offers h2 and http/1.1 when the context names no ALPN, so codec AUTO serves both
  // (what an Envoy HCM with codec AUTO accepts too); other chains negotiate what is configured.
  const alpnProtocols =
    tls.alpnProtocols.length > 0 || chain.http === undefined
      ? tls.alpnProtocols
      : ['h2', 'http/1.1'];
  return {
    options: secureContextOptions(tls),
    alpnProtocols,
    requireClientCertificate: tls.requireClientCertificate,
  };
}

/** The terminal filter factories by the chain model field that holds their config. */
const TERMINALS = new Map(
  NETWORK_FILTERS.flatMap((f) => (f.terminal === false ? [] : [[f.terminal, f] as const])),
);

function compileChain(
  chain: FilterChainModel,
  index: number,
  context: NetworkFilterFactoryContext,
): FilterChainRuntime {
  // Translation admits only registered filters (the primary and the workers are one build).
  const filters = chain.networkFilters.flatMap((filter) => {
    const factory = networkFilterByTypeUrl(filter.typeUrl);
    return factory?.terminal === false ? [factory.createFilterFactory(filter.config, context)] : [];
  });
  const field =
    chain.tcpProxy !== undefined ? 'tcpProxy' : chain.http !== undefined ? 'http' : undefined;
  const terminal =
    field === undefined
      ? undefined
      : TERMINALS.get(field)?.createTerminal(chain[field], chain, context);
  return { index, model: chain, tls: chainTls(chain), filters, terminal };
}

/** Compiles `model` against one config version's clusters, stats and loggers. */
export function compileListenerRuntime(
  model: ListenerModel,
  context: NetworkFilterFactoryContext,
): ListenerRuntime {
  const filterContext = { stats: context.stats, logger: context.logger, listenerName: model.name };
  const listenerFilters = model.listenerFilters.flatMap((filter) => {
    const factory = listenerFilterByTypeUrl(filter.typeUrl);
    return factory ? [factory.createFilter(filter.config, filterContext)] : [];
  });
  const models = [...model.filterChains];
  if (model.defaultFilterChain !== undefined) models.push(model.defaultFilterChain);
  const labels = { listener: model.name };
  return new ListenerRuntime(
    model,
    listenerFilters,
    models.map((chain, index) => compileChain(chain, index, context)),
    {
      noFilterChainMatch: context.stats.counter('no_filter_chain_match', labels),
      downstreamPreCxTimeout: context.stats.counter('downstream_pre_cx_timeout', labels),
    },
  );
}
