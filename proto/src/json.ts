/**
 * proto3 JSON ⇄ binary for Envoy and Ferry messages. Decoding is strict (unknown fields, bad
 * enums and wrong types are errors with JSON paths); encoding writes snake_case field names, the
 * form Envoy's docs and config_dump use.
 */
import {
  create,
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
import { validateRules } from './validate-rules.js';

export type { JsonValue, Message, DescMessage };

export function decodeJson(typeName: string, json: unknown, path = ''): Result<Message> {
  const desc = messageSchema(typeName);
  if (!desc) return fail([`${path ? path + ': ' : ''}unknown message type ${typeName}`]);
  return decodeJsonWith(desc, json, path);
}

export interface DecodeOptions {
  /**
   * Enforce the protoc-gen-validate rules the protos carry (validate-rules.ts), as Envoy does
   * before accepting a config. Default true; turn off only to read back something already stored.
   */
  readonly validateRules?: boolean;
}

/**
 * Strict proto3 JSON → message: shape errors (json-check.ts) first, all with paths; then the
 * decoder of record; then the PGV rules. Every error is prefixed with `path` when given.
 */
export function decodeJsonWith(
  desc: DescMessage,
  json: unknown,
  path = '',
  options: DecodeOptions = {},
): Result<Message> {
  const registry = protoRegistry();
  const errors = checkJson(desc, json, registry, path);
  if (errors.length > 0) return fail(errors);
  let message: Message;
  try {
    message = fromJson(desc, json as JsonValue, { registry });
  } catch (err) {
    // The checker accepted it but the decoder of record did not: report its reason.
    return fail([`${path ? path + ': ' : ''}${(err as Error).message}`]);
  }
  if (options.validateRules !== false) {
    const violations = validateRules(desc, message, path);
    if (violations.length > 0) return fail(violations);
  }
  return ok(message);
}

export function messageToJson(desc: DescMessage, message: Message): JsonValue {
  return toJson(desc, message, { registry: protoRegistry(), useProtoFieldName: true });
}

/**
 * A message of type `desc` from a plain init object (field names in lowerCamelCase as
 * @bufbuild/protobuf's reflection names them; oneofs as `{ case, value }`): the light way to
 * build a message to encode on a request path, without JSON's checks.
 */
export function createMessage(desc: DescMessage, init: Record<string, unknown>): Message {
  return create(desc, init as never);
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
