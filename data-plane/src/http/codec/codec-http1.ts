/**
 * ferry-proxy's HTTP/1.1 server codec (Envoy's Http1::ServerConnectionImpl): request heads
 * through llhttp (http1-parser.ts; the commonest ones through http1-simple-request-head.ts)
 * checked by http1-request-head.ts, bodies framed here
 * (Content-Length counted, chunked decoded by http1-chunked.ts) and handed on as views of the
 * socket's buffers, responses serialized straight onto the socket (http1-response-writer.ts).
 * No IncomingMessage / ServerResponse; per request one Http1Stream and the head's
 * RequestHeaderMap are allocated.
 *
 * Connection rules (see codec.ts for the stream contract):
 * - one request at a time: bytes of a pipelined request are held (and the socket paused) until
 *   the current response has been completely encoded; nothing is parsed after an error;
 * - a rejected head gets `status` with `connection: close`, then protocolError, and no stream;
 * - keep-alive by llhttp's reading of Connection (HTTP/1.0 only with `keep-alive`); a response
 *   that completes before its request body closes the connection (`connection: close`);
 * - request_headers_timeout runs from a head's first byte to its last (408); idle_timeout runs
 *   while no stream is active and closes the connection;
 * - responses are written by http1-response-writer.ts (framing, backpressure), through the
 *   connection's SocketOutput: once per event-loop pass, and before the connection ends or is
 *   handed over for an upgrade;
 * - the client closing its side (FIN) after a complete request lets the response finish, then the
 *   connection closes; before the request is complete it resets the stream (remote-close).
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type {
  CodecSettings,
  DownstreamConnectionInfo,
  ServerConnectionCallbacks,
  StreamResetReason,
} from './codec.js';
import { HeaderMap } from '../header-map.js';
import { ChunkedDecoder, type ChunkedBodySink } from './http1-chunked.js';
import { Http1HeadError, Http1HeadParser } from './http1-parser.js';
import {
  BodyFraming,
  ParsedRequest,
  readRequestHead,
  UpgradeKind,
  type RequestHeadFields,
} from './http1-request-head.js';
import { Http1SimpleRequestHead } from './http1-simple-request-head.js';
import { ConnectionTimer } from './connection-timer.js';
import {
  Http1ResponseWriter,
  Http1Stream,
  type Http1StreamOwner,
  type ResponseWriterOwner,
} from './http1-response-writer.js';

const EMPTY = Buffer.alloc(0);
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

const enum Phase {
  /** Waiting for (or reading) a request head; a response may still be in progress. */
  Head,
  /** Reading the current request's body. */
  Body,
  /** Nothing more is read; the socket is closing or closed. */
  Closed,
  /** Handed over to the upgrade callback. */
  Upgraded,
}

