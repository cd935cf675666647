import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './store-memory.js';
import { followStore } from './store-follow.js';
import { put } from './store-test-fixtures.js';

/** Follows `store` and records "r<revision> loading|live" and "caught up" in order. */
async function follow(store: MemoryStore): Promise<{ seen: string[]; close(): void }> {
  const seen: string[] = [];
  const target = await store.currentRevision();
  const watch = followStore(
    store,
    target,
    (event, catchingUp) => seen.push(`r${event.revision} ${catchingUp ? 'loading' : 'live'}`),
    () => seen.push('caught up'),
  );
  return { seen, close: () => watch.close() };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an empty store is caught up at once; later revisions are live', async () => {
  const store = new MemoryStore();
  const follower = await follow(store);
  assert.deepEqual(follower.seen, ['caught up']);
  await store.apply([put('a', '1')]);
  await until(() => follower.seen.length === 2);
  assert.deepEqual(follower.seen, ['caught up', 'r1 live']);
  follower.close();
  await store.close();
});

test('the revisions up to the current one load first, then caught up, then live ones', async () => {
  const store = new MemoryStore();
  await store.apply([put('a', '1')]);
  await store.apply([put('b', '1')]);
  const follower = await follow(store);
  await until(() => follower.seen.includes('caught up'));
  await store.apply([put('c', '1')]);
  await until(() => follower.seen.length === 4);
  assert.deepEqual(follower.seen, ['r1 loading', 'r2 loading', 'caught up', 'r3 live']);
  follower.close();
  await store.close();
});
