/**
 * Drives rollouts (docs/architecture.md, "Progressive rollouts"): every `tickMs` it reads the
 * active rollout records and, for each, updates the first stage's proxies, evaluates the gates,
 * advances a stage whose proxies ACKed and stayed healthy for the bake time, promotes after the
 * last stage, and rolls back by itself when a gate fails. Operator actions (start, pause, resume,
 * abort, promote) run in the same queue as ticks, so a record is never written by two steps at
 * once. Every step is one store revision (history shows it with actor and time) inside a
 * `rollout` span that the pushes it causes link to.
 *
 * The controller runs on every replica. Each one publishes, every tick and only when it changed,
 * its tally of each active rollout over the proxies connected to it (rollout-tally.ts,
 * rollout-local-tally.ts: leased records, one per rollout and replica); the replica holding the
 * store lease `ferry.rollout-controller` sums the live replicas' tallies and drives: it chooses
 * stage members among every replica's proxies, judges the gates over all of them, and waits for
 * all of them to converge (docs/architecture.md, "Rollouts across replicas").
 *
 * What is kept only in memory: each replica's LRS/HDS counters at the stage's start (the
 * baseline of the gates), and the driver's time its stage converged. After a restart the current
 * stage's bake starts over from the first tick; membership and state come from the record.
 */
