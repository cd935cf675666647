/**
 * One HTTP/2 client connection of the upstream pool (upstream-http2-pool.ts) on node:http2: a
 * ClientHttp2Session over a TCP socket (prior knowledge) or a TLS socket that negotiated ALPN h2
 * and passed the cluster's TLS checks (upstream-tls.ts), carrying many requests as streams.
 *
 * Per stream: the request head goes out as one HEADERS frame (`host` becomes `:authority`), the
 * body is a whole Buffer or a Readable streamed with backpressure (the stream's write buffer
 * pauses the body); the response head, body chunks and trailers go to the dispatch handler,
 * whose `false` pauses the stream (its HTTP/2 flow-control window then stops the upstream).
 * A response that completes before the request body was sent resets the stream with NO_ERROR
 * (RFC 9113 §8.1), as Envoy does.
 *
 * Stream listeners are module functions (`this` is the emitter, its request is found through a
 * symbol slot), so a stream costs no closures beyond the handler's abort and resume.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { formatHostPort } from '@ferry/shared';
import { ConnectionTimer } from '../http/codec/connection-timer.js';
import type {
  DispatchedRequest,
  HostDispatchHandler,
  HostDispatchOptions,
} from './host-dispatch.js';
import { connectUpstreamTls, type UpstreamTlsTarget } from './upstream-tls.js';

const H2_ALPN: readonly string[] = ['h2'];
const {
  NGHTTP2_NO_ERROR,
  NGHTTP2_CANCEL,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_FLAG_END_STREAM,
  HTTP2_HEADER_AUTHORITY,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_SCHEME,
} = http2.constants;

/**
 * Error codes (the router classifies them, filters/http/router/router-filter.ts):
 * - ECONNREFUSED, ECONNRESET, TLS codes: as the socket reported them (before the session, a
 *   connect failure);
 * - UND_ERR_CONNECT_TIMEOUT: no connection within the connect timeout;
 * - UND_ERR_SOCKET: the connection closed (or failed its keepalive) before the stream completed;
 * - UPSTREAM_REFUSED_STREAM: the upstream refused the stream (RST_STREAM REFUSED_STREAM, or a
 *   GOAWAY whose last stream id is below it): it was not processed and may be retried;
 * - UPSTREAM_STREAM_RESET: the upstream reset the stream with another code;
 * - UPSTREAM_PROTOCOL_ERROR: the upstream broke the protocol (malformed frames or headers, or
 *   ALPN chose another protocol);
 * - UND_ERR_ABORTED: aborted through onConnect's abort without a reason;
 * - UND_ERR_CLOSED / UND_ERR_DESTROYED: dispatched after close, or failed by destroy;
 * - UND_ERR_INVALID_ARG: a request header that cannot be sent.
 */
export class UpstreamHttp2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamHttp2Error';
  }
}

/** connection_keepalive: a PING every interval (± jitter), the connection closes without a reply. */
export interface Http2KeepaliveSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** interval_jitter as a fraction of the interval (Envoy's default 15%: 0.15). */
  readonly jitter: number;
}

export interface Http2ConnectionSettings {
  readonly host: string;
  readonly port: number;
  /** The TLS context and names of the connection; undefined for cleartext (prior knowledge). */
  readonly tls: UpstreamTlsTarget | undefined;
  readonly connectTimeoutMs: number;
  /** max_concurrent_streams: the most streams this side opens on one connection. */
  readonly maxConcurrentStreams: number;
  /** Receive window of each stream (initial_stream_window_size). */
  readonly streamWindowBytes: number;
  /** Receive window of the whole connection (initial_connection_window_size). */
  readonly connectionWindowBytes: number;
  readonly keepalive: Http2KeepaliveSettings | undefined;
  readonly maxResponseHeadersBytes: number;
  /**
   * The cluster's per_connection_buffer_limit_bytes: request bytes a stream queues (waiting for
   * the peer's flow-control window or the socket) before its body is paused.
   */
  readonly bufferLimitBytes: number;
}

/** What a connection reports to its pool. */
export interface Http2ConnectionOwner {
  onConnected(connection: Http2ClientConnection): void;
  /** Connecting failed: no stream was on it. */
  onConnectFailed(connection: Http2ClientConnection, err: Error): void;
  /** A stream ended or the peer's stream limit rose: the connection may take more. */
  onCapacity(connection: Http2ClientConnection): void;
  /** GOAWAY (or a local drain): no new streams go on it. */
  onDraining(connection: Http2ClientConnection): void;
  onClosed(connection: Http2ClientConnection, wasConnected: boolean): void;
}

