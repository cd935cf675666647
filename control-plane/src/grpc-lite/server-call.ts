/**
 * One gRPC call on one HTTP/2 stream. Per call the server keeps this object, the stream's link to
 * it and, only while needed, a message decoder, a deadline timer and pending trailers; the
 * stream's listeners are module functions shared by every call (no closure per call).
 *
 * The surface follows grpc-js's server calls (`data`, `end`, `cancelled`, `close` events;
 * `write` with backpressure and `drain`; `end`; `emit('error', { code, details })` ends the call
 * with that status; `pause`/`resume`; `metadata`; `getPeer`; `getAuthContext`; `getDeadline`), so
 * handlers written for grpc-js run unchanged. Handlers must attach their `data` listener (or
 * their consumer, `consume`) before returning: messages are not buffered for a late reader.
 */
import { EventEmitter } from 'node:events';
import {
  constants as http2Constants,
  type ServerHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { formatHostPort } from '@ferry/shared';
import {
  decodeChunk,
  frameMessage,
  MessageDecoder,
  type FramingError,
  type MessageSink,
} from './framing.js';
import { encodeGrpcMessage } from './wire.js';

/** What `getAuthContext()` returns, as grpc-js defines it. */
export interface LiteAuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}

/** How a method's messages are (de)serialized and which handler shape it has. */
export interface LiteMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  readonly responseSerialize: (value: never) => Buffer;
  readonly handler: LiteHandler;
  /** Largest request message accepted (the server's limit). */
  readonly maxReceiveLength: number;
  /** The server's gate, run in front of the handler (see `LiteCallGate`). */
  readonly gate: LiteCallGate | undefined;
}

/**
 * Runs in front of every call's handler, for decisions such as authorization that must hold
 * before a handler sees anything. A gate keeps what it needs per call in `call.gateState`.
 */
export interface LiteCallGate {
  /**
   * Before the handler starts and before any message is read: the request metadata, peer and
   * TLS peer are known. Ending the call here (`sendStatus`) refuses it; the handler never runs.
   */
  open(call: LiteServerCall): void;
  /**
   * Each request message, before the handler sees it. False drops the message; the gate has
   * then ended the call (`sendStatus`).
   */
  message(call: LiteServerCall, message: unknown): boolean;
  /**
   * Once per call, when its status is sent or it is cancelled, however it ends (also for a call
   * ended before `open`, e.g. by a malformed `grpc-timeout`).
   */
  ended(call: LiteServerCall): void;
}

/**
 * Takes a call's messages and its end through methods instead of events (`consume`): a
 * long-lived call, such as an xDS stream held by every connected proxy, then costs no listener
 * and no closure.
 */
export interface LiteCallConsumer {
  /** One request message, in place of the `data` event. */
  onCallMessage(message: unknown): void;
  /** The client half-closed its side, in place of the `end` event. */
  onCallEnd(): void;
  /**
   * Called once when the call is over: its stream closed, the client cancelled it, its deadline
   * passed, or its request stream was malformed (the `cancelled`, `error` and `close` events).
   */
  onCallOver(): void;
}

/** A status a handler ends a call with (grpc-js's `ServerErrorResponse`/`StatusObject` shape). */
export interface LiteStatus {
  readonly code?: number;
  readonly details?: string;
  readonly message?: string;
  readonly metadata?: Metadata | null;
}

const HEADERS_SENT = 1;
const STATUS_SENT = 2;
const CLOSED = 4;
const CANCELLED = 8;
const WAITING_DRAIN = 16;
const REQUEST_RECEIVED = 32;
const CONSUMER_TOLD_OVER = 64;

const kCall = Symbol('grpc-lite call');
type LinkedStream = ServerHttp2Stream & { [kCall]?: LiteServerCall };

