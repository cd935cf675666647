/**
 * Canonical encoding and content hashing. Versions must be equal for equal content on every
 * replica and across restarts, and protobuf encoders do not promise deterministic bytes: map
 * entries (Struct, filter_metadata, typed_extension_protocol_options) follow JSON key order. So
 * the canonical form is: proto3 JSON with keys sorted recursively → binary. Binary input is
 * decoded to JSON first.
 */
import { createHash } from 'node:crypto';
import {
  fromBinary,
  fromJson,
  toBinary,
  type DescMessage,
  type JsonValue,
  type Message,
} from '@bufbuild/protobuf';
import { messageToJson } from './json.js';
import { protoRegistry } from './registry.js';

export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort())
      out[k] = sortKeysDeep((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** Canonical bytes of a decoded message. */
export function canonicalBytes(desc: DescMessage, message: Message): Uint8Array {
  const json = sortKeysDeep(messageToJson(desc, message)) as JsonValue;
  return toBinary(desc, fromJson(desc, json, { registry: protoRegistry() }));
}

/** Canonical bytes of received binary (e.g. an Any from the gRPC API). */
export function canonicalizeBinary(desc: DescMessage, bytes: Uint8Array): Uint8Array {
  return canonicalBytes(desc, fromBinary(desc, bytes));
}

/** A short, stable content version: the first 16 hex digits of sha256. */
export function contentVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** A version for a set of (name, version) pairs, independent of their order. */
export function combinedVersion(entries: Iterable<readonly [string, string]>): string {
  const sorted = [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = createHash('sha256');
  for (const [name, version] of sorted) h.update(name).update('\0').update(version).update('\n');
  return h.digest('hex').slice(0, 16);
}
