/**
 * Compiles one protoc-gen-validate `validate.FieldRules` (read from a field's options as proto3
 * JSON with proto field names) into checker functions. validate-rules.ts calls this once per
 * field and caches the result; the checkers then run for every value of that field.
 *
 * Semantics follow protoc-gen-validate's reference (Go) implementation: a rule set reports its
 * first violation; numeric ranges with the upper bound below the lower bound mean "outside";
 * string lengths count code points, `*_bytes` count UTF-8 bytes; `pattern` is an unanchored
 * search; `strict` (default true) selects the RFC 7230 header regexes.
 */
import { isIP } from 'node:net';
import type { DescEnum, Message } from '@bufbuild/protobuf';
import { compileRe2 } from './re2.js';

type Json = Record<string, unknown>;
/** Returns a violation (without path) or undefined. */
type Test = (value: never) => string | undefined;
export type ValueCheck = (value: unknown) => string | undefined;
export type ListCheck = (items: readonly unknown[]) => string | undefined;

export interface CompiledRules {
  /** message.required, or `required` of the duration/timestamp/any rules. */
  readonly required: boolean;
  /** message.skip: do not descend into the message. */
  readonly skip: boolean;
  /** Scalar and enum values, and the wrapped value of google.protobuf.*Value wrappers. */
  readonly value?: ValueCheck;
  /** Duration, Timestamp and Any messages (the plain message objects). */
  readonly message?: (message: Message) => string | undefined;
  readonly repeated?: {
    readonly check: ListCheck;
    readonly items?: CompiledRules;
    readonly ignoreEmpty: boolean;
  };
  readonly map?: {
    readonly check: (size: number) => string | undefined;
    readonly keys?: CompiledRules;
    readonly values?: CompiledRules;
    readonly ignoreEmpty: boolean;
  };
  /** Rule names this implementation does not enforce (`string.foo`); empty for Envoy's protos. */
  readonly unsupported: readonly string[];
}

