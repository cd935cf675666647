/**
 * Protobuf wire encoding by hand, for the few messages whose bytes are assembled from parts
 * encoded once and reused (the control plane's xDS responses) or written by the thousand (the
 * xDS benchmark's requests): a writer over a buffer sized exactly in advance, and the sizes to
 * size it with. Only length-delimited fields (wire type 2) with numbers below 16, so every tag
 * is one byte.
 */

/** The one-byte tag of length-delimited field `field` (below 16). */
export function lengthDelimitedTag(field: number): number {
  return (field << 3) | 2;
}

/** Bytes of `value` as a varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

/** Bytes of a length-delimited field (tag, length, payload) whose payload is `length` bytes. */
export function lengthDelimitedSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** Writes fields into a buffer sized in advance; `done()` checks that it was filled exactly. */
export class ProtoWriter {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  varint(value: number): void {
    while (value >= 0x80) {
      this.buffer[this.offset++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buffer[this.offset++] = value;
  }

  /** A length-delimited field whose payload is `bytes`. */
  bytes(field: number, bytes: Uint8Array): void {
    this.header(field, bytes.byteLength);
    this.raw(bytes);
  }

  /**
   * A string field whose encoded length is `length` (in `encoding`); omitted when empty, as
   * proto3 does.
   */
  string(field: number, value: string, length: number, encoding: 'utf8' | 'latin1' = 'utf8'): void {
    if (length === 0) return;
    this.header(field, length);
    this.offset += this.buffer.write(value, this.offset, length, encoding);
  }

  /** The tag and length of a length-delimited field whose payload the caller writes next. */
  header(field: number, length: number): void {
    this.buffer[this.offset++] = lengthDelimitedTag(field);
    this.varint(length);
  }

  raw(bytes: Uint8Array): void {
    this.buffer.set(bytes, this.offset);
    this.offset += bytes.byteLength;
  }

  /** The buffer, once every byte of it was written. */
  done(): Buffer {
    if (this.offset !== this.buffer.byteLength)
      throw new Error(`protobuf writer: wrote ${this.offset} of ${this.buffer.byteLength} bytes`);
    return this.buffer;
  }
}