/** Serves one accepted connection; the listener calls `serveHttp1` and keeps it for drain. */
export class Http1ServerConnection
  implements ChunkedBodySink, Http1StreamOwner, ResponseWriterOwner
{
  readonly writer: Http1ResponseWriter;
  private readonly parser = new Http1HeadParser('request');
  private readonly simpleHead = new Http1SimpleRequestHead();
  private readonly parsed = new ParsedRequest();
  private readonly chunked: ChunkedDecoder;
  private readonly scheme: string;
  private readonly headersTimer: ConnectionTimer;
  private readonly idleTimer: ConnectionTimer;
  private readonly resumeHeldInputBound = this.resumeHeldInput.bind(this);
  private settings: CodecSettings;
  private phase = Phase.Head;
  private stream: Http1Stream | null = null;
  private heldInput: Buffer | null = null;
  private headStarted = false;
  private bodyRemaining = 0;
  private processing = false;
  private paused = false;
  /** close() was called or the client half-closed: no request after the current one. */
  private closing = false;
  private destroyedLocally = false;

  constructor(
    private readonly socket: Socket,
    private readonly callbacks: ServerConnectionCallbacks,
    private readonly info: DownstreamConnectionInfo,
  ) {
    this.settings = callbacks.settings();
    this.writer = new Http1ResponseWriter(socket, this);
    this.scheme = info.encrypted ? 'https' : 'http';
    this.chunked = new ChunkedDecoder(this, this.settings.maxRequestHeadersBytes);
    this.headersTimer = new ConnectionTimer(this.onHeadersTimeout.bind(this));
    this.idleTimer = new ConnectionTimer(this.onIdleTimeout.bind(this));
    socket.setNoDelay(true);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('close', this.onSocketClose);
    socket.on('error', this.onSocketError);
    this.idleTimer.arm(this.settings.idleTimeoutMs);
  }

  /** Graceful: the in-flight response (if any) completes with `connection: close`, then FIN. */
  close(): void {
    if (this.phase >= Phase.Closed) return;
    this.closing = true;
    if (this.stream === null) this.endConnection();
  }

  /** Now: the socket is destroyed and an active stream reset (local-reset). */
  destroy(): void {
    if (this.phase === Phase.Upgraded || this.destroyedLocally) return;
    this.destroyedLocally = true;
    this.phase = Phase.Closed;
    this.socket.destroy();
  }

  // ---- reading -------------------------------------------------------------------------------

  private readonly onSocketData = (chunk: Buffer): void => {
    if (this.phase >= Phase.Closed) return;
    let data = chunk;
    if (this.heldInput !== null) {
      data = Buffer.concat([this.heldInput, chunk]);
      this.heldInput = null;
    }
    this.process(data, 0);
  };

  private process(data: Buffer, from: number): void {
    this.processing = true;
    let offset = from;
    while (offset < data.length) {
      if (this.phase === Phase.Head) {
        if (this.stream !== null) {
          this.holdInput(data, offset);
          break;
        }
        offset = this.readHead(data, offset);
      } else if (this.phase === Phase.Body) {
        if (this.stream !== null && this.stream.readDisabled) {
          this.holdInput(data, offset);
          break;
        }
        offset = this.readBody(data, offset);
      } else break;
    }
    this.processing = false;
  }

  /** Returns the offset after what was consumed; a refused or handed-over head ends the input. */
  private readHead(data: Buffer, offset: number): number {
    const first = !this.headStarted;
    if (first) {
      this.settings = this.callbacks.settings();
      const length = this.simpleHead.parse(data, offset, this.settings.maxRequestHeadersBytes);
      if (length >= 0) return this.headRead(this.simpleHead, data, offset + length);
      this.headStarted = true;
      this.parser.begin(this.settings.maxRequestHeadersBytes);
    }
    const result = this.parser.execute(offset === 0 ? data : data.subarray(offset));
    if (result instanceof Http1HeadError) {
      this.refuse(result.status);
      return data.length;
    }
    if (!this.parser.headComplete) {
      // The countdown starts with the head's first bytes, which are being processed now; a head
      // that arrives whole never needs it.
      if (first) this.headersTimer.arm(this.settings.requestHeadersTimeoutMs);
      return data.length;
    }
    this.headStarted = false;
    if (!first) this.headersTimer.disarm();
    return this.headRead(this.parser, data, offset + result);
  }

  /** A complete head (whose bytes end at `bodyStart`) starts a stream or is refused. */
  private headRead(fields: RequestHeadFields, data: Buffer, bodyStart: number): number {
    const error = readRequestHead(fields, this.scheme, this.settings, this.parsed);
    if (error !== undefined) {
      this.refuse(error.status);
      return data.length;
    }
    if (this.parsed.upgrade !== UpgradeKind.None) {
      this.handOver(data.subarray(bodyStart));
      return data.length;
    }
    this.startStream();
    return bodyStart;
  }

  private startStream(): void {
    const parsed = this.parsed;
    const head = parsed.head!;
    parsed.head = undefined;
    this.idleTimer.disarm();
    const endStream = parsed.framing === BodyFraming.None;
    const stream = new Http1Stream(
      this,
      head.method === 'HEAD',
      head.protocol === 'HTTP/1.0',
      parsed.keepAlive && !this.closing,
    );
    this.stream = stream;
    if (endStream) stream.requestComplete = true;
    else {
      this.phase = Phase.Body;
      this.bodyRemaining = parsed.contentLength;
      if (parsed.framing === BodyFraming.Chunked)
        this.chunked.reset(this.settings.maxRequestHeadersBytes);
      if (parsed.expectContinue) this.writer.output.writeText(CONTINUE);
    }
    stream.decoder = this.callbacks.newStream(head, stream, this.info, endStream);
  }

  private readBody(data: Buffer, offset: number): number {
    const stream = this.stream;
    if (this.parsed.framing === BodyFraming.Chunked) {
      const next = this.chunked.decode(data, offset);
      if (next < 0) {
        this.failStream();
        return data.length;
      }
      return next;
    }
    const take = Math.min(this.bodyRemaining, data.length - offset);
    this.bodyRemaining -= take;
    const end = this.bodyRemaining === 0;
    if (end) this.requestDone();
    const chunk =
      offset === 0 && take === data.length ? data : data.subarray(offset, offset + take);
    if (stream !== null && !stream.done) stream.decoder?.decodeData(chunk, end);
    return offset + take;
  }

  get bodyPaused(): boolean {
    return this.stream === null || this.stream.readDisabled || this.phase !== Phase.Body;
  }

  onChunkedData(data: Buffer): void {
    const stream = this.stream;
    if (stream !== null && !stream.done && data.length > 0) stream.decoder?.decodeData(data, false);
  }

  onChunkedEnd(rawTrailers: string[]): void {
    const stream = this.stream;
    this.requestDone();
    if (stream === null || stream.done || stream.decoder === null) return;
    if (rawTrailers.length === 0) {
      stream.decoder.decodeData(EMPTY, true);
      return;
    }
    stream.decoder.decodeTrailers(fieldsToMap(rawTrailers));
  }

  private requestDone(): void {
    if (this.stream !== null) this.stream.requestComplete = true;
    this.phase = this.phase === Phase.Body ? Phase.Head : this.phase;
    if (this.stream !== null && this.stream.done) this.afterResponse(this.stream);
  }

  private holdInput(data: Buffer, offset: number): void {
    this.heldInput = offset === 0 ? data : data.subarray(offset);
    this.updateReading();
  }

  /**
   * Pauses the socket while the stream's reading is disabled or a pipelined request waits for the
   * current response; once neither holds, reading resumes and held bytes are processed.
   */
  updateReading(): void {
    if (this.phase >= Phase.Closed) return;
    const stream = this.stream;
    const disabled = stream !== null && stream.readDisabled && !stream.requestComplete;
    const waitingForResponse =
      this.heldInput !== null && stream !== null && this.phase === Phase.Head;
    const pause = disabled || waitingForResponse;
    if (pause !== this.paused) {
      this.paused = pause;
      if (pause) this.socket.pause();
      else this.socket.resume();
    }
    if (!pause && this.heldInput !== null && !this.processing)
      process.nextTick(this.resumeHeldInputBound);
  }

  private resumeHeldInput(): void {
    if (this.processing || this.phase >= Phase.Closed) return;
    const held = this.heldInput;
    if (held === null) return;
    this.heldInput = null;
    this.process(held, 0);
    this.updateReading();
  }

  // ---- writing -------------------------------------------------------------------------------

  get bufferLimitBytes(): number {
    return this.settings.bufferLimitBytes;
  }

  beforeResponseHead(stream: Http1Stream): void {
    // A response that completes before its request can not leave the connection reusable.
    if (!stream.requestComplete || this.closing) stream.keepAlive = false;
  }

  onResponseComplete(stream: Http1Stream): void {
    if (stream.requestComplete || !stream.keepAlive) this.afterResponse(stream);
  }

  /** The response is complete (and the request too, or the connection is closing). */
  private afterResponse(stream: Http1Stream): void {
    if (this.stream !== stream) return;
    if (!stream.keepAlive || this.closing) {
      this.endConnection();
      return;
    }
    this.stream = null;
    this.idleTimer.arm(this.settings.idleTimeoutMs);
    this.updateReading();
  }

  // ---- errors, timeouts, closing -------------------------------------------------------------

  /** A request refused before any stream existed. */
  private refuse(status: number): void {
    if (this.phase >= Phase.Closed) return;
    this.writer.output.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
    this.shutDown();
    this.callbacks.protocolError(status, this.info);
  }

  /** The request body was malformed: the stream is reset, the client gets 400 if it can. */
  private failStream(): void {
    const stream = this.stream;
    if (stream === null || stream.headersSent) {
      this.resetActiveStream('connection-error');
      this.destroy();
      return;
    }
    this.resetActiveStream('connection-error');
    this.refuse(400);
  }

  private resetActiveStream(reason: StreamResetReason): void {
    const stream = this.stream;
    if (stream === null || stream.done) return;
    stream.done = true;
    stream.decoder?.onResetStream(reason);
  }

  private handOver(rest: Buffer): void {
    const head = this.parsed.head!;
    this.parsed.head = undefined;
    if (this.callbacks.upgrade === undefined) {
      this.refuse(this.parsed.upgrade === UpgradeKind.Connect ? 404 : 403);
      return;
    }
    this.phase = Phase.Upgraded;
    this.detach();
    this.callbacks.upgrade(head, this.socket, rest, this.info);
  }

  private onHeadersTimeout(): void {
    if (this.phase === Phase.Head && this.headStarted && this.stream === null) this.refuse(408);
  }

  private onIdleTimeout(): void {
    if (this.stream === null && this.phase < Phase.Closed) this.endConnection();
  }

  private endConnection(): void {
    if (this.phase >= Phase.Closed) return;
    this.writer.output.end();
    this.shutDown();
  }

  /** Stops reading and timers; the socket finishes closing on its own. */
  private shutDown(): void {
    this.phase = Phase.Closed;
    this.heldInput = null;
    this.headersTimer.stop();
    this.idleTimer.stop();
  }

  private detach(): void {
    // What earlier responses left queued goes before whatever the new owner writes.
    this.writer.output.flush();
    this.socket.pause();
    this.socket.removeListener('data', this.onSocketData);
    this.socket.removeListener('end', this.onSocketEnd);
    this.socket.removeListener('close', this.onSocketClose);
    this.socket.removeListener('error', this.onSocketError);
    this.headersTimer.stop();
    this.idleTimer.stop();
    this.parser.close();
  }

  private readonly onSocketEnd = (): void => {
    const stream = this.stream;
    if (stream !== null && !stream.done && stream.requestComplete) {
      // Half-close after a complete request: answer it, then close.
      this.closing = true;
      return;
    }
    if (stream !== null && !stream.done) {
      this.resetActiveStream('remote-close');
      this.destroy();
      return;
    }
    this.endConnection();
  };

  private readonly onSocketClose = (hadError: boolean): void => {
    this.shutDown();
    this.parser.close();
    this.resetActiveStream(
      this.destroyedLocally ? 'local-reset' : hadError ? 'connection-error' : 'remote-close',
    );
  };

  private readonly onSocketError = (): void => {
    // 'close' follows with hadError and resets the active stream.
  };
}

function fieldsToMap(raw: string[]): HeaderMap {
  const map = new HeaderMap();
  for (let i = 0; i < raw.length; i += 2) map.append(raw[i]!, raw[i + 1]!);
  return map;
}

/** Starts serving `socket` as an HTTP/1.x server connection. */
export function serveHttp1(
  socket: Socket,
  callbacks: ServerConnectionCallbacks,
  connection: DownstreamConnectionInfo,
): Http1ServerConnection {
  return new Http1ServerConnection(socket, callbacks, connection);
}