import { context, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { hostname } from 'node:os';
import { FerryError, isFerryError, type Logger } from '@ferry/shared';
import type { ResourceStore, Mutation } from '../store/store.js';
import type { FleetNodeView } from '../xds/fleet.js';
import type { SnapshotCache } from '../xds/snapshot-cache.js';
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
import { failedGate, stageMembers, stageSize } from './rollout-plan.js';
import { LocalTally } from './rollout-local-tally.js';
import {
  decodeTally,
  encodeTally,
  stageKey,
  sumTallies,
  TALLY_NAMESPACE,
  tallyKey,
  type FleetTally,
  type RolloutTally,
} from './rollout-tally.js';

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
  /**
   * The ids of the replicas alive now (their membership records). The driver waits for a tally
   * of the current stage from each before it advances; without it, it sums whatever tallies
   * are published.
   */
  readonly liveReplicas?: () => readonly string[];
  /** How long a stopped replica's tallies outlive it (default max(10 s, 6 ticks)). */
  readonly tallyTtlMs?: number;
  readonly now?: () => number;
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
  private readonly local: LocalTally;
  private readonly liveReplicas: (() => readonly string[]) | undefined;
  private readonly tallyTtlMs: number;
  /** This replica's tallies as last stored: key → JSON. */
  private readonly published = new Map<string, string>();
  /** The driver's view: rollout → (stage key, when its members converged). */
  private readonly convergedAt = new Map<string, { stage: string; at: number }>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private replica: string;
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
    this.tallyTtlMs = options.tallyTtlMs ?? Math.max(10_000, 6 * this.tickMs);
    this.liveReplicas = options.liveReplicas;
    this.local = new LocalTally({
      cache: this.cache,
      load: this.load,
      health: this.health,
      now: this.now,
    });
  }

  /**
   * Starts the periodic evaluation; `replica` names this replica when its id is known only once
   * the xDS port is bound.
   */
  start(replica?: string): void {
    if (this.timer || this.closed) return;
    if (replica !== undefined) this.replica = replica;
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
    // The tallies go with the replica: the driver stops counting its proxies at once.
    await this.publishNone().catch(() => {});
  }

  /** The fleet calls this on every NACK (FleetTracker's onNack). */
  noteNack(nodeId: string, message: string): void {
    this.local.noteNack(nodeId, message);
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
      let tallies: RolloutTally[];
      try {
        records = (await this.records()).filter((r) => isActive(r.state));
        if (records.length === 0) {
          await this.publishNone();
          if (this.leading) await this.yieldLease();
          return;
        }
        tallies = await this.publish(records);
        // The lease is a store write: taken only while there is something to drive.
        if (!(await this.lead())) return;
      } catch (err) {
        this.logger?.error(
          { err },
          'rollouts not evaluated: the store could not be read or written; retrying',
        );
        return;
      }
      const live = this.liveReplicas?.();
      for (const r of records) {
        try {
          await this.step(
            r,
            sumTallies(r, tallies, live, (i, n) => stageSize(r.stages[i]!, n)),
          );
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

  /**
   * Stores this replica's tally of each active rollout when it changed, removes those of
   * rollouts no longer active, and returns every replica's tallies (this one's as just computed).
   */
  private async publish(records: readonly RolloutRecord[]): Promise<RolloutTally[]> {
    const stored: RolloutTally[] = [];
    for (const rec of await this.store.listLeased(TALLY_NAMESPACE)) {
      const t = decodeTally(rec.value);
      if (t && t.replica !== this.replica && rec.holder === t.replica) stored.push(t);
    }
    const live = this.liveReplicas?.();
    const views = this.fleet.views().filter((v) => v.connected);
    this.local.retain(new Set(records.map((r) => `${r.group}\u0000${r.name}`)));
    const keys = new Set<string>();
    const out = [...stored];
    for (const r of records) {
      let peerMatching = 0;
      for (const t of stored)
        if (t.group === r.group && t.rollout === r.name && (!live || live.includes(t.replica)))
          peerMatching += t.matching;
      const tally = this.local.tally(
        r,
        this.replica,
        views.filter((v) => v.group === r.group),
        peerMatching,
      );
      out.push(tally);
      const key = tallyKey(r.group, r.name, this.replica);
      keys.add(key);
      const value = encodeTally(tally);
      const text = Buffer.from(value).toString('utf8');
      if (this.published.get(key) === text) continue;
      await this.store.putLeased(TALLY_NAMESPACE, key, this.replica, value, this.tallyTtlMs);
      this.published.set(key, text);
    }
    await this.publishNone(keys);
    return out;
  }

  /** Removes this replica's tallies but those in `keep`. */
  private async publishNone(keep: ReadonlySet<string> = new Set()): Promise<void> {
    for (const key of [...this.published.keys()]) {
      if (keep.has(key)) continue;
      await this.store.deleteLeased(TALLY_NAMESPACE, key, this.replica);
      this.published.delete(key);
    }
  }

  /** Hands the lease back: nothing to drive. */
  private async yieldLease(): Promise<void> {
    this.leading = false;
    await this.store.releaseLease(ROLLOUT_LEASE, this.replica);
    this.logger?.info({ replica: this.replica }, 'no active rollout: rollout lease released');
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

  private async step(r: RolloutRecord, fleet: FleetTally): Promise<void> {
    const now = this.now();
    if (r.state === 'PROGRESSING' && r.updatedNodes.length === 0) {
      await this.enterStage(r, 0, fleet, now);
      return;
    }
    const reason = failedGate({
      gates: r.gates,
      nacks: fleet.nacks,
      updatedLoad: fleet.updated.load,
      baselineLoad: fleet.baseline.load,
      updatedHealth: fleet.updated.unhealthy,
      baselineHealth: fleet.baseline.unhealthy,
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
    const id = `${r.group}\u0000${r.name}`;
    const stage = stageKey(r);
    // Every member ACKed, as every live replica counts it now.
    if (fleet.lagging.length > 0 || fleet.updated.converged < r.updatedNodes.length) {
      this.convergedAt.delete(id);
      return;
    }
    let converged = this.convergedAt.get(id);
    if (converged?.stage !== stage) {
      converged = { stage, at: now };
      this.convergedAt.set(id, converged);
    }
    if (now - converged.at < r.bakeMs) return;
    this.convergedAt.delete(id);
    if (r.stage + 1 < r.stages.length) await this.enterStage(r, r.stage + 1, fleet, now);
    else await this.promote(r, ROLLOUT_ACTOR, `every stage passed its gates`);
  }

  /**
   * Writes the members of `stage`: chosen from every replica's candidates once each live
   * replica listed them for this stage (else the next tick tries again).
   */
  private async enterStage(
    r: RolloutRecord,
    stage: number,
    fleet: FleetTally,
    now: number,
  ): Promise<void> {
    if (fleet.lagging.length > 0 || !fleet.candidatesComplete) return;
    const members = stageMembers(
      r.stages[stage]!,
      fleet.candidates,
      r.updatedNodes,
      fleet.matching,
    );
    if (members.length === 0) {
      if (!this.waitingLogged.has(r.name)) {
        this.waitingLogged.add(r.name);
        this.logger?.warn(
          { group: r.group, rollout: r.name, replicas: fleet.replicas },
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
      `rollout ${r.name}: stage ${stage + 1}/${r.stages.length} reached: ${members.length} of ${fleet.matching} matching proxies updated (added ${added.join(', ') || 'none'})`,
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
}

export function activeConflict(r: RolloutRecord): FerryError {
  return new FerryError(
    'FERRY_CONFLICT',
    `group "${r.group}" has rollout ${r.name} in progress (${r.state.toLowerCase()}, stage ${r.stage + 1}/${r.stages.length}); wait for it, or end it with ferryctl rollout promote|abort --group ${r.group}, or pass --force to abort it first`,
  );
}
