/**
 * Hand-written protobuf encoding of DiscoveryResponse and DeltaDiscoveryResponse
 * (envoy/service/discovery/v3/discovery.proto), so that a fan-out encodes the part every stream
 * shares once per version and selection and only appends what differs per stream: the nonce.
 * protobufjs would re-serialize every response, copying each resource's bytes again, where each
 * resource must be encoded once per version and its bytes reused for every stream
 * (docs/architecture.md, "The wire is Envoy's xDS v3").
 *
 * Field numbers (checked against the pinned @grpc/grpc-js-xds deps/envoy-api):
 *   DiscoveryResponse: version_info=1, resources=2 (Any: type_url=1, value=2), canary=3,
 *     type_url=4, nonce=5, control_plane=6 (ControlPlane: identifier=1)
 *   DeltaDiscoveryResponse: system_version_info=1, resources=2 (Resource: version=1,
 *     resource=2 (Any), name=3), type_url=4, nonce=5, removed_resources=6, control_plane=7
 * Streams write whole responses as gRPC frames (the 5-byte length prefix of gRPC over HTTP/2
 * included), built in one buffer per stream and push, so the transport sends them without
 * another copy (grpc-lite's `writeFrame`); the one-shot Fetch methods write plain objects.
 */

import { lengthDelimitedSize, ProtoWriter } from '@ferry/shared/proto-writer';

/** A string field's bytes (empty strings are omitted, as proto3 does). */
function stringField(field: number, value: string): Buffer {
  if (value === '') return Buffer.alloc(0);
  const bytes = Buffer.from(value, 'utf8');
  const w = new ProtoWriter(Buffer.allocUnsafe(lengthDelimitedSize(bytes.byteLength)));
  w.bytes(field, bytes);
  return w.done();
}

export interface EncodableAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

export interface EncodableDeltaResource {
  readonly name: string;
  readonly version: string;
  readonly resource: EncodableAny;
}

/** Encoded `Any { type_url = 1, value = 2 }` payload size and writer. */
function anyPayloadSize(typeUrlBytes: number, valueBytes: number): number {
  return (
    (typeUrlBytes ? lengthDelimitedSize(typeUrlBytes) : 0) +
    (valueBytes ? lengthDelimitedSize(valueBytes) : 0)
  );
}

function writeAny(w: ProtoWriter, typeUrl: Buffer, value: Uint8Array): void {
  if (typeUrl.byteLength) w.bytes(1, typeUrl);
  if (value.byteLength) w.bytes(2, value);
}

/**
 * Type URLs repeat in every Any: their UTF-8 bytes are kept per string (a handful of them exist).
 */
const typeUrlBytes = new Map<string, Buffer>();
function utf8TypeUrl(typeUrl: string): Buffer {
  let bytes = typeUrlBytes.get(typeUrl);
  if (!bytes) {
    bytes = Buffer.from(typeUrl, 'utf8');
    if (typeUrlBytes.size < 256) typeUrlBytes.set(typeUrl, bytes);
  }
  return bytes;
}

/**
 * The part of a SotW DiscoveryResponse that is the same for every stream receiving this
 * selection: version_info, resources and type_url.
 */
export function encodeSotwBody(
  version: string,
  resources: readonly EncodableAny[],
  typeUrl: string,
): Buffer {
  const versionField = stringField(1, version);
  const typeField = stringField(4, typeUrl);
  let size = versionField.byteLength + typeField.byteLength;
  for (const r of resources) {
    size += lengthDelimitedSize(
      anyPayloadSize(utf8TypeUrl(r.type_url).byteLength, r.value.byteLength),
    );
  }
  const w = new ProtoWriter(Buffer.allocUnsafe(size));
  w.raw(versionField);
  for (const r of resources) {
    const url = utf8TypeUrl(r.type_url);
    w.header(2, anyPayloadSize(url.byteLength, r.value.byteLength));
    writeAny(w, url, r.value);
  }
  w.raw(typeField);
  return w.done();
}

