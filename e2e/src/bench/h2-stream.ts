/**
 * The simulated proxies' transport: one gRPC call (a bidirectional stream) on its own HTTP/2
 * connection, carrying length-prefixed gRPC messages both ways.
 *
 * Two implementations:
 * - `raw` (the default): a minimal HTTP/2 client (RFC 9113, prior knowledge, cleartext) on a plain
 *   TCP socket. It opens stream 1, writes each message as one DATA frame, answers SETTINGS and
 *   PING, keeps both flow-control directions right (Envoy's 256 MiB receive windows, the server's
 *   windows for sending) and treats the end of the stream or connection as a failure. It never
 *   decodes response headers (HPACK): a simulated proxy only needs the stream's DATA, and a HEADERS
 *   frame that ends the stream (trailers) is reported without its grpc-status.
 * - `node`: node:http2's client session and stream.
 *
 * Why `raw`: the control plane's side is the same either way (a real HTTP/2 client on the wire),
 * but 10,000 node:http2 client sessions in one process cost as much CPU during an update as the
 * control plane itself, on the same cores; a real fleet runs on other machines.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { FRAME_HEADER_SIZE, http2Frame, writeFrameHeader } from '@ferry/shared/http2-frame';

export type H2ClientKind = 'raw' | 'node';

export interface GrpcStreamEvents {
  /** A chunk of the response's DATA (gRPC frames, split or joined arbitrarily). */
  onData(chunk: Buffer): void;
  /** The stream or its connection ended or failed. Called at most once, never after destroy(). */
  onFailed(error: Error): void;
}

export interface GrpcStream {
  /**
   * Bytes `write` needs free at the start of each buffer it is given (for the DATA frame's
   * header), so that a message is written without a copy.
   */
  readonly headroom: number;
  /** Writes the gRPC frame that follows `headroom` free bytes in `buffer`. */
  write(buffer: Buffer): void;
  /** Closes the connection; no failure is reported afterwards. Idempotent. */
  destroy(): void;
}

/** Opens a call of `path` on `address` (`host:port`) with the given client. */
export function openGrpcStream(
  kind: H2ClientKind,
  address: string,
  path: string,
  events: GrpcStreamEvents,
): GrpcStream {
  return kind === 'raw'
    ? new RawH2Stream(address, path, events)
    : new NodeHttp2Stream(address, path, events);
}

// ---------------------------------------------------------------------------------------- node

class NodeHttp2Stream implements GrpcStream {
  readonly headroom = 0;
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #events: GrpcStreamEvents;
  #ended = false;

