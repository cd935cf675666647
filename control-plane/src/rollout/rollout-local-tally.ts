/**
 * This replica's tally of an active rollout (rollout-tally.ts) from what it sees: the proxies
 * connected to it (the fleet), their LRS load and HDS reports, the NACKs they sent, and what its
 * snapshot cache serves them.
 *
 * Kept in memory, per rollout and stage: each proxy's LRS/HDS counters when this replica first
 * saw the stage (the gates measure from there). A proxy that connects later, or whose LRS stream
 * restarted, counts from zero.
 */
import type { FleetNodeView } from '../xds/fleet.js';
import type { SnapshotCache } from '../xds/snapshot-cache.js';
import { selectSotw } from '../xds/stream-sotw.js';
import { LATENCY_METRIC } from '@ferry/shared';
import type { LoadSource } from '../load/load-aggregate.js';
import type { HealthStatusSource } from '../health/health-aggregate.js';
import { byRank, matches, NO_LOAD, stageSize, type LoadDelta } from './rollout-plan.js';
import type { RolloutRecord } from './rollout-record.js';
import {
  MAX_TALLY_NACKS,
  nextStage,
  stageKey,
  type RolloutTally,
  type SideTally,
} from './rollout-tally.js';

interface StageMemory {
  readonly key: string;
  readonly loadAtStart: Map<string, LoadDelta>;
  readonly unhealthyAtStart: Map<string, number>;
}

export interface LocalTallyOptions {
  readonly cache: SnapshotCache;
  readonly load?: LoadSource | undefined;
  readonly health?: HealthStatusSource | undefined;
  readonly now: () => number;
}

export class LocalTally {
  readonly #options: LocalTallyOptions;
  readonly #memory = new Map<string, StageMemory>();
  /** NACKs seen from nodes connected here: node id → { time, message }. */
  readonly #nacks = new Map<string, { time: number; message: string }>();

  constructor(options: LocalTallyOptions) {
    this.#options = options;
  }

  noteNack(nodeId: string, message: string): void {
    this.#nacks.set(nodeId, { time: this.#options.now(), message });
  }

  /** Forgets the stage memory of rollouts no longer active. */
  retain(active: ReadonlySet<string>): void {
    for (const id of this.#memory.keys()) if (!active.has(id)) this.#memory.delete(id);
  }

  /**
   * The tally of `r` over `views` (this replica's connected proxies of the group).
   * `peerMatching` = the matching proxies the other replicas last reported, so that the
   * candidates listed cover what the next stage may add fleet-wide.
   */
  tally(
    r: RolloutRecord,
    replica: string,
    views: readonly FleetNodeView[],
    peerMatching: number,
  ): RolloutTally {
    const memory = this.#stageMemory(r);
    const members = new Set(r.updatedNodes);
    const load = this.#loadCounters(r.group);
    const unhealthy = this.#unhealthyCounts(r.group);
    const side = (include: (id: string) => boolean): SideTally => {
      let proxies = 0;
      let delta: LoadDelta = NO_LOAD;
      let unhealthyProxies = 0;
      let increase = 0;
      for (const v of views) {
        const id = v.node.id;
        if (!include(id)) continue;
        proxies += 1;
        const current = load.get(id);
        if (current) delta = addSince(delta, current, startOf(memory.loadAtStart, id, current));
        const hosts = unhealthy.get(id);
        if (hosts !== undefined) {
          if (!memory.unhealthyAtStart.has(id)) memory.unhealthyAtStart.set(id, hosts);
          unhealthyProxies += 1;
          increase += Math.max(0, hosts - (memory.unhealthyAtStart.get(id) ?? hosts));
        }
      }
      return { proxies, load: delta, unhealthy: { proxies: unhealthyProxies, increase } };
    };
    // Members that NACKed here, connected still or not.
    const nacks: Array<{ node: string; detail: string; time: number }> = [];
    for (const [node, nack] of this.#nacks)
      if (members.has(node) && nack.time >= r.createdAt)
        nacks.push({ node, detail: nack.message, time: nack.time });
    nacks.sort((a, b) => a.time - b.time || (a.node < b.node ? -1 : 1));
    const matching = views.filter((v) => matches(v.node, r.selectors)).map((v) => v.node.id);
    const pending = matching.filter((id) => !members.has(id));
    const next = nextStage(r);
    // What the next stage may add fleet-wide: none of this replica's proxies beyond that.
    const adds =
      next < 0
        ? 0
        : Math.max(
            0,
            stageSize(r.stages[next]!, matching.length + peerMatching) - r.updatedNodes.length,
          );
    return {
      replica,
      group: r.group,
      rollout: r.name,
      stage: stageKey(r),
      updated: {
        ...side((id) => members.has(id)),
        converged: this.#converged(r, views),
      },
      baseline: side((id) => !members.has(id)),
      nacks: nacks.slice(0, MAX_TALLY_NACKS).map(({ node, detail }) => ({ node, detail })),
      matching: matching.length,
      pending: pending.length,
      candidates: byRank(pending).slice(0, adds),
      candidatesFor: next,
    };
  }

  #stageMemory(r: RolloutRecord): StageMemory {
    const key = stageKey(r);
    const id = `${r.group}\u0000${r.name}`;
    const existing = this.#memory.get(id);
    if (existing?.key === key) return existing;
    const memory: StageMemory = {
      key,
      loadAtStart: this.#loadCounters(r.group),
      unhealthyAtStart: this.#unhealthyCounts(r.group),
    };
    this.#memory.set(id, memory);
    return memory;
  }

  /** Cumulative LRS counts per node of the group, summed over clusters and localities. */
  #loadCounters(group: string): Map<string, LoadDelta> {
    const out = new Map<string, LoadDelta>();
    for (const cluster of this.#options.load?.load({ group }) ?? []) {
      for (const n of cluster.nodes) {
        let { issued, errors, latencyMs, latencyCount } = out.get(n.node) ?? NO_LOAD;
        for (const l of n.localities) {
          issued += l.total.issued;
          errors += l.total.error;
          const time = l.metrics.get(LATENCY_METRIC);
          if (time) {
            latencyMs += time.total;
            latencyCount += time.requests;
          }
        }
        out.set(n.node, { issued, errors, latencyMs, latencyCount });
      }
    }
    return out;
  }

