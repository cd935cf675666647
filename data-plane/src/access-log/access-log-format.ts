/**
 * Envoy's access log format strings (SubstitutionFormatString) for ferry-proxy: parsing (used by
 * translate-access-log.ts to NACK unsupported command operators, in the primary) and compiling
 * (in workers) into an array of segment writers, once per config. Per request a text line is
 * the concatenation of the writers' outputs; a JSON line is the same with its keys and
 * punctuation pre-serialised, so the only per-request JSON work is quoting the values.
 *
 * The command operators are in access-log-operators.ts. A value that is not available is "-"
 * in text and null in JSON (Envoy's rule); with omit_empty_values it is "" in text and the key
 * is left out in JSON.
 */
import type { AccessLogRecord } from './access-log-record.js';
import {
  NUMERIC_OPERATORS,
  SIMPLE_OPERATORS,
  operatorReader,
  type OperatorSpec,
  type ValueReader,
} from './access-log-operators.js';
import { checkTimeFormat } from './access-log-time.js';

/** Envoy's default format, used when an access logger gives no log_format. */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** A parsed piece of a format string. */
export type FormatPiece =
  | { readonly kind: 'text'; readonly text: string }
  | (OperatorSpec & {
      readonly kind: 'operator';
      /** ":N" truncation (0 = none). */
      readonly maxLength: number;
    });

const SIMPLE = new Set(SIMPLE_OPERATORS);

/** Supported operators, for docs and error messages. */
export const SUPPORTED_OPERATORS: readonly string[] = [
  ...SIMPLE_OPERATORS,
  'START_TIME(FORMAT)',
  'REQ(X?Y):N',
  'RESP(X?Y):N',
  'DYNAMIC_METADATA(NAMESPACE:KEY*):N',
];

/** Compile options (SubstitutionFormatString.omit_empty_values). */
export interface FormatOptions {
  readonly omitEmptyValues?: boolean;
}

export type ParseResult = { ok: true; pieces: FormatPiece[] } | { ok: false; errors: string[] };

const NAME = /^[A-Z_0-9]+/;

/**
 * Parses a format string; every unsupported or malformed operator is one error. Like Envoy's
 * parser, an operator's argument runs to the first ')' and may contain '%'
 * (`%START_TIME(%Y-%m-%d)%`).
 */
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
    const name = NAME.exec(format.slice(start + 1))?.[0] ?? '';
    let cursor = start + 1 + name.length;
    let arg: string | undefined;
    if (name !== '' && format[cursor] === '(') {
      const close = format.indexOf(')', cursor);
      if (close < 0) {
        errors.push(`unterminated command operator at offset ${start}: ${format.slice(start)}`);
        break;
      }
      arg = format.slice(cursor + 1, close);
      cursor = close + 1;
    }
    const end = format.indexOf('%', cursor);
    if (end < 0) {
      errors.push(`unterminated command operator at offset ${start}: ${format.slice(start)}`);
      break;
    }
    const body = format.slice(start + 1, end);
    const suffix = format.slice(cursor, end);
    i = end + 1;
    const piece = parseOperator(body, name, arg, suffix);
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

