/**
 * The pure parts of a rollout (docs/architecture.md, "Progressive rollouts"): which proxies a
 * stage updates, and what the health gates decide. Deterministic in their inputs, so that a
 * restarted control plane or another replica reaches the same decisions from the same record and
 * fleet.
 */
import { createHash } from 'node:crypto';
import type { NodeIdentity } from '../xds/fleet.js';
import type { RolloutGates, RolloutSelector, RolloutStage } from './rollout-record.js';

/** The node's value for a selector key; undefined when it has none. */
export function selectorValue(node: NodeIdentity, key: string): string | undefined {
  if (key === 'id') return node.id;
  if (key === 'cluster') return node.cluster;
  const locality = (node.locality ?? {}) as Record<string, unknown>;
  if (key.startsWith('locality.')) {
    const field = key.slice('locality.'.length);
    const v = locality[field] ?? locality[field === 'sub_zone' ? 'subZone' : field];
    return typeof v === 'string' ? v : undefined;
  }
  if (key.startsWith('metadata.')) {
    const v = ((node.metadata ?? {}) as Record<string, unknown>)[key.slice('metadata.'.length)];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : undefined;
  }
  return undefined;
}

export const SELECTOR_KEYS =
  'id, cluster, locality.region, locality.zone, locality.sub_zone, metadata.<field>';

export function isSelectorKey(key: string): boolean {
  return (
    ['id', 'cluster', 'locality.region', 'locality.zone', 'locality.sub_zone'].includes(key) ||
    /^metadata\.[^.]+$/.test(key)
  );
}

export function matches(node: NodeIdentity, selectors: readonly RolloutSelector[]): boolean {
  return selectors.every((s) => selectorValue(node, s.key) === s.value);
}

/** The order in which proxies are updated: by sha256 of the node id, then by id. */
export function rank(nodeId: string): string {
  return createHash('sha256').update(nodeId).digest('hex');
}

export function byRank(ids: readonly string[]): string[] {
  return [...ids]
    .map((id) => [rank(id), id] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([, id]) => id);
}

/** How many of `matching` proxies a stage updates. */
export function stageSize(stage: RolloutStage, matching: number): number {
  if (matching === 0) return 0;
  if ('count' in stage) return Math.min(stage.count, matching);
  return Math.min(matching, Math.max(1, Math.ceil((matching * stage.percent) / 100)));
}

/**
 * The proxies updated once `stage` is reached: those already updated stay (a proxy never goes
 * back to stable while the rollout continues), then proxies of `pool` in rank order until the
 * stage's size. The size is taken of `matchingCount`, the matching connected proxies of every
 * replica; `pool` holds at least those of them that the stage may add (each replica's first ones
 * by rank, rollout-tally.ts), and is all of them when one replica sees the whole fleet.
 */
export function stageMembers(
  stage: RolloutStage,
  pool: readonly string[],
  already: readonly string[],
  matchingCount = pool.length,
): string[] {
  const size = stageSize(stage, matchingCount);
  const members = [...already];
  const have = new Set(already);
  for (const id of byRank(pool)) {
    if (members.length >= size) break;
    if (!have.has(id)) {
      members.push(id);
      have.add(id);
    }
  }
  return members;
}

/**
 * Requests, errors and request time over a set of proxies since their stage began. The time is
 * what LRS carries (the `ferry.upstream_rq_time_ms` load metric): a sum of milliseconds over
 * `latencyCount` requests, so only a mean can be derived from it.
 */
export interface LoadDelta {
  readonly issued: number;
  readonly errors: number;
  readonly latencyMs: number;
  readonly latencyCount: number;
}

export const NO_LOAD: LoadDelta = Object.freeze({
  issued: 0,
  errors: 0,
  latencyMs: 0,
  latencyCount: 0,
});

/** Unhealthy upstream hosts seen by a set of proxies, now and when their stage began. */
export interface UnhealthyDelta {
  readonly proxies: number;
  /** Sum over the proxies of (unhealthy now − unhealthy at stage start). */
  readonly increase: number;
}

export interface GateInput {
  readonly gates: RolloutGates;
  /** NACKs from updated proxies since the rollout started: node id → message. */
  readonly nacks: ReadonlyMap<string, string>;
  readonly updatedLoad: LoadDelta;
  readonly baselineLoad: LoadDelta;
  readonly updatedHealth: UnhealthyDelta;
  readonly baselineHealth: UnhealthyDelta;
}

function ratio(l: LoadDelta): number {
  return l.issued === 0 ? 0 : l.errors / l.issued;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Why the gates fail, or undefined while they pass. */
export function failedGate(input: GateInput): string | undefined {
  const [nackNode, nack] = [...input.nacks][0] ?? [];
  if (nackNode !== undefined) return `proxy ${nackNode} rejected the candidate (NACK): ${nack}`;
  const { gates } = input;
  const updated = ratio(input.updatedLoad);
  if (input.updatedLoad.issued >= gates.minRequests && updated > gates.maxErrorRatio) {
    const baselineJudged = input.baselineLoad.issued >= gates.minRequests;
    const baseline = ratio(input.baselineLoad);
    if (!baselineJudged || updated - baseline > gates.maxErrorRatioIncrease) {
      return (
        `error ratio of updated proxies ${pct(updated)} (${input.updatedLoad.errors}/${input.updatedLoad.issued}) ` +
        `is above ${pct(gates.maxErrorRatio)}` +
        (baselineJudged
          ? ` and ${pct(gates.maxErrorRatioIncrease)} above the baseline's ${pct(baseline)} (${input.baselineLoad.errors}/${input.baselineLoad.issued})`
          : ' (no baseline with enough requests)')
      );
    }
  }
  const latency = latencyGate(input);
  if (latency !== undefined) return latency;
  if (input.updatedHealth.proxies > 0) {
    const perProxy = input.updatedHealth.increase / input.updatedHealth.proxies;
    const basePerProxy =
      input.baselineHealth.proxies > 0
        ? input.baselineHealth.increase / input.baselineHealth.proxies
        : 0;
    if (perProxy - Math.max(0, basePerProxy) > gates.maxUnhealthyHostsIncrease) {
      return (
        `updated proxies see ${perProxy.toFixed(1)} more unhealthy upstream hosts per proxy since the stage began ` +
        `(baseline ${basePerProxy.toFixed(1)}), above the allowed ${gates.maxUnhealthyHostsIncrease}`
      );
    }
  }
  return undefined;
}

/**
 * The latency gate: mean request time of the updated proxies against the baseline's, judged once
 * both finished `minRequests` requests with the metric (a ratio needs a baseline to divide by).
 */
function latencyGate(input: GateInput): string | undefined {
  const gate = input.gates.latency;
  if (!gate) return undefined;
  const u = input.updatedLoad;
  const b = input.baselineLoad;
  if (u.latencyCount < gate.minRequests || b.latencyCount < gate.minRequests) return undefined;
  const updatedMean = u.latencyMs / u.latencyCount;
  const baselineMean = b.latencyMs / b.latencyCount;
  // A baseline of 0 ms (sub-millisecond answers rounded down) is judged against 1 ms.
  const ratio = updatedMean / Math.max(baselineMean, 1);
  if (ratio <= gate.maxRatio) return undefined;
  return (
    `mean upstream request time of updated proxies ${updatedMean.toFixed(1)} ms (${u.latencyCount} requests) ` +
    `is ${ratio.toFixed(2)}× the baseline's ${baselineMean.toFixed(1)} ms (${b.latencyCount} requests), above the allowed ${gate.maxRatio}×`
  );
}
