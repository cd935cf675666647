import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { combinedVersion } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import { FleetTracker } from './fleet.js';
import { SnapshotCache } from './snapshot-cache.js';
import { CDS, cluster, del, EDS, endpoints, LDS, listener, put } from './test-support.js';

function nextNotification(cache: SnapshotCache, group: string): Promise<string[]> {
  return new Promise((resolve) => {
    const listener = {
      snapshotChanged(types: ReadonlySet<string>): void {
        cache.unwatchGroup(group, listener);
        resolve([...types].sort());
      },
    };
    cache.watchGroup(group, listener);
  });
}

void describe('SnapshotCache', () => {
  void test('start() publishes what the store already holds, with content versions', async () => {
    const store = new MemoryStore();
    const c1 = cluster('c1');
    const c2 = cluster('c2');
    await store.apply(put('default', c1, c2));
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    const snap = cache.snapshot('default', CDS);
    assert.equal(
      snap.version,
      combinedVersion([
        ['c2', c2.version],
        ['c1', c1.version],
      ]),
    );
    assert.deepEqual([...snap.resources.keys()].sort(), ['c1', 'c2']);
    assert.equal(snap.all.length, 2);
    // The Any's value is a view on the stored bytes, not a copy.
    const stored = (await store.list({ name: 'c1' })).resources[0];
    assert.equal(snap.resources.get('c1')?.resource.value.buffer, stored?.value.buffer);
    assert.equal(cache.snapshot('other', CDS).resources.size, 0);
    cache.close();
  });

  void test('a burst of applies is published once, per group, with the set of changed types', async () => {
    const store = new MemoryStore();
    const cache = new SnapshotCache({ store, debounceMs: 20 });
    await cache.start();
    let otherGroupNotified = false;
    cache.watchGroup('other', { snapshotChanged: () => (otherGroupNotified = true) });
    const notified = nextNotification(cache, 'default');
    let calls = 0;
    cache.watchGroup('default', { snapshotChanged: () => calls++ });
    await store.apply(put('default', cluster('c1')));
    await store.apply(put('default', endpoints('c1')));
    await store.apply(put('default', cluster('c2')));
    assert.equal(calls, 0, 'nothing is published before the debounce delay');
    assert.deepEqual(await notified, [CDS, EDS].sort());
    assert.equal(calls, 1);
    assert.equal(otherGroupNotified, false);
    assert.deepEqual([...cache.snapshot('default', CDS).resources.keys()].sort(), ['c1', 'c2']);
    cache.close();
  });

  void test('a put undone within the debounce window publishes nothing for its type', async () => {
    const store = new MemoryStore();
    const cache = new SnapshotCache({ store, debounceMs: 20 });
    await cache.start();
    const notified = nextNotification(cache, 'default');
    await store.apply(put('default', listener('l1', 'r1')));
    await store.apply(del('default', LDS, 'l1'));
    await store.apply(put('default', cluster('c1')));
    assert.deepEqual(await notified, [CDS]);
    cache.close();
  });

  void test('removed lists what the previous snapshot had', async () => {
    const store = new MemoryStore();
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    await store.apply(put('default', cluster('c1'), cluster('c2')));
    await store.apply(del('default', CDS, 'c1'));
    assert.deepEqual([...cache.snapshot('default', CDS).removed.keys()], ['c1']);
    cache.close();
  });
});

