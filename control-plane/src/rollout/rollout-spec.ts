/**
 * A rollout's spec as the management API takes it (docs/rollouts.md): stages, bake, selector
 * and gates, from JSON (POST /v1/rollouts) or a ferryctl spec file. Errors carry the field path.
 */
import { FerryError } from '@ferry/shared';
import { isSelectorKey, SELECTOR_KEYS } from './rollout-plan.js';
import {
  DEFAULT_GATES,
  type LatencyGate,
  type RolloutGates,
  type RolloutSelector,
  type RolloutStage,
} from './rollout-record.js';

export interface RolloutSpec {
  readonly stages: readonly RolloutStage[];
  readonly bakeMs: number;
  readonly selectors: readonly RolloutSelector[];
  readonly gates: RolloutGates;
}

/** Default bake time per stage. */
export const DEFAULT_BAKE_MS = 60_000;
const MAX_STAGES = 20;
const MAX_BAKE_MS = 24 * 3600 * 1000;

/** `1`, `25%`: a stage size. */
export function parseStage(value: unknown, path: string): RolloutStage {
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const p = Number(percent[1]);
    if (p > 0 && p <= 100) return { percent: Math.ceil(p) };
  } else if (/^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 1_000_000) {
    return { count: Number(text) };
  }
  throw new FerryError(
    'FERRY_BAD_REQUEST',
    `${path}: expected a proxy count (1, 5) or a percentage (10%, 100%), got ${JSON.stringify(value)}`,
  );
}

/** `30s`, `2m`, `500ms`, `1h` → milliseconds. */
export function parseBake(value: unknown, path: string): number {
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim()) : null;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m?.[2] ?? ''] ?? 0;
  const ms = m ? Math.round(Number(m[1]) * factor) : -1;
  if (ms < 0 || ms > MAX_BAKE_MS)
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${path}: expected a duration like 500ms, 30s, 5m or 1h (at most 24h), got ${JSON.stringify(value)}`,
    );
  return ms;
}

function list(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  return [value];
}

function selectorsOf(value: unknown, path: string): RolloutSelector[] {
  if (value === undefined || value === null) return [];
  const pairs: Array<[string, unknown]> =
    typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value as Record<string, unknown>)
      : list(value).map((item) => {
          const text = typeof item === 'string' ? item : '';
          const eq = text.indexOf('=');
          return eq > 0 ? [text.slice(0, eq).trim(), text.slice(eq + 1).trim()] : [text, undefined];
        });
  return pairs.map(([key, v]) => {
    if (!isSelectorKey(key))
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        `${path}: unknown key ${JSON.stringify(key)} (one of ${SELECTOR_KEYS})`,
      );
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new FerryError('FERRY_BAD_REQUEST', `${path}.${key}: expected key=value with a value`);
    return { key, value: String(v) };
  });
}

function ratioField(
  obj: Record<string, unknown>,
  field: string,
  path: string,
  fallback: number,
): number {
  const v = obj[field];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${path}.${field}: expected a ratio between 0 and 1, got ${JSON.stringify(v)}`,
    );
  return v;
}

function countField(
  obj: Record<string, unknown>,
  field: string,
  path: string,
  fallback: number,
): number {
  const v = obj[field];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${path}.${field}: expected a whole number ≥ 0, got ${JSON.stringify(v)}`,
    );
  return v;
}

/** A positive number field (a ratio of means, not bounded by 1). */
function positiveField(obj: Record<string, unknown>, field: string, path: string): number {
  const v = obj[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${path}.${field}: expected a number above 0 (e.g. 2.0), got ${JSON.stringify(v)}`,
    );
  return v;
}

/** `value` as an object holding only `fields` (every level of the spec is checked alike). */
function objectOf(
  value: unknown,
  path: string,
  fields: readonly string[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${path}: expected an object with ${fields.join(', ')}`,
    );
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj))
    if (!fields.includes(k))
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        `${path}.${k}: unknown field (one of ${fields.join(', ')})`,
      );
  return obj;
}

const LATENCY_FIELDS = ['max_ratio', 'min_requests'];
const GATE_FIELDS = [
  'max_error_ratio',
  'max_error_ratio_increase',
  'min_requests',
  'max_unhealthy_hosts_increase',
  'latency',
];
const SPEC_FIELDS = ['stages', 'bake', 'selector', 'gates'];

/** `{max_ratio, min_requests}`: max_ratio is required, min_requests defaults to the gates'. */
function latencyGate(value: unknown, path: string, minRequests: number): LatencyGate | undefined {
  if (value === undefined || value === null) return undefined;
  const obj = objectOf(value, path, LATENCY_FIELDS);
  if (obj.max_ratio === undefined)
    throw new FerryError('FERRY_BAD_REQUEST', `${path}.max_ratio: required (e.g. 2.0)`);
  return {
    maxRatio: positiveField(obj, 'max_ratio', path),
    minRequests: countField(obj, 'min_requests', path, minRequests),
  };
}

export function parseGates(value: unknown, path: string): RolloutGates {
  if (value === undefined || value === null) return DEFAULT_GATES;
  const obj = objectOf(value, path, GATE_FIELDS);
  const minRequests = countField(obj, 'min_requests', path, DEFAULT_GATES.minRequests);
  const latency = latencyGate(obj.latency, `${path}.latency`, minRequests);
  return {
    maxErrorRatio: ratioField(obj, 'max_error_ratio', path, DEFAULT_GATES.maxErrorRatio),
    maxErrorRatioIncrease: ratioField(
      obj,
      'max_error_ratio_increase',
      path,
      DEFAULT_GATES.maxErrorRatioIncrease,
    ),
    minRequests,
    maxUnhealthyHostsIncrease: countField(
      obj,
      'max_unhealthy_hosts_increase',
      path,
      DEFAULT_GATES.maxUnhealthyHostsIncrease,
    ),
    ...(latency ? { latency } : {}),
  };
}

/** `{stages, bake, selector, gates}`; stages are required. */
export function parseRolloutSpec(value: unknown, path = 'rollout'): RolloutSpec {
  const obj = objectOf(value, path, SPEC_FIELDS);
  if (obj.stages === undefined)
    throw new FerryError('FERRY_BAD_REQUEST', `${path}.stages: required (e.g. 1,10%,50%,100%)`);
  const stages = list(obj.stages).map((s, i) => parseStage(s, `${path}.stages[${i}]`));
  if (stages.length === 0 || stages.length > MAX_STAGES)
    throw new FerryError('FERRY_BAD_REQUEST', `${path}.stages: expected 1 to ${MAX_STAGES} stages`);
  return {
    stages,
    bakeMs: obj.bake === undefined ? DEFAULT_BAKE_MS : parseBake(obj.bake, `${path}.bake`),
    selectors: selectorsOf(obj.selector, `${path}.selector`),
    gates: parseGates(obj.gates, `${path}.gates`),
  };
}