  #unhealthyCounts(group: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const n of this.#options.health?.nodes() ?? []) {
      if (n.group !== group) continue;
      let count = 0;
      for (const c of n.clusters)
        for (const e of c.endpoints) if (e.status === 'UNHEALTHY') count += 1;
      out.set(n.nodeId, count);
    }
    return out;
  }

  /**
   * Members connected here that ACKed what they are served now for each type the candidate
   * changes (the candidate's version as its stream computes it: the whole type for wildcard and
   * delta streams, its selection for named SotW subscriptions).
   */
  #converged(r: RolloutRecord, views: readonly FleetNodeView[]): number {
    const { cache } = this.#options;
    const layer = cache.candidate(r.group);
    // The cache publishes a record's membership ~100 ms after it is written: until then a new
    // member is still served (and ACKs) the stable version.
    if (layer?.rollout !== r.name) return 0;
    const members = new Set(r.updatedNodes);
    const types = new Set(r.changes.map((c) => c.typeUrl));
    let converged = 0;
    next: for (const view of views) {
      const id = view.node.id;
      if (!members.has(id) || !layer.members.has(id)) continue;
      for (const typeUrl of types) {
        const t = view.types.get(typeUrl);
        if (!t?.subscription) continue;
        const snapshot = cache.snapshotFor({ group: r.group, node: view.node }, typeUrl);
        const expected = [snapshot.version, selectSotw(snapshot, t.subscription).version];
        if (!expected.includes(t.versionAcked)) continue next;
      }
      converged += 1;
    }
    return converged;
  }
}

/** The counters at the stage's start; a node first seen now, or whose counters restarted, from 0. */
function startOf(atStart: Map<string, LoadDelta>, id: string, current: LoadDelta): LoadDelta {
  const start = atStart.get(id);
  if (
    start &&
    start.issued <= current.issued &&
    start.errors <= current.errors &&
    start.latencyCount <= current.latencyCount
  )
    return start;
  if (!start) atStart.set(id, NO_LOAD);
  return NO_LOAD;
}

function addSince(sum: LoadDelta, now: LoadDelta, start: LoadDelta): LoadDelta {
  return {
    issued: sum.issued + now.issued - start.issued,
    errors: sum.errors + now.errors - start.errors,
    latencyMs: sum.latencyMs + now.latencyMs - start.latencyMs,
    latencyCount: sum.latencyCount + now.latencyCount - start.latencyCount,
  };
}
