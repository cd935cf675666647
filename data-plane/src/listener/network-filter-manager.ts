/**
 * Runs a filter chain's network filters on one connection (Envoy's FilterManagerImpl for read
 * filters, onNewConnection only): each non-terminal filter in order, then the terminal one,
 * which takes the connection over. A filter returning `stop` holds the iteration until it calls
 * continueReading() (or close()); if the connection closes meanwhile, the holding filter hears
 * onClose and nothing further runs.
 */
import type {
  NetworkConnection,
  NetworkFilter,
  NetworkFilterCallbacks,
  NetworkFilterInstanceFactory,
  TerminalNetworkFilter,
} from '../filters/network/filter.js';

export class NetworkFilterRun implements NetworkFilterCallbacks {
  readonly #connection: NetworkConnection;
  readonly #filters: NetworkFilter[];
  readonly #terminal: TerminalNetworkFilter;
  #next = 0;
  #holding: NetworkFilter | undefined;
  #ended = false;

  constructor(
    connection: NetworkConnection,
    factories: readonly NetworkFilterInstanceFactory[],
    terminal: TerminalNetworkFilter,
  ) {
    this.#connection = connection;
    this.#filters = factories.map((f) => f.create());
    this.#terminal = terminal;
  }

  start(): void {
    this.#iterate();
  }

  continueReading(): void {
    if (this.#ended || this.#holding === undefined) return;
    this.#connection.socket.off('close', this.#onCloseWhileHeld);
    this.#holding = undefined;
    this.#iterate();
  }

  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#connection.socket.off('close', this.#onCloseWhileHeld);
    this.#holding = undefined;
    this.#connection.socket.destroy();
  }

  #iterate(): void {
    while (this.#next < this.#filters.length) {
      const filter = this.#filters[this.#next++]!;
      if (filter.onNewConnection(this.#connection, this) === 'stop') {
        if (this.#ended) return;
        this.#holding = filter;
        this.#connection.socket.once('close', this.#onCloseWhileHeld);
        return;
      }
      if (this.#ended) return;
    }
    this.#ended = true;
    this.#terminal.takeConnection(this.#connection);
  }

  readonly #onCloseWhileHeld = (): void => {
    const filter = this.#holding;
    this.#ended = true;
    this.#holding = undefined;
    filter?.onClose?.();
  };
}
