import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './store-memory.js';
import { followStore } from './store-follow.js';
import type { ChangeEvent } from './store.js';
import { del, describeChanges, put } from './store-test-fixtures.js';

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

test('a trimmed log reaches a follower as the difference to what it was given, never a gap', async () => {
  const store = new MemoryStore();
  await store.apply([put('a', '1'), put('b', '1')]);
  await store.apply([put('c', '1')]);
  await store.apply([put('b', '2')]);
  await store.trimHistory({ throughRevision: 2, maxRevisions: 10 });
  const state = new Map<string, string>();
  const events: ChangeEvent[] = [];
  const target = await store.currentRevision();
  let caughtUp = false;
  const watch = followStore(
    store,
    target,
    (event) => {
      events.push(event);
      for (const m of event.changes) {
        if (m.op === 'put') state.set(m.name, m.version);
        else state.delete(m.name);
      }
    },
    () => (caughtUp = true),
  );
  await until(() => caughtUp);
  // At start: the base (revision 2) as puts, then revision 3.
  assert.deepEqual(
    events.map((e) => [e.revision, e.reset === true, describeChanges(e.changes)]),
    [
      [2, false, ['put default/a v:1 1', 'put default/b v:1 1', 'put default/c v:1 1']],
      [3, false, ['put default/b v:2 2']],
    ],
  );
  // Lagging: two applies and a trim past them before the follower is given either.
  void store.apply([del('a'), put('d', '1')]);
  void store.apply([put('c', '2')]);
  void store.apply([put('e', '1')]);
  void store.trimHistory({ throughRevision: 5, maxRevisions: 10 });
  await until(() => events.length === 4);
  assert.deepEqual(
    events.slice(2).map((e) => [e.revision, e.reset === true, describeChanges(e.changes).sort()]),
    [
      [5, false, ['delete default/a', 'put default/c v:2 2', 'put default/d v:1 1']],
      [6, false, ['put default/e v:1 1']],
    ],
  );
  assert.deepEqual([...state].sort(), [
    ['b', 'v:2'],
    ['c', 'v:2'],
    ['d', 'v:1'],
    ['e', 'v:1'],
  ]);
  watch.close();
  await store.close();
});
