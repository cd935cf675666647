/**
 * The response side of codec-http1.ts: one Http1Stream per exchange (the connection manager's
 * ResponseEncoder) and the connection's Http1ResponseWriter, which serializes responses onto the
 * socket. Framing: Content-Length as given; without it chunked (HTTP/1.1) or delimited by closing
 * (HTTP/1.0); no body on HEAD, 1xx, 204 and 304 whatever the encoder is given; `content-length: 0`
 * for a response that ends with its head. Everything goes through the connection's SocketOutput,
 * so a head and the body bytes that follow it in the same event-loop pass leave in one write;
 * encodeData returns false once the bytes not yet written reach the buffer limit, and
 * onBelowWriteBufferLowWatermark follows once they have been written.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { ResponseEncoder, StreamDecoder } from './codec.js';
import type { HeaderMap, ResponseHeaderMap } from '../header-map.js';
import { serializeFields } from './http1-serialize.js';
import { SocketOutput } from './socket-output.js';

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

export class Http1ResponseWriter {
  readonly output: SocketOutput;
  private waitingForFlush: Http1Stream | null = null;
  private readonly writeFlushedBound = this.onWriteFlushed.bind(this);

  constructor(
    socket: Socket,
    private readonly owner: ResponseWriterOwner,
  ) {
    this.output = new SocketOutput(socket);
  }

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
    this.output.writeText(head);
    if (endStream) this.finishResponse(stream);
  }

  writeData(stream: Http1Stream, data: Buffer, endStream: boolean): boolean {
    const output = this.output;
    const above =
      data.length > 0 && output.bufferedBytes + data.length >= this.owner.bufferLimitBytes;
    const onWritten = above ? this.writeFlushedBound : undefined;
    switch (stream.framing) {
      case ResponseFraming.Length:
      case ResponseFraming.Close:
        if (data.length > 0) output.write(data, onWritten);
        break;
      case ResponseFraming.Chunked:
        if (data.length > 0) {
          output.writeText(`${data.length.toString(16)}\r\n`);
          output.write(data, onWritten);
          output.writeText(endStream ? '\r\n0\r\n\r\n' : '\r\n');
        } else if (endStream) output.writeText('0\r\n\r\n');
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

  writeTrailers(stream: Http1Stream, trailers: HeaderMap): void {
    if (stream.framing === ResponseFraming.Chunked) {
      this.output.writeText(`0\r\n${serializeFields(trailers, true).text}\r\n`);
    } else if (stream.framing === ResponseFraming.Close) {
      // Trailers cannot be sent without chunked framing; the body ends here.
    }
    this.finishResponse(stream);
  }

  private onWriteFlushed(): void {
    const stream = this.waitingForFlush;
    if (stream === null || this.output.bufferedBytes >= this.owner.bufferLimitBytes) return;
    this.waitingForFlush = null;
    if (!stream.done) stream.decoder?.onBelowWriteBufferLowWatermark();
  }

  private finishResponse(stream: Http1Stream): void {
    stream.done = true;
    if (this.waitingForFlush === stream) this.waitingForFlush = null;
    this.owner.onResponseComplete(stream);
  }
}
