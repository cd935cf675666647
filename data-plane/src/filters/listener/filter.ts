/**
 * Listener filters: Envoy's Network::ListenerFilter in TypeScript, and the factory every listener
 * filter extension exports.
 *
 * A listener filter runs on an accepted socket before any filter chain is chosen, and learns
 * what filter_chain_match needs (server name, transport protocol, application protocols) from
 * the connection's first bytes *without consuming them*: listener/listener-filter-manager.ts
 * reads the bytes, shows every filter the same growing prefix, and puts them back on the socket
 * so whichever chain takes the connection reads them first.
 *
 * An extension lives in `filters/listener/<name>/`: `config.ts` exports a ListenerFilterFactory
 * (validates the typed_config where config is translated, builds the worker-side filter),
 * `filters/listener/registry.ts` lists every factory.
 */
import type { Logger } from '@ferry/shared';
import type { Issues, JsonObject, MessageSpec } from '../../config/translate-common.js';
import type { ConnectionProperties } from '../../listener/connection-properties.js';
import type { StatsSink } from '../../stats/stats.js';

/**
 * `continue`: done, the next filter runs. `need-more-data`: call onData again when more bytes
 * have arrived. `close`: the connection is closed (e.g. a ClientHello over the size limit).
 */
export type ListenerFilterStatus = 'continue' | 'need-more-data' | 'close';

export interface ListenerFilter {
  /**
   * The most bytes this filter may need to see. The manager stops reading at the largest value
   * among a listener's filters; a filter that still needs more then has its answer: it must
   * return `continue` or `close` when it is shown maxReadBytes bytes.
   */
  readonly maxReadBytes: number;
  /**
   * Every byte read so far (the same prefix each call, growing). Sets what it detects on
   * `connection`. Called again only after `need-more-data`, with more bytes.
   */
  onData(data: Buffer, connection: ConnectionProperties): ListenerFilterStatus;
}

/** Worker-side context a factory may use when it builds its filter for one listener version. */
export interface ListenerFilterFactoryContext {
  readonly stats: StatsSink;
  readonly logger: Logger;
  readonly listenerName: string;
}

/** Connection properties a listener filter can detect, by their filter_chain_match field. */
export type DetectedMatchField = 'server_names' | 'transport_protocol' | 'application_protocols';

/**
 * A listener filter extension. `validate` runs where config is translated (the proxy's primary,
 * the control plane) and returns plain data; `createFilter` runs in each worker per listener
 * version. The filter it returns is shared by the listener's connections, so it keeps no
 * per-connection state (what it learns goes on the ConnectionProperties).
 */
export interface ListenerFilterFactory<Config = unknown> {
  readonly typeUrl: string;
  readonly names: readonly string[];
  readonly note: string;
  readonly specs: readonly MessageSpec[];
  /** filter_chain_match fields this filter provides a value for (translation checks chains). */
  readonly detects: readonly DetectedMatchField[];
  validate(config: JsonObject, path: string, issues: Issues): Config;
  createFilter(config: Config, context: ListenerFilterFactoryContext): ListenerFilter;
}
