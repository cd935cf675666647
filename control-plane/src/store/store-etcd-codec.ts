/**
 * How the etcd store's values are encoded (layout: docs/architecture.md, "The store on etcd").
 * Resources and change lists are binary: a resource's value is its canonical proto encoding and is
 * stored byte for byte, never through a string. Each encoding starts with a format byte so a later
 * Ferry can change it and still read what this one wrote; a value with an unknown format byte is
 * refused rather than guessed at.
 */
import { FerryError } from '@ferry/shared';
import type { Mutation, StoredResource, ResourceKey } from './store.js';

const FORMAT_V1 = 1;
const OP_PUT = 1;
const OP_DELETE = 2;

/** A resource as stored under `<prefix>/res/`: its key is in the etcd key, the rest here. */
export interface ResourceRecord {
  readonly version: string;
  readonly revision: number;
  readonly value: Uint8Array;
}

/** The metadata of one Ferry revision, the value of `<prefix>/log/<revision>`. */
export interface LogHeader {
  readonly time: string;
  readonly message: string;
  readonly actor: string;
  /** ApplyOptions.traceparent; absent when the write was not traced (and in older entries). */
  readonly traceparent?: string;
  /** Names this revision's change chunks, `<prefix>/chunk/<stage>/<index>`; unique per attempt. */
  readonly stage: string;
  readonly chunks: number;
}

export function encodeResource(record: ResourceRecord): Buffer {
  const writer = new Writer();
  writer.byte(FORMAT_V1);
  writer.string(record.version);
  writer.float64(record.revision);
  writer.raw(record.value);
  return writer.finish();
}

export function decodeResource(key: ResourceKey, bytes: Uint8Array): StoredResource {
  const reader = new Reader(bytes, 'resource');
  reader.format();
  const version = reader.string();
  const revision = reader.float64();
  const value = reader.rest();
  return { typeUrl: key.typeUrl, group: key.group, name: key.name, value, version, revision };
}

/**
 * Splits `changes` into encoded chunks of at most about `maxChunkBytes` each (a single change larger
 * than that gets a chunk of its own), in order.
 */
export function encodeChangeChunks(changes: readonly Mutation[], maxChunkBytes: number): Buffer[] {
  const chunks: Buffer[] = [];
  let writer = new Writer();
  writer.byte(FORMAT_V1);
  for (const change of changes) {
    const before = writer.length;
    writer.byte(change.op === 'put' ? OP_PUT : OP_DELETE);
    writer.string(change.typeUrl);
    writer.string(change.group);
    writer.string(change.name);
    if (change.op === 'put') {
      writer.string(change.version);
      writer.bytes(change.value);
    }
    if (writer.length > maxChunkBytes && before > 1) {
      // Move this change to a fresh chunk: the finished one ends before it.
      const full = writer.finish();
      chunks.push(full.subarray(0, before));
      const next = new Writer();
      next.byte(FORMAT_V1);
      next.raw(full.subarray(before));
      writer = next;
    }
  }
  if (writer.length > 1 || chunks.length === 0) chunks.push(writer.finish());
  return chunks;
}

export function decodeChangeChunk(bytes: Uint8Array): Mutation[] {
  const reader = new Reader(bytes, 'change chunk');
  reader.format();
  const changes: Mutation[] = [];
  while (!reader.done) {
    const op = reader.byte();
    const key = { typeUrl: reader.string(), group: reader.string(), name: reader.string() };
    if (op === OP_PUT) {
      const version = reader.string();
      changes.push({ op: 'put', ...key, version, value: reader.bytes() });
    } else if (op === OP_DELETE) {
      changes.push({ op: 'delete', ...key });
    } else {
      throw corrupt('change chunk', `unknown op ${op}`);
    }
  }
  return changes;
}

export function encodeLogHeader(header: LogHeader): Buffer {
  return Buffer.from(JSON.stringify({ format: FORMAT_V1, ...header }));
}

export function decodeLogHeader(bytes: Uint8Array): LogHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw corrupt('log entry', 'not JSON');
  }
  const h = parsed as Partial<LogHeader> & { format?: unknown };
  if (
    h.format !== FORMAT_V1 ||
    typeof h.time !== 'string' ||
    typeof h.message !== 'string' ||
    typeof h.actor !== 'string' ||
    typeof h.stage !== 'string' ||
    typeof h.chunks !== 'number' ||
    (h.traceparent !== undefined && typeof h.traceparent !== 'string')
  ) {
    throw corrupt('log entry', 'unexpected fields or format');
  }
  const header = { time: h.time, message: h.message, actor: h.actor, stage: h.stage };
  return h.traceparent === undefined
    ? { ...header, chunks: h.chunks }
    : { ...header, traceparent: h.traceparent, chunks: h.chunks };
}

function corrupt(what: string, detail: string): FerryError {
  return new FerryError(
    'FERRY_INTERNAL',
    `etcd store: a ${what} cannot be decoded (${detail}); it was written by another program or a newer Ferry`,
  );
}

class Writer {
  private parts: Buffer[] = [];
  length = 0;

  byte(b: number): void {
    this.push(Buffer.of(b));
  }
  string(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }
  bytes(b: Uint8Array): void {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.byteLength);
    this.push(len);
    this.raw(b);
  }
  float64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(n);
    this.push(b);
  }
  raw(b: Uint8Array): void {
    this.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  finish(): Buffer {
    const out = Buffer.concat(this.parts, this.length);
    this.parts = [out];
    return out;
  }
  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.byteLength;
  }
}

class Reader {
  private offset = 0;
  private readonly buf: Buffer;

  constructor(
    bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.offset >= this.buf.byteLength;
  }
  format(): void {
    const format = this.byte();
    if (format !== FORMAT_V1) throw corrupt(this.what, `format ${format}`);
  }
  byte(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }
  string(): string {
    return Buffer.from(this.bytes()).toString('utf8');
  }
  bytes(): Uint8Array {
    this.need(4);
    const len = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    this.need(len);
    // A copy: the caller keeps it after the gRPC response buffer is gone.
    const out = new Uint8Array(len);
    out.set(this.buf.subarray(this.offset, this.offset + len));
    this.offset += len;
    return out;
  }
  float64(): number {
    this.need(8);
    const n = this.buf.readDoubleBE(this.offset);
    this.offset += 8;
    return n;
  }
  rest(): Uint8Array {
    const out = new Uint8Array(this.buf.byteLength - this.offset);
    out.set(this.buf.subarray(this.offset));
    this.offset = this.buf.byteLength;
    return out;
  }
  private need(n: number): void {
    if (this.offset + n > this.buf.byteLength) throw corrupt(this.what, 'truncated');
  }
}
