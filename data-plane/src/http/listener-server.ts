/**
 * One listening socket (one ListenerModel address) and the protocol servers behind it.
 *
 * The net.Server accepts; each connection is handed (`emit('connection')`) to a non-listening
 * http.Server, http2 server or tls.Server. That lets one socket serve HTTP/1.1, h2c (prior
 * knowledge, detected by the `PRI * HTTP/2.0` preface) and TLS (first byte 0x16) at once, and
 * lets a config apply swap the `binding` (the compiled listener) without touching the socket:
 * every request reads the binding current when it starts.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { CodecType, HttpConnectionManagerModel, ListenerModel } from '../config/model.js';
import type { ConnectionStats } from '../stats/stats.js';
import { DEFAULT_CIPHERS, TlsChainSelector } from './tls-contexts.js';

/** What a listener serves with; ProxyRuntime's compiled listener implements it. */
export interface ListenerBinding {
  readonly model: ListenerModel;
  /** Present when any filter chain has TLS. */
  readonly tls: TlsChainSelector | undefined;
  /** Filter chain index for cleartext connections (undefined: cleartext is refused). */
  readonly cleartextChainIndex: number | undefined;
  /** downstream_cx_active / downstream_cx_total of the listener. */
  readonly connectionStats?: ConnectionStats;
}

