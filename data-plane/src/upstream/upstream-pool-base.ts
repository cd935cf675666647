/**
 * What ferry-proxy's HTTP/1.1 and HTTP/2 connection pools to one upstream host share
 * (upstream-http1-pool.ts, upstream-http2-pool.ts): the queue of requests waiting for a
 * connection, the connection set with each connection's idle timer, the connections being
 * opened, and the lifecycle.
 *
 * - dispatch refuses (onError, UND_ERR_CLOSED / UND_ERR_DESTROYED) once the pool is closing or
 *   destroyed; otherwise the request waits in order until `assign` puts it on a connection.
 * - A connection that fails to connect fails every request still waiting (as Envoy purges its
 *   pending streams on a connect failure): retrying them on another connection here would loop
 *   while the host refuses, and the router decides on retries.
 * - Emits 'connect' / 'disconnect' for every connection established / lost (upstream_cx_active).
 * - close() and destroy() are idempotent; their promises resolve once every connection has
 *   closed.
 *
 * A subclass supplies the policy: how requests go on connections (`assign`, `onCapacity`), what
 * a connection and a request are (`createConnection`, `createRequest`), what close() releases at
 * once (`closeIdle`), and when an idle connection closes (`onIdleTimeout`).
 */
import { EventEmitter } from 'node:events';
import { formatHostPort } from '@ferry/shared';
import { ConnectionTimer } from '../http/codec/connection-timer.js';
import type { HostDispatchHandler, HostDispatchOptions, HostDispatcher } from './host-dispatch.js';
import type { UpstreamTlsTarget } from './upstream-tls.js';

/** What the pool needs of a dispatched request while it waits. */
export interface QueuedRequest {
  readonly aborted: boolean;
  /** The handler got onComplete or onError. */
  readonly finished: boolean;
  fail(err: Error): void;
}

/** What the pool needs of a connection to tear it down. */
export interface PoolConnection {
  /** Closes the connection now; requests on it fail with `err`. */
  destroy(err?: Error): void;
}

/** What both pools take; each protocol's options add its own. */
export interface UpstreamPoolOptions {
  readonly host: string;
  readonly port: number;
  /** The upstream TLS context and names of this pool's connections; undefined for cleartext. */
  readonly tls?: UpstreamTlsTarget | undefined;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** Requests (streams) per connection over its lifetime; 0: unlimited. */
  readonly maxRequestsPerConnection: number;
  /** 0: connections without requests stay open. */
  readonly idleTimeoutMs: number;
  /**
   * The cluster's per_connection_buffer_limit_bytes (default 1 MiB; 0 too): request bytes a
   * connection (an HTTP/2 stream) queues before the request body is paused.
   */
  readonly bufferLimitBytes?: number;
}

/** Envoy's default per_connection_buffer_limit_bytes. */
export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;

/** Past this many consumed entries the queue is compacted (once they are over half of it). */
const QUEUE_COMPACT_AFTER = 1024;

