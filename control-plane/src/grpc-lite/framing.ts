/**
 * gRPC's length-prefixed message framing over HTTP/2 DATA (gRPC over HTTP/2, "Length-Prefixed-
 * Message"): one byte compressed flag, four bytes big-endian length, then the message. DATA frame
 * boundaries carry no meaning, so the decoder keeps its place across chunks.
 */
import { status } from '@grpc/grpc-js';

export const PREFIX_LENGTH = 5;

/** A framing failure: the status the call ends with and why. */
export interface FramingError {
  readonly code: status;
  readonly details: string;
}

/** Receives each complete message, in order. */
export interface MessageSink {
  onMessage(message: Buffer): void;
}

/** Frames one serialized message (uncompressed). */
export function frameMessage(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(PREFIX_LENGTH + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, PREFIX_LENGTH);
  return frame;
}

/**
 * Incremental decoder for one stream's messages. A message's buffer is allocated once, at its
 * prefix, after the length has been checked against the limit, so a peer cannot make the server
 * buffer more than `maxMessageLength` (plus one chunk) per stream.
 */
export class MessageDecoder {
  /** The prefix bytes seen so far when a chunk ended inside a prefix. */
  private prefix: Buffer | null = null;
  private prefixFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;

  constructor(private readonly maxMessageLength: number) {}

  /** True while a message (or its prefix) has started but not completed. */
  get partial(): boolean {
    return this.prefixFill > 0 || this.body !== null;
  }

  /** Decodes `chunk`; returns the error that ends the stream, or null. */
  push(chunk: Buffer, sink: MessageSink): FramingError | null {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      if (this.body !== null) {
        const take = Math.min(this.body.length - this.bodyFill, length - offset);
        chunk.copy(this.body, this.bodyFill, offset, offset + take);
        this.bodyFill += take;
        offset += take;
        if (this.bodyFill === this.body.length) {
          const message = this.body;
          this.body = null;
          this.bodyFill = 0;
          sink.onMessage(message);
        }
        continue;
      }
      let flag: number;
      let messageLength: number;
      if (this.prefixFill === 0 && length - offset >= PREFIX_LENGTH) {
        flag = chunk[offset]!;
        messageLength = chunk.readUInt32BE(offset + 1);
        offset += PREFIX_LENGTH;
      } else {
        this.prefix ??= Buffer.allocUnsafe(PREFIX_LENGTH);
        const take = Math.min(PREFIX_LENGTH - this.prefixFill, length - offset);
        chunk.copy(this.prefix, this.prefixFill, offset, offset + take);
        this.prefixFill += take;
        offset += take;
        if (this.prefixFill < PREFIX_LENGTH) return null;
        flag = this.prefix[0]!;
        messageLength = this.prefix.readUInt32BE(1);
        this.prefix = null;
        this.prefixFill = 0;
      }
      const error = checkPrefix(flag, messageLength, this.maxMessageLength);
      if (error !== null) return error;
      if (messageLength === 0) {
        sink.onMessage(EMPTY);
        continue;
      }
      // A message inside this chunk is a view on it: no copy.
      if (length - offset >= messageLength) {
        sink.onMessage(chunk.subarray(offset, offset + messageLength));
        offset += messageLength;
        continue;
      }
      this.body = Buffer.allocUnsafe(messageLength);
      this.bodyFill = 0;
    }
    return null;
  }
}

const EMPTY = Buffer.alloc(0);

function checkPrefix(
  flag: number,
  messageLength: number,
  maxMessageLength: number,
): FramingError | null {
  if (flag === 1) {
    return {
      code: status.INTERNAL,
      details: 'received a compressed message, but this server negotiates no message encoding',
    };
  }
  if (flag !== 0) {
    return {
      code: status.INTERNAL,
      details: `malformed message prefix: compressed flag ${flag} (must be 0 or 1)`,
    };
  }
  if (messageLength > maxMessageLength) {
    return {
      code: status.RESOURCE_EXHAUSTED,
      details: `received message larger than max (${messageLength} vs. ${maxMessageLength})`,
    };
  }
  return null;
}

/**
 * Decodes one chunk of a stream whose decoding state is `decoder` (null: no message begun).
 * Returns the state to keep, null when the chunk ended on a message boundary, or the error that
 * ends the stream. Most chunks hold whole messages (an xDS ACK is one small DATA frame): those are
 * read without a decoder, so an idle stream keeps none.
 */
export function decodeChunk(
  decoder: MessageDecoder | null,
  chunk: Buffer,
  sink: MessageSink,
  maxMessageLength: number,
): MessageDecoder | FramingError | null {
  if (decoder === null) {
    let offset = 0;
    const length = chunk.length;
    while (length - offset >= PREFIX_LENGTH) {
      const messageLength = chunk.readUInt32BE(offset + 1);
      const error = checkPrefix(chunk[offset]!, messageLength, maxMessageLength);
      if (error !== null) return error;
      if (length - offset - PREFIX_LENGTH < messageLength) break;
      offset += PREFIX_LENGTH;
      sink.onMessage(messageLength === 0 ? EMPTY : chunk.subarray(offset, offset + messageLength));
      offset += messageLength;
    }
    if (offset === length) return null;
    decoder = new MessageDecoder(maxMessageLength);
    chunk = chunk.subarray(offset);
  }
  const error = decoder.push(chunk, sink);
  if (error !== null) return error;
  return decoder.partial ? decoder : null;
}
