/**
 * ferry-proxy's HTTP/2 connection pool to one upstream host (cleartext with prior knowledge, or
 * TLS with ALPN h2), on node:http2: Envoy's HTTP/2 connection pool semantics.
 *
 * - dispatch queues the request (pending) and puts it as a stream on the first connected
 *   connection with a free stream slot: a connection carries up to min(max_concurrent_streams,
 *   the peer's SETTINGS_MAX_CONCURRENT_STREAMS) streams at once. When every connection is
 *   saturated, another one is opened (while fewer than maxConnections exist, the cluster's
 *   max_connections circuit breaker, and the connections being opened cannot take the waiting
 *   requests); beyond that requests wait in order. onConnect marks pending → active.
 * - A connection that received GOAWAY drains: no new streams, its open streams finish, streams
 *   the upstream did not process fail with UPSTREAM_REFUSED_STREAM (the router may retry them);
 *   waiting requests go to another connection. So does a connection that carried
 *   maxRequestsPerConnection streams (0: no limit).
 * - A connection without streams for idleTimeoutMs closes (0: never).
 * - A connection that fails to connect fails every request still waiting (as Envoy purges its
 *   pending streams on a connect failure), with the socket's code or UND_ERR_CONNECT_TIMEOUT and
 *   without onConnect, so the router counts a connect failure.
 * - Emits 'connect' / 'disconnect' for every connection established / lost (upstream_cx_active).
 * - close(): no new requests; open and queued streams finish, then every connection closes.
 *   destroy(): queued and open streams fail (UND_ERR_DESTROYED), connections close now. Both
 *   idempotent; their promises resolve once every connection has closed.
 *
 * The pool serves the router and the filters' async client alike: their calls share the
 * connections as streams.
 */
import { EventEmitter } from 'node:events';
import { ConnectionTimer } from '../http/codec/connection-timer.js';
import type { HostDispatchHandler, HostDispatchOptions, HostDispatcher } from './host-dispatch.js';
import type { UpstreamTlsTarget } from './upstream-tls.js';
import {
  Http2ClientConnection,
  Http2PendingStream,
  UpstreamHttp2Error,
  type Http2ConnectionOwner,
  type Http2ConnectionSettings,
  type Http2KeepaliveSettings,
} from './upstream-http2-connection.js';

export { UpstreamHttp2Error } from './upstream-http2-connection.js';

export interface Http2PoolOptions {
  readonly host: string;
  readonly port: number;
  /** The upstream TLS context and names of this pool's connections; undefined for cleartext. */
  readonly tls?: UpstreamTlsTarget | undefined;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** Streams per connection over its lifetime; 0: unlimited. */
  readonly maxRequestsPerConnection: number;
  /** 0: connections without streams stay open. */
  readonly idleTimeoutMs: number;
  /** Http2ProtocolOptions.max_concurrent_streams (Envoy's default 2147483647). */
  readonly maxConcurrentStreams?: number;
  /** initial_stream_window_size (default 65535, node's). */
  readonly streamWindowBytes?: number;
  /** initial_connection_window_size (default 16 MiB: a paused stream cannot stall the others). */
  readonly connectionWindowBytes?: number;
  readonly keepalive?: Http2KeepaliveSettings | undefined;
}

export const DEFAULT_MAX_CONCURRENT_STREAMS = 2_147_483_647;
const DEFAULT_STREAM_WINDOW = 65_535;
const DEFAULT_CONNECTION_WINDOW = 16 * 1024 * 1024;

interface PooledConnection {
  readonly connection: Http2ClientConnection;
  readonly idleTimer: ConnectionTimer;
}

export class Http2Pool extends EventEmitter implements HostDispatcher, Http2ConnectionOwner {
  private readonly settings: Http2ConnectionSettings;
  private readonly maxConnections: number;
  private readonly maxRequestsPerConnection: number;
  private readonly idleTimeoutMs: number;
  private readonly connections = new Map<Http2ClientConnection, PooledConnection>();
  private queue: Http2PendingStream[] = [];
  private queueHead = 0;
  private connecting = 0;
  private closing = false;
  private destroyed = false;
  private closedWaiters: (() => void)[] = [];

