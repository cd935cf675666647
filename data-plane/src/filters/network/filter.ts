/**
 * Network filters: Envoy's Network::ReadFilter in TypeScript, the terminal filter that takes
 * over a connection, and the factory every network filter extension exports.
 *
 * A filter chain's network filters run in order once the listener has chosen the chain (and
 * finished its TLS handshake when the chain has a transport_socket), see
 * listener/network-filter-manager.ts:
 * - a non-terminal filter (Envoy's rbac, local_ratelimit, ...) sees `onNewConnection` and
 *   returns `continue` (the next filter runs) or `stop` (it holds the connection and later calls
 *   `callbacks.continueReading()`, or `callbacks.close()`);
 * - the last filter is terminal and takes the connection over (`takeConnection`): from then on
 *   it owns the socket (reads, writes, closes). `envoy.filters.network.tcp_proxy` splices it to
 *   an upstream; `envoy.filters.network.http_connection_manager` runs HTTP on it.
 *
 * An extension lives in `filters/network/<name>/`: `config.ts` exports a NetworkFilterFactory,
 * `filters/network/registry.ts` lists every factory; nothing registers itself by import.
 */
import type { Logger } from '@ferry/shared';
import type { Issues, JsonObject, MessageSpec } from '../../config/translate-common.js';
import type { FilterChainModel, HttpConnectionManagerModel } from '../../config/model.js';
import type { DownstreamConnectionInfo } from '../../http/codec/codec.js';
import type { AccessLogRecord } from '../../access-log/access-log-record.js';
import type { StatsSink } from '../../stats/stats.js';
import type { ClusterRuntime } from '../../upstream/cluster-runtime.js';

/**
 * A downstream connection as network filters see it. `socket` is the decrypted side: a
 * tls.TLSSocket (handshake done) when the chain terminates TLS, else the accepted net.Socket,
 * paused, with any bytes listener filters read put back in front.
 */
export interface NetworkConnection extends DownstreamConnectionInfo {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** "tls" or "raw_buffer", as listener filters detected it (TLS passed through is "tls"). */
  readonly transportProtocol: string;
  /** ALPN the client offered (tls_inspector), in its order. */
  readonly applicationProtocols: readonly string[];
  /** Wall-clock time the connection was accepted (ms since epoch). */
  readonly startTimeMs: number;
  /** The listener's per_connection_buffer_limit_bytes: the downstream write watermark. */
  readonly bufferLimitBytes: number;
  readonly listenerName: string;
  /** The chosen filter chain (its name is "" when unnamed) and its index (default chain last). */
  readonly filterChain: FilterChainModel;
  readonly filterChainIndex: number;
  /**
   * Envoy's connection-level dynamic metadata by namespace: network filters write it (e.g.
   * envoy.filters.network.rbac's shadow result), tcp_proxy's access log reads it
   * (%DYNAMIC_METADATA(ns:key)%). Created by the first filter that writes.
   */
  dynamicMetadata?: Map<string, Record<string, unknown>>;
}

export type NetworkFilterStatus = 'continue' | 'stop';

/** What a non-terminal filter may do with the connection it stopped. */
export interface NetworkFilterCallbacks {
  /** Resumes iteration after `stop`: the next filter (or the terminal one) runs. */
  continueReading(): void;
  /** Closes the connection (no further filter runs). */
  close(): void;
}

/** Envoy's Network::ReadFilter, for filters that run before the terminal one. */
export interface NetworkFilter {
  onNewConnection(
    connection: NetworkConnection,
    callbacks: NetworkFilterCallbacks,
  ): NetworkFilterStatus;
  /** The connection closed before iteration finished (after `stop`): release resources. */
  onClose?(): void;
}

/**
 * The last filter of a chain. Called once per connection that reached it; from then on it owns
 * `connection.socket` and must end or destroy it eventually (the listener counts the socket as
 * open until it closes, and destroys it at the end of a drain).
 */
export interface TerminalNetworkFilter {
  takeConnection(connection: NetworkConnection): void;
}

/**
 * Worker-side context for building a chain's filters, once per listener and config version
 * (ProxyRuntime supplies it; in-flight connections keep the filters they started with).
 */
export interface NetworkFilterFactoryContext {
  readonly stats: StatsSink;
  readonly logger: Logger;
  readonly listenerName: string;
  /** The cluster runtimes of this config version. */
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  /** Finished sessions go here when the config logs at all (undefined: build no entries). */
  readonly accessLog: ((record: AccessLogRecord) => void) | undefined;
  /**
   * Builds the runtime of an HttpConnectionManager for one chain. Absent: the listener hands
   * HTTP connections to its own node:http / node:http2 servers (http/http-hand-off.ts).
   */
  readonly httpConnectionManager?: (
    config: HttpConnectionManagerModel,
    chain: FilterChainModel,
  ) => TerminalNetworkFilter;
}

/** Built once per chain and config version: makes the filter instance of each connection. */
export interface NetworkFilterInstanceFactory {
  create(): NetworkFilter;
}

interface NetworkFilterFactoryBase<Config> {
  /** typed_config type URL. */
  readonly typeUrl: string;
  readonly names: readonly string[];
  /** What the filter does in ferry-proxy, for docs/envoy-reference.md. */
  readonly note: string;
  readonly specs: readonly MessageSpec[];
  /**
   * Checks the typed_config (proto3 JSON, already decoded strictly) where config is translated
   * and returns what the workers receive (plain data). Errors go to `issues` under `path`.
   */
  validate(config: JsonObject, path: string, issues: Issues, options: NetworkFilterOptions): Config;
}

/** Translation-time facts a filter's validation may use. */
export interface NetworkFilterOptions {
  /** Cluster names of the config (absent: not known, nothing is checked against them). */
  readonly clusterNames?: ReadonlySet<string>;
}

/** A non-terminal network filter extension. */
export interface ReadFilterFactory<Config = unknown> extends NetworkFilterFactoryBase<Config> {
  readonly terminal: false;
  createFilterFactory(
    config: Config,
    context: NetworkFilterFactoryContext,
  ): NetworkFilterInstanceFactory;
}

/** A terminal network filter extension; `terminal` names where the chain model keeps its config. */
export interface TerminalFilterFactory<Config = unknown> extends NetworkFilterFactoryBase<Config> {
  readonly terminal: 'http' | 'tcpProxy';
  /**
   * The chain's terminal filter; undefined when the listener itself provides it (the HTTP
   * hand-off, while no httpConnectionManager builder is in the context).
   */
  createTerminal(
    config: Config,
    chain: FilterChainModel,
    context: NetworkFilterFactoryContext,
  ): TerminalNetworkFilter | undefined;
}

export type NetworkFilterFactory<Config = unknown> =
  ReadFilterFactory<Config> | TerminalFilterFactory<Config>;
