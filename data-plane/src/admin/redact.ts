/**
 * Key material hidden from /config_dump, as Envoy redacts the fields its protos mark sensitive:
 * every string inside a TlsCertificate's `private_key`, `password` or `pkcs12`, a session
 * ticket key (`session_ticket_keys.keys`), or a generic secret (`generic_secret.secret`) becomes "[redacted]" (bytes: the bytes of
 * "[redacted]", base64 in JSON), wherever the message sits (bootstrap, listeners, clusters,
 * Secrets). A file path inside such a field is redacted too, as Envoy redacts the whole message.
 */
export const REDACTED = '[redacted]';
const REDACTED_BYTES = Buffer.from(REDACTED).toString('base64');

const SENSITIVE_FIELDS = new Set(['private_key', 'password', 'pkcs12']);
/** Sensitive only inside their message: `generic_secret.secret`, `session_ticket_keys.keys`. */
const SENSITIVE_IN: Readonly<Record<string, string>> = {
  generic_secret: 'secret',
  session_ticket_keys: 'keys',
};

/** The JSON fields of a DataSource that hold bytes (base64 in proto3 JSON). */
const BYTES_FIELDS = new Set(['inline_bytes']);

/** A deep copy of `value` with every sensitive field's strings redacted. */
export function redactSensitive(value: unknown): unknown {
  return visit(value, false);
}

function visit(value: unknown, sensitive: boolean, field = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => visit(item, sensitive, field));
  if (typeof value === 'string' && sensitive)
    return BYTES_FIELDS.has(field) ? REDACTED_BYTES : REDACTED;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value))
    out[key] = visit(
      child,
      sensitive || SENSITIVE_FIELDS.has(key) || SENSITIVE_IN[field] === key,
      key,
    );
  return out;
}