  constructor(address: string, path: string, events: GrpcStreamEvents) {
    this.#events = events;
    const session = http2.connect(`http://${address}`);
    this.#session = session;
    session.on('error', (err: Error) => this.#fail(err));
    session.on('goaway', (code) => this.#fail(new Error(`GOAWAY ${code}`)));
    const stream = session.request(
      { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' },
      { endStream: false },
    );
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => events.onData(chunk));
    stream.on('trailers', (trailers: http2.IncomingHttpHeaders) =>
      this.#fail(
        new Error(
          `stream ended: grpc-status ${String(trailers['grpc-status'])} ${String(trailers['grpc-message'] ?? '')}`,
        ),
      ),
    );
    stream.on('error', (err: Error) => this.#fail(err));
    stream.on('close', () =>
      this.#fail(new Error(`stream closed (HTTP/2 code ${stream.rstCode ?? 'none'})`)),
    );
  }

  write(buffer: Buffer): void {
    if (!this.#ended) this.#stream.write(buffer);
  }

  destroy(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stream.destroy();
    this.#session.destroy();
  }

  #fail(error: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#session.destroy();
    this.#events.onFailed(error);
  }
}

// ----------------------------------------------------------------------------------------- raw

const FRAME_HEADER = FRAME_HEADER_SIZE;
const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
} as const;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
/** HTTP/2's initial window, for both directions until SETTINGS and WINDOW_UPDATE say more. */
const DEFAULT_WINDOW = 65_535;
const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The receive windows Envoy opens by default (initial stream and connection window, 256 MiB). */
const RECEIVE_WINDOW = 256 * 1024 * 1024;
/** The stream this client opens (the first client-initiated stream). */
const STREAM_ID = 1;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** An HPACK integer with an `n`-bit prefix whose other bits are `first` (RFC 7541 §5.1). */
function hpackInteger(value: number, n: number, first: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A string literal without Huffman coding (RFC 7541 §5.2). */
function hpackString(text: string): number[] {
  const bytes = Buffer.from(text, 'latin1');
  return [...hpackInteger(bytes.length, 7, 0), ...bytes];
}

/**
 * The request's header block: `:method POST` and `:scheme http` from the static table (indexes
 * 3 and 6), the rest as literals without indexing with a literal name (RFC 7541 §6.2.2), so the
 * block needs no dynamic table on either side.
 */
function requestHeaderBlock(authority: string, path: string): Buffer {
  const bytes = [0x83, 0x86];
  for (const [name, value] of [
    [':path', path],
    [':authority', authority],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ] as const)
    bytes.push(0x00, ...hpackString(name), ...hpackString(value));
  return Buffer.from(bytes);
}

/** The opening bytes for `authority` and `path`, built once and shared by every stream. */
const openings = new Map<string, Buffer>();

function opening(authority: string, path: string): Buffer {
  const key = `${authority} ${path}`;
  let bytes = openings.get(key);
  if (bytes !== undefined) return bytes;
  const settings = Buffer.alloc(12);
  settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
  settings.writeUInt32BE(RECEIVE_WINDOW, 8);
  const increment = Buffer.allocUnsafe(4);
  increment.writeUInt32BE(RECEIVE_WINDOW - DEFAULT_WINDOW, 0);
  bytes = Buffer.concat([
    PREFACE,
    http2Frame(FrameType.SETTINGS, 0, 0, settings),
    http2Frame(FrameType.WINDOW_UPDATE, 0, 0, increment),
    http2Frame(FrameType.HEADERS, END_HEADERS, STREAM_ID, requestHeaderBlock(authority, path)),
  ]);
  openings.set(key, bytes);
  return bytes;
}

const SETTINGS_ACK = http2Frame(FrameType.SETTINGS, ACK, 0, Buffer.alloc(0));

/** One cleartext HTTP/2 connection with one client stream; see the module comment. */
export class RawH2Stream implements GrpcStream {
  readonly headroom = FRAME_HEADER;
  readonly #socket: net.Socket;
  readonly #events: GrpcStreamEvents;
  /** Bytes of an incomplete frame, waiting for the rest. */
  #pending: Buffer | undefined;
  #ended = false;
  /** What the server lets this client send: on the connection, and on the stream. */
  #sendConnection = DEFAULT_WINDOW;
  #sendStream = DEFAULT_WINDOW;
  #serverInitialWindow = DEFAULT_WINDOW;
  #maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Frames waiting for send window, in order. */
  #queued: Buffer[] = [];
  /** Bytes received since the receive windows were last topped up. */
  #received = 0;

  constructor(address: string, path: string, events: GrpcStreamEvents) {
    this.#events = events;
    const colon = address.lastIndexOf(':');
    const socket = net.connect({
      host: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
      noDelay: true,
    });
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: Error) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('connection closed')));
    socket.write(opening(address, path));
  }

  write(buffer: Buffer): void {
    if (this.#ended) return;
    const length = buffer.length - FRAME_HEADER;
    if (length > this.#maxFrameSize) {
      this.#fail(new Error(`a message of ${length} bytes is over one DATA frame (not supported)`));
      return;
    }
    writeFrameHeader(buffer, 0, length, FrameType.DATA, 0, STREAM_ID);
    if (this.#queued.length > 0 || !this.#trySend(buffer)) this.#queued.push(buffer);
  }

  destroy(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.destroy();
  }

  #trySend(frameBytes: Buffer): boolean {
    const length = frameBytes.length - FRAME_HEADER;
    if (length > this.#sendConnection || length > this.#sendStream) return false;
    this.#sendConnection -= length;
    this.#sendStream -= length;
    this.#socket.write(frameBytes);
    return true;
  }

  #flushQueued(): void {
    while (this.#queued.length > 0 && this.#trySend(this.#queued[0]!)) this.#queued.shift();
  }

  #fail(error: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.destroy();
    this.#events.onFailed(error);
  }

  #onData(chunk: Buffer): void {
    let buffer = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    let offset = 0;
    while (!this.#ended && buffer.length - offset >= FRAME_HEADER) {
      const length = buffer.readUIntBE(offset, 3);
      const end = offset + FRAME_HEADER + length;
      if (end > buffer.length) break;
      const type = buffer[offset + 3]!;
      const flags = buffer[offset + 4]!;
      const streamId = buffer.readUInt32BE(offset + 5) & 0x7fffffff;
      this.#onFrame(type, flags, streamId, buffer.subarray(offset + FRAME_HEADER, end));
      offset = end;
    }
    if (this.#ended || offset === buffer.length) return;
    // Copy the remainder so that a retained tail does not pin a large chunk.
    buffer = buffer.subarray(offset);
    this.#pending = Buffer.from(buffer);
  }

  #onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    switch (type) {
      case FrameType.DATA: {
        if (streamId !== STREAM_ID) return this.#fail(new Error(`DATA on stream ${streamId}`));
        this.#consumed(payload.length);
        let data = payload;
        if ((flags & PADDED) !== 0) data = payload.subarray(1, payload.length - payload[0]!);
        if (data.length > 0) this.#events.onData(data);
        if ((flags & END_STREAM) !== 0) this.#fail(new Error('stream ended without trailers'));
        return;
      }
      case FrameType.HEADERS:
        // Response headers are not decoded (see the module comment); trailers end the call.
        if (streamId === STREAM_ID && (flags & END_STREAM) !== 0)
          this.#fail(new Error('stream ended by the server (trailers are not decoded)'));
        return;
      case FrameType.RST_STREAM:
        if (streamId === STREAM_ID)
          this.#fail(new Error(`stream reset (HTTP/2 code ${payload.readUInt32BE(0)})`));
        return;
      case FrameType.SETTINGS:
        if ((flags & ACK) !== 0) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const value = payload.readUInt32BE(i + 2);
          const id = payload.readUInt16BE(i);
          if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
            this.#sendStream += value - this.#serverInitialWindow;
            this.#serverInitialWindow = value;
          } else if (id === SETTINGS_MAX_FRAME_SIZE) this.#maxFrameSize = value;
        }
        this.#socket.write(SETTINGS_ACK);
        this.#flushQueued();
        return;
      case FrameType.PING:
        if ((flags & ACK) === 0) this.#socket.write(http2Frame(FrameType.PING, ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        return this.#fail(new Error(`GOAWAY ${payload.readUInt32BE(4)}`));
      case FrameType.WINDOW_UPDATE: {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) this.#sendConnection += increment;
        else if (streamId === STREAM_ID) this.#sendStream += increment;
        this.#flushQueued();
        return;
      }
      default:
        // PRIORITY, CONTINUATION (of headers that are not decoded), unknown types: nothing to do.
        return;
    }
  }

  /** Counts received DATA; tops both receive windows up once half of them is used. */
  #consumed(length: number): void {
    this.#received += length;
    if (this.#received < RECEIVE_WINDOW / 2) return;
    const increment = Buffer.allocUnsafe(4);
    increment.writeUInt32BE(this.#received, 0);
    this.#received = 0;
    this.#socket.write(
      Buffer.concat([
        http2Frame(FrameType.WINDOW_UPDATE, 0, 0, increment),
        http2Frame(FrameType.WINDOW_UPDATE, 0, STREAM_ID, increment),
      ]),
    );
  }
}
