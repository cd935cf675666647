/**
 * The rollout state machine with a real in-memory store and snapshot cache, a fake fleet (node
 * views whose ACKs the test sets), real LRS/HDS aggregates fed by the test, and a fake clock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '@ferry/shared';
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
  const report = (id: string, issued: number, errors: number): void =>
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

  void test('a replica with no proxy of the group leaves the rollout to the replica the proxies use', async () => {
    const t = await setup([{ count: 1 }, { percent: 100 }]);
    await t.controller.begin(t.record, 'alice');
    // This replica serves no proxy (they all connect to `t.controller`'s replica).
    const bare = new RolloutController({
      store: t.store,
      cache: t.cache,
      fleet: { views: () => [] },
      replica: 'bare',
    });
    await bare.tick();
    assert.equal(
      (await t.store.acquireLease('ferry.rollout-controller', 'probe', 1000)).held,
      true,
    );
    await t.store.releaseLease('ferry.rollout-controller', 'probe');
    await t.controller.tick();
    assert.equal((await t.current()).updatedNodes.length, 1, 'stage 1 reached');
    // Its proxies gone (failed over to the other replica): it hands the lease back at once.
    const connected = t.nodes.splice(0);
    await t.controller.tick();
    t.nodes.push(...connected);
    const free = await t.store.acquireLease('ferry.rollout-controller', 'bare', 1000);
    assert.equal(free.held, true, `lease still held by ${free.lease?.holder}`);
    await bare.close();
    await t.controller.close();
    t.cache.close();
  });
});
