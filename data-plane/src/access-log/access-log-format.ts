/**
 * Envoy's access log format strings (SubstitutionFormatString) for ferry-proxy: parsing (used by
 * translate-access-log.ts to NACK unsupported command operators, in the primary) and compiling
 * (in workers) into an array of segment writers, once per config. Per request a text line is
 * the concatenation of the writers' outputs; a JSON line is the same with its keys and
 * punctuation pre-serialised, so the only per-request JSON work is quoting the values.
 *
 * Supported command operators: START_TIME, REQ(X?Y):N, RESP(X?Y):N, PROTOCOL, RESPONSE_CODE,
 * RESPONSE_FLAGS, BYTES_RECEIVED, BYTES_SENT, DURATION, UPSTREAM_HOST, UPSTREAM_CLUSTER,
 * ROUTE_NAME, DOWNSTREAM_REMOTE_ADDRESS, DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT. A value that is
 * not available is "-" in text and null in JSON (Envoy's rule).
 */
import type { AccessLogRecord } from './access-log-record.js';

/** Envoy's default format, used when an access logger gives no log_format. */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** A parsed piece of a format string. */
export type FormatPiece =
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'operator';
      readonly name: string;
      /** REQ/RESP: the header, and the alternative after "?" ("" when none). */
      readonly header?: string;
      readonly altHeader?: string;
      /** ":N" truncation (0 = none). */
      readonly maxLength: number;
    };

/** Operators whose value is a number (a JSON number in json_format). */
const NUMERIC = new Set(['RESPONSE_CODE', 'BYTES_RECEIVED', 'BYTES_SENT', 'DURATION']);

const SIMPLE = new Set([
  'START_TIME',
  'PROTOCOL',
  'RESPONSE_CODE',
  'RESPONSE_FLAGS',
  'BYTES_RECEIVED',
  'BYTES_SENT',
  'DURATION',
  'UPSTREAM_HOST',
  'UPSTREAM_CLUSTER',
  'ROUTE_NAME',
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
]);

/** Supported operators, for docs and error messages. */
export const SUPPORTED_OPERATORS: readonly string[] = [...SIMPLE, 'REQ(X?Y):N', 'RESP(X?Y):N'];

