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
import { formatHostPort } from '@ferry/shared';
import type { HostDispatchHandler, HostDispatchOptions } from './host-dispatch.js';
import {
  Http2ClientConnection,
  Http2PendingStream,
  UpstreamHttp2Error,
  type Http2ConnectionOwner,
  type Http2ConnectionSettings,
  type Http2KeepaliveSettings,
} from './upstream-http2-connection.js';
import {
  DEFAULT_BUFFER_LIMIT_BYTES,
  UpstreamPoolBase,
  type UpstreamPoolOptions,
} from './upstream-pool-base.js';

export { UpstreamHttp2Error } from './upstream-http2-connection.js';

export interface Http2PoolOptions extends UpstreamPoolOptions {
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

export class Http2Pool
  extends UpstreamPoolBase<Http2ClientConnection, Http2PendingStream>
  implements Http2ConnectionOwner
{
  private readonly settings: Http2ConnectionSettings;

  constructor(options: Http2PoolOptions) {
    super(options);
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
      // 0 is Envoy's default too, as for listeners.
      bufferLimitBytes: options.bufferLimitBytes || DEFAULT_BUFFER_LIMIT_BYTES,
    };
  }

  // ---- Http2ConnectionOwner ------------------------------------------------------------------

  onCapacity(connection: Http2ClientConnection): void {
    const idleTimer = this.connections.get(connection);
    if (idleTimer === undefined) return;
    this.assign();
    if (connection.active > 0 || connection.closed) return;
    if (this.closing || connection.draining) {
      connection.drain();
      return;
    }
    idleTimer.arm(this.idleTimeoutMs);
  }

  onDraining(connection: Http2ClientConnection): void {
    this.connections.get(connection)?.disarm();
    // Waiting requests need another connection.
    this.assign();
  }

  onClosed(connection: Http2ClientConnection, wasConnected: boolean): void {
    this.forget(connection, wasConnected);
    this.assign();
    this.failQueuedIfNoConnection();
    this.closeIfDone();
  }

  // ---- policy --------------------------------------------------------------------------------

  /** Puts queued requests on connections with free slots, opening new ones up to the limit. */
  protected assign(): void {
    while (this.pending > 0) {
      const connection = this.available();
      if (connection !== undefined) {
        const request = this.nextQueued();
        if (request === undefined) return;
        this.connections.get(connection)!.disarm();
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

  protected createConnection(): Http2ClientConnection {
    return new Http2ClientConnection(this.settings, this);
  }

  protected createRequest(
    options: HostDispatchOptions,
    handler: HostDispatchHandler,
  ): Http2PendingStream {
    return new Http2PendingStream(options, handler);
  }

  /** Connections without streams drain unless requests wait for them. */
  protected closeIdle(): void {
    this.failQueuedIfNoConnection();
    for (const connection of this.connections.keys())
      if (connection.active === 0 && this.pending === 0) connection.drain();
  }

  protected onIdleTimeout(connection: Http2ClientConnection): void {
    if (connection.active === 0) connection.drain();
  }

  protected error(code: string, message: string): Error {
    return new UpstreamHttp2Error(code, message);
  }

  // ---- internals -----------------------------------------------------------------------------

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

  /** Closing with requests waiting and no connection left to take them: they fail. */
  private failQueuedIfNoConnection(): void {
    if (this.pending === 0 || !this.closing || this.available() !== undefined) return;
    for (const connection of this.connections.keys())
      if (!connection.draining && !connection.closed) return;
    this.failQueued(
      new UpstreamHttp2Error(
        'UND_ERR_CLOSED',
        `the connection pool to ${formatHostPort(this.host, this.port)} closed`,
      ),
    );
  }
}
