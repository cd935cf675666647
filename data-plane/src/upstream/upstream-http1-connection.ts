/**
 * One HTTP/1.1 client connection of the upstream pool: writes a request, parses its response
 * strictly (http1-response-head.ts for the head, the codec's own framing for the body)
 * and hands the body on. One request at a time, no pipelining.
 *
 * Cleartext connections read through `onread` into one buffer shared by every connection of the
 * process (READ_BUFFER): no allocation and no stream machinery per read. A read is processed
 * before the next one starts, so only what outlives it is copied (body chunks handed on, bytes
 * held while paused). TLS connections read through 'data' and hand on views of its buffers.
 * Request bytes are queued on a SocketOutput and written once per event-loop pass.
 *
 * Response rules: 1xx are skipped (101 is a protocol error: upgrades do not go through
 * dispatch); Content-Length with Transfer-Encoding, a Transfer-Encoding other than a final
 * `chunked`, an invalid or repeated Content-Length or malformed chunking fail the request with
 * UPSTREAM_PROTOCOL_ERROR and close the connection; HEAD responses and 204/304 have no body;
 * without either header the body ends with the connection. The connection is reused only when
 * the response allows keep-alive and the request body was completely sent.
 */
import * as net from 'node:net';
import { connectUpstreamTls, type UpstreamTlsTarget } from './upstream-tls.js';

const HTTP1_ALPN: readonly string[] = ['http/1.1'];
import type { Readable } from 'node:stream';
import { formatHostPort } from '@ferry/shared';
import {
  ChunkedDecoder,
  FIELD_VALUE_CHAR,
  TOKEN_CHAR,
  trimOws,
  type ChunkedBodySink,
} from '../http/codec/http1-chunked.js';
import { Http1HeadError } from '../http/codec/http1-parser.js';
import { Http1ResponseHeadParser } from '../http/codec/http1-response-head.js';
import { ConnectionTimer } from '../http/codec/connection-timer.js';
import { SocketOutput } from '../http/codec/socket-output.js';
import type { DispatchedRequest } from './host-dispatch.js';
import {
  UpstreamHttp1Error,
  type Http1DispatchHandler,
  type Http1DispatchOptions,
} from './upstream-http1-types.js';

/** A dispatched request waiting for, or on, a connection. */
export class PendingRequest implements DispatchedRequest {
  connection: Http1ClientConnection | null = null;
  aborted = false;
  finished = false;

  constructor(
    readonly options: Http1DispatchOptions,
    readonly handler: Http1DispatchHandler,
  ) {}

  abort(err?: Error): void {
    this.aborted = true;
    this.connection?.abortRequest(
      this,
      err ?? new UpstreamHttp1Error('UND_ERR_ABORTED', 'request aborted'),
    );
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onError(err);
  }
}

export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  /** The TLS context and names of the connection; undefined for cleartext. */
  readonly tls: UpstreamTlsTarget | undefined;
  readonly connectTimeoutMs: number;
  readonly maxResponseHeadersBytes: number;
  /**
   * The cluster's per_connection_buffer_limit_bytes: the connection's write watermark. Once this
   * many request bytes wait in the socket, the request body is paused until they are flushed.
   */
  readonly bufferLimitBytes: number;
}

/** What a connection reports to its pool. */
export interface ConnectionOwner {
  onConnected(connection: Http1ClientConnection): void;
  /** Connecting failed: no request was on it. */
  onConnectFailed(connection: Http1ClientConnection, err: Error): void;
  /** The request finished and the connection can take another. */
  onIdle(connection: Http1ClientConnection): void;
  onClosed(connection: Http1ClientConnection, wasConnected: boolean): void;
}

const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

const enum ReadState {
  /** No response expected: any byte is a protocol error. */
  Idle,
  Head,
  Body,
}

const CRLF = '\r\n';

