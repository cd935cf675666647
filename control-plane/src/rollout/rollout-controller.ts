/**
 * Drives rollouts (docs/architecture.md, "Progressive rollouts"): every `tickMs` it reads the
 * active rollout records and, for each, updates the first stage's proxies, evaluates the gates,
 * advances a stage whose proxies ACKed and stayed healthy for the bake time, promotes after the
 * last stage, and rolls back by itself when a gate fails. Operator actions (start, pause, resume,
 * abort, promote) run in the same queue as ticks, so a record is never written by two steps at
 * once. Every step is one store revision (history shows it with actor and time) inside a
 * `rollout` span that the pushes it causes link to.
 *
 * What is kept only in memory, per stage: the LRS/HDS counters at the stage's start (the
 * baseline of the gates) and when its proxies converged. After a restart the current stage's
 * bake starts over from the first tick; membership and state come from the record.
 */
import { context, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { hostname } from 'node:os';
import { FerryError, isFerryError, type Logger } from '@ferry/shared';
import type { ResourceStore, Mutation } from '../store/store.js';
import type { FleetNodeView } from '../xds/fleet.js';
import type { SnapshotCache } from '../xds/snapshot-cache.js';
import { selectSotw } from '../xds/stream-sotw.js';
import type { LoadSource } from '../load/load-aggregate.js';
import type { HealthStatusSource } from '../health/health-aggregate.js';
import { ATTR, withApplySpan } from '../tracing/tracing.js';
import {
  decodeRollout,
  isActive,
  ROLLOUT_TYPE,
  rolloutMutation,
  type RolloutRecord,
  type RolloutState,
} from './rollout-record.js';
import {
  failedGate,
  matches,
  stageMembers,
  type LoadDelta,
  type UnhealthyDelta,
} from './rollout-plan.js';

/** The actor history records for steps the controller takes by itself. */
export const ROLLOUT_ACTOR = 'control-plane (rollout)';

export interface RolloutFleet {
  views(): FleetNodeView[];
}

export interface RolloutControllerOptions {
  readonly store: ResourceStore;
  readonly cache: SnapshotCache;
  readonly fleet: RolloutFleet;
  readonly load?: LoadSource;
  readonly health?: HealthStatusSource;
  readonly logger?: Logger;
  readonly tracer?: Tracer;
  /** Between two evaluations (default 500 ms). */
  readonly tickMs?: number;
  /**
   * This replica's id: of the replicas sharing a store, only the holder of the store lease
   * `ferry.rollout-controller` evaluates rollouts (default: host name and process id).
   */
  readonly replica?: string;
  /** The lease's time to live (default max(10 s, 10 ticks)). */
  readonly leaseTtlMs?: number;
  readonly now?: () => number;
}

interface StageMemory {
  readonly key: string;
  readonly loadAtStart: Map<string, LoadDelta>;
  readonly unhealthyAtStart: Map<string, number>;
  convergedAt: number | undefined;
}

/** The store lease held by the replica that evaluates rollouts. */
export const ROLLOUT_LEASE = 'ferry.rollout-controller';

/** A step's write found the store moved since its read: read again and redo the step. */
class StoreMoved extends Error {}

/** An operator's step on a group's active rollout. */
export type RolloutAction = 'pause' | 'resume' | 'abort' | 'promote';

export class RolloutController {
  private readonly store: ResourceStore;
  private readonly cache: SnapshotCache;
  private readonly fleet: RolloutFleet;
  private readonly load: LoadSource | undefined;
  private readonly health: HealthStatusSource | undefined;
  private readonly logger: Logger | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly tickMs: number;
  private readonly now: () => number;
  private readonly memory = new Map<string, StageMemory>();
  /** NACKs seen from nodes: node id → { time, message } (the fleet's onNack). */
  private readonly nacks = new Map<string, { time: number; message: string }>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly replica: string;
  private readonly leaseTtlMs: number;
  private leading = false;
  /** Real time (the store's lease clock) until which the lease is held for sure. */
  private leaseUntil = 0;
  private decoded = new Map<string, RolloutRecord>();
  /** The store revision of the latest read; every write expects it (no lost updates). */
  private readRevision = 0;
  /** Rollouts logged as waiting for proxies (logged once). */
  private readonly waitingLogged = new Set<string>();

  constructor(options: RolloutControllerOptions) {
    this.store = options.store;
    this.cache = options.cache;
    this.fleet = options.fleet;
    this.load = options.load;
    this.health = options.health;
    this.logger = options.logger;
    this.tracer = options.tracer;
    this.tickMs = options.tickMs ?? 500;
    this.now = options.now ?? Date.now;
    this.replica = options.replica ?? `${hostname()}:${process.pid}`;
    this.leaseTtlMs = options.leaseTtlMs ?? Math.max(10_000, 10 * this.tickMs);
  }

  /** Starts the periodic evaluation. */
  start(): void {
    if (this.timer || this.closed) return;
    const loop = (): void => {
      this.timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (!this.closed) loop();
        });
      }, this.tickMs);
      this.timer.unref();
    };
    loop();
  }

  /** Stops evaluating and hands the lease back, so that another replica takes over at once. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.queue;
    if (this.leading) await this.store.releaseLease(ROLLOUT_LEASE, this.replica).catch(() => {});
    this.leading = false;
  }

  /** The fleet calls this on every NACK (FleetTracker's onNack). */
  noteNack(nodeId: string, message: string): void {
    this.nacks.set(nodeId, { time: this.now(), message });
  }

  /** Every rollout record of `group` (every group when undefined), newest first. */
  async records(group?: string): Promise<RolloutRecord[]> {
    const snapshot = await this.store.list({
      typeUrl: ROLLOUT_TYPE,
      ...(group !== undefined ? { group } : {}),
    });
    this.readRevision = snapshot.revision;
    // Finished records stay in the store: decode each version once, not on every evaluation.
    const decoded = new Map<string, RolloutRecord>();
    const records = snapshot.resources.map((r) => {
      const key = `${r.group}\u0000${r.name}\u0000${r.version}`;
      const record = this.decoded.get(key) ?? decodeRollout(r.value);
      decoded.set(key, record);
      return record;
    });
    if (group === undefined) this.decoded = decoded;
    else for (const [k, v] of decoded) this.decoded.set(k, v);
    return records.sort((a, b) => b.createdAt - a.createdAt || (a.name < b.name ? 1 : -1));
  }

  /** The group's active (progressing or paused) rollout, if any. */
  async active(group: string): Promise<RolloutRecord | undefined> {
    return (await this.records(group)).find((r) => isActive(r.state));
  }

  /** Writes a new rollout record (the API validated it); refused if the group has one active. */
  begin(record: RolloutRecord, actor: string): Promise<RolloutRecord> {
    return this.serialRetried(async () => {
      const current = await this.active(record.group);
      if (current) throw activeConflict(current);
      const stages = record.stages.map((s) => ('count' in s ? String(s.count) : `${s.percent}%`));
      await this.write(
        record,
        [],
        `rollout ${record.name} started in group "${record.group}": stages ${stages.join(',')}, bake ${record.bakeMs / 1000}s, ${record.changes.length} change(s)`,
        actor,
        'started',
      );
      return record;
    });
  }

  /** An operator's action on the group's active rollout. */
  act(group: string, action: RolloutAction, actor: string): Promise<RolloutRecord> {
    return this.serialRetried(async () => {
      const r = await this.active(group);
      if (!r) {
        throw new FerryError(
          'FERRY_NOT_FOUND',
          `group "${group}" has no active rollout to ${action}; see ferryctl rollout status`,
        );
      }
      const now = this.now();
      switch (action) {
        case 'pause':
          if (r.state === 'PAUSED') return r;
          return this.write(
            {
              ...r,
              state: 'PAUSED',
              updatedAt: now,
              reason: `paused by ${actor || 'the control plane'}`,
            },
            [],
            `rollout ${r.name} paused at stage ${r.stage + 1}/${r.stages.length}`,
            actor,
            'paused',
          );
        case 'resume':
          if (r.state === 'PROGRESSING') return r;
          return this.write(
            {
              ...r,
              state: 'PROGRESSING',
              updatedAt: now,
              stageStartedAt: now,
              reason: `resumed by ${actor || 'the control plane'}`,
            },
            [],
            `rollout ${r.name} resumed at stage ${r.stage + 1}/${r.stages.length}`,
            actor,
            'resumed',
          );
        case 'abort':
          return this.stop(r, 'ABORTED', `aborted by ${actor || 'the control plane'}`, actor);
        case 'promote':
          return this.promote(r, actor, `promoted by ${actor || 'the control plane'}`);
      }
    });
  }

  /** One evaluation of every active rollout; exported for tests (fake clocks). */
  tick(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      let records: RolloutRecord[];
      try {
        // A replica sees only the proxies connected to it, and a rollout's stages are chosen
        // from and baked on those: a replica none of whose proxies are in a rollout's group
        // leaves it to a replica that has some (and hands the lease back so that one takes it
        // at once rather than when it lapses).
        const groups = new Set(
          this.fleet
            .views()
            .filter((v) => v.connected)
            .map((v) => v.group),
        );
        records = (await this.records()).filter((r) => isActive(r.state) && groups.has(r.group));
        if (records.length === 0) {
          if (this.leading) await this.yieldLease();
          return;
        }
        // The lease is a store write: taken only while there is something to drive.
        if (!(await this.lead())) return;
      } catch (err) {
        this.logger?.error(
          { err },
          'rollouts not evaluated: the store could not be read; retrying',
        );
        return;
      }
      for (const r of records) {
        try {
          await this.step(r);
        } catch (err) {
          // Raced another write: the next evaluation reads again.
          if (err instanceof StoreMoved) return;
          this.logger?.error(
            { err, group: r.group, rollout: r.name },
            'rollout step failed; retrying on the next evaluation',
          );
        }
      }
    });
  }

  /** Hands the lease back: nothing this replica can drive. */
  private async yieldLease(): Promise<void> {
    this.leading = false;
    await this.store.releaseLease(ROLLOUT_LEASE, this.replica);
    this.logger?.info(
      { replica: this.replica },
      'no proxy of an active rollout is connected here: another replica may drive it',
    );
  }

  /** Holds (or takes) the lease; false while another replica holds it. */
  private async lead(): Promise<boolean> {
    if (this.leading && Date.now() < this.leaseUntil - this.leaseTtlMs / 2) return true;
    const askedAt = Date.now();
    const outcome = await this.store.acquireLease(ROLLOUT_LEASE, this.replica, this.leaseTtlMs);
    if (outcome.held !== this.leading)
      this.logger?.info(
        { replica: this.replica, holder: outcome.lease?.holder },
        outcome.held ? 'this replica now drives rollouts' : 'another replica drives rollouts',
      );
    this.leading = outcome.held;
    if (outcome.held) this.leaseUntil = askedAt + this.leaseTtlMs;
    return outcome.held;
  }

  /** `serial`, and redone on a fresh read when its write raced another one. */
  private serialRetried<T>(run: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await run();
        } catch (err) {
          if (!(err instanceof StoreMoved)) throw err;
          if (attempt >= 5)
            throw new FerryError(
              'FERRY_CONFLICT',
              'the rollout record kept changing while this step was written; retry',
            );
        }
      }
    });
  }

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async step(r: RolloutRecord): Promise<void> {
    const now = this.now();
    const nodes = this.fleet.views().filter((v) => v.group === r.group && v.connected);
    if (r.state === 'PROGRESSING' && r.updatedNodes.length === 0) {
      await this.enterStage(r, 0, nodes, now);
      return;
    }
    const memory = this.stageMemory(r, nodes);
    const members = new Set(r.updatedNodes);
    const reason = failedGate({
      gates: r.gates,
      nacks: this.memberNacks(r, members),
      updatedLoad: this.loadSince(memory, nodes, (id) => members.has(id)),
      baselineLoad: this.loadSince(memory, nodes, (id) => !members.has(id)),
      updatedHealth: this.unhealthySince(memory, nodes, (id) => members.has(id)),
      baselineHealth: this.unhealthySince(memory, nodes, (id) => !members.has(id)),
    });
    if (reason !== undefined) {
      await this.stop(
        r,
        'ROLLED_BACK',
        `gate failed at stage ${r.stage + 1}/${r.stages.length}: ${reason}`,
        ROLLOUT_ACTOR,
      );
      return;
    }
    if (r.state !== 'PROGRESSING') return;
    if (!this.converged(r, nodes)) {
      memory.convergedAt = undefined;
      return;
    }
    memory.convergedAt ??= now;
    if (now - memory.convergedAt < r.bakeMs) return;
    if (r.stage + 1 < r.stages.length) await this.enterStage(r, r.stage + 1, nodes, now);
    else await this.promote(r, ROLLOUT_ACTOR, `every stage passed its gates`);
  }

  private async enterStage(
    r: RolloutRecord,
    stage: number,
    nodes: FleetNodeView[],
    now: number,
  ): Promise<void> {
    const matching = nodes.filter((v) => matches(v.node, r.selectors)).map((v) => v.node.id);
    const members = stageMembers(r.stages[stage]!, matching, r.updatedNodes);
    if (members.length === 0) {
      if (!this.waitingLogged.has(r.name)) {
        this.waitingLogged.add(r.name);
        this.logger?.warn(
          { group: r.group, rollout: r.name },
          'rollout waits: no connected proxy of the group matches its selectors',
        );
      }
      return;
    }
    const added = members.filter((id) => !r.updatedNodes.includes(id));
    await this.write(
      {
        ...r,
        stage,
        updatedNodes: members,
        stageStartedAt: now,
        updatedAt: now,
        reason: `stage ${stage + 1}/${r.stages.length} reached`,
      },
      [],
      `rollout ${r.name}: stage ${stage + 1}/${r.stages.length} reached: ${members.length} of ${matching.length} matching proxies updated (added ${added.join(', ') || 'none'})`,
      ROLLOUT_ACTOR,
      `stage ${stage + 1}`,
    );
  }

  private promote(r: RolloutRecord, actor: string, why: string): Promise<RolloutRecord> {
    const now = this.now();
    const changes: Mutation[] = r.changes.map((c) =>
      c.put
        ? {
            op: 'put',
            typeUrl: c.typeUrl,
            group: r.group,
            name: c.name,
            value: c.put.value,
            version: c.put.version,
          }
        : { op: 'delete', typeUrl: c.typeUrl, group: r.group, name: c.name },
    );
    return this.write(
      { ...r, state: 'PROMOTED', updatedAt: now, reason: why },
      changes,
      `rollout ${r.name} promoted (${why}): ${r.message || `apply to group "${r.group}"`}`,
      actor,
      'promoted',
    );
  }

  private stop(
    r: RolloutRecord,
    state: RolloutState,
    reason: string,
    actor: string,
  ): Promise<RolloutRecord> {
    const now = this.now();
    const what = state === 'ROLLED_BACK' ? 'rolled back' : 'aborted';
    this.logger?.warn(
      { group: r.group, rollout: r.name, reason, updated: r.updatedNodes },
      `rollout ${what}`,
    );
    return this.write(
      { ...r, state, updatedAt: now, reason },
      [],
      `rollout ${r.name} ${what}: ${reason}; ${r.updatedNodes.length} updated proxies back on the stable configuration`,
      actor,
      what,
    );
  }

  /** One step: one revision, in a `rollout` span the resulting pushes link to. */
  private async write(
    next: RolloutRecord,
    extra: Mutation[],
    message: string,
    actor: string,
    step: string,
  ): Promise<RolloutRecord> {
    const commit = async (): Promise<{ revision: number }> => {
      try {
        const result = await this.store.apply([...extra, rolloutMutation(next)], {
          message,
          actor,
          expectedRevision: this.readRevision,
        });
        this.readRevision = result.revision;
        return result;
      } catch (err) {
        if (isFerryError(err) && err.code === 'FERRY_CONFLICT') throw new StoreMoved(err.message);
        throw err;
      }
    };
    const tracer = this.tracer;
    if (!tracer) {
      await commit();
    } else {
      await tracer.startActiveSpan('rollout', async (span) => {
        span.setAttribute(ATTR.group, next.group);
        span.setAttribute('ferry.rollout', next.name);
        span.setAttribute('ferry.rollout.step', step);
        span.setAttribute('ferry.rollout.stage', next.stage + 1);
        span.setAttribute('ferry.rollout.updated_proxies', next.updatedNodes.length);
        try {
          const ctx = withApplySpan(context.active(), span.spanContext());
          const result = await context.with(ctx, commit);
          span.setAttribute(ATTR.revision, result.revision);
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.end();
        }
      });
    }
    this.logger?.info(
      {
        group: next.group,
        rollout: next.name,
        state: next.state,
        stage: next.stage + 1,
        updated: next.updatedNodes,
      },
      message,
    );
    return next;
  }

  private stageMemory(r: RolloutRecord, nodes: FleetNodeView[]): StageMemory {
    const key = `${r.group}\u0000${r.name}\u0000${r.stage}\u0000${r.stageStartedAt}`;
    const id = `${r.group}\u0000${r.name}`;
    const existing = this.memory.get(id);
    if (existing?.key === key) return existing;
    const memory: StageMemory = {
      key,
      loadAtStart: this.loadCounters(r.group),
      unhealthyAtStart: this.unhealthyCounts(r.group),
      convergedAt: undefined,
    };
    void nodes;
    this.memory.set(id, memory);
    return memory;
  }

  /** NACKs from updated proxies since the rollout started. */
  private memberNacks(r: RolloutRecord, members: ReadonlySet<string>): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of members) {
      const nack = this.nacks.get(id);
      if (nack && nack.time >= r.createdAt) out.set(id, nack.message);
    }
    return out;
  }

  /** Cumulative LRS counts per node of the group (issued, errors), summed over clusters. */
  private loadCounters(group: string): Map<string, LoadDelta> {
    const out = new Map<string, LoadDelta>();
    for (const cluster of this.load?.load({ group }) ?? []) {
      for (const n of cluster.nodes) {
        let issued = 0;
        let errors = 0;
        for (const l of n.localities) {
          issued += l.total.issued;
          errors += l.total.error;
        }
        const before = out.get(n.node) ?? { issued: 0, errors: 0 };
        out.set(n.node, { issued: before.issued + issued, errors: before.errors + errors });
      }
    }
    return out;
  }

  private loadSince(
    memory: StageMemory,
    nodes: FleetNodeView[],
    include: (id: string) => boolean,
  ): LoadDelta {
    const now = this.loadCounters(nodes[0]?.group ?? '');
    let issued = 0;
    let errors = 0;
    for (const v of nodes) {
      const id = v.node.id;
      if (!include(id)) continue;
      const current = now.get(id);
      if (!current) continue;
      let start = memory.loadAtStart.get(id);
      // Counters restart when a node's LRS stream does: measure from there.
      if (!start || start.issued > current.issued || start.errors > current.errors) {
        start = { issued: 0, errors: 0 };
        if (!memory.loadAtStart.has(id)) memory.loadAtStart.set(id, start);
      }
      issued += current.issued - start.issued;
      errors += current.errors - start.errors;
    }
    return { issued, errors };
  }

  private unhealthyCounts(group: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const n of this.health?.nodes() ?? []) {
      if (n.group !== group) continue;
      let count = 0;
      for (const c of n.clusters)
        for (const e of c.endpoints) if (e.status === 'UNHEALTHY') count += 1;
      out.set(n.nodeId, count);
    }
    return out;
  }

  private unhealthySince(
    memory: StageMemory,
    nodes: FleetNodeView[],
    include: (id: string) => boolean,
  ): UnhealthyDelta {
    const now = this.unhealthyCounts(nodes[0]?.group ?? '');
    let proxies = 0;
    let increase = 0;
    for (const v of nodes) {
      const id = v.node.id;
      if (!include(id)) continue;
      const current = now.get(id);
      if (current === undefined) continue;
      if (!memory.unhealthyAtStart.has(id)) memory.unhealthyAtStart.set(id, current);
      proxies += 1;
      increase += Math.max(0, current - (memory.unhealthyAtStart.get(id) ?? current));
    }
    return { proxies, increase };
  }

  /**
   * Every updated proxy is connected and ACKed what it is served now for each type the
   * candidate changes (the candidate's version as its stream computes it: the whole type for
   * wildcard and delta streams, its selection for named SotW subscriptions).
   */
  private converged(r: RolloutRecord, nodes: FleetNodeView[]): boolean {
    const byId = new Map(nodes.map((v) => [v.node.id, v]));
    const types = new Set(r.changes.map((c) => c.typeUrl));
    const layer = this.cache.candidate(r.group);
    // The cache publishes a record's membership ~100 ms after it is written: until then a new
    // member is still served (and ACKs) the stable version.
    if (layer?.rollout !== r.name) return false;
    for (const id of r.updatedNodes) {
      const view = byId.get(id);
      if (!view || !layer.members.has(id)) return false;
      for (const typeUrl of types) {
        const t = view.types.get(typeUrl);
        if (!t?.subscription) continue;
        const snapshot = this.cache.snapshotFor({ group: r.group, node: view.node }, typeUrl);
        const expected = [snapshot.version, selectSotw(snapshot, t.subscription).version];
        if (!expected.includes(t.versionAcked)) return false;
      }
    }
    return true;
  }
}

export function activeConflict(r: RolloutRecord): FerryError {
  return new FerryError(
    'FERRY_CONFLICT',
    `group "${r.group}" has rollout ${r.name} in progress (${r.state.toLowerCase()}, stage ${r.stage + 1}/${r.stages.length}); wait for it, or end it with ferryctl rollout promote|abort --group ${r.group}, or pass --force to abort it first`,
  );
}
