/**
 * gRPC's length-prefixed message framing (gRPC over HTTP/2, "Length-Prefixed-Message"): one byte
 * compressed flag, a 4-byte big-endian length, then the message. The benchmark's simulated proxies
 * speak it directly over one HTTP/2 stream (h2-stream.ts) so that each client costs one
 * connection and one stream, not a grpc-js channel with its timers and resolver.
 */

/** Frames one uncompressed message. */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

/**
 * Reassembles messages from HTTP/2 DATA chunks, which may split or join frames arbitrarily.
 * `push` returns the complete messages the chunk finished, in order; compressed messages are an
 * error because the clients never advertise `grpc-accept-encoding`.
 */
export class MessageDeframer {
  private pending: Buffer | undefined;

  push(chunk: Buffer): Buffer[] {
    let buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    const messages: Buffer[] = [];
    while (buffer.length >= 5) {
      if (buffer[0] !== 0)
        throw new Error(`grpc framing: compressed flag ${buffer[0]} not supported`);
      const length = buffer.readUInt32BE(1);
      if (buffer.length < 5 + length) break;
      messages.push(buffer.subarray(5, 5 + length));
      buffer = buffer.subarray(5 + length);
    }
    // Copy the remainder so a retained tail does not pin a large chunk.
    if (buffer.length > 0) this.pending = Buffer.from(buffer);
    return messages;
  }

  /** Bytes of an incomplete message still waiting for more data. */
  get pendingBytes(): number {
    return this.pending?.length ?? 0;
  }
}
