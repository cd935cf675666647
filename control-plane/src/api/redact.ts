/**
 * Hides key material in resources shown to operators (private keys never appear in `get`
 * output): every DataSource under a key-material field (`private_key`, `password`,
 * `pkcs12`, session ticket `keys`, generic `secret`/`secrets`, HMAC secrets) is replaced by
 * `{"inline_string": "[redacted]"}`, wherever it sits (Secrets, inline TLS contexts of listeners
 * and clusters). The replacement is itself a valid DataSource, so redacted output still encodes.
 */
import type { JsonValue } from '@ferry/proto';

export const REDACTED = '[redacted]';

const KEY_MATERIAL_FIELD = /(^|_)(private_key|password|pkcs12|keys?|secrets?|hmac)($|_)/;
const DATA_SOURCE_FIELDS = new Set([
  'filename',
  'inline_bytes',
  'inline_string',
  'environment_variable',
  'watched_directory',
]);

function isDataSource(value: JsonValue): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => DATA_SOURCE_FIELDS.has(k));
}

const REDACTED_SOURCE = (): JsonValue => ({ inline_string: REDACTED });

/** Returns a redacted deep copy, and whether anything was redacted. */
export function redactKeyMaterial<T extends JsonValue>(value: T): { value: T; redacted: boolean } {
  let redacted = false;
  const visit = (v: JsonValue, field: string): JsonValue => {
    if (Array.isArray(v)) return v.map((item) => visit(item, field));
    if (typeof v !== 'object' || v === null) return v;
    if (KEY_MATERIAL_FIELD.test(field) && isDataSource(v)) {
      redacted = true;
      return REDACTED_SOURCE();
    }
    const out: { [k: string]: JsonValue } = {};
    for (const [k, child] of Object.entries(v)) {
      // A map of DataSources (GenericSecret.secrets) inherits its field's name.
      out[k] = visit(child, field === 'secrets' ? field : k);
    }
    return out;
  };
  const out = visit(value, '') as T;
  return { value: out, redacted };
}