/**
 * Where cleartext upstream connections read (`onread`); shared, see the file comment. Node's own
 * read size, so a read takes as much as before.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class Http1ClientConnection implements ChunkedBodySink {
  readonly socket: net.Socket;
  /** Request bytes, written once per event-loop pass (socket-output.ts). */
  private readonly output: SocketOutput;
  private readonly parser = new Http1ResponseHeadParser();
  private readonly chunked: ChunkedDecoder;
  private readonly connectTimer: ConnectionTimer;
  private readonly resumeBound = this.resume.bind(this);
  private readonly onBodyDataBound = this.onBodyData.bind(this);
  private readonly onBodyEndBound = this.onBodyEnd.bind(this);
  private readonly onBodyErrorBound = this.onBodyError.bind(this);
  private readonly onFlushedBound = this.onFlushed.bind(this);
  connected = false;
  closed = false;
  /** Requests this connection has carried (max_requests_per_connection). */
  requestCount = 0;
  private request: PendingRequest | null = null;
  private readState = ReadState.Idle;
  private framing = Framing.None;
  private remaining = 0;
  private keepAlive = false;
  private requestSent = false;
  private responseStarted = false;
  private chunkedRequest = false;
  private body: Readable | null = null;
  private paused = false;
  private heldInput: Buffer | null = null;
  private processing = false;
  /** The response completed while the request body was still being sent. */
  private responseDone = false;
  /** The input being processed is a view of READ_BUFFER: what outlives processing is copied. */
  private inputShared = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly owner: ConnectionOwner,
  ) {
    this.chunked = new ChunkedDecoder(this, settings.maxResponseHeadersBytes);
    this.connectTimer = new ConnectionTimer(this.onConnectTimeout.bind(this));
    if (settings.tls !== undefined) {
      // Established once the upstream passed the TLS context's checks (upstream-tls.ts).
      this.socket = connectUpstreamTls(
        settings.tls,
        { host: settings.host, port: settings.port, alpn: HTTP1_ALPN },
        this.onConnect,
      );
    } else {
      this.socket = net.connect({
        host: settings.host,
        port: settings.port,
        noDelay: true,
        onread: { buffer: READ_BUFFER, callback: this.onSharedRead },
      });
      this.socket.once('connect', this.onConnect);
    }
    this.output = new SocketOutput(this.socket);
    if (settings.tls !== undefined) this.socket.on('data', this.onSocketData);
    this.socket.on('end', this.onSocketEnd);
    this.socket.on('error', this.onSocketError);
    this.socket.on('close', this.onSocketClose);
    this.connectTimer.arm(settings.connectTimeoutMs);
  }

  /** Request bytes the kernel has not taken yet (queued here and in the socket). */
  get bufferedBytes(): number {
    return this.output.bufferedBytes;
  }

  get busy(): boolean {
    return this.request !== null;
  }

  /** Puts `request` on this (connected, idle) connection and writes its head. */
  start(request: PendingRequest): void {
    const options = request.options;
    let head = `${options.method} ${options.path} HTTP/1.1\r\n`;
    let hasLength = false;
    const headers = options.headers;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      if (!isToken(name) || !isFieldValue(value)) {
        request.fail(
          new UpstreamHttp1Error(
            'UND_ERR_INVALID_ARG',
            `request header ${JSON.stringify(name)} cannot be sent: invalid name or value`,
          ),
        );
        this.owner.onIdle(this);
        return;
      }
      // Framing is this connection's: the caller's Connection / Transfer-Encoding never pass.
      // Only names of those lengths can be one of them (no lower-cased copy of the others).
      const length = name.length;
      if (length === 10 || length === 14 || length === 17) {
        const lower = name.toLowerCase();
        if (lower === 'connection' || lower === 'transfer-encoding' || lower === 'keep-alive')
          continue;
        if (lower === 'content-length') hasLength = true;
      }
      head += `${name}: ${value}${CRLF}`;
    }
    const whole = Buffer.isBuffer(options.body) ? options.body : null;
    const body = whole === null ? (options.body as Readable | null) : null;
    this.chunkedRequest = body !== null && !hasLength;
    if (this.chunkedRequest) head += 'transfer-encoding: chunked\r\n';
    else if (whole !== null && !hasLength) head += `content-length: ${whole.length}${CRLF}`;
    else if (body === null && !hasLength && methodExpectsBody(options.method))
      head += 'content-length: 0\r\n';
    head += CRLF;

    this.request = request;
    request.connection = this;
    this.requestCount++;
    this.readState = ReadState.Head;
    this.responseStarted = false;
    this.responseDone = false;
    this.requestSent = body === null;
    this.parser.begin(this.settings.maxResponseHeadersBytes);
    this.output.writeText(head);
    if (whole !== null) this.output.write(whole);
    request.handler.onConnect(request);
    if (request.finished || this.request !== request) return;
    if (body !== null) {
      this.body = body;
      body.on('data', this.onBodyDataBound);
      body.on('end', this.onBodyEndBound);
      body.on('error', this.onBodyErrorBound);
      if (body.isPaused()) body.resume();
    }
  }

  abortRequest(request: PendingRequest, err: Error): void {
    if (this.request !== request) return;
    this.failRequest(err);
  }

  /** Closes the connection now; a request on it fails with `err`. */
  destroy(err?: Error): void {
    if (this.request !== null && err !== undefined) this.failRequest(err);
    else this.socket.destroy();
  }

  // ---- request body --------------------------------------------------------------------------

  /**
   * Envoy's upstream write watermark: a chunk that takes the socket's queued bytes to the
   * cluster's buffer limit pauses the body (the router then stops reading the downstream) until
   * that chunk is flushed. Below the limit the socket's own watermark is ignored.
   */
  private onBodyData(chunk: Buffer): void {
    if (this.responseDone) return;
    const output = this.output;
    const full = output.bufferedBytes + chunk.length >= this.settings.bufferLimitBytes;
    const onFlushed = full ? this.onFlushedBound : undefined;
    if (this.chunkedRequest) {
      if (chunk.length === 0) return;
      output.writeText(`${chunk.length.toString(16)}\r\n`);
      output.write(chunk, onFlushed);
      output.writeText(CRLF);
    } else output.write(chunk, onFlushed);
    if (full) this.body?.pause();
  }

  /**
   * A chunk that reached the buffer limit has been flushed: the body flows again, unless a later
   * request's bytes fill the socket (a previous request's chunk; that request's own flush
   * resumes it).
   */
  private onFlushed(): void {
    if (this.body === null || this.responseDone) return;
    if (this.output.bufferedBytes < this.settings.bufferLimitBytes) this.body.resume();
  }

  private onBodyEnd(): void {
    if (this.chunkedRequest && !this.responseDone) this.output.writeText('0\r\n\r\n');
    this.detachBody();
    this.requestSent = true;
    if (this.responseDone) this.completeExchange();
  }

  private onBodyError(err: Error): void {
    this.failRequest(err);
  }

  private detachBody(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    body.removeListener('data', this.onBodyDataBound);
    body.removeListener('end', this.onBodyEndBound);
    body.removeListener('error', this.onBodyErrorBound);
  }

  // ---- response ------------------------------------------------------------------------------

  /** A cleartext read: `nread` bytes at the start of READ_BUFFER. Reading continues. */
  private readonly onSharedRead = (nread: number, buffer: Uint8Array): boolean => {
    this.onInput(Buffer.from(buffer.buffer, buffer.byteOffset, nread), true);
    return true;
  };

  /** A TLS read: the chunk is the connection's own. */
  private readonly onSocketData = (chunk: Buffer): void => {
    this.onInput(chunk, false);
  };

  private onInput(chunk: Buffer, shared: boolean): void {
    let data = chunk;
    if (this.heldInput !== null) {
      data = Buffer.concat([this.heldInput, chunk]);
      this.heldInput = null;
      shared = false;
    }
    this.inputShared = shared;
    try {
      this.process(data, 0);
    } finally {
      this.inputShared = false;
    }
  }

  /** `data` as a buffer that may outlive the input being processed. */
  private owned(data: Buffer): Buffer {
    return this.inputShared ? Buffer.from(data) : data;
  }

  private process(data: Buffer, from: number): void {
    this.processing = true;
    let offset = from;
    while (offset < data.length && !this.closed) {
      if (this.paused) {
        this.heldInput = this.owned(offset === 0 ? data : data.subarray(offset));
        break;
      }
      if (this.readState === ReadState.Head) offset = this.readHead(data, offset);
      else if (this.readState === ReadState.Body) offset = this.readBody(data, offset);
      else {
        // Bytes with no request outstanding (or after a complete response).
        this.protocolError('response bytes without a request');
        break;
      }
    }
    this.processing = false;
  }

  private readHead(data: Buffer, offset: number): number {
    const result = this.parser.execute(offset === 0 ? data : data.subarray(offset));
    if (result instanceof Http1HeadError) {
      this.protocolError(`${result.code}: ${result.reason}`);
      return data.length;
    }
    if (!this.parser.headComplete) {
      this.responseStarted = true;
      return data.length;
    }
    this.responseStarted = true;
    const next = offset + result;
    const parser = this.parser;
    const status = parser.statusCode;
    if (status < 200) {
      if (status === 101) {
        this.protocolError('101 Switching Protocols to a request that did not ask for it');
        return data.length;
      }
      parser.begin(this.settings.maxResponseHeadersBytes);
      return next;
    }
    const error = this.readFraming();
    if (error !== undefined) {
      this.protocolError(error);
      return data.length;
    }
    const request = this.request!;
    this.readState = this.framing === Framing.None ? ReadState.Idle : ReadState.Body;
    if (!request.handler.onHeaders(status, parser.rawHeaders, this.resumeBound)) this.pause();
    if (this.framing === Framing.None && this.request === request) this.finishResponse(null);
    return next;
  }

  /** Sets framing, remaining and keepAlive from the head; returns why it is unacceptable. */
  private readFraming(): string | undefined {
    const parser = this.parser;
    const raw = parser.rawHeaders;
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length !== 14 && name.length !== 17) continue;
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        // Refused even when equal, as llhttp and Envoy's HTTP/1 codec do.
        if (contentLength !== undefined) return 'more than one Content-Length';
        contentLength = raw[i + 1]!;
      } else if (lower === 'transfer-encoding') {
        if (transferEncoding !== undefined) return 'more than one Transfer-Encoding';
        transferEncoding = raw[i + 1]!;
      }
    }
    this.keepAlive = parser.shouldKeepAlive;
    const status = parser.statusCode;
    if (this.request!.options.method === 'HEAD' || status === 204 || status === 304) {
      this.framing = Framing.None;
      return undefined;
    }
    if (transferEncoding !== undefined) {
      if (contentLength !== undefined) return 'Content-Length with Transfer-Encoding';
      if (trimOws(transferEncoding, 0, transferEncoding.length).toLowerCase() !== 'chunked')
        return `unsupported Transfer-Encoding "${transferEncoding}"`;
      this.framing = Framing.Chunked;
      this.chunked.reset(this.settings.maxResponseHeadersBytes);
      return undefined;
    }
    if (contentLength !== undefined) {
      if (!/^\d{1,15}$/.test(contentLength)) return 'invalid Content-Length';
      this.remaining = Number(contentLength);
      this.framing = this.remaining === 0 ? Framing.None : Framing.Length;
      return undefined;
    }
    this.framing = Framing.UntilClose;
    this.keepAlive = false;
    return undefined;
  }

  private readBody(data: Buffer, offset: number): number {
    const request = this.request!;
    if (this.framing === Framing.Chunked) {
      const next = this.chunked.decode(data, offset);
      if (next < 0) {
        this.protocolError(`malformed chunked body: ${this.chunked.error}`);
        return data.length;
      }
      return next;
    }
    let take = data.length - offset;
    if (this.framing === Framing.Length) take = Math.min(take, this.remaining);
    const chunk =
      offset === 0 && take === data.length ? data : data.subarray(offset, offset + take);
    if (this.framing === Framing.Length) this.remaining -= take;
    const last = this.framing === Framing.Length && this.remaining === 0;
    if (!request.handler.onData(this.owned(chunk))) this.pause();
    if (last && this.request === request) {
      this.readState = ReadState.Idle;
      this.finishResponse(null);
    }
    return offset + take;
  }

  get bodyPaused(): boolean {
    return this.paused || this.request === null;
  }

  onChunkedData(data: Buffer): void {
    if (data.length > 0 && !this.request!.handler.onData(this.owned(data))) this.pause();
  }

  onChunkedEnd(rawTrailers: string[]): void {
    this.readState = ReadState.Idle;
    this.finishResponse(rawTrailers.length > 0 ? rawTrailers : null);
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.socket.resume();
    const held = this.heldInput;
    if (held !== null && !this.processing) {
      this.heldInput = null;
      this.process(held, 0);
    }
  }

  private finishResponse(trailers: string[] | null): void {
    const request = this.request!;
    this.responseDone = true;
    request.finished = true;
    if (!this.requestSent) {
      // The response came before the request body was sent: this connection cannot be reused.
      this.keepAlive = false;
      this.detachBody();
    }
    request.handler.onComplete(trailers);
    this.completeExchange();
  }

  private completeExchange(): void {
    this.request = null;
    this.readState = ReadState.Idle;
    if (!this.keepAlive || this.heldInput !== null) {
      this.closed = true;
      this.socket.destroy();
      return;
    }
    this.owner.onIdle(this);
  }

  private protocolError(reason: string): void {
    this.failRequest(
      new UpstreamHttp1Error('UPSTREAM_PROTOCOL_ERROR', `malformed upstream response: ${reason}`),
    );
  }

  /** Fails the current request (if any) and closes the connection. */
  private failRequest(err: Error): void {
    const request = this.request;
    this.request = null;
    this.detachBody();
    this.closed = true;
    this.socket.destroy();
    if (request !== null) request.fail(err);
  }

  // ---- connection events ---------------------------------------------------------------------

  private readonly onConnect = (): void => {
    this.connectTimer.stop();
    this.connected = true;
    this.owner.onConnected(this);
  };

  private onConnectTimeout(): void {
    if (this.connected || this.closed) return;
    const err = new UpstreamHttp1Error(
      'UND_ERR_CONNECT_TIMEOUT',
      `connect to ${formatHostPort(this.settings.host, this.settings.port)} timed out after ${this.settings.connectTimeoutMs} ms`,
    );
    this.closed = true;
    this.socket.destroy();
    this.owner.onConnectFailed(this, err);
  }

  private readonly onSocketEnd = (): void => {
    if (this.framing === Framing.UntilClose && this.readState === ReadState.Body) {
      this.readState = ReadState.Idle;
      this.keepAlive = false;
      this.finishResponse(null);
    }
    this.socket.destroy();
  };

  private lastError: NodeJS.ErrnoException | undefined;

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    this.lastError = err;
  };

  private readonly onSocketClose = (): void => {
    const wasClosed = this.closed;
    this.closed = true;
    this.connectTimer.stop();
    this.detachBody();
    if (!this.connected) {
      if (!wasClosed)
        this.owner.onConnectFailed(
          this,
          this.lastError ??
            new UpstreamHttp1Error('UND_ERR_SOCKET', 'connection closed while connecting'),
        );
      return;
    }
    const request = this.request;
    this.request = null;
    if (request !== null) {
      const code = this.lastError?.code;
      request.fail(
        code === 'ECONNRESET' || code === 'EPIPE'
          ? this.lastError!
          : new UpstreamHttp1Error(
              'UND_ERR_SOCKET',
              this.responseStarted
                ? 'upstream closed the connection before the response was complete'
                : 'upstream closed the connection before responding',
            ),
      );
    }
    this.owner.onClosed(this, true);
  };
}

function methodExpectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

function isToken(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) if (TOKEN_CHAR[name.charCodeAt(i)] !== 1) return false;
  return true;
}

function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 255 || FIELD_VALUE_CHAR[c] !== 1) return false;
  }
  return true;
}
