/**
 * The RateLimitPolicy resource (proto/ferry/v1/rate_limit.proto) compiled for lookups, with field
 * checks that carry paths (run by validation on apply and again when a stored policy is loaded).
 *
 * Matching follows envoyproxy/ratelimit: the entries of a request descriptor are matched in order
 * down the tree, each against the children of the node the previous one reached, preferring a
 * child with the entry's key and value over one with the key alone. The descriptor is limited by
 * the `rate_limit` of the node its last entry reaches; when an entry finds no child, or the last
 * node has no `rate_limit`, the descriptor is not limited.
 */
import type { JsonValue } from '@ferry/proto';

export type RateLimitUnit = 'SECOND' | 'MINUTE' | 'HOUR' | 'DAY';

export const UNIT_MS: Readonly<Record<RateLimitUnit, number>> = Object.freeze({
  SECOND: 1000,
  MINUTE: 60_000,
  HOUR: 3_600_000,
  DAY: 86_400_000,
});

export interface CompiledLimit {
  readonly unit: RateLimitUnit;
  readonly requestsPerUnit: number;
  /** Reported as current_limit.name; "" when unnamed. */
  readonly name: string;
  readonly shadowMode: boolean;
}

/** What a descriptor resolves to: a limit, explicitly unlimited, or no rule (not limited). */
export type LimitMatch = CompiledLimit | 'unlimited' | undefined;

export interface DescriptorNode {
  /** Children by `key` + "\u0000" + `value` (exact value) ... */
  readonly exact: ReadonlyMap<string, DescriptorNode>;
  /** ... and by `key` alone (any value). */
  readonly anyValue: ReadonlyMap<string, DescriptorNode>;
  readonly limit: LimitMatch;
}

export interface CompiledRateLimitPolicy {
  readonly name: string;
  readonly domain: string;
  readonly root: DescriptorNode;
}

type JsonObject = { readonly [key: string]: JsonValue };

const UNITS = new Set<string>(Object.keys(UNIT_MS));

/** The RLS request entry shape (proto-loader: keepCase). */
export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** The limit of one request descriptor (its entries in order) under `policy`. */
export function matchDescriptor(
  policy: CompiledRateLimitPolicy,
  entries: readonly DescriptorEntry[],
): LimitMatch {
  if (entries.length === 0) return undefined;
  let node = policy.root;
  for (const entry of entries) {
    const next = node.exact.get(`${entry.key}\u0000${entry.value}`) ?? node.anyValue.get(entry.key);
    if (!next) return undefined;
    node = next;
  }
  return node.limit;
}

/**
 * A policy's JSON (proto3 JSON, snake_case, as validation and the store decode it) compiled, or
 * every problem as `field.path: reason` relative to the resource.
 */
export function compileRateLimitPolicy(
  json: JsonObject,
): { ok: true; value: CompiledRateLimitPolicy } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const domain = typeof json.domain === 'string' ? json.domain : '';
  if (domain === '')
    errors.push('domain: required: the domain the proxies\' ratelimit filters send (e.g. "edge")');
  const descriptors = Array.isArray(json.descriptors) ? json.descriptors : [];
  if (descriptors.length === 0)
    errors.push(
      'descriptors: at least one descriptor is required (a policy without one limits nothing)',
    );
  const root = compileLevel(descriptors, 'descriptors', undefined, errors);
  if (errors.length > 0) return { ok: false, errors };
  const name = typeof json.name === 'string' ? json.name : '';
  return { ok: true, value: { name, domain, root } };
}

/** Every problem of a RateLimitPolicy's fields (validation on apply). */
export function checkRateLimitPolicy(json: JsonObject): string[] {
  const compiled = compileRateLimitPolicy(json);
  return compiled.ok ? [] : compiled.errors;
}

function compileLevel(
  list: readonly JsonValue[],
  path: string,
  limit: LimitMatch,
  errors: string[],
): DescriptorNode {
  const exact = new Map<string, DescriptorNode>();
  const anyValue = new Map<string, DescriptorNode>();
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    const at = `${path}[${i}]`;
    const d = item !== null && typeof item === 'object' && !Array.isArray(item) ? item : {};
    const key = typeof d.key === 'string' ? d.key : '';
    const value = typeof d.value === 'string' ? d.value : '';
    if (key === '') errors.push(`${at}.key: required: the descriptor entry key to match`);
    const id = `${key}\u0000${value}`;
    const first = seen.get(id);
    if (key !== '' && first !== undefined) {
      const what =
        value === ''
          ? `key ${JSON.stringify(key)}`
          : `key ${JSON.stringify(key)} with value ${JSON.stringify(value)}`;
      errors.push(`${at}: duplicate descriptor: ${what} is also ${path}[${first}]`);
    } else seen.set(id, i);
    const shadowMode = d.shadow_mode === true;
    const ownLimit = compileLimit(d.rate_limit, `${at}.rate_limit`, shadowMode, errors);
    const children = Array.isArray(d.descriptors) ? d.descriptors : [];
    if (ownLimit === undefined && children.length === 0)
      errors.push(`${at}: needs a rate_limit or nested descriptors (it limits nothing otherwise)`);
    const node = compileLevel(children, `${at}.descriptors`, ownLimit, errors);
    (value === '' ? anyValue : exact).set(value === '' ? key : id, node);
  });
  return { exact, anyValue, limit };
}

function compileLimit(
  raw: JsonValue | undefined,
  path: string,
  shadowMode: boolean,
  errors: string[],
): LimitMatch {
  if (raw === undefined || raw === null) return undefined;
  const r = typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
  const unit = typeof r.unit === 'string' ? r.unit : '';
  const rate = typeof r.requests_per_unit === 'number' ? r.requests_per_unit : 0;
  if (r.unlimited === true) {
    if (unit !== '' && unit !== 'UNIT_UNSPECIFIED')
      errors.push(`${path}.unit: an unlimited rate_limit has no unit`);
    if (rate !== 0) errors.push(`${path}.requests_per_unit: an unlimited rate_limit has no rate`);
    return 'unlimited';
  }
  if (!UNITS.has(unit)) errors.push(`${path}.unit: required: SECOND, MINUTE, HOUR or DAY`);
  if (!Number.isInteger(rate) || rate < 1)
    errors.push(`${path}.requests_per_unit: required: at least 1 (or set unlimited: true)`);
  return {
    unit: (UNITS.has(unit) ? unit : 'SECOND') as RateLimitUnit,
    requestsPerUnit: rate,
    name: typeof r.name === 'string' ? r.name : '',
    shadowMode,
  };
}