const GRPC_CONTENT_TYPE = 'application/grpc+proto';
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LiteServerCall extends EventEmitter implements MessageSink {
  /** The request of a unary or server-streaming call, once received. */
  request: unknown = undefined;
  /** What the server's gate keeps for this call (undefined without a gate). */
  gateState: unknown = undefined;
  private flags = 0;
  private decoder: MessageDecoder | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineAt = Number.POSITIVE_INFINITY;
  private trailers: OutgoingHttpHeaders | null = null;
  private cachedMetadata: Metadata | null = null;
  /** The request's custom headers, until `metadata` is first read; null when there are none. */
  private headers: Record<string, string | string[]> | null;
  private consumer: LiteCallConsumer | null = null;

  constructor(
    readonly stream: ServerHttp2Stream,
    private readonly method: LiteMethod,
    headers: IncomingHttpHeaders,
  ) {
    super();
    this.headers = customHeaders(headers);
    (stream as LinkedStream)[kCall] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
    stream.on('error', onStreamError);
  }

  /**
   * Sends the call's messages and end to `consumer` from now on instead of emitting `data` and
   * `end` (the other events are still emitted).
   */
  consume(consumer: LiteCallConsumer): void {
    this.consumer = consumer;
  }

  /** True once the client cancelled the call, its deadline passed, or the stream closed early. */
  get cancelled(): boolean {
    return (this.flags & CANCELLED) !== 0;
  }

  /**
   * The request metadata: the request's headers but for pseudo-headers and those of the gRPC
   * and HTTP transport (`content-type`, `te`, `user-agent`, `grpc-timeout`, the encodings), which
   * the server has consumed. Built on first use.
   */
  get metadata(): Metadata {
    if (this.cachedMetadata === null) {
      this.cachedMetadata =
        this.headers === null ? new Metadata() : Metadata.fromHttp2Headers(this.headers);
      this.headers = null;
    }
    return this.cachedMetadata;
  }

  /**
   * Arms the call's deadline (from `grpc-timeout`). One beyond a timer's range (~24.8 days) is
   * kept as a date but never fires.
   */
  setDeadline(timeoutMs: number): void {
    this.deadlineAt = Date.now() + timeoutMs;
    if (timeoutMs > MAX_TIMER_MS) return;
    this.deadlineTimer = setTimeout(onDeadline, timeoutMs, this);
    this.deadlineTimer.unref();
  }

  getDeadline(): number {
    return this.deadlineAt;
  }

  getPath(): string {
    return this.method.path;
  }

  getPeer(): string {
    const socket = this.stream.session?.socket;
    const address = socket?.remoteAddress;
    if (address === undefined) return 'unknown';
    return formatHostPort(address, socket!.remotePort ?? 0);
  }

  getAuthContext(): LiteAuthContext {
    const socket = this.stream.session?.socket as TLSSocket | undefined;
    if (socket === undefined || socket.encrypted !== true) return {};
    const certificate = socket.getPeerCertificate();
    return {
      transportSecurityType: 'ssl',
      ...(certificate !== null && Object.keys(certificate).length > 0
        ? { sslPeerCertificate: certificate }
        : {}),
    };
  }

  /** Sends the response headers with `metadata` now instead of with the first message. */
  sendMetadata(metadata: Metadata): void {
    if ((this.flags & (HEADERS_SENT | STATUS_SENT | CLOSED)) !== 0) return;
    this.flags |= HEADERS_SENT;
    this.stream.respond(
      { ...metadata.toHttp2Headers(), ...RESPONSE_HEADERS },
      RESPOND_WITH_TRAILERS,
    );
  }

  /**
   * Sends one message. Returns false when the stream's buffer is full: wait for `drain` before
   * writing more. `callback` runs once the message is handed to the session (or fails).
   */
  write(message: unknown, callback?: (error?: Error | null) => void): boolean {
    if ((this.flags & (STATUS_SENT | CLOSED)) !== 0) {
      if (callback !== undefined) process.nextTick(callback, new Error('the call has ended'));
      return false;
    }
    let bytes: Buffer;
    try {
      bytes = (this.method.responseSerialize as (value: unknown) => Buffer)(message);
    } catch (error) {
      this.sendStatus({
        code: status.INTERNAL,
        details: `could not serialize the response: ${(error as Error).message}`,
      });
      if (callback !== undefined) process.nextTick(callback, error);
      return false;
    }
    return this.send(frameMessage(bytes), callback);
  }

  /**
   * Sends one message that the caller has already framed (5-byte prefix, uncompressed, as
   * `frameMessage` builds it), without the method's serializer and without a copy: for responses
   * built once and shared by many calls but for a few bytes. Returns as `write` does.
   */
  writeFrame(frame: Buffer): boolean {
    if ((this.flags & (STATUS_SENT | CLOSED)) !== 0) return false;
    return this.send(frame, undefined);
  }

  /**
   * Bytes of messages written and not yet taken by the transport: they wait for the client's
   * HTTP/2 flow-control window or for the socket.
   */
  get pendingBytes(): number {
    return this.stream.writableLength;
  }

  private send(frame: Buffer, callback: ((error?: Error | null) => void) | undefined): boolean {
    if ((this.flags & HEADERS_SENT) === 0) {
      this.flags |= HEADERS_SENT;
      this.stream.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
    }
    const flushed = this.stream.write(frame, callback);
    if (!flushed && (this.flags & WAITING_DRAIN) === 0) {
      this.flags |= WAITING_DRAIN;
      this.stream.once('drain', onStreamDrain);
    }
    return flushed;
  }

  /** Ends the call with status OK and optional trailing metadata. */
  end(metadata?: Metadata): void {
    this.sendStatus({ code: status.OK, details: '', metadata: metadata ?? null });
  }

  /** Ends the call with `outcome`'s code (UNKNOWN when missing) and message. */
  sendStatus(outcome: LiteStatus | StatusObject): void {
    if ((this.flags & STATUS_SENT) !== 0) return;
    this.flags |= STATUS_SENT;
    this.clearDeadline();
    this.method.gate?.ended(this);
    if ((this.flags & CLOSED) !== 0 || this.stream.destroyed) return;
    const code = typeof outcome.code === 'number' ? outcome.code : status.UNKNOWN;
    const details = outcome.details ?? (outcome as LiteStatus).message ?? '';
    const trailers: OutgoingHttpHeaders =
      outcome.metadata !== null && outcome.metadata !== undefined
        ? outcome.metadata.toHttp2Headers()
        : {};
    trailers['grpc-status'] = String(code);
    if (details !== '') trailers['grpc-message'] = encodeGrpcMessage(details);
    if ((this.flags & HEADERS_SENT) === 0) {
      // Trailers-Only: one HEADERS frame that ends the stream.
      this.flags |= HEADERS_SENT;
      this.stream.respond({ ...RESPONSE_HEADERS, ...trailers }, END_STREAM);
      return;
    }
    this.trailers = trailers;
    this.stream.once('wantTrailers', onWantTrailers);
    this.stream.end();
  }

  /**
   * Ends the call now, dropping whatever is queued for it: the stream is reset with
   * ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED. For a client that stopped
   * reading, whose queued messages (and so a status sent after them) would never be written.
   */
  reset(): void {
    if ((this.flags & STATUS_SENT) === 0) {
      this.flags |= STATUS_SENT;
      this.clearDeadline();
      this.method.gate?.ended(this);
    }
    if (!this.stream.destroyed && !this.stream.closed) {
      this.stream.close(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  pause(): this {
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.stream.resume();
    return this;
  }

  /**
   * `emit('error', { code, details })` ends the call with that status, as it does on a grpc-js
   * server call; listeners still receive it, and an unheard error does not throw.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') {
      const outcome = (args[0] ?? {}) as LiteStatus;
      this.sendStatus(outcome);
      return this.listenerCount('error') > 0 ? super.emit(event, ...args) : false;
    }
    return super.emit(event, ...args);
  }

  /** Decoder output: one request message. */
  onMessage(bytes: Buffer): void {
    if ((this.flags & STATUS_SENT) !== 0) return;
    let message: unknown;
    try {
      message = this.method.requestDeserialize(bytes);
    } catch (error) {
      this.sendStatus({
        code: status.INTERNAL,
        details: `could not parse the request message: ${(error as Error).message}`,
      });
      return;
    }
    if (this.method.gate !== undefined && !this.method.gate.message(this, message)) return;
    if (this.method.requestStream) {
      if (this.consumer !== null) this.consumer.onCallMessage(message);
      else super.emit('data', message);
      return;
    }
    if ((this.flags & REQUEST_RECEIVED) !== 0) {
      this.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `received a second request message for non-client-streaming method ${this.method.path}`,
      });
      return;
    }
    this.flags |= REQUEST_RECEIVED;
    this.request = message;
  }

  /** @internal */
  receive(chunk: Buffer): void {
    if ((this.flags & STATUS_SENT) !== 0) return;
    const state = decodeChunk(this.decoder, chunk, this, this.method.maxReceiveLength);
    if (state !== null && !(state instanceof MessageDecoder)) {
      this.failFraming(state);
      return;
    }
    // Kept only while a message is split across chunks (a closed call keeps none).
    if ((this.flags & CLOSED) === 0) this.decoder = state;
  }

  /** @internal The client half-closed its side. */
  receiveEnd(): void {
    if ((this.flags & STATUS_SENT) !== 0) return;
    if (this.decoder?.partial === true) {
      this.failFraming({
        code: status.INTERNAL,
        details: 'the request stream ended inside a message',
      });
      return;
    }
    this.decoder = null;
    if (this.method.requestStream) {
      if (this.consumer !== null) this.consumer.onCallEnd();
      else super.emit('end');
      return;
    }
    if ((this.flags & REQUEST_RECEIVED) === 0) {
      this.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `received no request message for method ${this.method.path}`,
      });
      return;
    }
    this.startSingleRequest();
  }

  /** @internal The stream is gone: closed normally, reset by the client, or its session died. */
  closed(): void {
    if ((this.flags & CLOSED) !== 0) return;
    this.flags |= CLOSED;
    this.clearDeadline();
    this.decoder = null;
    this.trailers = null;
    if ((this.flags & STATUS_SENT) === 0) {
      this.flags |= STATUS_SENT | CANCELLED;
      this.method.gate?.ended(this);
      super.emit('cancelled', 'cancelled');
    }
    this.tellOver();
    super.emit('close');
  }

  /** @internal */
  expire(): void {
    this.deadlineTimer = null;
    if ((this.flags & STATUS_SENT) !== 0) return;
    this.sendStatus({ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    this.flags |= CANCELLED;
    this.tellOver();
    super.emit('cancelled', 'deadline');
  }

  /** @internal */
  sendPendingTrailers(): void {
    const trailers = this.trailers;
    this.trailers = null;
    if (trailers !== null && !this.stream.destroyed) this.stream.sendTrailers(trailers);
  }

  /** @internal */
  drained(): void {
    this.flags &= ~WAITING_DRAIN;
    super.emit('drain');
  }

  private startSingleRequest(): void {
    // Unary and client-streaming handlers answer through a callback, as in grpc-js.
    const handler = this.method.handler as (
      call: LiteServerCall,
      callback?: LiteUnaryCallback,
    ) => void;
    if (this.method.responseStream) handler(this);
    else handler(this, this.unaryCallback());
  }

  /**
   * @internal Runs the gate, then starts the handler of a client-streaming or bidi call (the
   * others start once their request has arrived).
   */
  start(): void {
    if (this.method.gate !== undefined) {
      this.method.gate.open(this);
      if ((this.flags & STATUS_SENT) !== 0) return;
    }
    const handler = this.method.handler as (
      call: LiteServerCall,
      callback?: LiteUnaryCallback,
    ) => void;
    if (!this.method.requestStream) return;
    if (this.method.responseStream) handler(this);
    else handler(this, this.unaryCallback());
  }

  private unaryCallback(): LiteUnaryCallback {
    return (error, value, trailer) => {
      if (error !== null && error !== undefined) {
        this.sendStatus({
          code: error.code ?? status.UNKNOWN,
          details: error.details ?? error.message ?? '',
          metadata: error.metadata ?? trailer ?? null,
        });
        return;
      }
      if (value !== undefined && value !== null) this.write(value);
      this.sendStatus({ code: status.OK, details: '', metadata: trailer ?? null });
    };
  }

  private failFraming(error: FramingError): void {
    this.decoder = null;
    this.sendStatus(error);
    this.tellOver();
    // As on a grpc-js server call: the handler hears of the failure through `error`, if it listens.
    if (this.listenerCount('error') > 0) super.emit('error', { ...error });
  }

  private tellOver(): void {
    if (this.consumer === null || (this.flags & CONSUMER_TOLD_OVER) !== 0) return;
    this.flags |= CONSUMER_TOLD_OVER;
    this.consumer.onCallOver();
  }

  private clearDeadline(): void {
    if (this.deadlineTimer !== null) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = null;
    }
  }
}

