/**
 * The rollout state machine with a real in-memory store and snapshot cache, a fake fleet (node
 * views whose ACKs the test sets), real LRS/HDS aggregates fed by the test, and a fake clock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError, LATENCY_METRIC } from '@ferry/shared';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import type { FleetNodeView, SubscriptionView } from '../xds/fleet.js';
import { CDS, cluster, put } from '../xds/test-support.js';
import { LoadAggregate } from '../load/load-aggregate.js';
import { HealthAggregate } from '../health/health-aggregate.js';
import { ROLLOUT_ACTOR, RolloutController } from './rollout-controller.js';
import { DEFAULT_GATES, type RolloutRecord, type RolloutStage } from './rollout-record.js';
import { byRank } from './rollout-plan.js';
import { refuseDuringRollout } from './rollout-service.js';

const GROUP = 'default';
const WILDCARD: SubscriptionView = { wildcard: true, names: new Set() };
const IDS = ['p1', 'p2', 'p3', 'p4'];

interface TypeState {
  versionSent: string;
  versionAcked: string;
  resources: number;
  lastSent: number;
  lastNack: undefined;
  subscription: SubscriptionView | undefined;
  versionApplied: string;
  snapshotSent: undefined;
  snapshotApplied: undefined;
  rejected: undefined;
}

async function setup(stages: RolloutStage[], bakeMs = 1000) {
  let now = 1_000_000;
  const clock = (): number => now;
  const store = new MemoryStore();
  const stable = cluster('c1', { connectTimeoutSeconds: 1 });
  const candidate = cluster('c1', { connectTimeoutSeconds: 2 });
  await store.apply(put(GROUP, stable, cluster('other')));
  const cache = new SnapshotCache({ store, debounceMs: 0 });
  await cache.start();
  const nodes: FleetNodeView[] = IDS.map((id) => ({
    node: { id, cluster: GROUP },
    group: GROUP,
    connected: true,
    types: new Map<string, TypeState>([
      [
        CDS,
        {
          versionSent: '',
          versionAcked: cache.snapshot(GROUP, CDS).version,
          resources: 2,
          lastSent: 0,
          lastNack: undefined,
          subscription: WILDCARD,
          versionApplied: '',
          snapshotSent: undefined,
          snapshotApplied: undefined,
          rejected: undefined,
        },
      ],
    ]),
  }));
  const load = new LoadAggregate({ now: clock });
  const health = new HealthAggregate({ now: clock });
  const controller = new RolloutController({
    store,
    cache,
    fleet: { views: () => nodes },
    load,
    health,
    now: clock,
    replica: 'test',
  });
  const record: RolloutRecord = {
    name: 'rollout-1',
    group: GROUP,
    state: 'PROGRESSING',
    changes: [
      { typeUrl: CDS, name: 'c1', put: { value: candidate.bytes, version: candidate.version } },
    ],
    stages,
    selectors: [],
    bakeMs,
    gates: { ...DEFAULT_GATES, minRequests: 10 },
    stage: 0,
    updatedNodes: [],
    stageStartedAt: now,
    reason: 'started',
    createdBy: 'alice',
    createdAt: now,
    updatedAt: now,
    message: 'apply c1',
    baseRevision: 1,
  };
  /** Every connected node ACKs what it is served now. */
  const ackAll = (): void => {
    for (const v of nodes) {
      const t = v.types.get(CDS) as TypeState;
      t.versionAcked = cache.snapshotFor({ group: GROUP, node: v.node }, CDS).version;
    }
  };
  const current = async (): Promise<RolloutRecord> => (await controller.records(GROUP))[0]!;
  const served = (id: string): string =>
    cache.snapshotFor({ group: GROUP, node: { id } }, CDS).version;
  /** One LRS report: `issued` requests, `errors` of them 5xx, taking `latencyMs` in all. */
  const report = (id: string, issued: number, errors: number, latencyMs = 0): void =>
    load.report(id, GROUP, [
      {
        cluster: 'c1',
        dropped: 0,
        localities: [
          {
            locality: { region: '', zone: '', subZone: '' },
            successful: issued - errors,
            error: errors,
            issued,
            inProgress: 0,
            metrics:
              latencyMs > 0 ? [{ name: LATENCY_METRIC, requests: issued, total: latencyMs }] : [],
          },
        ],
      },
    ]);
  return {
    store,
    cache,
    nodes,
    controller,
    record,
    ackAll,
    current,
    served,
    report,
    health,
    load,
    clock,
    stableVersion: cache.snapshot(GROUP, CDS).version,
    advance: (ms: number) => (now += ms),
  };
}

