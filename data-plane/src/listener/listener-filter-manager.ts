/**
 * Runs a listener's filters on one accepted socket (Envoy's ActiveTcpSocket): reads the first
 * bytes without handing them to anyone, shows every filter the growing prefix until each is done
 * (filters run in order; one that needs more bytes holds the next ones), then puts the bytes back
 * on the socket (`unshift`) so whoever takes the connection reads them first, untouched.
 *
 * Bounded: at most the filters' largest maxReadBytes are read, and listener_filters_timeout
 * (absolute, from accept) ends the wait: the connection is closed, or with
 * continue_on_listener_filters_timeout a chain is chosen with what is known. A peer that closes
 * before the filters are done has its connection closed.
 */
import type { Socket } from 'node:net';
import type { ListenerFilter } from '../filters/listener/filter.js';
import type { ConnectionProperties } from './connection-properties.js';
import type { ListenerRuntime } from './listener-runtime.js';

/** `continue`: choose a filter chain; `close`: close the connection. */
export type ListenerFiltersOutcome = 'continue' | 'close';

export class ListenerFilterRun {
  readonly #socket: Socket;
  readonly #filters: readonly ListenerFilter[];
  readonly #properties: ConnectionProperties;
  readonly #runtime: ListenerRuntime;
  readonly #done: (outcome: ListenerFiltersOutcome) => void;
  #seen: Buffer | undefined;
  #next = 0;
  #timer: NodeJS.Timeout | undefined;
  #finished = false;

  constructor(
    socket: Socket,
    runtime: ListenerRuntime,
    properties: ConnectionProperties,
    done: (outcome: ListenerFiltersOutcome) => void,
  ) {
    this.#socket = socket;
    this.#runtime = runtime;
    this.#filters = runtime.listenerFilters;
    this.#properties = properties;
    this.#done = done;
  }

  /** Starts reading; `done` is called exactly once (possibly before start returns). */
  start(): void {
    if (this.#filters.length === 0) {
      this.#finish('continue');
      return;
    }
    const timeoutMs = this.#runtime.model.listenerFiltersTimeoutMs;
    if (timeoutMs > 0) this.#timer = setTimeout(this.#onTimeout, timeoutMs);
    this.#socket.on('readable', this.#onReadable);
    this.#socket.once('end', this.#onPeerClosed);
    this.#socket.once('close', this.#onPeerClosed);
  }

  readonly #onReadable = (): void => {
    let chunk: Buffer | null;
    while ((chunk = this.#socket.read() as Buffer | null) !== null)
      this.#seen = this.#seen === undefined ? chunk : Buffer.concat([this.#seen, chunk]);
    const seen = this.#seen;
    if (seen === undefined || this.#finished) return;
    const full = seen.length >= this.#runtime.maxPeekBytes;
    while (this.#next < this.#filters.length) {
      const status = this.#filters[this.#next]!.onData(seen, this.#properties);
      if (status === 'close' || (status === 'need-more-data' && full)) {
        this.#finish('close');
        return;
      }
      if (status === 'need-more-data') return;
      this.#next++;
    }
    this.#finish('continue');
  };

  readonly #onTimeout = (): void => {
    this.#runtime.stats.downstreamPreCxTimeout.inc();
    this.#finish(this.#runtime.model.continueOnListenerFiltersTimeout ? 'continue' : 'close');
  };

  readonly #onPeerClosed = (): void => this.#finish('close');

  #finish(outcome: ListenerFiltersOutcome): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const socket = this.#socket;
    socket.off('readable', this.#onReadable);
    socket.off('end', this.#onPeerClosed);
    socket.off('close', this.#onPeerClosed);
    if (outcome === 'continue' && this.#seen !== undefined) socket.unshift(this.#seen);
    this.#done(outcome);
  }
}