/**
 * A method's handler: bidi and server-streaming handlers take the call only; unary and
 * client-streaming ones answer through the callback.
 */
export type LiteHandler = (call: LiteServerCall, callback: LiteUnaryCallback) => void;

/** A service's handlers by method name (as grpc-js's `addService` takes them). */
export type LiteServiceImplementation = Readonly<Record<string, LiteHandler>>;

/** The callback of unary and client-streaming handlers, as in grpc-js. */
export type LiteUnaryCallback = (
  error: (LiteStatus & Partial<Error>) | null | undefined,
  value?: unknown,
  trailer?: Metadata,
) => void;

const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': GRPC_CONTENT_TYPE,
  'grpc-accept-encoding': 'identity',
});
const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true });
const END_STREAM = Object.freeze({ endStream: true });

/** Headers that are transport, not metadata; a call keeps only the others. */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'te',
  'user-agent',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'http2-settings',
]);

/**
 * The custom headers of a request, or null when it has none (an Envoy or grpc-js xDS stream
 * usually has none): a call does not hold node's whole header object, which is a dictionary
 * of a dozen strings.
 */
function customHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> | null {
  let kept: Record<string, string | string[]> | null = null;
  for (const name in headers) {
    if (name.charCodeAt(0) === 0x3a /* ':' */ || TRANSPORT_HEADERS.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    kept ??= {};
    kept[name] = value;
  }
  return kept;
}

function callOf(stream: ServerHttp2Stream): LiteServerCall | undefined {
  return (stream as LinkedStream)[kCall];
}

function onStreamData(this: ServerHttp2Stream, chunk: Buffer): void {
  callOf(this)?.receive(chunk);
}

/**
 * `end` is the client's half-close, unless the stream was aborted (reset by the client, or its
 * session destroyed): node:http2 then ends the readable side too, and `close` follows, where the
 * call is cancelled.
 */
function onStreamEnd(this: ServerHttp2Stream): void {
  if (!this.aborted) callOf(this)?.receiveEnd();
}

function onStreamClose(this: ServerHttp2Stream): void {
  const call = callOf(this);
  (this as LinkedStream)[kCall] = undefined;
  call?.closed();
}

/** Stream errors (resets, session failures) end in `close`, where the call learns of them. */
function onStreamError(): void {}

function onWantTrailers(this: ServerHttp2Stream): void {
  callOf(this)?.sendPendingTrailers();
}

function onStreamDrain(this: ServerHttp2Stream): void {
  callOf(this)?.drained();
}

function onDeadline(call: LiteServerCall): void {
  call.expire();
}