const REQUEST = Symbol('ferry.upstreamHttp2Request');

type Tagged<T> = T & { [REQUEST]?: Http2PendingStream | undefined };

/** A dispatched request waiting for, or on, a connection. */
export class Http2PendingStream implements DispatchedRequest {
  /** Resumes reading the response after the handler returned false. */
  readonly resume = (): void => {
    const stream = this.stream;
    if (stream !== null && !this.finished) stream.resume();
  };
  connection: Http2ClientConnection | null = null;
  stream: Tagged<http2.ClientHttp2Stream> | null = null;
  body: Tagged<Readable> | null = null;
  trailers: string[] | null = null;
  aborted = false;
  /** The handler got onComplete or onError. */
  finished = false;
  /** The write callback of a body chunk that reached the buffer limit; made on first use. */
  onBodyFlushed: (() => void) | undefined = undefined;

  constructor(
    readonly options: HostDispatchOptions,
    readonly handler: HostDispatchHandler,
  ) {}

  abort(err?: Error): void {
    this.aborted = true;
    this.connection?.abortStream(
      this,
      err ?? new UpstreamHttp2Error('UND_ERR_ABORTED', 'request aborted'),
    );
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.connection?.detachBody(this);
    this.handler.onError(err);
  }
}

// ---- stream listeners (module functions: `this` is the stream or the request body) ---------

function onStreamResponse(
  this: Tagged<http2.ClientHttp2Stream>,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
): void {
  const request = this[REQUEST];
  if (request === undefined || request.finished) return;
  const status = Number(headers[':status']);
  // The handler sees regular fields only; node lists the pseudo-header first.
  if (rawHeaders[0] === ':status') rawHeaders.splice(0, 2);
  const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
  if (!request.handler.onHeaders(status, rawHeaders, request.resume, endStream)) this.pause();
}

function onStreamData(this: Tagged<http2.ClientHttp2Stream>, chunk: Buffer): void {
  const request = this[REQUEST];
  if (request === undefined || request.finished) return;
  if (!request.handler.onData(chunk)) this.pause();
}

function onStreamTrailers(
  this: Tagged<http2.ClientHttp2Stream>,
  _trailers: http2.IncomingHttpHeaders,
  _flags: number,
  rawTrailers: string[],
): void {
  const request = this[REQUEST];
  if (request !== undefined) request.trailers = rawTrailers;
}

function onStreamEnd(this: Tagged<http2.ClientHttp2Stream>): void {
  const request = this[REQUEST];
  if (request === undefined || request.finished) return;
  // node also ends the readable side of a reset stream, and of one destroyed with its session
  // (a complete response ends before the stream is destroyed): failures, settled on 'close'.
  const rstCode = this.rstCode;
  if (this.destroyed || (rstCode !== undefined && rstCode !== NGHTTP2_NO_ERROR)) return;
  request.finished = true;
  if (!this.writableEnded) {
    // The response is complete before the request body: stop the rest (RFC 9113 §8.1).
    request.connection?.detachBody(request);
    this.close(NGHTTP2_NO_ERROR);
  }
  request.handler.onComplete(request.trailers);
}

function onStreamError(this: Tagged<http2.ClientHttp2Stream>): void {
  // The outcome is decided in onStreamClose from the stream's and session's state.
}

function onStreamClose(this: Tagged<http2.ClientHttp2Stream>): void {
  const request = this[REQUEST];
  this[REQUEST] = undefined;
  if (request === undefined) return;
  const connection = request.connection!;
  connection.streamClosed(request, this.rstCode ?? NGHTTP2_NO_ERROR);
}

/**
 * Envoy's upstream write watermark, per stream: a chunk that takes the stream's queued bytes to
 * the cluster's buffer limit pauses the body (the router then stops reading the downstream)
 * until that chunk is flushed. Below the limit the stream's own watermark is ignored.
 */
function onBodyData(this: Tagged<Readable>, chunk: Buffer): void {
  const request = this[REQUEST];
  const stream = request?.stream;
  if (stream === null || stream === undefined || request!.finished || stream.destroyed) return;
  const limit = request!.connection!.bufferLimitBytes;
  if (stream.writableLength + chunk.length < limit) {
    stream.write(chunk);
    return;
  }
  stream.write(chunk, (request!.onBodyFlushed ??= bodyFlushed.bind(request!)));
  this.pause();
}

