/**
 * The HttpConnectionManager's terminal for a listener: a connection that reached an HCM chain is
 * served by a codec. Cleartext HTTP/1.1 goes to ferry-proxy's own codec (codec/codec-http1.ts);
 * HTTP/2 and HTTP/1.1 under TLS are handed (`emit('connection')`) to a non-listening node:http2
 * or node:http server behind codec/codec-node.ts. Under TLS (terminated by the listener) ALPN
 * decides (h2 → HTTP/2, else HTTP/1.1); in cleartext the chain's codec_type does, and AUTO looks
 * for the HTTP/2 prior-knowledge preface (`PRI * HTTP/2.0`) in the first bytes.
 *
 * The socket carries the index of its filter chain (chainIndexOf), so a request is served by the
 * HCM of the chain its connection matched, in the listener's current config.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpConnectionManagerModel } from '../config/model.js';
import type { NetworkConnection, TerminalNetworkFilter } from '../filters/network/filter.js';
import type {
  CodecSettings,
  DownstreamConnectionInfo,
  ResponseEncoder,
  ServerConnectionCallbacks,
  StreamDecoder,
} from './codec/codec.js';
import { serveHttp1, type Http1ServerConnection } from './codec/codec-http1.js';
import { answerClientError, nodeConnectionInfo } from './codec/codec-node.js';
import type { RequestHeaderMap } from './header-map.js';

export type DownstreamRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type DownstreamResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Where requests go (the ListenerServer binds them to its current binding). */
export interface HttpHandOffHandlers {
  request(req: DownstreamRequest, res: DownstreamResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A request the HTTP/1 parser rejected (answered 400/408/431 here). */
  protocolError(status: number, socket: Duplex): void;
  /** The codec callbacks of the current config's filter chain `index` (undefined: gone). */
  streamCallbacks(index: number): ServerConnectionCallbacks | undefined;
}

/**
 * The codec callbacks of one connection: each request asks the listener's current config, so a
 * keep-alive connection serves a config change from its next request on, as Envoy's do.
 */
class ConnectionCallbacks implements ServerConnectionCallbacks {
  constructor(
    private readonly handlers: HttpHandOffHandlers,
    private readonly chainIndex: number,
  ) {}

  #current(): ServerConnectionCallbacks {
    const callbacks = this.handlers.streamCallbacks(this.chainIndex);
    // The chain is gone from the config: its connections were drained; serve with the first.
    return callbacks ?? this.handlers.streamCallbacks(0)!;
  }

  settings(): CodecSettings {
    return this.#current().settings();
  }

  newStream(
    head: RequestHeaderMap,
    encoder: ResponseEncoder,
    connection: DownstreamConnectionInfo,
    endStream: boolean,
  ): StreamDecoder {
    return this.#current().newStream(head, encoder, connection, endStream);
  }

  protocolError(status: number, connection: DownstreamConnectionInfo): void {
    this.#current().protocolError(status, connection);
  }

  upgrade(
    head: RequestHeaderMap,
    socket: Socket,
    rest: Buffer,
    info: DownstreamConnectionInfo,
  ): void {
    this.#current().upgrade?.(head, socket, rest, info);
  }
}

/**
 * The rapid-reset defence (CVE-2023-44487), Envoy's: a stream is premature when it closes before
 * any response headers were sent and lived at most overload.premature_reset_min_stream_lifetime_seconds
 * (1 s, compared in whole seconds as Envoy does). Once half the streams a connection has closed
 * are premature, counted over at least overload.premature_reset_total_stream_count (500) streams
 * — or earlier, as soon as 250 premature ones make that outcome certain — the connection is
 * closed with GOAWAY ENHANCE_YOUR_CALM (downstream_rq_too_many_premature_resets).
 */
export const PREMATURE_RESET_TOTAL_STREAM_COUNT = 500;
const PREMATURE_RESET_MIN_STREAM_LIFETIME_S = 1;

/** Per HTTP/2 session: streams closed and how many of them prematurely. */
class ResetTally {
  closed = 0;
  premature = 0;
  constructor(
    readonly session: http2.Http2Session,
    readonly onClose: () => void,
  ) {}
}

const RESET_TALLY = Symbol('ferry.resetTally');
const STREAM_START = Symbol('ferry.streamStart');

interface TalliedStream extends http2.ServerHttp2Stream {
  [RESET_TALLY]?: ResetTally;
  [STREAM_START]?: number;
}

