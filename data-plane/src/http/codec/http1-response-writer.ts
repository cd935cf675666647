/**
 * The response side of codec-http1.ts: one Http1Stream per exchange (the connection manager's
 * ResponseEncoder) and the connection's Http1ResponseWriter, which serializes responses onto the
 * socket. Framing: Content-Length as given; without it chunked (HTTP/1.1) or delimited by closing
 * (HTTP/1.0); no body on HEAD, 1xx, 204 and 304 whatever the encoder is given; `content-length: 0`
 * for a response that ends with its head. A head waits for its first body chunk so that both
 * leave in one write, at most until the input that produced it has been processed (held-output.ts);
 * encodeData returns false once the socket's unsent
 * bytes reach the buffer limit, and onBelowWriteBufferLowWatermark follows once they have been
 * flushed.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { ResponseEncoder, StreamDecoder } from './codec.js';
import type { HeaderMap, ResponseHeaderMap } from '../header-map.js';
import { serializeFields } from './http1-serialize.js';
import { holdOutput, type HeldOutput } from './held-output.js';

/** `HTTP/1.1 <status> <reason>\r\n` by status: built once per status, not per response. */
const STATUS_LINES: (string | undefined)[] = [];

function statusLine(status: number): string {
  let line = STATUS_LINES[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (status >= 100 && status <= 999) STATUS_LINES[status] = line;
  }
  return line;
}

/** Body chunks up to this size are copied behind the head into one buffer (one write). */
const COALESCE_BYTES = 16 * 1024;

export const enum ResponseFraming {
  None,
  Length,
  Chunked,
  /** HTTP/1.0 without Content-Length: the body ends when the connection closes. */
  Close,
}

/** What a stream needs from its connection. */
export interface Http1StreamOwner {
  readonly writer: Http1ResponseWriter;
  /** Before a head is written: the connection decides whether it stays open afterwards. */
  beforeResponseHead(stream: Http1Stream): void;
  updateReading(): void;
  destroy(): void;
}

/** One request/response exchange: the connection manager's ResponseEncoder for it. */
export class Http1Stream implements ResponseEncoder {
  decoder: StreamDecoder | null = null;
  headersSent = false;
  /** Response completely encoded, or the stream reset: the encoder ignores further calls. */
  done = false;
  requestComplete = false;
  readDisabled = false;
  framing = ResponseFraming.None;

  constructor(
    private readonly owner: Http1StreamOwner,
    readonly headRequest: boolean,
    readonly http10: boolean,
    public keepAlive: boolean,
  ) {}

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.done || this.headersSent) return;
    this.owner.beforeResponseHead(this);
    this.owner.writer.writeHeaders(this, headers, endStream);
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (this.done || !this.headersSent) return !this.done;
    return this.owner.writer.writeData(this, data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (!this.done && this.headersSent) this.owner.writer.writeTrailers(this, trailers);
  }

  readDisable(disabled: boolean): void {
    if (this.done || this.readDisabled === disabled) return;
    this.readDisabled = disabled;
    this.owner.updateReading();
  }

  resetStream(): void {
    if (this.done) return;
    this.done = true;
    this.owner.destroy();
  }

  closeConnectionAfterResponse(): void {
    this.keepAlive = false;
  }
}

/** What the writer reports to its connection. */
export interface ResponseWriterOwner {
  readonly bufferLimitBytes: number;
  /** The response was completely encoded (the stream is done). */
  onResponseComplete(stream: Http1Stream): void;
}

export class Http1ResponseWriter implements HeldOutput {
  /** A response head waiting for its first body bytes (held-output.ts says how long). */
  private pendingHead: string | null = null;
  private waitingForFlush: Http1Stream | null = null;
  private readonly writeFlushedBound = this.onWriteFlushed.bind(this);

  constructor(
    private readonly socket: Socket,
    private readonly owner: ResponseWriterOwner,
  ) {}