/**
 * The per-server tail of every response: `control_plane { identifier }`, at field 6 (SotW) or
 * 7 (delta).
 */
export function encodeControlPlane(field: 6 | 7, identifier: string): Buffer {
  const inner = stringField(1, identifier);
  const w = new ProtoWriter(Buffer.allocUnsafe(lengthDelimitedSize(inner.byteLength)));
  w.bytes(field, inner);
  return w.done();
}

/** gRPC's length prefix: uncompressed flag, then the message's length, big-endian. */
export const GRPC_PREFIX = 5;

/** A buffer for one framed message of `length` bytes, its prefix written. */
function framedWriter(length: number): ProtoWriter {
  const w = new ProtoWriter(Buffer.allocUnsafe(GRPC_PREFIX + length));
  w.buffer[0] = 0;
  w.buffer.writeUInt32BE(length, 1);
  w.offset = GRPC_PREFIX;
  return w;
}

/**
 * A whole SotW response as a gRPC frame: the prefix, the shared body, this stream's nonce
 * (field 5), the control plane. Written once per stream and push: the nonce (ASCII, see
 * nextNonce) goes straight into the one buffer allocated, with no intermediate copy.
 */
export function frameSotwResponse(body: Buffer, nonce: string, controlPlane: Buffer): Buffer {
  const nonceLength = nonce.length;
  const w = framedWriter(
    body.byteLength + lengthDelimitedSize(nonceLength) + controlPlane.byteLength,
  );
  w.raw(body);
  w.header(5, nonceLength);
  w.offset += w.buffer.write(nonce, w.offset, nonceLength, 'latin1');
  w.raw(controlPlane);
  return w.done();
}

/** One `resources` entry (field 2) of a delta response: `Resource { version, resource, name }`. */
export function encodeDeltaEntry(r: EncodableDeltaResource): Buffer {
  const name = Buffer.from(r.name, 'utf8');
  const version = Buffer.from(r.version, 'utf8');
  const url = utf8TypeUrl(r.resource.type_url);
  const anySize = anyPayloadSize(url.byteLength, r.resource.value.byteLength);
  const payload =
    (version.byteLength ? lengthDelimitedSize(version.byteLength) : 0) +
    lengthDelimitedSize(anySize) +
    (name.byteLength ? lengthDelimitedSize(name.byteLength) : 0);
  const w = new ProtoWriter(Buffer.allocUnsafe(lengthDelimitedSize(payload)));
  w.header(2, payload);
  if (version.byteLength) w.bytes(1, version);
  w.header(2, anySize);
  writeAny(w, url, r.resource.value);
  if (name.byteLength) w.bytes(3, name);
  return w.done();
}

/** A whole DeltaDiscoveryResponse as a gRPC frame; `entries` are `encodeDeltaEntry` outputs. */
export function frameDeltaResponse(
  systemVersion: string,
  entries: readonly Buffer[],
  typeUrl: string,
  removed: readonly string[],
  nonce: string,
  controlPlane: Buffer,
): Buffer {
  const versionField = stringField(1, systemVersion);
  const typeField = stringField(4, typeUrl);
  const nonceField = stringField(5, nonce);
  // removed_resources is a repeated string: every entry is written, even an empty one.
  const removedBytes = removed.map((name) => Buffer.from(name, 'utf8'));
  let size =
    versionField.byteLength +
    typeField.byteLength +
    nonceField.byteLength +
    controlPlane.byteLength;
  for (const b of removedBytes) size += lengthDelimitedSize(b.byteLength);
  for (const entry of entries) size += entry.byteLength;
  const w = framedWriter(size);
  w.raw(versionField);
  for (const entry of entries) w.raw(entry);
  w.raw(typeField);
  w.raw(nonceField);
  for (const b of removedBytes) w.bytes(6, b);
  w.raw(controlPlane);
  return w.done();
}