export abstract class UpstreamPoolBase<C extends PoolConnection, R extends QueuedRequest>
  extends EventEmitter
  implements HostDispatcher
{
  protected readonly host: string;
  protected readonly port: number;
  protected readonly maxConnections: number;
  protected readonly maxRequestsPerConnection: number;
  protected readonly idleTimeoutMs: number;
  /** Every connection open or being opened, with its idle timer. */
  protected readonly connections = new Map<C, ConnectionTimer>();
  /** Connections opened that have not connected or failed yet. */
  protected connecting = 0;
  protected closing = false;
  protected destroyed = false;
  private queue: R[] = [];
  private queueHead = 0;
  private closedWaiters: (() => void)[] = [];

  constructor(options: UpstreamPoolOptions) {
    super();
    this.host = options.host;
    this.port = options.port;
    this.maxConnections = Math.max(1, options.maxConnections);
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  /** Requests waiting for a connection. */
  get pending(): number {
    return this.queue.length - this.queueHead;
  }

  /** Connections open or being opened (draining ones included). */
  get connectionCount(): number {
    return this.connections.size;
  }

  dispatch(options: HostDispatchOptions, handler: HostDispatchHandler): boolean {
    if (this.closing || this.destroyed) {
      handler.onError(
        this.error(
          this.destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED',
          `the connection pool to ${formatHostPort(this.host, this.port)} is ${this.destroyed ? 'destroyed' : 'closed'}`,
        ),
      );
      return false;
    }
    this.queue.push(this.createRequest(options, handler));
    this.assign();
    return true;
  }

  /** No new requests; in-flight and queued ones finish, then every connection closes. */
  close(): Promise<void> {
    this.closing = true;
    this.closeIdle();
    this.closeIfDone();
    return this.whenClosed();
  }

  /** Queued and in-flight requests fail (UND_ERR_DESTROYED), connections close now. */
  destroy(): Promise<void> {
    if (!this.destroyed) {
      this.destroyed = true;
      this.closing = true;
      const err = this.error(
        'UND_ERR_DESTROYED',
        `the connection pool to ${formatHostPort(this.host, this.port)} was destroyed`,
      );
      this.failQueued(err);
      for (const connection of [...this.connections.keys()]) connection.destroy(err);
    }
    this.closeIfDone();
    return this.whenClosed();
  }

  // ---- what a connection reports (both protocols' connection owner interfaces) ---------------

  onConnected(connection: C): void {
    this.connecting--;
    this.emit('connect');
    this.onCapacity(connection);
  }

  onConnectFailed(connection: C, err: Error): void {
    this.connecting--;
    this.forget(connection, false);
    // Every waiting request fails now, whatever else is still connecting.
    this.failQueued(err);
    this.closeIfDone();
  }

  /** A connected connection can take requests: give it some, or let it idle or close. */
  abstract onCapacity(connection: C): void;

  // ---- policy --------------------------------------------------------------------------------

  /** Puts queued requests on connections, opening new ones (`open`) up to the limit. */
  protected abstract assign(): void;
  protected abstract createConnection(): C;
  protected abstract createRequest(options: HostDispatchOptions, handler: HostDispatchHandler): R;
  /** close() was called: connections with nothing left to do close now. */
  protected abstract closeIdle(): void;
  /** `connection` has been idle for idleTimeoutMs. */
  protected abstract onIdleTimeout(connection: C): void;
  /** The protocol's error (its `name`), with a stable code the router classifies. */
  protected abstract error(code: string, message: string): Error;

  // ---- shared internals ----------------------------------------------------------------------

  protected open(): void {
    const connection = this.createConnection();
    this.connections.set(connection, new ConnectionTimer(() => this.onIdleTimeout(connection)));
    this.connecting++;
  }

  /** The next waiting request that was neither aborted nor finished meanwhile. */
  protected nextQueued(): R | undefined {
    while (this.queueHead < this.queue.length) {
      const request = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as never;
      if (this.queueHead > QUEUE_COMPACT_AFTER && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      if (!request.aborted && !request.finished) return request;
    }
    return undefined;
  }

  protected failQueued(err: Error): void {
    for (let request = this.nextQueued(); request !== undefined; request = this.nextQueued())
      request.fail(err);
  }

  /** `connection` closed or failed to connect: it leaves the pool. */
  protected forget(connection: C, wasConnected: boolean): void {
    const idleTimer = this.connections.get(connection);
    if (idleTimer !== undefined) {
      idleTimer.stop();
      this.connections.delete(connection);
    }
    if (wasConnected) this.emit('disconnect');
  }

  /** Once closing and every connection has closed, close() and destroy() resolve. */
  protected closeIfDone(): void {
    if (!this.closing) return;
    if (this.connections.size > 0) return;
    const waiters = this.closedWaiters;
    this.closedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private whenClosed(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }
}