void describe('FleetTracker', () => {
  void test('a disconnected node stays listed for the retention time, then disappears', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const fleet = new FleetTracker({ retainMs: 1000, now: () => now });
    const a = fleet.connect({ id: 'n1', cluster: '' }, 'ads-sotw', '127.0.0.1:1');
    const b = fleet.connect({ id: 'n1', cluster: '' }, 'lds', '127.0.0.1:2');
    a.sent(CDS, 'v1', 3, { wildcard: true, names: new Set() });
    a.disconnect();
    a.disconnect();
    assert.deepEqual(fleet.nodes()[0]?.streams, ['lds']);
    assert.equal(fleet.nodes()[0]?.connected, true);
    b.disconnect();
    assert.equal(fleet.nodes()[0]?.connected, false);
    assert.equal(fleet.nodes()[0]?.group, 'default');
    assert.equal(fleet.nodes()[0]?.types[0]?.resources, 3);
    now += 1001;
    assert.deepEqual(fleet.nodes(), []);
  });

  void test('fan-out runs in time slices: all at once within the budget, in order across yields past it', async () => {
    for (const [sliceMs, atOnce] of [
      [60_000, true],
      [0, false],
    ] as const) {
      const store = new MemoryStore();
      const cache = new SnapshotCache({ store, debounceMs: 0, fanOutSliceMs: sliceMs });
      await cache.start();
      const seen: number[] = [];
      for (let i = 0; i < 100; i++)
        cache.watchGroup('default', { snapshotChanged: () => seen.push(i) });
      await store.apply(put('default', cluster('c1')));
      // The first slice runs within the publish, the rest after yields to the event loop.
      assert.equal(seen.length === 100, atOnce, `slice ${sliceMs} ms: ${seen.length} at once`);
      for (let i = 0; i < 100 && seen.length < 100; i++) await new Promise(setImmediate);
      assert.deepEqual(
        seen,
        Array.from({ length: 100 }, (_, i) => i),
      );
      cache.close();
    }
  });

  void test('fan-out yields between chunks; catchUp delivers a queued notification once, in order', async () => {
    const store = new MemoryStore();
    const cache = new SnapshotCache({ store, debounceMs: 0, fanOutChunk: 1 });
    await cache.start();
    const seen: string[] = [];
    const listeners = ['a', 'b', 'c'].map((id) => {
      const listener = {
        snapshotChanged(types: ReadonlySet<string>): void {
          seen.push(
            `${id}:${[...types].join(',')}:${cache.snapshot('default', CDS).resources.size}`,
          );
        },
      };
      cache.watchGroup('default', listener);
      return listener;
    });
    await store.apply(put('default', cluster('c1')));
    // The first chunk (one listener) is notified within the publish, the rest later.
    assert.deepEqual(seen, [`a:${CDS}:1`]);
    // A second change arrives while the round is still being delivered: it waits for it.
    await store.apply(put('default', cluster('c2')));
    cache.catchUp(listeners[2]!);
    assert.deepEqual(seen, [`a:${CDS}:1`, `c:${CDS}:1`]);
    for (let i = 0; i < 100 && seen.length < 6; i++) await new Promise(setImmediate);
    // Every listener saw the first snapshot, then the second; none twice for the same one.
    assert.deepEqual(seen, [
      `a:${CDS}:1`,
      `c:${CDS}:1`,
      `b:${CDS}:1`,
      `a:${CDS}:2`,
      `b:${CDS}:2`,
      `c:${CDS}:2`,
    ]);
    cache.close();
  });

  void test('a listener removed while its notification is queued is not notified, nor after watching again', async () => {
    const store = new MemoryStore();
    const cache = new SnapshotCache({ store, debounceMs: 0, fanOutChunk: 1 });
    await cache.start();
    const seen: string[] = [];
    const listeners = ['a', 'b', 'c'].map((id) => {
      const listener = {
        snapshotChanged: (): void => {
          seen.push(`${id}:${cache.snapshot('default', CDS).resources.size}`);
        },
      };
      cache.watchGroup('default', listener);
      return listener;
    });
    await store.apply(put('default', cluster('c1')));
    // The first chunk (one listener) is notified within the publish, the rest later.
    assert.deepEqual(seen, ['a:1']);
    cache.unwatchGroup('default', listeners[1]!);
    // A stream that leaves and comes back starts over: the round it left is not delivered.
    cache.unwatchGroup('default', listeners[2]!);
    cache.watchGroup('default', listeners[2]!);
    cache.catchUp(listeners[2]!);
    for (let i = 0; i < 100; i++) await new Promise(setImmediate);
    assert.deepEqual(seen, ['a:1']);
    await store.apply(put('default', cluster('c2')));
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise(setImmediate);
    assert.deepEqual(seen, ['a:1', 'a:2', 'c:2']);
    cache.close();
  });
});
