/**
 * ferry-proxy's HTTP/1.1 connection pool to one upstream host (cleartext, or TLS through
 * tls.connect options), in place of undici's Pool: Envoy's HTTP/1 connection pool semantics.
 *
 * - dispatch queues the request (pending) and puts it on an idle connection, or opens a new
 *   connection while fewer than maxConnections exist (the cluster's circuit breaker
 *   max_connections); beyond that requests wait in order. onConnect marks pending → active.
 * - A connection carries one request at a time, at most maxRequestsPerConnection (0: no limit),
 *   and closes after idleTimeoutMs without one (0: never). Idle connections are reused
 *   most-recently-used first.
 * - A connection that fails to connect fails every request still waiting (as Envoy purges its
 *   pending streams on a connect failure), with the socket's code or UND_ERR_CONNECT_TIMEOUT and
 *   without onConnect, so the router counts a connect failure.
 * - Emits 'connect' / 'disconnect' for every connection established / lost (upstream_cx_active).
 * - close(): no new requests; in-flight and queued ones finish, then every connection closes.
 *   destroy(): queued and in-flight requests fail (UND_ERR_DESTROYED), connections close now.
 *   Both idempotent; their promises resolve once every socket has closed.
 */
import { EventEmitter } from 'node:events';
import type { UpstreamTlsTarget } from './upstream-tls.js';
import { ConnectionTimer } from '../http/codec/connection-timer.js';
import {
  Http1ClientConnection,
  PendingRequest,
  type ConnectionOwner,
  type ConnectionSettings,
} from './upstream-http1-connection.js';
import {
  UpstreamHttp1Error,
  type Http1DispatchHandler,
  type Http1DispatchOptions,
} from './upstream-http1-types.js';
import type { HostDispatcher } from './host-dispatch.js';

export interface Http1PoolOptions {
  readonly host: string;
  readonly port: number;
  /** The upstream TLS context and names of this pool's connections; undefined for cleartext. */
  readonly tls?: UpstreamTlsTarget | undefined;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** 0: unlimited. */
  readonly maxRequestsPerConnection: number;
  /** 0: idle connections stay open. */
  readonly idleTimeoutMs: number;
  /** Largest accepted response head (status line + fields) and trailer section. */
  readonly maxResponseHeadersBytes?: number;
}

const DEFAULT_MAX_RESPONSE_HEADERS_BYTES = 96 * 1024;

/** Per-connection pool bookkeeping (its idle timer). */
interface PooledConnection {
  readonly connection: Http1ClientConnection;
  readonly idleTimer: ConnectionTimer;
}

export class Http1Pool extends EventEmitter implements HostDispatcher, ConnectionOwner {
  private readonly settings: ConnectionSettings;
  private readonly maxConnections: number;
  private readonly maxRequestsPerConnection: number;
  private readonly idleTimeoutMs: number;
  private readonly connections = new Map<Http1ClientConnection, PooledConnection>();
  private readonly idle: Http1ClientConnection[] = [];
  private queue: PendingRequest[] = [];
  private queueHead = 0;
  private connecting = 0;
  private closing = false;
  private destroyed = false;
  private closedWaiters: (() => void)[] = [];

  constructor(options: Http1PoolOptions) {
    super();
    this.settings = {
      host: options.host,
      port: options.port,
      tls: options.tls,
      connectTimeoutMs: options.connectTimeoutMs,
      maxResponseHeadersBytes:
        options.maxResponseHeadersBytes ?? DEFAULT_MAX_RESPONSE_HEADERS_BYTES,
    };
    this.maxConnections = Math.max(1, options.maxConnections);
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  /** Requests waiting for a connection. */
  get pending(): number {
    return this.queue.length - this.queueHead;
  }

  dispatch(options: Http1DispatchOptions, handler: Http1DispatchHandler): boolean {
    if (this.closing || this.destroyed) {
      handler.onError(
        new UpstreamHttp1Error(
          this.destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED',
          `the connection pool to ${this.settings.host}:${this.settings.port} is ${this.destroyed ? 'destroyed' : 'closed'}`,
        ),
      );
      return false;
    }
    this.queue.push(new PendingRequest(options, handler));
    this.assign();
    return true;
  }

  close(): Promise<void> {
    this.closing = true;
    this.closeIfDone();
    return this.whenClosed();
  }

  destroy(): Promise<void> {
    if (!this.destroyed) {
      this.destroyed = true;
      this.closing = true;
      const err = new UpstreamHttp1Error(
        'UND_ERR_DESTROYED',
        `the connection pool to ${this.settings.host}:${this.settings.port} was destroyed`,
      );
      this.failQueued(err);
      for (const connection of [...this.connections.keys()]) connection.destroy(err);
    }
    this.closeIfDone();
    return this.whenClosed();
  }

  // ---- ConnectionOwner -----------------------------------------------------------------------

  onConnected(connection: Http1ClientConnection): void {
    this.connecting--;
    this.emit('connect');
    this.release(connection);
  }

  onConnectFailed(connection: Http1ClientConnection, err: Error): void {
    this.connecting--;
    this.forget(connection);
    // Every waiting request fails now, whatever else is still connecting: retrying them on
    // another connection here would loop while the host refuses (the router decides on retries).
    this.failQueued(err);
    this.closeIfDone();
  }

  onIdle(connection: Http1ClientConnection): void {
    this.release(connection);
  }

  onClosed(connection: Http1ClientConnection, wasConnected: boolean): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    this.forget(connection);
    if (wasConnected) this.emit('disconnect');
    this.assign();
    this.closeIfDone();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** A connected connection is free: give it the next request, or park it. */
  private release(connection: Http1ClientConnection): void {
    const pooled = this.connections.get(connection);
    if (pooled === undefined || connection.closed) return;
    const limit = this.maxRequestsPerConnection;
    if (limit > 0 && connection.requestCount >= limit) {
      connection.destroy();
      return;
    }
    const request = this.nextQueued();
    if (request !== undefined) {
      pooled.idleTimer.disarm();
      connection.start(request);
      return;
    }
    if (this.closing) {
      connection.destroy();
      return;
    }
    this.idle.push(connection);
    pooled.idleTimer.arm(this.idleTimeoutMs);
  }

  /** Puts queued requests on idle connections, opening new ones up to the limit. */
  private assign(): void {
    while (this.pending > 0) {
      const connection = this.idle.pop();
      if (connection !== undefined) {
        this.connections.get(connection)!.idleTimer.disarm();
        connection.start(this.nextQueued()!);
        continue;
      }
      if (this.destroyed || this.connections.size >= this.maxConnections) return;
      if (this.connecting >= this.pending) return;
      this.open();
    }
  }

  private open(): void {
    const connection = new Http1ClientConnection(this.settings, this);
    const idleTimer = new ConnectionTimer(() => this.onIdleTimeout(connection));
    this.connections.set(connection, { connection, idleTimer });
    this.connecting++;
  }

  private onIdleTimeout(connection: Http1ClientConnection): void {
    const index = this.idle.indexOf(connection);
    if (index < 0) return;
    this.idle.splice(index, 1);
    connection.destroy();
  }

  private nextQueued(): PendingRequest | undefined {
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

  private forget(connection: Http1ClientConnection): void {
    const pooled = this.connections.get(connection);
    if (pooled === undefined) return;
    pooled.idleTimer.stop();
    this.connections.delete(connection);
  }

  private closeIfDone(): void {
    if (!this.closing) return;
    if (this.pending === 0) for (const connection of this.idle.splice(0)) connection.destroy();
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