  writeHeaders(stream: Http1Stream, headers: ResponseHeaderMap, endStream: boolean): void {
    const status = headers.status;
    const noBody = stream.headRequest || status < 200 || status === 204 || status === 304;
    const fields = serializeFields(headers, status === 204 || status < 200);
    let framingField = '';
    if (noBody) stream.framing = ResponseFraming.None;
    else if (fields.hasContentLength) stream.framing = ResponseFraming.Length;
    else if (endStream) framingField = 'content-length: 0\r\n';
    else if (!stream.http10) {
      stream.framing = ResponseFraming.Chunked;
      framingField = 'transfer-encoding: chunked\r\n';
    } else {
      stream.framing = ResponseFraming.Close;
      stream.keepAlive = false;
    }
    const connectionField = !stream.keepAlive
      ? 'connection: close\r\n'
      : stream.http10
        ? 'connection: keep-alive\r\n'
        : '';
    const head = `${statusLine(status)}${fields.text}${framingField}${connectionField}\r\n`;
    stream.headersSent = true;
    if (endStream) {
      this.socket.write(head, 'latin1');
      this.finishResponse(stream);
      return;
    }
    // Held until the first body chunk (or the end of the input being processed, or of this
    // tick), so that both leave in one write.
    this.pendingHead = head;
    holdOutput(this);
  }

  writeData(stream: Http1Stream, data: Buffer, endStream: boolean): boolean {
    const socket = this.socket;
    const limit = this.owner.bufferLimitBytes;
    const above = data.length > 0 && socket.writableLength + data.length >= limit;
    const onFlushed = above ? this.writeFlushedBound : undefined;
    switch (stream.framing) {
      case ResponseFraming.Length:
      case ResponseFraming.Close:
        if (data.length > 0) this.writeBody('', data, '', onFlushed);
        break;
      case ResponseFraming.Chunked:
        if (data.length > 0)
          this.writeBody(
            `${data.length.toString(16)}\r\n`,
            data,
            endStream ? '\r\n0\r\n\r\n' : '\r\n',
            onFlushed,
          );
        else if (endStream) this.writeText('0\r\n\r\n');
        break;
      case ResponseFraming.None:
        break;
    }
    if (endStream) this.finishResponse(stream);
    if (above && !stream.done) {
      this.waitingForFlush = stream;
      return false;
    }
    return true;
  }

  /**
   * Writes `prefix + data + suffix` (latin1 text around body bytes) after any held head, as one
   * buffer when small (one write, no writev) and as a corked sequence otherwise (no copy).
   */
  private writeBody(
    prefix: string,
    data: Buffer,
    suffix: string,
    onFlushed: (() => void) | undefined,
  ): void {
    const socket = this.socket;
    const before = this.pendingHead === null ? prefix : this.pendingHead + prefix;
    this.pendingHead = null;
    if (data.length <= COALESCE_BYTES) {
      const size = before.length + data.length + suffix.length;
      const buffer = Buffer.allocUnsafe(size);
      buffer.write(before, 0, 'latin1');
      buffer.set(data, before.length);
      if (suffix !== '') buffer.write(suffix, before.length + data.length, 'latin1');
      socket.write(buffer, onFlushed);
      return;
    }
    socket.cork();
    if (before !== '') socket.write(before, 'latin1');
    socket.write(data, onFlushed);
    if (suffix !== '') socket.write(suffix, 'latin1');
    socket.uncork();
  }

  private writeText(text: string): void {
    const head = this.pendingHead;
    this.pendingHead = null;
    this.socket.write(head === null ? text : head + text, 'latin1');
  }

  /** Writes a held head now (before closing, or at the end of the tick). */
  flushHead(): void {
    const head = this.pendingHead;
    if (head === null) return;
    this.pendingHead = null;
    this.socket.write(head, 'latin1');
  }

  writeTrailers(stream: Http1Stream, trailers: HeaderMap): void {
    if (stream.framing === ResponseFraming.Chunked) {
      this.writeText(`0\r\n${serializeFields(trailers, true).text}\r\n`);
    } else if (stream.framing === ResponseFraming.Close) {
      // Trailers cannot be sent without chunked framing; the body ends here.
    }
    this.finishResponse(stream);
  }

  private onWriteFlushed(): void {
    const stream = this.waitingForFlush;
    if (stream === null || this.socket.writableLength >= this.owner.bufferLimitBytes) return;
    this.waitingForFlush = null;
    if (!stream.done) stream.decoder?.onBelowWriteBufferLowWatermark();
  }

  private finishResponse(stream: Http1Stream): void {
    stream.done = true;
    this.flushHead();
    if (this.waitingForFlush === stream) this.waitingForFlush = null;
    this.owner.onResponseComplete(stream);
  }
}
