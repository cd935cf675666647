/**
 * A proto3-JSON shape checker that walks a JSON document against a message descriptor and
 * collects *every* error with its JSON path (`filter_chains[0].filters[0].typed_config.stat_prefx:
 * unknown field`). @bufbuild/protobuf's fromJson is the decoder of record; it stops at the first
 * error and names no path, so this walker runs first and produces the messages users see.
 * Accepts what the proto3 JSON mapping accepts: both the proto field name and its lowerCamel JSON
 * name, `"1.5s"` durations, bare wrapper values, enum names or numbers, int64 as number or string,
 * `Struct`/`Value`/`ListValue` as free JSON, `Any` with `"@type"` (a well-known type inside an Any
 * uses `"value"`), `null` as "unset".
 */
import {
  ScalarType,
  type DescEnum,
  type DescField,
  type DescMessage,
  type Registry,
} from '@bufbuild/protobuf';

const MAX_ERRORS = 100;

export function checkJson(
  desc: DescMessage,
  json: unknown,
  registry: Registry,
  path = '',
): string[] {
  const errors: string[] = [];
  checkMessage(desc, json, path, registry, errors);
  return errors;
}

function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function push(errors: string[], path: string, message: string): void {
  if (errors.length < MAX_ERRORS) errors.push(path === '' ? message : `${path}: ${message}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value;
}

const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const WRAPPERS: Record<string, ScalarType> = {
  'google.protobuf.DoubleValue': ScalarType.DOUBLE,
  'google.protobuf.FloatValue': ScalarType.FLOAT,
  'google.protobuf.Int64Value': ScalarType.INT64,
  'google.protobuf.UInt64Value': ScalarType.UINT64,
  'google.protobuf.Int32Value': ScalarType.INT32,
  'google.protobuf.UInt32Value': ScalarType.UINT32,
  'google.protobuf.BoolValue': ScalarType.BOOL,
  'google.protobuf.StringValue': ScalarType.STRING,
  'google.protobuf.BytesValue': ScalarType.BYTES,
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMessage(
  desc: DescMessage,
  json: unknown,
  path: string,
  registry: Registry,
  errors: string[],
): void {
  if (checkWellKnown(desc, json, path, registry, errors)) return;
  if (!isPlainObject(json)) {
    push(errors, path, `expected an object (${desc.typeName}), got ${describe(json)}`);
    return;
  }
  const seen = new Map<string, string>();
  const oneofSeen = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = fieldByJsonKey(desc, key);
    const p = at(path, key);
    if (!field) {
      const hint = suggest(desc, key);
      push(
        errors,
        p,
        `unknown field${hint ? ` (did you mean "${hint}"?)` : ''} in ${desc.typeName}`,
      );
      continue;
    }
    const previous = seen.get(field.name);
    if (previous !== undefined) {
      push(errors, p, `field given twice (as "${previous}" and "${key}")`);
      continue;
    }
    seen.set(field.name, key);
    // Checked before the null test: @bufbuild/protobuf's fromJson counts a null member as set.
    if (field.oneof) {
      const other = oneofSeen.get(field.oneof.name);
      if (other !== undefined) {
        push(
          errors,
          p,
          `only one of the oneof "${field.oneof.name}" may be set (also set: "${other}")`,
        );
        continue;
      }
      oneofSeen.set(field.oneof.name, key);
    }
    if (
      value === null &&
      !(field.fieldKind === 'message' && field.message.typeName === 'google.protobuf.Value')
    ) {
      continue; // proto3 JSON: null means the field is unset
    }
    checkField(field, value, p, registry, errors);
  }
}

const fieldsByKey = new WeakMap<DescMessage, Map<string, DescField>>();

/** Both the proto name and the lowerCamel JSON name resolve (proto3 JSON mapping). */
function fieldByJsonKey(desc: DescMessage, key: string): DescField | undefined {
  let byKey = fieldsByKey.get(desc);
  if (!byKey) {
    byKey = new Map();
    for (const f of desc.fields) {
      byKey.set(f.name, f);
      byKey.set(f.jsonName, f);
    }
    fieldsByKey.set(desc, byKey);
  }
  return byKey.get(key);
}

function suggest(desc: DescMessage, key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  const k = key.toLowerCase();
  for (const f of desc.fields) {
    const d = editDistance(k, f.name.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = f.name;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function checkField(
  field: DescField,
  value: unknown,
  path: string,
  registry: Registry,
  errors: string[],
): void {
  switch (field.fieldKind) {
    case 'scalar':
      checkScalar(field.scalar, value, path, errors);
      return;
    case 'enum':
      checkEnum(field.enum, value, path, errors);
      return;
    case 'message':
      checkMessage(field.message, value, path, registry, errors);
      return;
    case 'list':
      if (!Array.isArray(value)) {
        push(errors, path, `expected a list, got ${describe(value)}`);
        return;
      }
      value.forEach((item, i) => {
        const p = `${path}[${i}]`;
        if (item === null) push(errors, p, 'null is not allowed in a list');
        else if (field.listKind === 'scalar') checkScalar(field.scalar, item, p, errors);
        else if (field.listKind === 'enum') checkEnum(field.enum, item, p, errors);
        else checkMessage(field.message, item, p, registry, errors);
      });
      return;
    case 'map':
      if (!isPlainObject(value)) {
        push(errors, path, `expected an object (map), got ${describe(value)}`);
        return;
      }
      for (const [k, v] of Object.entries(value)) {
        const p = `${path}[${JSON.stringify(k)}]`;
        checkMapKey(field.mapKey, k, p, errors);
        if (v === null) push(errors, p, 'null is not allowed as a map value');
        else if (field.mapKind === 'scalar') checkScalar(field.scalar, v, p, errors);
        else if (field.mapKind === 'enum') checkEnum(field.enum, v, p, errors);
        else checkMessage(field.message, v, p, registry, errors);
      }
      return;
  }
}

function checkMapKey(type: ScalarType, key: string, path: string, errors: string[]): void {
  if (type === ScalarType.STRING) return;
  if (type === ScalarType.BOOL) {
    if (key !== 'true' && key !== 'false') push(errors, path, 'map key must be "true" or "false"');
    return;
  }
  checkScalar(type, key, path, errors);
}

const INT32_RANGE: Partial<Record<ScalarType, [number, number]>> = {
  [ScalarType.INT32]: [-2147483648, 2147483647],
  [ScalarType.SINT32]: [-2147483648, 2147483647],
  [ScalarType.SFIXED32]: [-2147483648, 2147483647],
  [ScalarType.UINT32]: [0, 4294967295],
  [ScalarType.FIXED32]: [0, 4294967295],
};
const UNSIGNED64 = new Set([ScalarType.UINT64, ScalarType.FIXED64]);
const SIGNED64 = new Set([ScalarType.INT64, ScalarType.SINT64, ScalarType.SFIXED64]);

function scalarName(type: ScalarType): string {
  return ScalarType[type].toLowerCase();
}

function checkScalar(type: ScalarType, value: unknown, path: string, errors: string[]): void {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== 'string')
        push(errors, path, `expected a string, got ${describe(value)}`);
      return;
    case ScalarType.BOOL:
      if (typeof value !== 'boolean')
        push(errors, path, `expected true or false, got ${describe(value)}`);
      return;
    case ScalarType.BYTES:
      // Standard or URL-safe base64, padding optional; 4n+1 characters cannot be base64.
      if (
        typeof value !== 'string' ||
        !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value) ||
        value.replace(/=+$/, '').length % 4 === 1
      ) {
        push(errors, path, `expected base64 bytes, got ${describe(value)}`);
      }
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value === 'number') return;
      if (
        typeof value === 'string' &&
        (['NaN', 'Infinity', '-Infinity'].includes(value) ||
          (value.trim() !== '' && Number.isFinite(Number(value))))
      )
        return;
      push(errors, path, `expected a number, got ${describe(value)}`);
      return;
    default: {
      const text =
        typeof value === 'number' ? String(value) : typeof value === 'string' ? value : undefined;
      if (text === undefined || !/^-?\d+(\.0+)?$|^-?\d+(\.\d+)?[eE][+-]?\d+$/.test(text)) {
        push(errors, path, `expected an integer (${scalarName(type)}), got ${describe(value)}`);
        return;
      }
      const range = INT32_RANGE[type];
      if (!range && typeof value === 'string' && !/^-?\d+$/.test(value)) {
        // The decoder of record takes 64-bit strings only in plain decimal form.
        push(
          errors,
          path,
          `expected a decimal integer string (${scalarName(type)}), got ${describe(value)}`,
        );
        return;
      }
      if (!range && typeof value === 'number' && !Number.isSafeInteger(value)) {
        push(
          errors,
          path,
          `${text} is beyond 2^53 and loses precision as a JSON number; write ${scalarName(type)} values as strings`,
        );
        return;
      }
      if (range) {
        const n = Number(text);
        if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
          push(
            errors,
            path,
            `${text} is out of range for ${scalarName(type)} (${range[0]}..${range[1]})`,
          );
        }
        return;
      }
      if (/[.eE]/.test(text)) {
        const n = Number(text);
        if (!Number.isSafeInteger(n))
          push(errors, path, `${text} is not an exact ${scalarName(type)}`);
        return;
      }
      const big = BigInt(text.trim());
      if (UNSIGNED64.has(type) && (big < 0n || big > 18446744073709551615n)) {
        push(errors, path, `${text} is out of range for ${scalarName(type)}`);
      } else if (
        SIGNED64.has(type) &&
        (big < -9223372036854775808n || big > 9223372036854775807n)
      ) {
        push(errors, path, `${text} is out of range for ${scalarName(type)}`);
      }
    }
  }
}

function checkEnum(desc: DescEnum, value: unknown, path: string, errors: string[]): void {
  if (desc.typeName === 'google.protobuf.NullValue' && value === null) return;
  if (typeof value === 'string') {
    if (!desc.values.some((v) => v.name === value)) {
      const names = desc.values.map((v) => v.name);
      const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')}, …` : names.join(', ');
      push(
        errors,
        path,
        `unknown value ${JSON.stringify(value)} for enum ${desc.typeName} (one of ${shown})`,
      );
    }
    return;
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    // proto3 enums are open, but the number must still be an int32.
    if (value < -2147483648 || value > 2147483647)
      push(errors, path, `${value} is out of range for enum ${desc.typeName} (int32)`);
    return;
  }
  push(errors, path, `expected an enum name (${desc.typeName}), got ${describe(value)}`);
}