function parseOperator(
  body: string,
  name: string,
  arg: string | undefined,
  suffix: string,
): FormatPiece | string {
  if (name === '' || (suffix !== '' && !/^:\d+$/.test(suffix)))
    return `malformed command operator %${body}%`;
  const maxLength = suffix ? Number(suffix.slice(1)) : 0;
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
  if (name === 'DYNAMIC_METADATA') {
    const [namespace, ...path] = (arg ?? '').split(':');
    if (!namespace || path.some((key) => key === ''))
      return `%${body}%: expected DYNAMIC_METADATA(namespace) or DYNAMIC_METADATA(namespace:key:...)`;
    return { kind: 'operator', name, metadataNamespace: namespace, metadataPath: path, maxLength };
  }
  if (name === 'START_TIME' && arg !== undefined && arg !== '') {
    const error = checkTimeFormat(arg);
    if (error !== undefined) return `%${body}%: ${error}`;
    return { kind: 'operator', name, timeFormat: arg, maxLength };
  }
  if (!SIMPLE.has(name) || (arg !== undefined && arg !== ''))
    return `command operator %${body}% is not supported by ferry-proxy (supported: ${SUPPORTED_OPERATORS.join(', ')})`;
  return { kind: 'operator', name, maxLength };
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

function textSegment(piece: FormatPiece, missing: string): Segment {
  if (piece.kind === 'text') return piece.text;
  const read = truncated(operatorReader(piece), piece.maxLength);
  return (r) => {
    const v = read(r);
    return v === undefined || v === '' ? missing : String(v);
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

function parsed(format: string): FormatPiece[] {
  const result = parseFormat(format);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.pieces;
}

/** Compiles a text format (parsed beforehand by translation, so it is known to be valid). */
export function compileTextFormat(format: string, options: FormatOptions = {}): LineFormatter {
  const missing = options.omitEmptyValues === true ? '' : '-';
  return concat(parsed(format).map((p) => textSegment(p, missing)));
}

/**
 * The JSON text of one string leaf, or undefined when it is not available: a typed value when
 * the leaf is one operator alone, a string otherwise.
 */
type JsonLeaf = (r: AccessLogRecord) => string | undefined;

function jsonLeaf(template: string): string | JsonLeaf {
  const pieces = parsed(template);
  const only = pieces.length === 1 ? pieces[0] : undefined;
  if (pieces.length === 0) return '""';
  if (only?.kind === 'text') return JSON.stringify(only.text);
  if (only?.kind === 'operator') {
    const read = truncated(operatorReader(only), only.maxLength);
    const numeric = NUMERIC_OPERATORS.has(only.name);
    return (r) => {
      const v = read(r);
      if (v === undefined || v === '') return undefined;
      return numeric && typeof v === 'number' ? String(v) : JSON.stringify(String(v));
    };
  }
  const text = concat(pieces.map((p) => textSegment(p, '-')));
  return (r) => JSON.stringify(text(r));
}

/** json_format with null for missing values: the whole line as pre-serialised segments. */
function jsonSegments(value: unknown, out: Segment[]): void {
  if (typeof value === 'string') {
    const leaf = jsonLeaf(value);
    out.push(typeof leaf === 'string' ? leaf : (r) => leaf(r) ?? 'null');
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

/** json_format with omit_empty_values: keys whose value is not available are left out. */
function jsonOmitting(value: Record<string, unknown>): JsonLeaf {
  const members = Object.entries(value).map(([key, v]): [string, string | JsonLeaf] => {
    const prefix = `${JSON.stringify(key)}:`;
    if (typeof v === 'string') return [prefix, jsonLeaf(v)];
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      return [prefix, jsonOmitting(v as Record<string, unknown>)];
    return [prefix, JSON.stringify(v)];
  });
  return (r) => {
    let out = '';
    for (let i = 0; i < members.length; i++) {
      const [prefix, leaf] = members[i]!;
      const text = typeof leaf === 'string' ? leaf : leaf(r);
      if (text === undefined) continue;
      out += out === '' ? prefix + text : `,${prefix}${text}`;
    }
    return `{${out}}`;
  };
}

/** Compiles a json_format (a Struct as plain JSON): one JSON object per line. */
export function compileJsonFormat(
  format: Record<string, unknown>,
  options: FormatOptions = {},
): LineFormatter {
  if (options.omitEmptyValues === true) {
    const object = jsonOmitting(format);
    return (r) => `${object(r)!}\n`;
  }
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
    const result = parseFormat(value);
    return result.ok ? [] : result.errors.map((e) => `${path}: ${e}`);
  }
  if (Array.isArray(value)) return [`${path}: lists are not supported in json_format`];
  if (value !== null && typeof value === 'object')
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
      checkJsonFormat(v, `${path}.${k}`),
    );
  return [];
}
