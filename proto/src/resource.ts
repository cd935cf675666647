/**
 * An operator's resource document (`"@type"` + fields) or a received Any, turned into the
 * canonical form the store keeps: type, name, canonical bytes and content version, plus the
 * normalised snake_case JSON that semantic validation reads.
 */
import { fromBinary, type JsonValue, type Message } from '@bufbuild/protobuf';
import { canonicalBytes, contentVersion } from './canonical.js';
import { decodeJsonWith, messageToJson } from './json.js';
import { requireMessageSchema } from './registry.js';
import {
  RESOURCE_TYPES,
  resourceTypeByUrl,
  TYPE_URL_PREFIX,
  type ResourceType,
} from './resource-types.js';
import { fail, ok, type Result } from './result.js';
import { validateRules } from './validate-rules.js';

export interface ParsedResource {
  readonly type: ResourceType;
  readonly name: string;
  /** Canonical binary encoding (see canonical.ts). */
  readonly bytes: Uint8Array;
  readonly version: string;
  /** Normalised proto3 JSON with proto field names, without "@type". */
  readonly json: Record<string, JsonValue>;
}

const SUPPORTED = RESOURCE_TYPES.map((t) => t.typeUrl).join(', ');

export function parseResourceJson(doc: unknown, path = ''): Result<ParsedResource> {
  const where = path ? `${path}: ` : '';
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return fail([`${where}expected a resource object with "@type"`]);
  }
  const { ['@type']: typeUrl, ...fields } = doc as Record<string, unknown>;
  if (typeof typeUrl !== 'string') {
    return fail([`${where}"@type" is required (one of ${SUPPORTED})`]);
  }
  const type = resourceTypeByUrl(typeUrl.includes('/') ? typeUrl : TYPE_URL_PREFIX + typeUrl);
  if (!type)
    return fail([
      `${where}"@type" ${JSON.stringify(typeUrl)} is not a resource type Ferry stores (one of ${SUPPORTED})`,
    ]);
  const desc = requireMessageSchema(type.messageName);
  const decoded = decodeJsonWith(desc, fields, path);
  if (!decoded.ok) return decoded;
  const parsed = finish(type, decoded.value, path);
  if (!parsed.ok) return parsed;
  // JSON has no nesting limit but protobuf decoders do (this library's and Envoy's: 100 nested
  // messages), and a google.protobuf.Struct nests two messages per level: what cannot be decoded
  // again must not be stored, or every reader of it (the snapshot builder, the proxies) fails.
  try {
    fromBinary(desc, parsed.value.bytes);
  } catch (err) {
    return fail([
      `${where}cannot be stored: ${(err as Error).message}; a google.protobuf.Struct (metadata, typed_struct) nests two messages per level: flatten it`,
    ]);
  }
  return parsed;
}

export function parseResourceBinary(
  typeUrl: string,
  bytes: Uint8Array,
  path = '',
): Result<ParsedResource> {
  const type = resourceTypeByUrl(typeUrl);
  if (!type)
    return fail([
      `${path ? path + ': ' : ''}type_url ${JSON.stringify(typeUrl)} is not a resource type Ferry stores (one of ${SUPPORTED})`,
    ]);
  const desc = requireMessageSchema(type.messageName);
  let message: Message;
  try {
    message = fromBinary(desc, bytes);
  } catch (err) {
    return fail([
      `${path ? path + ': ' : ''}cannot decode ${type.messageName}: ${(err as Error).message}`,
    ]);
  }
  // Binary skipped the JSON checks, so the PGV rules run here (they also find an Any whose type
  // is not in the registry, which the JSON conversion below could not represent).
  const violations = validateRules(desc, message, path);
  if (violations.length > 0) return fail(violations);
  return finish(type, message, path);
}

function finish(type: ResourceType, message: Message, path: string): Result<ParsedResource> {
  const desc = requireMessageSchema(type.messageName);
  let json: Record<string, JsonValue>;
  let bytes: Uint8Array;
  try {
    json = messageToJson(desc, message) as Record<string, JsonValue>;
    bytes = canonicalBytes(desc, message);
  } catch (err) {
    return fail([
      `${path ? path + ': ' : ''}cannot convert ${type.messageName} to JSON: ${(err as Error).message}`,
    ]);
  }
  const name = json[type.nameField];
  if (typeof name !== 'string' || name === '') {
    return fail([
      `${path ? path + '.' : ''}${type.nameField}: required: every ${type.kind} needs a non-empty ${type.nameField}`,
    ]);
  }
  return ok({ type, name, bytes, version: contentVersion(bytes), json });
}

/** Stored bytes → the operator-facing document, `"@type"` first. */
export function resourceToJson(type: ResourceType, bytes: Uint8Array): Record<string, JsonValue> {
  const desc = requireMessageSchema(type.messageName);
  const json = messageToJson(desc, fromBinary(desc, bytes)) as Record<string, JsonValue>;
  return { '@type': type.typeUrl, ...json };
}
