/**
 * A rollout as the store keeps it (proto/ferry/v1/rollout.proto): one `ferry.v1.Rollout` record
 * per rollout, in the rollout's group, never served over xDS and never listed as configuration.
 * Every replica reads it to serve the candidate to the updated proxies (rollout-serving.ts); the
 * controller (rollout-controller.ts) rewrites it at every step.
 */
import { binaryToJson, contentVersion, jsonToBinary, sortKeysDeep } from '@ferry/proto';
import type { RolloutJson } from '@ferry/shared/api-wire';
import type { Mutation } from '../store/store.js';

export const ROLLOUT_TYPE = 'type.googleapis.com/ferry.v1.Rollout';
const MESSAGE = 'ferry.v1.Rollout';

export type RolloutState = 'PROGRESSING' | 'PAUSED' | 'ROLLED_BACK' | 'ABORTED' | 'PROMOTED';
const STATES: readonly RolloutState[] = [
  'PROGRESSING',
  'PAUSED',
  'ROLLED_BACK',
  'ABORTED',
  'PROMOTED',
];

/** PROGRESSING and PAUSED hold the group: its updated proxies serve the candidate. */
export function isActive(state: RolloutState): boolean {
  return state === 'PROGRESSING' || state === 'PAUSED';
}

export interface RolloutChange {
  readonly typeUrl: string;
  readonly name: string;
  /** Canonical bytes and content version of a put; absent for a delete. */
  readonly put?: { readonly value: Uint8Array; readonly version: string };
}

/** `count` proxies, or `percent` of the matching ones (rounded up, at least one). */
export type RolloutStage = { readonly count: number } | { readonly percent: number };

export interface RolloutSelector {
  readonly key: string;
  readonly value: string;
}

export interface RolloutGates {
  readonly maxErrorRatio: number;
  readonly maxErrorRatioIncrease: number;
  readonly minRequests: number;
  readonly maxUnhealthyHostsIncrease: number;
  /** Mean upstream request time of the updated proxies over the baseline's; absent = off. */
  readonly latency?: LatencyGate;
}

export interface LatencyGate {
  /** Fails above this ratio of means (updated / baseline). */
  readonly maxRatio: number;
  /** Judged once updated and baseline proxies each finished this many timed requests. */
  readonly minRequests: number;
}

export const DEFAULT_GATES: RolloutGates = Object.freeze({
  maxErrorRatio: 0.05,
  maxErrorRatioIncrease: 0.02,
  minRequests: 20,
  maxUnhealthyHostsIncrease: 0,
});

export interface RolloutRecord {
  readonly name: string;
  readonly group: string;
  readonly state: RolloutState;
  readonly changes: readonly RolloutChange[];
  readonly stages: readonly RolloutStage[];
  readonly selectors: readonly RolloutSelector[];
  readonly bakeMs: number;
  readonly gates: RolloutGates;
  readonly stage: number;
  readonly updatedNodes: readonly string[];
  /** Epoch ms. */
  readonly stageStartedAt: number;
  readonly reason: string;
  readonly createdBy: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms. */
  readonly updatedAt: number;
  readonly message: string;
  readonly baseRevision: number;
}

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : 0;
}
function ms(v: unknown): number {
  const t = Date.parse(str(v));
  return Number.isNaN(t) ? 0 : t;
}
function iso(t: number): string {
  return new Date(t).toISOString();
}