const OPERATOR = /^([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?$/;

export type ParseResult = { ok: true; pieces: FormatPiece[] } | { ok: false; errors: string[] };

/** Parses a format string; every unsupported or malformed operator is one error. */
export function parseFormat(format: string): ParseResult {
  const pieces: FormatPiece[] = [];
  const errors: string[] = [];
  let text = '';
  let i = 0;
  while (i < format.length) {
    const start = format.indexOf('%', i);
    if (start < 0) {
      text += format.slice(i);
      break;
    }
    text += format.slice(i, start);
    const end = format.indexOf('%', start + 1);
    if (end < 0) {
      errors.push(`unterminated command operator at offset ${start}: ${format.slice(start)}`);
      break;
    }
    const body = format.slice(start + 1, end);
    i = end + 1;
    const piece = parseOperator(body);
    if (typeof piece === 'string') {
      errors.push(piece);
      continue;
    }
    if (text) pieces.push({ kind: 'text', text });
    text = '';
    pieces.push(piece);
  }
  if (text) pieces.push({ kind: 'text', text });
  return errors.length ? { ok: false, errors } : { ok: true, pieces };
}

function parseOperator(body: string): FormatPiece | string {
  const m = OPERATOR.exec(body);
  if (!m) return `malformed command operator %${body}%`;
  const name = m[1]!;
  const arg = m[2];
  const maxLength = m[3] ? Number(m[3]) : 0;
  if (name === 'REQ' || name === 'RESP') {
    if (!arg) return `%${name}(...)% needs a header name`;
    const [header, alt, extra] = arg.split('?');
    if (extra !== undefined || !header || alt === '')
      return `%${body}%: expected ${name}(header) or ${name}(header?alternative)`;
    return {
      kind: 'operator',
      name,
      header: header.toLowerCase(),
      altHeader: (alt ?? '').toLowerCase(),
      maxLength,
    };
  }
  if (!SIMPLE.has(name) || arg !== undefined)
    return `command operator %${body}% is not supported by ferry-proxy (supported: ${SUPPORTED_OPERATORS.join(', ')})`;
  return { kind: 'operator', name, maxLength };
}

/** One operator's value for a request: a string, a number, or undefined (not available). */
type ValueReader = (r: AccessLogRecord) => string | number | undefined;

function requestHeader(r: AccessLogRecord, name: string): string | undefined {
  switch (name) {
    case ':method':
      return r.method;
    case ':path':
      return r.path;
    case ':authority':
    case 'host':
      return r.authority;
    case 'x-request-id':
      return r.requestId || r.requestHeader?.(name);
    default:
      return r.requestHeader?.(name);
  }
}

function withoutPort(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const colon = address.lastIndexOf(':');
  return colon > 0 && address.indexOf(':') === colon ? address.slice(0, colon) : address;
}

function reader(piece: Extract<FormatPiece, { kind: 'operator' }>): ValueReader {
  const header = piece.header ?? '';
  const alt = piece.altHeader ?? '';
  switch (piece.name) {
    case 'REQ':
      return alt
        ? (r) => requestHeader(r, header) ?? requestHeader(r, alt)
        : (r) => requestHeader(r, header);
    case 'RESP':
      return alt
        ? (r) => r.responseHeader?.(header) ?? r.responseHeader?.(alt)
        : (r) => r.responseHeader?.(header);
    case 'START_TIME':
      return (r) => new Date(r.startTimeMs ?? Date.now() - r.durationMs).toISOString();
    case 'PROTOCOL':
      return (r) => r.protocol || undefined;
    case 'RESPONSE_CODE':
      return (r) => r.status;
    case 'RESPONSE_FLAGS':
      return (r) => r.responseFlags;
    case 'BYTES_RECEIVED':
      return (r) => r.bytesReceived ?? 0;
    case 'BYTES_SENT':
      return (r) => r.bytesSent ?? 0;
    case 'DURATION':
      return (r) => Math.floor(r.durationMs);
    case 'UPSTREAM_HOST':
      return (r) => r.upstreamHost || undefined;
    case 'UPSTREAM_CLUSTER':
      return (r) => r.cluster || undefined;
    case 'ROUTE_NAME':
      return (r) => r.route || undefined;
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return (r) => r.downstreamRemoteAddress;
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (r) => withoutPort(r.downstreamRemoteAddress);
    default:
      // parseFormat admits only the operators above.
      throw new Error(`unsupported access log operator ${piece.name}`);
  }
}

function truncated(read: ValueReader, maxLength: number): ValueReader {
  if (maxLength <= 0) return read;
  return (r) => {
    const v = read(r);
    return typeof v === 'string' && v.length > maxLength ? v.slice(0, maxLength) : v;
  };
}

/** Writes one segment of a line. */
export type SegmentWriter = (r: AccessLogRecord) => string;

/** A compiled format: the whole line for one request. */
export type LineFormatter = (r: AccessLogRecord) => string;

/** A segment: constant text, or a writer of a per-request value. */
type Segment = string | SegmentWriter;

function textSegment(piece: FormatPiece): Segment {
  if (piece.kind === 'text') return piece.text;
  const read = truncated(reader(piece), piece.maxLength);
  return (r) => {
    const v = read(r);
    return v === undefined || v === '' ? '-' : String(v);
  };
}

/** Joins segments into one formatter, merging adjacent constants first. */
function concat(segments: readonly Segment[]): LineFormatter {
  const merged: Segment[] = [];
  for (const s of segments) {
    const last = merged[merged.length - 1];
    if (typeof s === 'string' && typeof last === 'string') merged[merged.length - 1] = last + s;
    else merged.push(s);
  }
  const writers: SegmentWriter[] = merged.map((s) => (typeof s === 'string' ? () => s : s));
  if (writers.length === 1) return writers[0]!;
  return (r) => {
    let line = '';
    for (let i = 0; i < writers.length; i++) line += writers[i]!(r);
    return line;
  };
}

/** Compiles a text format (parsed beforehand by translation, so it is known to be valid). */
export function compileTextFormat(format: string): LineFormatter {
  const parsed = parseFormat(format);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return concat(parsed.pieces.map(textSegment));
}

/** The JSON fragment of one string leaf: a typed value when it is one operator alone. */
function jsonLeaf(template: string): Segment {
  const parsed = parseFormat(template);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const pieces = parsed.pieces;
  const only = pieces.length === 1 ? pieces[0] : undefined;
  if (pieces.length === 0) return '""';
  if (only?.kind === 'text') return JSON.stringify(only.text);
  if (only?.kind === 'operator') {
    const read = truncated(reader(only), only.maxLength);
    const numeric = NUMERIC.has(only.name);
    return (r) => {
      const v = read(r);
      if (v === undefined || v === '') return 'null';
      return numeric && typeof v === 'number' ? String(v) : JSON.stringify(String(v));
    };
  }
  const text = concat(pieces.map(textSegment));
  return (r) => JSON.stringify(text(r));
}

function jsonSegments(value: unknown, out: Segment[]): void {
  if (typeof value === 'string') {
    out.push(jsonLeaf(value));
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    out.push('{');
    Object.entries(value as Record<string, unknown>).forEach(([key, v], i) => {
      out.push(`${i > 0 ? ',' : ''}${JSON.stringify(key)}:`);
      jsonSegments(v, out);
    });
    out.push('}');
  } else {
    out.push(JSON.stringify(value));
  }
}

/** Compiles a json_format (a Struct as plain JSON): one JSON object per line. */
export function compileJsonFormat(format: Record<string, unknown>): LineFormatter {
  const segments: Segment[] = [];
  jsonSegments(format, segments);
  segments.push('\n');
  return concat(segments);
}

/**
 * Checks a json_format: every string is a valid format, lists are refused (Envoy's formatter
 * does not substitute inside them either). Errors are prefixed with their path under `path`.
 */
export function checkJsonFormat(value: unknown, path: string): string[] {
  if (typeof value === 'string') {
    const parsed = parseFormat(value);
    return parsed.ok ? [] : parsed.errors.map((e) => `${path}: ${e}`);
  }
  if (Array.isArray(value)) return [`${path}: lists are not supported in json_format`];
  if (value !== null && typeof value === 'object')
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
      checkJsonFormat(v, `${path}.${k}`),
    );
  return [];
}