const SCALAR_32 = new Set(['float', 'double', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const SCALAR_64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

export function compileFieldRules(rules: Json, enumDesc?: DescEnum): CompiledRules {
  const unsupported: string[] = [];
  const messageRules = (rules.message ?? {}) as Json;
  let required = messageRules.required === true;
  const skip = messageRules.skip === true;
  const result: {
    -readonly [K in keyof CompiledRules]: CompiledRules[K];
  } = { required, skip, unsupported };
  for (const [kind, raw] of Object.entries(rules)) {
    if (kind === 'message') continue;
    const r = raw as Json;
    const tests: Test[] = [];
    const known = (keys: string[]): void => {
      for (const k of Object.keys(r)) if (!keys.includes(k)) unsupported.push(`${kind}.${k}`);
    };
    if (SCALAR_32.has(kind) || SCALAR_64.has(kind)) {
      known(['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'ignore_empty']);
      const toNumber: (x: unknown) => number | bigint = SCALAR_64.has(kind) ? toBigInt : Number;
      tests.push(...orderTests(r, toNumber, (x) => String(x)));
      result.value = valueCheck(
        tests,
        (v) => r.ignore_empty === true && (v === 0 || v === 0n),
        toNumber,
      );
    } else if (kind === 'bool') {
      known(['const']);
      if (typeof r.const === 'boolean')
        tests.push((v: boolean) => (v !== r.const ? `must equal ${String(r.const)}` : undefined));
      result.value = valueCheck(tests, () => false);
    } else if (kind === 'string') {
      result.value = stringCheck(r, unsupported);
    } else if (kind === 'bytes') {
      result.value = bytesCheck(r, unsupported);
    } else if (kind === 'enum') {
      known(['const', 'defined_only', 'in', 'not_in']);
      if (r.defined_only === true && enumDesc) {
        const names = enumDesc.values.map((v) => v.name).join(', ');
        tests.push((v: number) =>
          enumDesc.value[v] === undefined
            ? `${v} is not a defined value of ${enumDesc.typeName} (${names})`
            : undefined,
        );
      }
      tests.push(...membershipTests(r, Number, (x) => enumName(enumDesc, x)));
      result.value = valueCheck(tests, () => false);
    } else if (kind === 'duration' || kind === 'timestamp') {
      known([
        'required',
        'const',
        'lt',
        'lte',
        'gt',
        'gte',
        'in',
        'not_in',
        ...(kind === 'timestamp' ? ['lt_now', 'gt_now', 'within'] : []),
      ]);
      required ||= r.required === true;
      const parse = kind === 'duration' ? durationNanos : timestampNanos;
      tests.push(...orderTests(r, parse, (x) => String(x)));
      if (kind === 'timestamp') tests.push(...nowTests(r));
      result.message = (m) => runTests(tests, messageNanos(m));
    } else if (kind === 'any') {
      known(['required', 'in', 'not_in']);
      required ||= r.required === true;
      tests.push(...membershipTests(r, String, (x) => JSON.stringify(x)));
      result.message = (m) => runTests(tests, (m as unknown as { typeUrl: string }).typeUrl);
    } else if (kind === 'repeated') {
      known(['min_items', 'max_items', 'unique', 'items', 'ignore_empty']);
      const items = r.items ? compileFieldRules(r.items as Json, enumDesc) : undefined;
      if (items) unsupported.push(...items.unsupported.map((u) => `repeated.items.${u}`));
      result.repeated = {
        check: listCheck(r),
        ignoreEmpty: r.ignore_empty === true,
        ...(items ? { items } : {}),
      };
    } else if (kind === 'map') {
      known(['min_pairs', 'max_pairs', 'no_sparse', 'keys', 'values', 'ignore_empty']);
      const keys = r.keys ? compileFieldRules(r.keys as Json) : undefined;
      const values = r.values ? compileFieldRules(r.values as Json, enumDesc) : undefined;
      for (const [name, sub] of [
        ['keys', keys],
        ['values', values],
      ] as const) {
        if (sub) unsupported.push(...sub.unsupported.map((u) => `map.${name}.${u}`));
      }
      result.map = {
        check: sizeCheck(r.min_pairs, r.max_pairs, 'pair'),
        ignoreEmpty: r.ignore_empty === true,
        ...(keys ? { keys } : {}),
        ...(values ? { values } : {}),
      };
    } else {
      unsupported.push(kind);
    }
  }
  result.required = required;
  return result;
}

function runTests(tests: readonly Test[], value: unknown): string | undefined {
  for (const test of tests) {
    const failure = (test as (v: unknown) => string | undefined)(value);
    if (failure !== undefined) return failure;
  }
  return undefined;
}

function valueCheck(
  tests: readonly Test[],
  isIgnoredEmpty: (v: unknown) => boolean,
  convert?: (v: unknown) => unknown,
): ValueCheck | undefined {
  if (tests.length === 0) return undefined;
  return (value) =>
    isIgnoredEmpty(value) ? undefined : runTests(tests, convert ? convert(value) : value);
}

function toBigInt(x: unknown): bigint {
  return typeof x === 'bigint' ? x : BigInt(x as string | number);
}

function plural(n: number | bigint, unit: string): string {
  return `${n} ${unit}${n === 1 || n === 1n ? '' : 's'}`;
}

function enumName(desc: DescEnum | undefined, n: unknown): string {
  const v = desc?.value[n as number];
  return v ? `${v.name} (${String(n)})` : String(n);
}

/** const / lt / lte / gt / gte / in / not_in over numbers, bigints or nanosecond counts. */
function orderTests<T extends number | bigint>(
  r: Json,
  parse: (x: unknown) => T,
  show: (x: unknown) => string,
): Test[] {
  const tests: Test[] = [];
  if (r.const !== undefined) {
    const c = parse(r.const);
    tests.push((v: T) => (v !== c ? `must equal ${show(r.const)}` : undefined));
  }
  const lower =
    r.gt !== undefined
      ? { bound: parse(r.gt), strict: true, text: `> ${show(r.gt)}` }
      : r.gte !== undefined
        ? { bound: parse(r.gte), strict: false, text: `>= ${show(r.gte)}` }
        : undefined;
  const upper =
    r.lt !== undefined
      ? { bound: parse(r.lt), strict: true, text: `< ${show(r.lt)}` }
      : r.lte !== undefined
        ? { bound: parse(r.lte), strict: false, text: `<= ${show(r.lte)}` }
        : undefined;
  const aboveLower = (v: T): boolean =>
    !lower || (lower.strict ? v > lower.bound : v >= lower.bound);
  const belowUpper = (v: T): boolean =>
    !upper || (upper.strict ? v < upper.bound : v <= upper.bound);
  if (lower && upper && upper.bound < lower.bound) {
    // protoc-gen-validate: an upper bound below the lower bound describes the outside of a range.
    tests.push((v: T) =>
      aboveLower(v) || belowUpper(v) ? undefined : `must be ${lower.text} or ${upper.text}`,
    );
  } else if (lower || upper) {
    const text = [lower?.text, upper?.text].filter(Boolean).join(' and ');
    tests.push((v: T) => (aboveLower(v) && belowUpper(v) ? undefined : `must be ${text}`));
  }
  tests.push(...membershipTests(r, parse, show));
  return tests;
}

function membershipTests<T>(
  r: Json,
  parse: (x: unknown) => T,
  show: (x: unknown) => string,
): Test[] {
  const tests: Test[] = [];
  if (Array.isArray(r.in) && r.in.length > 0) {
    const allowed = new Set(r.in.map(parse));
    const text = r.in.map(show).join(', ');
    tests.push((v: T) => (allowed.has(v) ? undefined : `must be one of ${text}`));
  }
  if (Array.isArray(r.not_in) && r.not_in.length > 0) {
    const denied = new Set(r.not_in.map(parse));
    const text = r.not_in.map(show).join(', ');
    tests.push((v: T) => (denied.has(v) ? `must not be one of ${text}` : undefined));
  }
  return tests;
}

const DURATION_TEXT = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/;

/** proto3 JSON duration ("0.001s") → nanoseconds. */
function durationNanos(x: unknown): bigint {
  const m = DURATION_TEXT.exec(String(x));
  if (!m) throw new Error(`validate: bad duration in rules: ${String(x)}`);
  const nanos = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -nanos : nanos;
}

/** RFC 3339 timestamp → nanoseconds since the epoch. */
function timestampNanos(x: unknown): bigint {
  const text = String(x);
  const fraction = /\.(\d{1,9})/.exec(text)?.[1] ?? '';
  const ms = Date.parse(text.replace(/\.\d{1,9}/, ''));
  if (Number.isNaN(ms)) throw new Error(`validate: bad timestamp in rules: ${text}`);
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

function messageNanos(m: Message): bigint {
  const { seconds, nanos } = m as unknown as { seconds: bigint; nanos: number };
  return BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
}

function nowTests(r: Json): Test[] {
  const now = (): bigint => BigInt(Date.now()) * 1_000_000n;
  const tests: Test[] = [];
  if (r.lt_now === true) tests.push((v: bigint) => (v < now() ? undefined : 'must be in the past'));
  if (r.gt_now === true)
    tests.push((v: bigint) => (v > now() ? undefined : 'must be in the future'));
  if (r.within !== undefined) {
    const window = durationNanos(r.within);
    tests.push((v: bigint) => {
      const d = v - now();
      return (d < 0n ? -d : d) <= window ? undefined : `must be within ${String(r.within)} of now`;
    });
  }
  return tests;
}

function sizeCheck(min: unknown, max: unknown, unit: string): (size: number) => string | undefined {
  const lo = min === undefined ? undefined : Number(min);
  const hi = max === undefined ? undefined : Number(max);
  return (size) => {
    if (lo !== undefined && size < lo) return `must have at least ${plural(lo, unit)}`;
    if (hi !== undefined && size > hi) return `must have at most ${plural(hi, unit)}`;
    return undefined;
  };
}

function listCheck(r: Json): ListCheck {
  const size = sizeCheck(r.min_items, r.max_items, 'item');
  const unique = r.unique === true;
  return (items) => {
    const failure = size(items.length);
    if (failure !== undefined || !unique) return failure;
    const seen = new Set<unknown>();
    for (const item of items) {
      const key = item instanceof Uint8Array ? Buffer.from(item).toString('base64') : item;
      if (seen.has(key)) return `must not contain duplicates (${String(item)} repeats)`;
      seen.add(key);
    }
    return undefined;
  };
}

// protoc-gen-validate's well-known header regexes (RFC 7230); `strict: false` relaxes both to
// "no NUL, CR or LF". The header-name class is PGV's verbatim, including its `+-.` range.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
// eslint-disable-next-line no-control-regex
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// eslint-disable-next-line no-control-regex
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const HOSTNAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff || i + 1 >= s.length) n++;
    else {
      n++;
      i++;
    }
  }
  return n;
}

function isUri(s: string, requireScheme: boolean): boolean {
  try {
    if (requireScheme) return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(s) && new URL(s).protocol !== '';
    new URL(s, 'http://relative.invalid/');
    return true;
  } catch {
    return false;
  }
}

function stringCheck(r: Json, unsupported: string[]): ValueCheck | undefined {
  const tests: ((v: string) => string | undefined)[] = [];
  const n = (x: unknown): number => Number(x);
  for (const [key, arg] of Object.entries(r)) {
    switch (key) {
      case 'const':
        tests.push((v) => (v !== arg ? `must equal ${JSON.stringify(arg)}` : undefined));
        break;
      case 'len':
        tests.push((v) =>
          codePoints(v) !== n(arg) ? `must be exactly ${plural(n(arg), 'character')}` : undefined,
        );
        break;
      case 'min_len':
        // Code points lie between length/2 and length (UTF-16): count only when that is ambiguous.
        tests.push((v) =>
          v.length < 2 * n(arg) && codePoints(v) < n(arg)
            ? `must be at least ${plural(n(arg), 'character')}`
            : undefined,
        );
        break;
      case 'max_len':
        tests.push((v) =>
          v.length > n(arg) && codePoints(v) > n(arg)
            ? `must be at most ${plural(n(arg), 'character')}`
            : undefined,
        );
        break;
      case 'len_bytes':
        tests.push((v) =>
          Buffer.byteLength(v) !== n(arg) ? `must be exactly ${plural(n(arg), 'byte')}` : undefined,
        );
        break;
      case 'min_bytes':
        tests.push((v) =>
          Buffer.byteLength(v) < n(arg) ? `must be at least ${plural(n(arg), 'byte')}` : undefined,
        );
        break;
      case 'max_bytes':
        tests.push((v) =>
          v.length * 3 > n(arg) && Buffer.byteLength(v) > n(arg)
            ? `must be at most ${plural(n(arg), 'byte')}`
            : undefined,
        );
        break;
      case 'pattern': {
        const re = compileRe2(String(arg));
        tests.push((v) =>
          re.test(v) ? undefined : `must match the pattern ${JSON.stringify(arg)}`,
        );
        break;
      }
      case 'prefix':
        tests.push((v) =>
          v.startsWith(String(arg)) ? undefined : `must start with ${JSON.stringify(arg)}`,
        );
        break;
      case 'suffix':
        tests.push((v) =>
          v.endsWith(String(arg)) ? undefined : `must end with ${JSON.stringify(arg)}`,
        );
        break;
      case 'contains':
        tests.push((v) =>
          v.includes(String(arg)) ? undefined : `must contain ${JSON.stringify(arg)}`,
        );
        break;
      case 'not_contains':
        tests.push((v) =>
          v.includes(String(arg)) ? `must not contain ${JSON.stringify(arg)}` : undefined,
        );
        break;
      case 'in':
      case 'not_in':
        tests.push(
          ...(membershipTests({ [key]: arg }, String, (x) => JSON.stringify(x)) as ((
            v: string,
          ) => string | undefined)[]),
        );
        break;
      case 'email':
        tests.push((v) => (EMAIL.test(v) ? undefined : 'must be an email address'));
        break;
      case 'hostname':
        tests.push((v) => (HOSTNAME.test(v) ? undefined : 'must be a valid hostname'));
        break;
      case 'ip':
        tests.push((v) => (isIP(v) !== 0 ? undefined : 'must be a valid IP address'));
        break;
      case 'ipv4':
        tests.push((v) => (isIP(v) === 4 ? undefined : 'must be a valid IPv4 address'));
        break;
      case 'ipv6':
        tests.push((v) => (isIP(v) === 6 ? undefined : 'must be a valid IPv6 address'));
        break;
      case 'address':
        tests.push((v) =>
          isIP(v) !== 0 || HOSTNAME.test(v) ? undefined : 'must be a valid hostname or IP address',
        );
        break;
      case 'uri':
        tests.push((v) => (isUri(v, true) ? undefined : 'must be an absolute URI'));
        break;
      case 'uri_ref':
        tests.push((v) => (isUri(v, false) ? undefined : 'must be a URI reference'));
        break;
      case 'uuid':
        tests.push((v) => (UUID.test(v) ? undefined : 'must be a UUID'));
        break;
      case 'well_known_regex': {
        const strict = r.strict !== false;
        if (arg === 'HTTP_HEADER_NAME') {
          const re = strict ? HEADER_NAME_STRICT : HEADER_LOOSE;
          tests.push((v) => (re.test(v) ? undefined : 'must be a valid HTTP header name'));
        } else if (arg === 'HTTP_HEADER_VALUE') {
          const re = strict ? HEADER_VALUE_STRICT : HEADER_LOOSE;
          tests.push((v) => (re.test(v) ? undefined : 'must be a valid HTTP header value'));
        } else if (arg !== 'UNKNOWN') {
          unsupported.push(`string.well_known_regex.${String(arg)}`);
        }
        break;
      }
      case 'strict':
      case 'ignore_empty':
        break;
      default:
        unsupported.push(`string.${key}`);
    }
  }
  return valueCheck(tests, (v) => r.ignore_empty === true && v === '');
}

function bytesCheck(r: Json, unsupported: string[]): ValueCheck | undefined {
  const tests: ((v: Buffer) => string | undefined)[] = [];
  const bytes = (x: unknown): Buffer => Buffer.from(String(x), 'base64');
  const n = (x: unknown): number => Number(x);
  for (const [key, arg] of Object.entries(r)) {
    switch (key) {
      case 'const':
        tests.push((v) => (v.equals(bytes(arg)) ? undefined : 'must equal the given bytes'));
        break;
      case 'len':
        tests.push((v) =>
          v.length !== n(arg) ? `must be exactly ${plural(n(arg), 'byte')}` : undefined,
        );
        break;
      case 'min_len':
        tests.push((v) =>
          v.length < n(arg) ? `must be at least ${plural(n(arg), 'byte')}` : undefined,
        );
        break;
      case 'max_len':
        tests.push((v) =>
          v.length > n(arg) ? `must be at most ${plural(n(arg), 'byte')}` : undefined,
        );
        break;
      case 'pattern': {
        const re = compileRe2(String(arg));
        tests.push((v) =>
          re.test(v.toString('utf8')) ? undefined : `must match the pattern ${JSON.stringify(arg)}`,
        );
        break;
      }
      case 'prefix':
        tests.push((v) =>
          v.subarray(0, bytes(arg).length).equals(bytes(arg))
            ? undefined
            : 'must start with the given bytes',
        );
        break;
      case 'suffix':
        tests.push((v) =>
          v.length >= bytes(arg).length &&
          v.subarray(v.length - bytes(arg).length).equals(bytes(arg))
            ? undefined
            : 'must end with the given bytes',
        );
        break;
      case 'contains':
        tests.push((v) => (v.includes(bytes(arg)) ? undefined : 'must contain the given bytes'));
        break;
      case 'in':
      case 'not_in': {
        const listed = new Set((arg as unknown[]).map((x) => bytes(x).toString('base64')));
        const wanted = key === 'in';
        tests.push((v) =>
          listed.has(v.toString('base64')) === wanted
            ? undefined
            : `must ${wanted ? '' : 'not '}be one of the listed values`,
        );
        break;
      }
      case 'ip':
        tests.push((v) =>
          v.length === 4 || v.length === 16 ? undefined : 'must be an IP address (4 or 16 bytes)',
        );
        break;
      case 'ipv4':
        tests.push((v) => (v.length === 4 ? undefined : 'must be an IPv4 address (4 bytes)'));
        break;
      case 'ipv6':
        tests.push((v) => (v.length === 16 ? undefined : 'must be an IPv6 address (16 bytes)'));
        break;
      case 'ignore_empty':
        break;
      default:
        unsupported.push(`bytes.${key}`);
    }
  }
  return valueCheck(
    tests,
    (v) => r.ignore_empty === true && (v as Uint8Array).length === 0,
    (v) => Buffer.from(v as Uint8Array),
  );
}