/** `1.5s` ↔ milliseconds (proto3 JSON Duration). */
function durationJson(msValue: number): string {
  return `${(msValue / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
}
function durationMs(v: unknown): number {
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(str(v));
  return m ? Math.round(Number(m[1]) * 1000) : 0;
}

export function rolloutMutation(r: RolloutRecord): Mutation {
  const json: Json = {
    name: r.name,
    group: r.group,
    state: r.state,
    changes: r.changes.map((c) => ({
      type_url: c.typeUrl,
      name: c.name,
      ...(c.put
        ? { value: Buffer.from(c.put.value).toString('base64'), version: c.put.version }
        : { delete: true }),
    })),
    stages: r.stages.map((s) => ('count' in s ? { count: s.count } : { percent: s.percent })),
    selectors: r.selectors.map((s) => ({ key: s.key, value: s.value })),
    bake: durationJson(r.bakeMs),
    gates: {
      max_error_ratio: r.gates.maxErrorRatio,
      max_error_ratio_increase: r.gates.maxErrorRatioIncrease,
      min_requests: String(r.gates.minRequests),
      max_unhealthy_hosts_increase: r.gates.maxUnhealthyHostsIncrease,
      ...(r.gates.latency
        ? {
            latency: {
              max_ratio: r.gates.latency.maxRatio,
              min_requests: String(r.gates.latency.minRequests),
            },
          }
        : {}),
    },
    stage: r.stage,
    updated_nodes: [...r.updatedNodes],
    stage_started_at: iso(r.stageStartedAt),
    reason: r.reason,
    created_by: r.createdBy,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
    message: r.message,
    base_revision: String(r.baseRevision),
  };
  const bytes = jsonToBinary(MESSAGE, sortKeysDeep(json));
  if (!bytes.ok) throw new Error(`${MESSAGE} ${r.group}/${r.name}: ${bytes.errors.join('; ')}`);
  return {
    op: 'put',
    typeUrl: ROLLOUT_TYPE,
    group: r.group,
    name: r.name,
    value: bytes.value,
    version: contentVersion(bytes.value),
  };
}

export function decodeRollout(value: Uint8Array): RolloutRecord {
  const j = binaryToJson(MESSAGE, value) as Json;
  const state = STATES.find((s) => s === j.state) ?? 'ABORTED';
  const gates = (j.gates ?? {}) as Json;
  return {
    name: str(j.name),
    group: str(j.group),
    state,
    changes: ((j.changes ?? []) as Json[]).map((c): RolloutChange => {
      const base = { typeUrl: str(c.type_url), name: str(c.name) };
      if (c.delete === true) return base;
      return {
        ...base,
        put: { value: Buffer.from(str(c.value), 'base64'), version: str(c.version) },
      };
    }),
    stages: ((j.stages ?? []) as Json[]).map((s): RolloutStage =>
      num(s.percent) > 0 ? { percent: num(s.percent) } : { count: num(s.count) },
    ),
    selectors: ((j.selectors ?? []) as Json[]).map((s) => ({
      key: str(s.key),
      value: str(s.value),
    })),
    bakeMs: durationMs(j.bake),
    gates: {
      maxErrorRatio: num(gates.max_error_ratio),
      maxErrorRatioIncrease: num(gates.max_error_ratio_increase),
      minRequests: num(gates.min_requests),
      maxUnhealthyHostsIncrease: num(gates.max_unhealthy_hosts_increase),
      ...(typeof gates.latency === 'object' && gates.latency !== null
        ? {
            latency: {
              maxRatio: num((gates.latency as Json).max_ratio),
              minRequests: num((gates.latency as Json).min_requests),
            },
          }
        : {}),
    },
    stage: num(j.stage),
    updatedNodes: ((j.updated_nodes ?? []) as unknown[]).map(str),
    stageStartedAt: ms(j.stage_started_at),
    reason: str(j.reason),
    createdBy: str(j.created_by),
    createdAt: ms(j.created_at),
    updatedAt: ms(j.updated_at),
    message: str(j.message),
    baseRevision: num(j.base_revision),
  };
}

/** The JSON the management API shows (snake_case like the rest of it; no resource bytes). */
export function rolloutView(r: RolloutRecord): RolloutJson {
  return {
    name: r.name,
    group: r.group,
    state: r.state,
    stage: r.stage,
    stages: r.stages.map((s) => ('count' in s ? String(s.count) : `${s.percent}%`)),
    selectors: r.selectors.map((s) => `${s.key}=${s.value}`),
    bake: durationJson(r.bakeMs),
    gates: {
      max_error_ratio: r.gates.maxErrorRatio,
      max_error_ratio_increase: r.gates.maxErrorRatioIncrease,
      min_requests: r.gates.minRequests,
      max_unhealthy_hosts_increase: r.gates.maxUnhealthyHostsIncrease,
      ...(r.gates.latency
        ? {
            latency: {
              max_ratio: r.gates.latency.maxRatio,
              min_requests: r.gates.latency.minRequests,
            },
          }
        : {}),
    },
    updated_nodes: [...r.updatedNodes],
    changes: r.changes.map((c) => ({
      type_url: c.typeUrl,
      name: c.name,
      op: c.put ? 'put' : 'delete',
      ...(c.put ? { version: c.put.version } : {}),
    })),
    stage_started_at: iso(r.stageStartedAt),
    reason: r.reason,
    created_by: r.createdBy,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
    base_revision: r.baseRevision,
  };
}