  constructor(options: Http2PoolOptions) {
    super();
    this.settings = {
      host: options.host,
      port: options.port,
      tls: options.tls,
      connectTimeoutMs: options.connectTimeoutMs,
      maxConcurrentStreams: Math.max(
        1,
        options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
      ),
      streamWindowBytes: options.streamWindowBytes ?? DEFAULT_STREAM_WINDOW,
      connectionWindowBytes: options.connectionWindowBytes ?? DEFAULT_CONNECTION_WINDOW,
      keepalive: options.keepalive,
      maxResponseHeadersBytes: 96 * 1024,
    };
    this.maxConnections = Math.max(1, options.maxConnections);
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  /** Requests waiting for a stream slot. */
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
        new UpstreamHttp2Error(
          this.destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED',
          `the connection pool to ${this.settings.host}:${this.settings.port} is ${this.destroyed ? 'destroyed' : 'closed'}`,
        ),
      );
      return false;
    }
    this.queue.push(new Http2PendingStream(options, handler));
    this.assign();
    return true;
  }

  close(): Promise<void> {
    this.closing = true;
    this.failQueuedIfNoConnection();
    for (const connection of this.connections.keys())
      if (connection.active === 0 && this.pending === 0) connection.drain();
    this.closeIfDone();
    return this.whenClosed();
  }

  destroy(): Promise<void> {
    if (!this.destroyed) {
      this.destroyed = true;
      this.closing = true;
      const err = new UpstreamHttp2Error(
        'UND_ERR_DESTROYED',
        `the connection pool to ${this.settings.host}:${this.settings.port} was destroyed`,
      );
      this.failQueued(err);
      for (const connection of [...this.connections.keys()]) connection.destroy(err);
    }
    this.closeIfDone();
    return this.whenClosed();
  }

  // ---- Http2ConnectionOwner ------------------------------------------------------------------

  onConnected(connection: Http2ClientConnection): void {
    this.connecting--;
    this.emit('connect');
    this.onCapacity(connection);
  }

  onConnectFailed(connection: Http2ClientConnection, err: Error): void {
    this.connecting--;
    this.forget(connection);
    // Every waiting request fails now: retrying them on another connection here would loop
    // while the host refuses (the router decides on retries).
    this.failQueued(err);
    this.closeIfDone();
  }

  onCapacity(connection: Http2ClientConnection): void {
    const pooled = this.connections.get(connection);
    if (pooled === undefined) return;
    this.assign();
    if (connection.active > 0 || connection.closed) return;
    if (this.closing || connection.draining) {
      connection.drain();
      return;
    }
    pooled.idleTimer.arm(this.idleTimeoutMs);
  }

  onDraining(connection: Http2ClientConnection): void {
    this.connections.get(connection)?.idleTimer.disarm();
    // Waiting requests need another connection.
    this.assign();
  }

  onClosed(connection: Http2ClientConnection, wasConnected: boolean): void {
    this.forget(connection);
    if (wasConnected) this.emit('disconnect');
    this.assign();
    this.failQueuedIfNoConnection();
    this.closeIfDone();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Puts queued requests on connections with free slots, opening new ones up to the limit. */
  private assign(): void {
    while (this.pending > 0) {
      const connection = this.available();
      if (connection !== undefined) {
        const request = this.nextQueued();
        if (request === undefined) return;
        this.connections.get(connection)!.idleTimer.disarm();
        connection.start(request);
        const limit = this.maxRequestsPerConnection;
        if (limit > 0 && connection.streamCount >= limit) connection.drain();
        continue;
      }
      if (this.destroyed || this.connections.size >= this.maxConnections) return;
      if (this.connecting > 0 && this.connectingCapacity() >= this.pending) return;
      this.open();
    }
  }

  /** What the connections being opened are expected to take (before the peer's SETTINGS). */
  private connectingCapacity(): number {
    let total = 0;
    for (const connection of this.connections.keys())
      if (!connection.connected && !connection.closed) total += connection.expectedCapacity;
    return total;
  }

  private available(): Http2ClientConnection | undefined {
    for (const connection of this.connections.keys())
      if (connection.capacity > 0) return connection;
    return undefined;
  }

  private open(): void {
    const connection = new Http2ClientConnection(this.settings, this);
    const idleTimer = new ConnectionTimer(() => this.onIdleTimeout(connection));
    this.connections.set(connection, { connection, idleTimer });
    this.connecting++;
  }

  private onIdleTimeout(connection: Http2ClientConnection): void {
    if (connection.active === 0) connection.drain();
  }

  private nextQueued(): Http2PendingStream | undefined {
    while (this.queueHead < this.queue.length) {
      const request = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as never;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      if (!request.aborted && !request.finished) return request;
    }
    return undefined;
  }

  private failQueued(err: Error): void {
    for (let request = this.nextQueued(); request !== undefined; request = this.nextQueued())
      request.fail(err);
  }

  /** Closing with requests waiting and no connection left to take them: they fail. */
  private failQueuedIfNoConnection(): void {
    if (this.pending === 0 || !this.closing || this.available() !== undefined) return;
    for (const connection of this.connections.keys())
      if (!connection.draining && !connection.closed) return;
    this.failQueued(
      new UpstreamHttp2Error(
        'UND_ERR_CLOSED',
        `the connection pool to ${this.settings.host}:${this.settings.port} closed`,
      ),
    );
  }

  private forget(connection: Http2ClientConnection): void {
    const pooled = this.connections.get(connection);
    if (pooled === undefined) return;
    pooled.idleTimer.stop();
    this.connections.delete(connection);
  }

  private closeIfDone(): void {
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
