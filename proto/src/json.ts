/**
 * proto3 JSON ⇄ binary for Envoy and Ferry messages. Decoding is strict (unknown fields, bad
 * enums and wrong types are errors with JSON paths); encoding writes snake_case field names, the
 * form Envoy's docs and config_dump use.
 */
import {
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  type DescMessage,
  type JsonValue,
  type Message,
} from '@bufbuild/protobuf';
import { checkJson } from './json-check.js';
import { protoRegistry, messageSchema } from './registry.js';
import { fail, ok, type Result } from './result.js';

export type { JsonValue, Message, DescMessage };

export function decodeJson(typeName: string, json: unknown, path = ''): Result<Message> {
  const desc = messageSchema(typeName);
  if (!desc) return fail([`${path ? path + ': ' : ''}unknown message type ${typeName}`]);
  return decodeJsonWith(desc, json, path);
}

export function decodeJsonWith(desc: DescMessage, json: unknown, path = ''): Result<Message> {
  const registry = protoRegistry();
  const errors = checkJson(desc, json, registry, path);
  if (errors.length > 0) return fail(errors);
  try {
    return ok(fromJson(desc, json as JsonValue, { registry }));
  } catch (err) {
    // The checker accepted it but the decoder of record did not: report its reason.
    return fail([`${path ? path + ': ' : ''}${(err as Error).message}`]);
  }
}

export function messageToJson(desc: DescMessage, message: Message): JsonValue {
  return toJson(desc, message, { registry: protoRegistry(), useProtoFieldName: true });
}

export function encodeBinary(desc: DescMessage, message: Message): Uint8Array {
  return toBinary(desc, message);
}

export function decodeBinary(desc: DescMessage, bytes: Uint8Array): Message {
  return fromBinary(desc, bytes);
}

/** Binary → proto3 JSON (snake_case), e.g. for `ferryctl get -o yaml`. */
export function binaryToJson(typeName: string, bytes: Uint8Array): JsonValue {
  const desc = messageSchema(typeName);
  if (!desc) throw new Error(`proto: unknown message type ${typeName}`);
  return messageToJson(desc, fromBinary(desc, bytes));
}

/** proto3 JSON → binary, validated with paths. */
export function jsonToBinary(typeName: string, json: unknown, path = ''): Result<Uint8Array> {
  const desc = messageSchema(typeName);
  if (!desc) return fail([`${path ? path + ': ' : ''}unknown message type ${typeName}`]);
  const decoded = decodeJsonWith(desc, json, path);
  if (!decoded.ok) return decoded;
  return ok(toBinary(desc, decoded.value));
}
