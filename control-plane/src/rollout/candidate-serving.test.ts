/**
 * The snapshot cache serving a rollout's candidate: per node, stable or candidate, one candidate
 * snapshot shared by every updated node, listeners told when membership changes, and the layer
 * rebuilt from the store by a new cache (a restarted control plane).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { CDS, cluster, EDS, endpoints, put } from '../xds/test-support.js';
import { DEFAULT_GATES, rolloutMutation, type RolloutRecord } from './rollout-record.js';

const GROUP = 'default';

function record(overrides: Partial<RolloutRecord>): RolloutRecord {
  const candidate = cluster('c1', { connectTimeoutSeconds: 2 });
  return {
    name: 'rollout-7',
    group: GROUP,
    state: 'PROGRESSING',
    changes: [
      { typeUrl: CDS, name: 'c1', put: { value: candidate.bytes, version: candidate.version } },
      { typeUrl: CDS, name: 'gone' },
    ],
    stages: [{ count: 1 }, { percent: 100 }],
    selectors: [],
    bakeMs: 1000,
    gates: DEFAULT_GATES,
    stage: 0,
    updatedNodes: ['a'],
    stageStartedAt: 1,
    reason: '',
    createdBy: 'alice',
    createdAt: 1,
    updatedAt: 1,
    message: '',
    baseRevision: 1,
    ...overrides,
  };
}

const node = (id: string): { group: string; node: { id: string } } => ({
  group: GROUP,
  node: { id },
});

void describe('candidate serving', () => {
  void test('updated nodes share one candidate snapshot; the others keep the stable one', async () => {
    const store = new MemoryStore();
    await store.apply(
      put(
        GROUP,
        cluster('c1', { connectTimeoutSeconds: 1 }),
        cluster('gone'),
        cluster('kept'),
        endpoints('c1'),
      ),
    );
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    const stable = cache.snapshot(GROUP, CDS);
    const notified: string[][] = [];
    cache.watchGroup(GROUP, { snapshotChanged: (types) => notified.push([...types]) });
    await store.apply([rolloutMutation(record({}))]);
    const candidate = cache.snapshotFor(node('a'), CDS);
    assert.notEqual(candidate.version, stable.version);
    assert.deepEqual([...candidate.resources.keys()].sort(), ['c1', 'kept']);
    assert.equal(
      candidate.resources.get('kept'),
      stable.resources.get('kept'),
      'unchanged resources are shared',
    );
    assert.ok(
      candidate.removed.has('gone'),
      'what the candidate removes goes last (make before break)',
    );
    assert.equal(cache.snapshotFor(node('b'), CDS), stable);
    assert.equal(
      cache.snapshotFor(node('a'), EDS),
      cache.snapshot(GROUP, EDS),
      'types it does not change',
    );
    assert.deepEqual(notified, [[CDS]]);
    // Stage 2: b joins; the candidate is the same object, and listeners are told.
    await store.apply([rolloutMutation(record({ stage: 1, updatedNodes: ['a', 'b'] }))]);
    assert.equal(cache.snapshotFor(node('b'), CDS), candidate);
    assert.deepEqual(notified, [[CDS], [CDS]]);
    assert.equal(cache.candidate(GROUP)?.label, 'rollout-7 stage 2/2');
    // A restarted control plane serves the same from the store.
    const restarted = new SnapshotCache({ store, debounceMs: 0 });
    await restarted.start();
    assert.equal(restarted.snapshotFor(node('b'), CDS).version, candidate.version);
    assert.equal(restarted.snapshotFor(node('c'), CDS).version, stable.version);
    restarted.close();
    // Rolled back: everyone is on stable again.
    await store.apply([
      rolloutMutation(record({ state: 'ROLLED_BACK', updatedNodes: ['a', 'b'] })),
    ]);
    assert.equal(cache.candidate(GROUP), undefined);
    assert.equal(cache.snapshotFor(node('a'), CDS), stable);
    assert.deepEqual(notified, [[CDS], [CDS], [CDS]]);
    cache.close();
  });

  void test('back to stable is make-before-break: what only the candidate had goes last', async () => {
    const store = new MemoryStore();
    await store.apply(put(GROUP, cluster('c1', { connectTimeoutSeconds: 1 })));
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    const added = cluster('added');
    await store.apply([
      rolloutMutation(
        record({
          changes: [
            { typeUrl: CDS, name: 'added', put: { value: added.bytes, version: added.version } },
          ],
        }),
      ),
    ]);
    assert.ok(cache.snapshotFor(node('a'), CDS).resources.has('added'));
    await store.apply([rolloutMutation(record({ state: 'ROLLED_BACK' }))]);
    const stable = cache.snapshot(GROUP, CDS);
    const back = cache.snapshotFor(node('a'), CDS);
    assert.equal(back.version, stable.version);
    assert.equal(back.all, stable.all, 'the same resources, shared');
    assert.ok(back.removed.has('added'), 'the former canary removes the added cluster last');
    assert.equal(cache.snapshotFor(node('b'), CDS), stable);
    // Only for the push that takes the canary back: the next publish serves plain stable.
    await store.apply(put(GROUP, cluster('later')));
    assert.equal(cache.snapshotFor(node('a'), CDS), cache.snapshot(GROUP, CDS));
    cache.close();
  });

  void test('a stable change of a type the candidate changes rebuilds the candidate on top of it', async () => {
    const store = new MemoryStore();
    await store.apply(put(GROUP, cluster('c1', { connectTimeoutSeconds: 1 })));
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    await store.apply([rolloutMutation(record({}))]);
    await store.apply(put(GROUP, cluster('new')));
    const candidate = cache.snapshotFor(node('a'), CDS);
    assert.deepEqual([...candidate.resources.keys()].sort(), ['c1', 'new']);
    assert.equal(
      candidate.resources.get('c1')?.version,
      cluster('c1', { connectTimeoutSeconds: 2 }).version,
    );
    cache.close();
  });
});