/** Returns true when `desc` is a well-known type with a special JSON form (checked here). */
function checkWellKnown(
  desc: DescMessage,
  json: unknown,
  path: string,
  registry: Registry,
  errors: string[],
): boolean {
  const name = desc.typeName;
  const wrapped = WRAPPERS[name];
  if (wrapped !== undefined) {
    checkScalar(wrapped, json, path, errors);
    return true;
  }
  switch (name) {
    case 'google.protobuf.Duration':
      if (typeof json !== 'string' || !DURATION.test(json)) {
        push(errors, path, `expected a duration such as "1s" or "0.250s", got ${describe(json)}`);
      } else if (Math.abs(Number(json.slice(0, -1))) > 315576000000) {
        push(errors, path, `duration ${json} is out of range`);
      }
      return true;
    case 'google.protobuf.Timestamp':
      if (typeof json !== 'string' || !TIMESTAMP.test(json) || Number.isNaN(Date.parse(json))) {
        push(
          errors,
          path,
          `expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got ${describe(json)}`,
        );
      }
      return true;
    case 'google.protobuf.FieldMask':
      if (typeof json !== 'string')
        push(errors, path, `expected a field mask string, got ${describe(json)}`);
      return true;
    case 'google.protobuf.Struct':
      if (!isPlainObject(json))
        push(errors, path, `expected an object (Struct), got ${describe(json)}`);
      return true;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(json))
        push(errors, path, `expected a list (ListValue), got ${describe(json)}`);
      return true;
    case 'google.protobuf.Value':
      return true;
    case 'google.protobuf.Empty':
      if (!isPlainObject(json)) push(errors, path, `expected {} (Empty), got ${describe(json)}`);
      else
        for (const key of Object.keys(json))
          push(errors, at(path, key), 'unknown field in google.protobuf.Empty');
      return true;
    case 'google.protobuf.Any':
      checkAny(json, path, registry, errors);
      return true;
    default:
      return false;
  }
}

