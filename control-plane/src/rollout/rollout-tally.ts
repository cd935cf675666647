/**
 * What one control-plane replica knows of an active rollout (docs/architecture.md, "Rollouts
 * across replicas"): a tally over the proxies connected to it, published as a leased record
 * (namespace TALLY_NAMESPACE, key group/rollout/replica, holder = the replica), and the sum the
 * replica driving rollouts takes of every live replica's tally.
 *
 * A tally is counts, not proxies: updated (stage members) and baseline (the other proxies of the
 * group) each with proxies, LRS requests, errors and request time since the stage began, and
 * newly unhealthy HDS hosts; how many members ACKed the candidate; the members' NACKs (a few,
 * with node and detail); how many connected proxies match the selectors, and the first of them
 * by rank that the next stage may add. Its size does not grow with the replica's proxies but for
 * that last list, bounded by the next stage's size.
 */
import type { LoadDelta, UnhealthyDelta } from './rollout-plan.js';
import type { RolloutRecord } from './rollout-record.js';

/** The leased-record namespace of the tallies. */
export const TALLY_NAMESPACE = 'rollout-tallies';
/** NACKs a tally carries at most (the first one fails the gate; the rest are for the reason). */
export const MAX_TALLY_NACKS = 8;

export interface SideTally {
  /** Proxies of this side connected to the replica. */
  readonly proxies: number;
  readonly load: LoadDelta;
  readonly unhealthy: UnhealthyDelta;
}

export interface RolloutTally {
  readonly replica: string;
  readonly group: string;
  readonly rollout: string;
  /** The stage the counts are for (stageKey); counts of an earlier stage are not summed. */
  readonly stage: string;
  readonly updated: SideTally & {
    /** Members connected here that ACKed what they are served now for every changed type. */
    readonly converged: number;
  };
  readonly baseline: SideTally;
  /** NACKs of members since the rollout started, oldest first. */
  readonly nacks: ReadonlyArray<{ readonly node: string; readonly detail: string }>;
  /** Connected proxies of the group that match the selectors (members included). */
  readonly matching: number;
  /** Of those, the ones not updated yet. */
  readonly pending: number;
  /** The first `pending` proxies by rank that stage `candidatesFor` may add. */
  readonly candidates: readonly string[];
  /** The stage index the candidates are for; -1 when no stage follows. */
  readonly candidatesFor: number;
}

/** Identifies a stage of a rollout: a new stage, or a resume, restarts the counts. */
export function stageKey(r: RolloutRecord): string {
  return `${r.stage}@${r.stageStartedAt}`;
}

export function tallyKey(group: string, rollout: string, replica: string): string {
  return `${group}/${rollout}/${replica}`;
}

/** The stage whose members a replica lists candidates for: the first, or the next one. */
export function nextStage(r: RolloutRecord): number {
  if (r.updatedNodes.length === 0) return 0;
  return r.stage + 1 < r.stages.length ? r.stage + 1 : -1;
}

export function encodeTally(t: RolloutTally): Uint8Array {
  return Buffer.from(JSON.stringify(t));
}

/** A stored tally, or undefined when it is not one (a record from another version). */
export function decodeTally(value: Uint8Array): RolloutTally | undefined {
  try {
    const t = JSON.parse(Buffer.from(value).toString('utf8')) as RolloutTally;
    if (
      typeof t.replica === 'string' &&
      typeof t.rollout === 'string' &&
      typeof t.stage === 'string' &&
      typeof t.updated?.load?.issued === 'number' &&
      typeof t.baseline?.load?.issued === 'number' &&
      Array.isArray(t.nacks) &&
      Array.isArray(t.candidates)
    )
      return t;
  } catch {
    // Not JSON: ignored like any foreign record.
  }
  return undefined;
}

/** The fleet-wide view of one rollout's stage. */
export interface FleetTally {
  /** Replicas whose tally is of the current stage. */
  readonly replicas: readonly string[];
  /** Live replicas with no tally of the current stage yet (they publish within a tick). */
  readonly lagging: readonly string[];
  readonly updated: SideTally & { readonly converged: number };
  readonly baseline: SideTally;
  /** Member NACKs from every replica's tally, whatever its stage. */
  readonly nacks: ReadonlyMap<string, string>;
  readonly matching: number;
  /** The union of the replicas' candidates for `nextStage(r)`. */
  readonly candidates: readonly string[];
  /**
   * True when every tally's candidates cover what the next stage may take from it: all its
   * pending proxies, or at least as many as the stage adds (its first ones by rank).
   */
  readonly candidatesComplete: boolean;
}

function addLoad(a: LoadDelta, b: LoadDelta): LoadDelta {
  return {
    issued: a.issued + b.issued,
    errors: a.errors + b.errors,
    latencyMs: a.latencyMs + b.latencyMs,
    latencyCount: a.latencyCount + b.latencyCount,
  };
}

function addSide(a: SideTally, b: SideTally): SideTally {
  return {
    proxies: a.proxies + b.proxies,
    load: addLoad(a.load, b.load),
    unhealthy: {
      proxies: a.unhealthy.proxies + b.unhealthy.proxies,
      increase: a.unhealthy.increase + b.unhealthy.increase,
    },
  };
}

export const EMPTY_SIDE: SideTally = Object.freeze({
  proxies: 0,
  load: Object.freeze({ issued: 0, errors: 0, latencyMs: 0, latencyCount: 0 }),
  unhealthy: Object.freeze({ proxies: 0, increase: 0 }),
});

/**
 * Sums the tallies of `r` from live replicas. `live` are the replicas known to run (their
 * membership records); undefined = whoever published a tally. A live replica without a tally of
 * the current stage is `lagging`: the driver waits for it before it advances.
 */
export function sumTallies(
  r: RolloutRecord,
  tallies: readonly RolloutTally[],
  live: readonly string[] | undefined,
  stageSizeOf: (stage: number, matching: number) => number,
): FleetTally {
  const key = stageKey(r);
  const next = nextStage(r);
  const liveSet = live === undefined ? undefined : new Set(live);
  const mine = tallies.filter(
    (t) => t.group === r.group && t.rollout === r.name && (!liveSet || liveSet.has(t.replica)),
  );
  const nacks = new Map<string, string>();
  for (const t of mine)
    for (const n of t.nacks) if (!nacks.has(n.node)) nacks.set(n.node, n.detail);
  const fresh = mine.filter((t) => t.stage === key);
  const freshIds = new Set(fresh.map((t) => t.replica));
  const lagging = (live ?? mine.map((t) => t.replica)).filter((id) => !freshIds.has(id));
  let updated = EMPTY_SIDE;
  let baseline = EMPTY_SIDE;
  let converged = 0;
  let matching = 0;
  for (const t of fresh) {
    updated = addSide(updated, t.updated);
    baseline = addSide(baseline, t.baseline);
    converged += t.updated.converged;
    matching += t.matching;
  }
  const adds = next < 0 ? 0 : Math.max(0, stageSizeOf(next, matching) - r.updatedNodes.length);
  const candidates: string[] = [];
  let candidatesComplete = next >= 0;
  for (const t of fresh) {
    candidates.push(...t.candidates);
    if (t.candidatesFor !== next || t.candidates.length < Math.min(t.pending, adds))
      candidatesComplete = false;
  }
  return {
    replicas: fresh.map((t) => t.replica).sort(),
    lagging: lagging.sort(),
    updated: { ...updated, converged },
    baseline,
    nacks,
    matching,
    candidates,
    candidatesComplete,
  };
}