/** A stream's 'close' (a module function: no closure per stream). */
function onTalliedStreamClose(this: TalliedStream): void {
  const tally = this[RESET_TALLY];
  if (tally === undefined || tally.session.destroyed) return;
  tally.closed++;
  const lifetimeS = Math.floor((performance.now() - (this[STREAM_START] ?? 0)) / 1000);
  if (!this.headersSent && lifetimeS <= PREMATURE_RESET_MIN_STREAM_LIFETIME_S) tally.premature++;
  const limit = PREMATURE_RESET_TOTAL_STREAM_COUNT;
  const tooMany =
    tally.closed < limit ? tally.premature * 2 >= limit : tally.premature * 2 >= tally.closed;
  if (!tooMany) return;
  tally.onClose();
  // The error (emitted on the session, where it is ignored) keeps the code: without one Node
  // sends GOAWAY NO_ERROR.
  tally.session.destroy(
    new Error('too many premature stream resets'),
    http2.constants.NGHTTP2_ENHANCE_YOUR_CALM,
  );
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
  /** Connections on ferry-proxy's HTTP/1.1 codec. */
  readonly #http1Connections = new Set<Http1ServerConnection>();
  #draining = false;
  /** The listener's HCM idle_timeout (0: none), for HTTP/2 sessions. */
  #idleTimeoutMs = 0;

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
    // CONNECT under TLS: Envoy's answer when no route has a connect_matcher.
    this.#http1.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
      handlers.protocolError(404, socket);
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      void req;
    });
    // The inner server never listens; 'listening' is what starts Node's connection tracking
    // (headersTimeout/requestTimeout checks and closeIdleConnections).
    this.#http1.emit('listening');

    this.#http2 = http2.createServer({
      settings: { maxConcurrentStreams: 100 },
      maxSessionMemory: 32,
      // Node's flood limits, stated here because the defences rely on them: a session that sends
      // this many invalid frames (bad flow control, frames on closed streams...) or keeps opening
      // streams past max_concurrent_streams (each refused with RST_STREAM REFUSED_STREAM) is
      // destroyed. nghttp2 itself caps CONTINUATION frames per header block and rate-limits
      // incoming RST_STREAM frames; the premature-reset tally below acts well before that.
      maxSessionInvalidFrames: 1000,
      maxSessionRejectedStreams: 100,
    });
    this.#http2.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      handlers.request(req, res);
    });
    this.#http2.on('session', (session: http2.Http2Session) => {
      this.#sessions.add(session);
      const tally = new ResetTally(session, () => {
        const index = chainIndexOf(session.socket) ?? 0;
        const callbacks = handlers.streamCallbacks(index) ?? handlers.streamCallbacks(0);
        callbacks?.prematureResetClose?.();
      });
      session.on('stream', (stream: TalliedStream) => {
        stream[RESET_TALLY] = tally;
        stream[STREAM_START] = performance.now();
        stream.once('close', onTalliedStreamClose);
      });
      session.once('close', () => this.#sessions.delete(session));
      // common_http_protocol_options.idle_timeout: a connection without traffic for that long
      // is drained (GOAWAY, then closed once its streams end), as Envoy does for HTTP/2.
      if (this.#idleTimeoutMs > 0) session.setTimeout(this.#idleTimeoutMs, () => session.close());
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
    this.#idleTimeoutMs = hcm.idleTimeoutMs;
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
    if (codec === 'HTTP1') this.#serveHttp1(socket, connection);
    else this.#sniff(socket, codec === 'HTTP2', connection);
  }

  /** Cleartext HTTP/1.1 on ferry-proxy's own codec. */
  #serveHttp1(socket: Socket, connection: NetworkConnection): void {
    const callbacks = new ConnectionCallbacks(this.#handlers, connection.filterChainIndex);
    const served = serveHttp1(socket, callbacks, {
      id: connection.id,
      socket,
      encrypted: false,
      serverName: undefined,
    });
    this.#http1Connections.add(served);
    socket.once('close', () => this.#http1Connections.delete(served));
    if (this.#draining) served.close();
  }

  /** Reads the first bytes, puts them back, and hands the socket to HTTP/1 or HTTP/2. */
  #sniff(socket: Socket, http2Only: boolean, connection: NetworkConnection): void {
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
      else if (!http2Only) this.#serveHttp1(socket, connection);
      else socket.destroy();
    };
    socket.on('readable', onReadable);
  }

  /** node:http's parser refused a request (HTTP/1.1 under TLS): the same answers as the codec's. */
  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const index = chainIndexOf(socket) ?? 0;
    const callbacks = this.#handlers.streamCallbacks(index) ?? this.#handlers.streamCallbacks(0);
    if (callbacks === undefined) {
      socket.destroy();
      return;
    }
    answerClientError(
      err,
      socket,
      callbacks,
      nodeConnectionInfo({ socket } as http.IncomingMessage),
    );
  }

  /** Asks every connection to finish: `connection: close` on HTTP/1 responses, GOAWAY on HTTP/2. */
  drain(): void {
    this.#draining = true;
    for (const session of this.#sessions) session.close();
    for (const connection of this.#http1Connections) connection.close();
    this.#http1.closeIdleConnections();
  }

  destroy(): void {
    this.#draining = true;
    for (const session of this.#sessions) session.destroy();
    for (const connection of this.#http1Connections) connection.destroy();
    // Stops the inner server's connection-checking interval (it never listened: ignore the error).
    this.#http1.close(() => undefined);
  }
}