const WELL_KNOWN_WITH_VALUE = new Set([
  ...Object.keys(WRAPPERS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.ListValue',
  'google.protobuf.Value',
  'google.protobuf.Any',
]);

function checkAny(json: unknown, path: string, registry: Registry, errors: string[]): void {
  if (!isPlainObject(json)) {
    push(errors, path, `expected an object with "@type" (Any), got ${describe(json)}`);
    return;
  }
  if (Object.keys(json).length === 0) return;
  const typeUrl = json['@type'];
  if (typeof typeUrl !== 'string' || typeUrl === '') {
    push(
      errors,
      path,
      '"@type" is required in an Any (for example "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")',
    );
    return;
  }
  const slash = typeUrl.lastIndexOf('/');
  const typeName = slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl;
  const inner = registry.getMessage(typeName);
  if (!inner) {
    push(
      errors,
      at(path, '@type'),
      `unknown message type ${JSON.stringify(typeName)}: not an Envoy v3 or Ferry message known to this control plane`,
    );
    return;
  }
  if (WELL_KNOWN_WITH_VALUE.has(inner.typeName)) {
    for (const key of Object.keys(json)) {
      if (key !== '@type' && key !== 'value')
        push(errors, at(path, key), `unknown field in an Any of ${inner.typeName} (use "value")`);
    }
    checkMessage(inner, json.value, at(path, 'value'), registry, errors);
    return;
  }
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) if (k !== '@type') rest[k] = v;
  checkMessage(inner, rest, path, registry, errors);
}