export type DownstreamRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type DownstreamResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface ListenerHandlers<B extends ListenerBinding> {
  request(binding: B, req: DownstreamRequest, res: DownstreamResponse): void;
  upgrade(binding: B, req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A request the HTTP/1 parser rejected (answered 400/408/431 here). */
  protocolError(binding: B, status: number): void;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const TLS_HANDSHAKE_RECORD = 0x16;
/** How long a new connection may stay silent before its first bytes are seen. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

function hcmOf(model: ListenerModel): HttpConnectionManagerModel | undefined {
  return model.filterChains[0]?.http ?? model.defaultFilterChain?.http;
}

function codecOf(binding: ListenerBinding): CodecType {
  const index = binding.cleartextChainIndex;
  if (index === undefined) return 'AUTO';
  const chain = binding.model.filterChains[index] ?? binding.model.defaultFilterChain;
  return chain?.http.codecType ?? 'AUTO';
}

export class ListenerServer<B extends ListenerBinding> {
  binding: B;
  readonly #handlers: ListenerHandlers<B>;
  readonly #net: net.Server;
  readonly #http1: http.Server;
  readonly #http2: http2.Http2Server;
  #tls: tls.Server | undefined;
  #tlsSelector: TlsChainSelector | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #sessions = new Set<http2.Http2Session>();
  #draining = false;
  #closed = false;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(binding: B, handlers: ListenerHandlers<B>) {
    this.binding = binding;
    this.#handlers = handlers;
    this.#http1 = http.createServer({
      // Every HTTP/1 limit is also enforced per apply in #applyLimits.
      maxHeaderSize: 60 * 1024,
      requireHostHeader: true,
      // Node's own timeout sweep runs every 30 s by default (DESIGN D9): check every second.
      connectionsCheckingInterval: 1000,
      keepAlive: true,
    });
    this.#http1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      // llhttp takes a request line without a version ("GET /path") as HTTP/0.9, headers and
      // all, and Node serves it; Envoy's codec rejects it. Never forward one (e2e
      // proxy-malformed.test.ts "request line without a version").
      if (req.httpVersionMajor === 0) {
        handlers.protocolError(this.binding, 400);
        res.shouldKeepAlive = false;
        res.writeHead(400, { 'content-length': 0, connection: 'close' }).end();
        return;
      }
      if (this.#draining) res.shouldKeepAlive = false;
      handlers.request(this.binding, req, res);
    });
    this.#http1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      handlers.upgrade(this.binding, req, socket, head);
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
      handlers.request(this.binding, req, res);
    });
    this.#http2.on('session', (session: http2.Http2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      session.on('error', () => undefined);
      if (this.#draining) session.close();
    });
    this.#http2.on('sessionError', () => undefined);

    this.#net = net.createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#net.on('error', () => undefined);
    this.#applyLimits();
  }

  /** Binds the socket; rejects if the address cannot be bound. */
  listen(): Promise<void> {
    const { host, port } = this.binding.model.address;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#net.once('error', onError);
      this.#net.listen({ host, port, backlog: 1024 }, () => {
        this.#net.off('error', onError);
        resolve();
      });
    });
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const address = this.#net.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Swaps the compiled listener; open connections pick it up on their next request. */
  update(binding: B): void {
    this.binding = binding;
    this.#applyLimits();
  }

  #applyLimits(): void {
    const hcm = hcmOf(this.binding.model);
    if (hcm !== undefined) {
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
    const selector = this.binding.tls;
    if (selector !== this.#tlsSelector) {
      this.#tlsSelector = selector;
      this.#tls = selector === undefined ? undefined : this.#createTlsServer(selector);
    }
  }

  #createTlsServer(selector: TlsChainSelector): tls.Server {
    const server = tls.createServer({
      secureContext: selector.defaultContext,
      SNICallback: (serverName, callback) => callback(null, selector.contextFor(serverName)),
      ALPNProtocols: [...selector.alpnProtocols],
      minVersion: 'TLSv1.2',
      ciphers: DEFAULT_CIPHERS,
      requestCert: selector.requestClientCertificate,
      rejectUnauthorized: selector.requestClientCertificate,
      handshakeTimeout: FIRST_BYTES_TIMEOUT_MS,
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2') this.#http2.emit('connection', socket);
      else this.#http1.emit('connection', socket);
    });
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return server;
  }

  #onConnection(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const binding = this.binding;
    // The handles of the binding the connection arrived on, so add and subtract pair up.
    const stats = binding.connectionStats;
    stats?.total.inc();
    stats?.active.add(1);
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      stats?.active.add(-1);
    });
    socket.on('error', () => undefined);
    if (binding.tls === undefined && codecOf(binding) === 'HTTP1') {
      this.#http1.emit('connection', socket);
      return;
    }
    this.#sniff(socket);
  }

  /** Reads the first bytes, puts them back, and hands the socket to the matching server. */
  #sniff(socket: net.Socket): void {
    let seen: Buffer | undefined;
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    const onReadable = (): void => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
      const prefaceBytes = Math.min(seen.length, H2_PREFACE.length);
      const undecided =
        seen[0] !== TLS_HANDSHAKE_RECORD &&
        seen.length < H2_PREFACE.length &&
        seen.subarray(0, prefaceBytes).equals(H2_PREFACE.subarray(0, prefaceBytes));
      if (undecided) return;
      socket.off('readable', onReadable);
      socket.setTimeout(0);
      socket.unshift(seen);
      this.#dispatch(socket, seen);
    };
    socket.on('readable', onReadable);
  }

  #dispatch(socket: net.Socket, firstBytes: Buffer): void {
    const binding = this.binding;
    if (firstBytes[0] === TLS_HANDSHAKE_RECORD) {
      if (this.#tls === undefined) socket.destroy();
      else this.#tls.emit('connection', socket);
      return;
    }
    if (binding.cleartextChainIndex === undefined) {
      socket.destroy();
      return;
    }
    const isH2 = firstBytes.subarray(0, H2_PREFACE.length).equals(H2_PREFACE);
    const codec = codecOf(binding);
    if (isH2 && codec !== 'HTTP1') this.#http2.emit('connection', socket);
    else if (!isH2 && codec !== 'HTTP2') this.#http1.emit('connection', socket);
    else socket.destroy();
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
    this.#handlers.protocolError(this.binding, status);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Number of open downstream connections. */
  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Stops accepting, asks every connection to finish (HTTP/1: `connection: close` on the next
   * response and idle ones closed; HTTP/2: GOAWAY), and resolves once all are gone or at the
   * deadline, when the rest are destroyed.
   */
  async close(deadlineMs: number): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#net.close();
    }
    this.#draining = true;
    for (const session of this.#sessions) session.close();
    const deadline = Date.now() + Math.max(0, deadlineMs);
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      this.#http1.closeIdleConnections();
      await new Promise<void>((resolve) => {
        this.#drainTimer = setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now())));
      });
      if (this.#sockets.size === 0) break;
    }
    this.destroy();
  }

  destroy(): void {
    this.#closed = true;
    this.#draining = true;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    if (this.#net.listening) this.#net.close();
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    // Stops the inner server's connection-checking interval (it never listened: ignore the error).
    this.#http1.close(() => undefined);
  }
}