/** A chunk that reached the buffer limit has been flushed: the body flows again. */
function bodyFlushed(this: Http2PendingStream): void {
  const stream = this.stream;
  if (this.finished || this.body === null || stream === null) return;
  if (stream.writableLength < this.connection!.bufferLimitBytes) this.body.resume();
}

function onBodyEnd(this: Tagged<Readable>): void {
  const request = this[REQUEST];
  if (request === undefined) return;
  const stream = request.stream;
  request.connection?.detachBody(request);
  if (stream !== null && !request.finished && !stream.destroyed) stream.end();
}

function onBodyError(this: Tagged<Readable>, err: Error): void {
  const request = this[REQUEST];
  if (request === undefined) return;
  request.abort(err);
}

/** RFC 9113 §7 error code names, by code. */
const ERROR_CODE_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

function rstName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `error code ${code}`;
}

export class Http2ClientConnection {
  readonly socket: net.Socket | TLSSocket;
  session: http2.ClientHttp2Session | null = null;
  connected = false;
  closed = false;
  /** GOAWAY received or drain(): no new streams. */
  draining = false;
  /** Streams open on this connection. */
  active = 0;
  /** Streams this connection has carried (max_requests_per_connection). */
  streamCount = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS arrive). */
  private peerMaxStreams = 100;
  private readonly connectTimer: ConnectionTimer;
  private keepaliveTimer: ConnectionTimer | undefined;
  private pingTimer: ConnectionTimer | undefined;
  private lastError: NodeJS.ErrnoException | undefined;
  private readonly scheme: string;

  constructor(
    private readonly settings: Http2ConnectionSettings,
    private readonly owner: Http2ConnectionOwner,
  ) {
    this.connectTimer = new ConnectionTimer(this.onConnectTimeout.bind(this));
    this.scheme = settings.tls === undefined ? 'http' : 'https';
    if (settings.tls !== undefined) {
      this.socket = connectUpstreamTls(
        settings.tls,
        { host: settings.host, port: settings.port, alpn: H2_ALPN },
        this.onSocketReady,
      );
    } else {
      this.socket = net.connect({ host: settings.host, port: settings.port, noDelay: true });
      this.socket.once('connect', this.onSocketReady);
    }
    this.socket.on('error', this.onSocketError);
    this.socket.once('close', this.onSocketClose);
    this.connectTimer.arm(settings.connectTimeoutMs);
  }

  /** The cluster's per_connection_buffer_limit_bytes, each stream's write watermark. */
  get bufferLimitBytes(): number {
    return this.settings.bufferLimitBytes;
  }

  /** Streams this connection can open now. */
  get capacity(): number {
    if (!this.connected || this.draining || this.closed) return 0;
    return Math.min(this.settings.maxConcurrentStreams, this.peerMaxStreams) - this.active;
  }

  /** Streams a connection can be expected to carry before the peer's SETTINGS are known. */
  get expectedCapacity(): number {
    return Math.min(this.settings.maxConcurrentStreams, this.peerMaxStreams);
  }

  /** Puts `request` on this connection as a new stream (capacity > 0). */
  start(request: Http2PendingStream): void {
    const session = this.session!;
    const options = request.options;
    const body = options.body;
    const whole = Buffer.isBuffer(body) ? body : null;
    let stream: Tagged<http2.ClientHttp2Stream>;
    try {
      stream = session.request(this.requestHeaders(options), {
        endStream: body === null || (whole !== null && whole.length === 0),
      });
    } catch (err) {
      request.fail(
        new UpstreamHttp2Error(
          'UND_ERR_INVALID_ARG',
          `request headers cannot be sent over HTTP/2: ${(err as Error).message}`,
        ),
      );
      return;
    }
    this.active++;
    this.streamCount++;
    stream[REQUEST] = request;
    request.stream = stream;
    request.connection = this;
    stream.on('response', onStreamResponse);
    stream.on('data', onStreamData);
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    request.handler.onConnect(request);
    if (request.finished) return;
    if (whole !== null) {
      if (whole.length > 0) stream.end(whole);
    } else if (body !== null) {
      const readable = body as Tagged<Readable>;
      readable[REQUEST] = request;
      request.body = readable;
      readable.on('data', onBodyData);
      readable.on('end', onBodyEnd);
      readable.on('error', onBodyError);
      if (readable.isPaused()) readable.resume();
    }
  }

  /**
   * The request's HEADERS: pseudo-headers from the options and `host`, the rest as given
   * (repeated names as arrays). Connection-specific fields never go on HTTP/2 (RFC 9113 §8.2.2).
   */
  private requestHeaders(options: HostDispatchOptions): http2.OutgoingHttpHeaders {
    const headers: http2.OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: options.method,
      [HTTP2_HEADER_SCHEME]: this.scheme,
      [HTTP2_HEADER_PATH]: options.path,
      [HTTP2_HEADER_AUTHORITY]: undefined,
    };
    const flat = options.headers;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      if (name === 'host') {
        headers[HTTP2_HEADER_AUTHORITY] = value;
        continue;
      }
      if (isConnectionSpecific(name, value)) continue;
      const existing = headers[name];
      if (existing === undefined) headers[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else headers[name] = [existing as string, value];
    }
    if (headers[HTTP2_HEADER_AUTHORITY] === undefined)
      headers[HTTP2_HEADER_AUTHORITY] = formatHostPort(this.settings.host, this.settings.port);
    return headers;
  }

  abortStream(request: Http2PendingStream, err: Error): void {
    const stream = request.stream;
    request.fail(err);
    if (stream !== null && !stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  }

  detachBody(request: Http2PendingStream): void {
    const body = request.body;
    if (body === null) return;
    request.body = null;
    body[REQUEST] = undefined;
    body.removeListener('data', onBodyData);
    body.removeListener('end', onBodyEnd);
    body.removeListener('error', onBodyError);
  }

  /** A stream of this connection closed with `rstCode`: settle its request, free its slot. */
  streamClosed(request: Http2PendingStream, rstCode: number): void {
    this.active--;
    this.detachBody(request);
    if (!request.finished) request.fail(this.streamError(rstCode));
    request.stream = null;
    this.owner.onCapacity(this);
  }

  private streamError(rstCode: number): Error {
    if (rstCode === NGHTTP2_REFUSED_STREAM)
      return new UpstreamHttp2Error(
        'UPSTREAM_REFUSED_STREAM',
        'the upstream refused the stream (REFUSED_STREAM or GOAWAY): it was not processed',
      );
    if (this.session === null || this.session.destroyed || this.closed) {
      const code = this.lastError?.code;
      // This side's reasons (destroy, keepalive timeout) as they were given.
      if (this.lastError instanceof UpstreamHttp2Error) return this.lastError;
      if (code === 'ECONNRESET' || code === 'EPIPE') return this.lastError!;
      // ERR_HTTP2_SESSION_ERROR: the peer's GOAWAY with an error code (a connection
      // termination, below); ERR_HTTP2_ERROR: the peer broke the protocol.
      if (code === 'ERR_HTTP2_ERROR')
        return new UpstreamHttp2Error(
          'UPSTREAM_PROTOCOL_ERROR',
          `HTTP/2 session error: ${this.lastError!.message}`,
        );
      return new UpstreamHttp2Error(
        'UND_ERR_SOCKET',
        `upstream connection closed before the response was complete${this.lastError === undefined ? '' : `: ${this.lastError.message}`}`,
      );
    }
    if (rstCode === NGHTTP2_NO_ERROR)
      return new UpstreamHttp2Error(
        'UPSTREAM_STREAM_RESET',
        'the upstream closed the stream before the response was complete',
      );
    return new UpstreamHttp2Error(
      rstCode === 1 /* PROTOCOL_ERROR */ ? 'UPSTREAM_PROTOCOL_ERROR' : 'UPSTREAM_STREAM_RESET',
      `the upstream stream was reset: ${rstName(rstCode)}`,
    );
  }

  /**
   * No new streams; the connection closes once its streams are done (GOAWAY NO_ERROR). Called
   * again when the last stream ended: the socket then closes once the GOAWAY is written, without
   * waiting for the peer to close its side.
   */
  drain(): void {
    if (this.closed) return;
    const session = this.session;
    if (session === null) {
      this.destroy();
      return;
    }
    if (!this.draining) {
      this.draining = true;
      this.owner.onDraining(this);
    }
    if (!session.closed) session.close();
    if (this.active === 0) this.socket.destroySoon();
  }

  /** Closes now: open streams fail with `err` (or a connection-closed error). */
  destroy(err?: Error): void {
    if (err !== undefined) this.lastError ??= err as NodeJS.ErrnoException;
    this.session?.destroy();
    this.socket.destroy();
  }

  // ---- connection events ---------------------------------------------------------------------

  private readonly onSocketReady = (): void => {
    const socket = this.socket as TLSSocket;
    if (this.settings.tls !== undefined && socket.alpnProtocol !== 'h2') {
      // A server without ALPN gets HTTP/2 all the same (prior knowledge); one that chose
      // another protocol cannot speak it.
      if (typeof socket.alpnProtocol === 'string') {
        this.lastError = new UpstreamHttp2Error(
          'UPSTREAM_PROTOCOL_ERROR',
          `upstream ${formatHostPort(this.settings.host, this.settings.port)} chose ALPN ${socket.alpnProtocol}, not h2: the cluster is configured for HTTP/2`,
        );
        socket.destroy();
        return;
      }
    }
    // The socket is already connected; the URL only has to parse, so an IPv6 literal is bracketed.
    const authority = formatHostPort(this.settings.host, this.settings.port);
    const session = http2.connect(`${this.scheme}://${authority}`, {
      createConnection: () => this.socket,
      settings: { enablePush: false, initialWindowSize: this.settings.streamWindowBytes },
      maxHeaderListPairs: 4096,
      maxSessionMemory: 64,
      peerMaxConcurrentStreams: 100,
    });
    this.session = session;
    session.on('connect', this.onSessionConnect);
    session.on('remoteSettings', this.onRemoteSettings);
    session.on('goaway', this.onGoaway);
    session.on('error', this.onSocketError);
    session.once('close', this.onSessionClose);
  };

  private readonly onSessionConnect = (): void => {
    this.connectTimer.stop();
    if (this.closed) return;
    this.connected = true;
    const session = this.session!;
    if (this.settings.connectionWindowBytes > 65_535)
      session.setLocalWindowSize(this.settings.connectionWindowBytes);
    const keepalive = this.settings.keepalive;
    if (keepalive !== undefined) {
      this.keepaliveTimer = new ConnectionTimer(this.sendPing.bind(this));
      this.pingTimer = new ConnectionTimer(this.onPingTimeout.bind(this));
      this.armKeepalive();
    }
    this.owner.onConnected(this);
  };

  private readonly onRemoteSettings = (settings: http2.Settings): void => {
    const max = settings.maxConcurrentStreams;
    if (max === undefined || max === this.peerMaxStreams) return;
    this.peerMaxStreams = max;
    if (this.connected) this.owner.onCapacity(this);
  };

  private readonly onGoaway = (): void => {
    // node closes the session itself (gracefully for NO_ERROR); streams above the last stream
    // id close with REFUSED_STREAM.
    if (this.draining) return;
    this.draining = true;
    this.owner.onDraining(this);
  };

  private armKeepalive(): void {
    const keepalive = this.settings.keepalive!;
    const jitter = keepalive.intervalMs * keepalive.jitter * Math.random();
    this.keepaliveTimer!.arm(Math.max(1, Math.round(keepalive.intervalMs + jitter)));
  }

  private sendPing(): void {
    const session = this.session;
    if (session === null || session.closed || session.destroyed) return;
    if (!session.ping(this.onPingAck)) return;
    this.pingTimer!.arm(this.settings.keepalive!.timeoutMs);
  }

  private readonly onPingAck = (err: Error | null): void => {
    if (err !== null || this.closed) return;
    this.pingTimer!.disarm();
    this.armKeepalive();
  };

  private onPingTimeout(): void {
    this.destroy(
      new UpstreamHttp2Error(
        'UND_ERR_SOCKET',
        `no PING reply from ${formatHostPort(this.settings.host, this.settings.port)} within the keepalive timeout of ${this.settings.keepalive!.timeoutMs} ms`,
      ),
    );
  }

  private onConnectTimeout(): void {
    if (this.connected || this.closed) return;
    this.lastError = new UpstreamHttp2Error(
      'UND_ERR_CONNECT_TIMEOUT',
      `connect to ${formatHostPort(this.settings.host, this.settings.port)} timed out after ${this.settings.connectTimeoutMs} ms`,
    );
    this.destroy();
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    this.lastError ??= err;
  };

  private readonly onSocketClose = (): void => {
    this.finish();
  };

  private readonly onSessionClose = (): void => {
    this.finish();
  };

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.connectTimer.stop();
    this.keepaliveTimer?.stop();
    this.pingTimer?.stop();
    if (!this.connected) {
      this.owner.onConnectFailed(
        this,
        this.lastError ??
          new UpstreamHttp2Error('UND_ERR_SOCKET', 'connection closed while connecting'),
      );
      return;
    }
    this.owner.onClosed(this, true);
  }
}

/** RFC 9113 §8.2.2: fields that would make node:http2 reject the request. */
function isConnectionSpecific(name: string, value: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'http2-settings':
      return true;
    case 'te':
      return value !== 'trailers';
    default:
      return name.charCodeAt(0) === 58; /* ':' */
  }
}
