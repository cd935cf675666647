/**
 * HTTP/2 frames as bytes (RFC 9113 §4.1), for the programs that speak HTTP/2 on a bare socket:
 * the xDS benchmark's simulated proxies and tests that must send what node:http2 never would.
 */

/** Bytes of a frame header: 24-bit length, type, flags, 31-bit stream id. */
export const FRAME_HEADER_SIZE = 9;

/** Writes a frame header at `offset` of `buffer`. */
export function writeFrameHeader(
  buffer: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  buffer.writeUIntBE(length, offset, 3);
  buffer[offset + 3] = type;
  buffer[offset + 4] = flags;
  buffer.writeUInt32BE(streamId, offset + 5);
}

/** A whole frame: its header, then `payload`. */
export function http2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  payload.copy(out, FRAME_HEADER_SIZE);
  return out;
}
