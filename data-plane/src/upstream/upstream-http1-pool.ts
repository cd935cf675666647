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
import {
  Http1ClientConnection,
  PendingRequest,
  type ConnectionOwner,
  type ConnectionSettings,
} from './upstream-http1-connection.js';
import { UpstreamHttp1Error } from './upstream-http1-types.js';
import type { HostDispatchHandler, HostDispatchOptions } from './host-dispatch.js';
import {
  DEFAULT_BUFFER_LIMIT_BYTES,
  UpstreamPoolBase,
  type UpstreamPoolOptions,
} from './upstream-pool-base.js';

export interface Http1PoolOptions extends UpstreamPoolOptions {
  /** Largest accepted response head (status line + fields) and trailer section. */
  readonly maxResponseHeadersBytes?: number;
}

const DEFAULT_MAX_RESPONSE_HEADERS_BYTES = 96 * 1024;

export class Http1Pool
  extends UpstreamPoolBase<Http1ClientConnection, PendingRequest>
  implements ConnectionOwner
{
  private readonly settings: ConnectionSettings;
  /** Connected connections without a request, most recently used last. */
  private readonly idle: Http1ClientConnection[] = [];

  constructor(options: Http1PoolOptions) {
    super(options);
    this.settings = {
      host: options.host,
      port: options.port,
      tls: options.tls,
      connectTimeoutMs: options.connectTimeoutMs,
      maxResponseHeadersBytes:
        options.maxResponseHeadersBytes ?? DEFAULT_MAX_RESPONSE_HEADERS_BYTES,
      // 0 is Envoy's default too, as for listeners.
      bufferLimitBytes: options.bufferLimitBytes || DEFAULT_BUFFER_LIMIT_BYTES,
    };
  }

  // ---- ConnectionOwner -----------------------------------------------------------------------

  onIdle(connection: Http1ClientConnection): void {
    this.onCapacity(connection);
  }

  onClosed(connection: Http1ClientConnection, wasConnected: boolean): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    this.forget(connection, wasConnected);
    this.assign();
    this.closeIfDone();
  }

  /** A connected connection is free: give it the next request, or park it. */
  onCapacity(connection: Http1ClientConnection): void {
    const idleTimer = this.connections.get(connection);
    if (idleTimer === undefined || connection.closed) return;
    const limit = this.maxRequestsPerConnection;
    if (limit > 0 && connection.requestCount >= limit) {
      connection.destroy();
      return;
    }
    const request = this.nextQueued();
    if (request !== undefined) {
      idleTimer.disarm();
      connection.start(request);
      return;
    }
    if (this.closing) {
      connection.destroy();
      return;
    }
    this.idle.push(connection);
    idleTimer.arm(this.idleTimeoutMs);
  }

  // ---- policy --------------------------------------------------------------------------------

  /** Puts queued requests on idle connections, opening new ones up to the limit. */
  protected assign(): void {
    while (this.pending > 0) {
      const connection = this.idle.pop();
      if (connection !== undefined) {
        this.connections.get(connection)!.disarm();
        connection.start(this.nextQueued()!);
        continue;
      }
      if (this.destroyed || this.connections.size >= this.maxConnections) return;
      if (this.connecting >= this.pending) return;
      this.open();
    }
  }

  protected createConnection(): Http1ClientConnection {
    return new Http1ClientConnection(this.settings, this);
  }

  protected createRequest(
    options: HostDispatchOptions,
    handler: HostDispatchHandler,
  ): PendingRequest {
    return new PendingRequest(options, handler);
  }

  /**
   * Idle connections close unless requests wait (then there are none: a request waits only
   * while every connection is busy, and a connection freed while closing closes at once).
   */
  protected closeIdle(): void {
    if (this.pending === 0) for (const connection of this.idle.splice(0)) connection.destroy();
  }

  protected onIdleTimeout(connection: Http1ClientConnection): void {
    const index = this.idle.indexOf(connection);
    if (index < 0) return;
    this.idle.splice(index, 1);
    connection.destroy();
  }

  protected error(code: string, message: string): Error {
    return new UpstreamHttp1Error(code, message);
  }
}