void describe('RolloutController', () => {
  void test('stages advance after ACK and bake, deterministically, then the candidate is promoted', async () => {
    const t = await setup([{ count: 1 }, { percent: 50 }, { percent: 100 }]);
    const order = byRank(IDS);
    await t.controller.begin(t.record, 'alice');
    await t.controller.tick();
    let r = await t.current();
    assert.deepEqual(r.updatedNodes, [order[0]]);
    const candidateVersion = t.served(order[0]!);
    assert.notEqual(candidateVersion, t.stableVersion, 'the canary is served the candidate');
    for (const id of order.slice(1)) assert.equal(t.served(id), t.stableVersion);
    // Not ACKed yet: the bake does not start.
    t.advance(5000);
    await t.controller.tick();
    assert.equal((await t.current()).stage, 0);
    t.ackAll();
    await t.controller.tick();
    t.advance(999);
    await t.controller.tick();
    assert.equal((await t.current()).stage, 0, 'still baking');
    t.advance(1);
    await t.controller.tick();
    r = await t.current();
    assert.equal(r.stage, 1);
    assert.deepEqual(r.updatedNodes, order.slice(0, 2));
    assert.equal(t.served(order[1]!), candidateVersion, 'one candidate snapshot shared');
    t.ackAll();
    await t.controller.tick();
    t.advance(1000);
    await t.controller.tick();
    assert.deepEqual((await t.current()).updatedNodes, order);
    t.ackAll();
    await t.controller.tick();
    t.advance(1000);
    await t.controller.tick();
    r = await t.current();
    assert.equal(r.state, 'PROMOTED');
    assert.equal(t.cache.snapshot(GROUP, CDS).version, candidateVersion, 'stable is the candidate');
    assert.equal(t.cache.candidate(GROUP), undefined);
    const history = (await t.store.history()).reverse();
    const steps = history.slice(1).map((h) => [h.actor, h.message.replace(/:.*$/, '')]);
    assert.deepEqual(steps, [
      ['alice', 'rollout rollout-1 started in group "default"'],
      [ROLLOUT_ACTOR, 'rollout rollout-1'],
      [ROLLOUT_ACTOR, 'rollout rollout-1'],
      [ROLLOUT_ACTOR, 'rollout rollout-1'],
      [ROLLOUT_ACTOR, 'rollout rollout-1 promoted (every stage passed its gates)'],
    ]);
    assert.match(history[2]!.message, /stage 1\/3 reached: 1 of 4 matching proxies updated/);
    assert.ok(history.at(-1)!.changes.some((c) => c.typeUrl === CDS && c.name === 'c1'));
    t.cache.close();
  });

  void test('a NACK from an updated proxy rolls the rollout back by itself', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }]);
    await t.controller.begin(t.record, 'alice');
    await t.controller.tick();
    const canary = (await t.current()).updatedNodes[0]!;
    t.controller.noteNack(canary, 'clusters[0]: bad');
    await t.controller.tick();
    const r = await t.current();
    assert.equal(r.state, 'ROLLED_BACK');
    assert.match(
      r.reason,
      /gate failed at stage 1\/2: proxy .* rejected the candidate \(NACK\): clusters\[0\]: bad/,
    );
    assert.equal(t.served(canary), t.stableVersion, 'the canary is back on stable');
    assert.equal(t.cache.candidate(GROUP), undefined);
    const stored = await t.store.list({ typeUrl: CDS, name: 'c1' });
    assert.equal(stored.resources[0]?.version, cluster('c1', { connectTimeoutSeconds: 1 }).version);
    t.cache.close();
  });

  void test('the 5xx gate compares the updated proxies with the baseline since the stage began', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }], 60_000);
    for (const id of IDS) t.report(id, 100, 50); // before the stage: not counted
    await t.controller.begin(t.record, 'alice');
    await t.controller.tick();
    const canary = (await t.current()).updatedNodes[0]!;
    t.ackAll();
    await t.controller.tick(); // the stage's counters start here
    for (const id of IDS) t.report(id, 20, id === canary ? 1 : 0);
    await t.controller.tick();
    assert.equal((await t.current()).state, 'PROGRESSING', '1/20 = 5% is not above 5%');
    t.report(canary, 20, 10);
    for (const id of IDS.filter((id) => id !== canary)) t.report(id, 20, 0);
    await t.controller.tick();
    const r = await t.current();
    assert.equal(r.state, 'ROLLED_BACK');
    assert.match(r.reason, /error ratio of updated proxies 27\.5% \(11\/40\)/);
    t.cache.close();
  });

  void test('upstream hosts newly unhealthy on the updated proxies only fail the health gate', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }], 60_000);
    const hosts = (
      down: number,
    ): Array<{ cluster: string; endpoints: Map<string, 'HEALTHY' | 'UNHEALTHY'> }> => [
      {
        cluster: 'c1',
        endpoints: new Map(
          ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'].map((a, i) => [
            a,
            i < down ? 'UNHEALTHY' : 'HEALTHY',
          ]),
        ),
      },
    ];
    for (const id of IDS) t.health.report(id, GROUP, hosts(1)); // one host down everywhere already
    await t.controller.begin(t.record, 'alice');
    await t.controller.tick();
    const canary = (await t.current()).updatedNodes[0]!;
    await t.controller.tick(); // the stage's counts start here
    // A second host goes down for everyone: not the candidate's doing.
    for (const id of IDS) t.health.report(id, GROUP, hosts(2));
    await t.controller.tick();
    assert.equal((await t.current()).state, 'PROGRESSING');
    // A third one, only behind the canary.
    t.health.report(canary, GROUP, hosts(3));
    await t.controller.tick();
    const r = await t.current();
    assert.equal(r.state, 'ROLLED_BACK');
    assert.match(
      r.reason,
      /updated proxies see 2\.0 more unhealthy upstream hosts per proxy since the stage began \(baseline 1\.0\)/,
    );
    t.cache.close();
  });

  void test('pause holds the stage, resume restarts its bake, abort puts everyone back on stable', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }]);
    await t.controller.begin(t.record, 'alice');
    await t.controller.tick();
    t.ackAll();
    await t.controller.tick();
    const paused = await t.controller.act(GROUP, 'pause', 'bob');
    assert.equal(paused.state, 'PAUSED');
    t.advance(10_000);
    await t.controller.tick();
    assert.equal((await t.current()).stage, 0, 'paused: no advance');
    const canary = paused.updatedNodes[0]!;
    assert.notEqual(t.served(canary), t.stableVersion, 'paused: the canary keeps the candidate');
    await t.controller.act(GROUP, 'resume', 'bob');
    await t.controller.tick();
    t.advance(999);
    await t.controller.tick();
    assert.equal((await t.current()).stage, 0, 'the bake starts over on resume');
    const aborted = await t.controller.act(GROUP, 'abort', 'bob');
    assert.equal(aborted.state, 'ABORTED');
    assert.equal(t.served(canary), t.stableVersion);
    await assert.rejects(t.controller.act(GROUP, 'resume', 'bob'), /no active rollout to resume/);
    const messages = (await t.store.history()).map((h) => `${h.actor}: ${h.message}`);
    assert.ok(messages.some((m) => m.startsWith('bob: rollout rollout-1 paused at stage 1/2')));
    assert.ok(messages.some((m) => m.startsWith('bob: rollout rollout-1 aborted: aborted by bob')));
    t.cache.close();
  });

  void test('promote applies the candidate at once; one active rollout per group', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }]);
    await t.controller.begin(t.record, 'alice');
    await assert.rejects(t.controller.begin({ ...t.record, name: 'rollout-2' }, 'alice'), (err) => {
      assert.ok(isFerryError(err) && err.code === 'FERRY_CONFLICT');
      assert.match(err.message, /group "default" has rollout rollout-1 in progress/);
      return true;
    });
    await assert.rejects(refuseDuringRollout(t.controller, GROUP), /rollout-1 in progress/);
    await assert.rejects(refuseDuringRollout(t.controller, undefined), /rollout-1 in progress/);
    await refuseDuringRollout(t.controller, 'other-group');
    const promoted = await t.controller.act(GROUP, 'promote', 'carol');
    assert.equal(promoted.state, 'PROMOTED');
    for (const id of IDS) assert.equal(t.served(id), t.cache.snapshot(GROUP, CDS).version);
    assert.notEqual(t.cache.snapshot(GROUP, CDS).version, t.stableVersion);
    await refuseDuringRollout(t.controller, GROUP);
    t.cache.close();
  });

  void test('only the lease holder among replicas drives rollouts; a restarted one resumes from the record', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }]);
    await t.controller.begin(t.record, 'alice');
    const other = new RolloutController({
      store: t.store,
      cache: t.cache,
      fleet: { views: () => t.nodes },
      replica: 'other',
    });
    await t.controller.tick();
    const members = (await t.current()).updatedNodes;
    await t.controller.act(GROUP, 'pause', 'bob');
    await t.controller.act(GROUP, 'resume', 'bob');
    await other.tick();
    assert.equal((await t.current()).reason, 'resumed by bob', 'the other replica wrote nothing');
    // The first replica goes away (lease released); the other takes over where the record stands.
    await t.controller.close();
    t.ackAll();
    await other.tick();
    const r = await t.current();
    assert.deepEqual(r.updatedNodes, members);
    assert.equal(r.state, 'PROGRESSING');
    await other.close();
    t.cache.close();
  });

  void test('a replica with no proxy of the group drives the rollout over the tallies of the replica the proxies use', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }]);
    const order = byRank(IDS);
    // This replica serves no proxy (they all connect to `t.controller`'s replica).
    const driver = new RolloutController({
      store: t.store,
      cache: t.cache,
      fleet: { views: () => [] },
      load: t.load,
      health: t.health,
      now: t.clock,
      replica: 'driver',
    });
    await driver.begin(t.record, 'alice');
    await driver.tick();
    assert.equal((await t.current()).updatedNodes.length, 0, 'no proxy seen yet');
    const lease = await t.store.acquireLease('ferry.rollout-controller', 'probe', 1000);
    assert.equal(lease.lease?.holder, 'driver');
    await t.controller.tick(); // publishes its tally; the lease is the driver's
    await driver.tick();
    const r = await t.current();
    assert.deepEqual(r.updatedNodes, [order[0]], 'stage 1 chosen from the other replica');
    t.ackAll();
    await t.controller.tick();
    t.controller.noteNack(order[0]!, 'clusters[0]: bad');
    await driver.tick();
    assert.equal((await t.current()).state, 'PROGRESSING', 'the NACK is not published yet');
    await t.controller.tick();
    await driver.tick();
    const rolledBack = await t.current();
    assert.equal(rolledBack.state, 'ROLLED_BACK');
    assert.match(rolledBack.reason, new RegExp(`proxy ${order[0]} rejected the candidate`));
    await driver.close();
    await t.controller.close();
    t.cache.close();
  });

  void test('gates and convergence sum every replica: the canary on one, the baseline on the other', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }], 1000);
    const order = byRank(IDS);
    const replicaOf = (ids: string[], replica: string): RolloutController =>
      new RolloutController({
        store: t.store,
        cache: t.cache,
        fleet: { views: () => t.nodes.filter((v) => ids.includes(v.node.id)) },
        load: t.load,
        health: t.health,
        now: t.clock,
        replica,
        liveReplicas: () => ['a', 'b'],
      });
    const a = replicaOf(order.slice(2), 'a');
    const b = replicaOf(order.slice(0, 2), 'b');
    await a.begin(t.record, 'alice');
    await a.tick();
    assert.equal((await t.current()).updatedNodes.length, 0, 'b has not published: a waits');
    await b.tick();
    await a.tick();
    assert.deepEqual((await t.current()).updatedNodes, [order[0]]);
    t.ackAll();
    await a.tick();
    t.advance(5000);
    await a.tick();
    assert.equal((await t.current()).stage, 0, "b's member has not been counted as converged");
    await b.tick();
    await a.tick();
    t.advance(999);
    await a.tick();
    assert.equal((await t.current()).stage, 0, 'baking');
    for (const id of IDS) t.report(id, 20, id === order[0] ? 10 : 0);
    await b.tick();
    await a.tick();
    const r = await t.current();
    assert.equal(r.state, 'ROLLED_BACK');
    assert.match(
      r.reason,
      /error ratio of updated proxies 50\.0% \(10\/20\) is above 5\.0% and 2\.0% above the baseline's 0\.0% \(0\/60\)/,
    );
    await a.close();
    await b.close();
    t.cache.close();
  });

  void test('the latency gate compares the mean request time of updated and baseline proxies', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }], 60_000);
    const record = {
      ...t.record,
      gates: { ...t.record.gates, latency: { maxRatio: 2, minRequests: 10 } },
    };
    await t.controller.begin(record, 'alice');
    await t.controller.tick();
    const canary = (await t.current()).updatedNodes[0]!;
    t.ackAll();
    await t.controller.tick();
    for (const id of IDS) t.report(id, 10, 0, id === canary ? 190 : 100);
    await t.controller.tick();
    assert.equal((await t.current()).state, 'PROGRESSING', '19 ms against 10 ms is below 2×');
    t.report(canary, 10, 0, 1000);
    for (const id of IDS.filter((id) => id !== canary)) t.report(id, 10, 0, 100);
    await t.controller.tick();
    const r = await t.current();
    assert.equal(r.state, 'ROLLED_BACK');
    assert.match(
      r.reason,
      /mean upstream request time of updated proxies 59\.5 ms \(20 requests\) is 5\.95× the baseline's 10\.0 ms \(60 requests\), above the allowed 2×/,
    );
    t.cache.close();
  });
});
