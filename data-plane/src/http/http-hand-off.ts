/**
 * The HttpConnectionManager's terminal for a listener while the request path still runs on
 * Node's HTTP servers: a connection that reached an HCM chain is handed (`emit('connection')`)
 * to a non-listening http.Server or http2 server. Under TLS (terminated by the listener) ALPN
 * decides (h2 → HTTP/2, else HTTP/1.1); in cleartext the chain's codec_type does, and AUTO looks
 * for the HTTP/2 prior-knowledge preface (`PRI * HTTP/2.0`) in the first bytes.
 *
 * The socket carries the index of its filter chain (chainIndexOf), so a request is served by the
 * HCM of the chain its connection matched.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpConnectionManagerModel } from '../config/model.js';
import type { NetworkConnection, TerminalNetworkFilter } from '../filters/network/filter.js';

export type DownstreamRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type DownstreamResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Where requests go (the ListenerServer binds them to its current binding). */
export interface HttpHandOffHandlers {
  request(req: DownstreamRequest, res: DownstreamResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A request the HTTP/1 parser rejected (answered 400/408/431 here). */
  protocolError(status: number, socket: Duplex): void;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** How long a cleartext connection may stay silent before its first bytes are seen. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/**
 * Read through the HTTP/2 compatibility API's socket proxy as well (it forwards property reads
 * to the session's socket), so a request finds its chain whatever its protocol.
 */
const CHAIN_INDEX = Symbol('ferry.filterChainIndex');

/** The index of the filter chain the connection of `socket` matched (undefined: unknown). */
export function chainIndexOf(socket: object): number | undefined {
  const index = (socket as { [CHAIN_INDEX]?: number })[CHAIN_INDEX];
  return typeof index === 'number' ? index : undefined;
}

export class HttpHandOff implements TerminalNetworkFilter {
  readonly #handlers: HttpHandOffHandlers;
  readonly #http1: http.Server;
  readonly #http2: http2.Http2Server;
  readonly #sessions = new Set<http2.Http2Session>();
  #draining = false;

  constructor(handlers: HttpHandOffHandlers) {
    this.#handlers = handlers;
    this.#http1 = http.createServer({
      // Every HTTP/1 limit is also enforced per apply in applyLimits.
      maxHeaderSize: 60 * 1024,
      requireHostHeader: true,
      // Node's own timeout sweep runs every 30 s by default: check every second.
      connectionsCheckingInterval: 1000,
      keepAlive: true,
    });
    this.#http1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      // llhttp takes a request line without a version ("GET /path") as HTTP/0.9, headers and
      // all, and Node serves it; Envoy's codec rejects it. Never forward one (e2e
      // proxy-malformed.test.ts "request line without a version").
      if (req.httpVersionMajor === 0) {
        handlers.protocolError(400, req.socket);
        res.shouldKeepAlive = false;
        res.writeHead(400, { 'content-length': 0, connection: 'close' }).end();
        return;
      }
      if (this.#draining) res.shouldKeepAlive = false;
      handlers.request(req, res);
    });
    this.#http1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      handlers.upgrade(req, socket, head);
    });
    this.#http1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
      this.#onClientError(err, socket),
    );
    // The inner server never listens; 'listening' is what starts Node's connection tracking
    // (headersTimeout/requestTimeout checks and closeIdleConnections).
    this.#http1.emit('listening');

    this.#http2 = http2.createServer({
      settings: { maxConcurrentStreams: 100 },
      maxSessionMemory: 32,
    });
    this.#http2.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      handlers.request(req, res);
    });
    this.#http2.on('session', (session: http2.Http2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      session.on('error', () => undefined);
      if (this.#draining) session.close();
    });
    this.#http2.on('sessionError', () => undefined);
  }

  /** Applies an HCM's limits to the servers (they are per listener, not per chain). */
  applyLimits(hcm: HttpConnectionManagerModel): void {
    const server = this.#http1;
    (server as { maxHeaderSize?: number }).maxHeaderSize =
      Math.max(1, hcm.maxRequestHeadersKb || 60) * 1024;
    // Counted in the request path (→ 431); Node would silently drop the extra headers.
    server.maxHeadersCount = 0;
    server.requestTimeout = hcm.requestTimeoutMs;
    const headersTimeout = hcm.requestHeadersTimeoutMs || 60_000;
    server.headersTimeout =
      hcm.requestTimeoutMs > 0 ? Math.min(headersTimeout, hcm.requestTimeoutMs) : headersTimeout;
    server.keepAliveTimeout = hcm.idleTimeoutMs || 3_600_000;
    server.timeout = 0;
    this.#http2.updateSettings({
      maxConcurrentStreams: hcm.http2MaxConcurrentStreams || 100,
      maxHeaderListSize: Math.max(1, hcm.maxRequestHeadersKb || 60) * 1024,
    });
  }

  takeConnection(connection: NetworkConnection): void {
    const socket = connection.socket;
    (socket as { [CHAIN_INDEX]?: number })[CHAIN_INDEX] = connection.filterChainIndex;
    if (connection.encrypted) {
      const alpn = (socket as { alpnProtocol?: string | false }).alpnProtocol;
      if (alpn === 'h2') this.#http2.emit('connection', socket);
      else this.#http1.emit('connection', socket);
      return;
    }
    const codec = connection.filterChain.http?.codecType ?? 'AUTO';
    if (codec === 'HTTP1') this.#http1.emit('connection', socket);
    else this.#sniff(socket, codec === 'HTTP2');
  }

  /** Reads the first bytes, puts them back, and hands the socket to HTTP/1 or HTTP/2. */
  #sniff(socket: Socket, http2Only: boolean): void {
    let seen: Buffer | undefined;
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null)
        seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
      if (seen === undefined) return;
      const prefaceBytes = Math.min(seen.length, H2_PREFACE.length);
      const matchesSoFar = seen
        .subarray(0, prefaceBytes)
        .equals(H2_PREFACE.subarray(0, prefaceBytes));
      if (matchesSoFar && seen.length < H2_PREFACE.length) return;
      socket.off('readable', onReadable);
      socket.setTimeout(0);
      socket.unshift(seen);
      if (matchesSoFar) this.#http2.emit('connection', socket);
      else if (!http2Only) this.#http1.emit('connection', socket);
      else socket.destroy();
    };
    socket.on('readable', onReadable);
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    // A reset or a half-written response cannot carry an error response.
    const inProgress = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent === true) {
      socket.destroy();
      return;
    }
    this.#handlers.protocolError(status, socket);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
  }

  /** Asks every connection to finish: `connection: close` on HTTP/1 responses, GOAWAY on HTTP/2. */
  drain(): void {
    this.#draining = true;
    for (const session of this.#sessions) session.close();
    this.#http1.closeIdleConnections();
  }

  destroy(): void {
    this.#draining = true;
    for (const session of this.#sessions) session.destroy();
    // Stops the inner server's connection-checking interval (it never listened: ignore the error).
    this.#http1.close(() => undefined);
  }
}
