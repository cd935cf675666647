import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Leadership, LeadershipListener } from '../replicas/leader.js';
import { HistoryTrimmer } from './history-trimmer.js';
import { MemoryStore } from './store-memory.js';
import type { TrimRequest } from './store.js';
import { put } from './store-test-fixtures.js';

/** A leadership the test hands out and takes back. */
class TestLeadership implements Leadership {
  isLeader = false;
  private readonly listeners = new Set<LeadershipListener>();
  subscribe(listener: LeadershipListener): () => void {
    this.listeners.add(listener);
    if (this.isLeader) listener(true);
    return () => this.listeners.delete(listener);
  }
  confirm(): Promise<boolean> {
    return Promise.resolve(this.isLeader);
  }
  set(leading: boolean): void {
    this.isLeader = leading;
    for (const l of [...this.listeners]) l(leading);
  }
}

/** A memory store with `revisions` revisions whose trimHistory calls are recorded. */
async function storeWith(revisions: number): Promise<{ store: MemoryStore; calls: TrimRequest[] }> {
  const store = new MemoryStore();
  for (let i = 1; i <= revisions; i++) await store.apply([put(`k${i % 3}`, String(i))]);
  const calls: TrimRequest[] = [];
  const trim = store.trimHistory.bind(store);
  store.trimHistory = (request) => {
    calls.push(request);
    return trim(request);
  };
  return { store, calls };
}

test('only the leader trims, down to --history-retain revisions, in bounded steps', async (t) => {
  const { store, calls } = await storeWith(20);
  const leadership = new TestLeadership();
  const trimmer = new HistoryTrimmer({
    store,
    leadership,
    retention: { revisions: 5, maxAgeMs: 0 },
    batchRevisions: 4,
    batchPauseMs: 1,
  });
  t.after(() => trimmer.close());
  trimmer.start();
  await trimmer.kick();
  assert.equal(await store.historyBase(), 0, 'a follower does not trim');
  assert.equal(calls.length, 0);
  leadership.set(true);
  await trimmer.kick();
  assert.equal(await store.historyBase(), 15);
  assert.deepEqual((await store.history(100)).map((e) => e.revision).at(-1), 16);
  // 15 revisions in steps of at most 4 (becoming leader started the pass kick() joined).
  assert.ok(calls.length >= 4, `${calls.length} calls`);
  for (const c of calls) assert.deepEqual([c.throughRevision, c.maxRevisions], [15, 4]);
  await trimmer.close();
  await store.close();
});

test('--history-retain-age trims what is older, whichever limit comes first; the newest stays', async () => {
  const { store } = await storeWith(6);
  const leadership = new TestLeadership();
  leadership.set(true);
  let now = Date.now();
  const trimmer = new HistoryTrimmer({
    store,
    leadership,
    retention: { revisions: 4, maxAgeMs: 60_000 },
    batchPauseMs: 1,
    now: () => now,
  });
  await trimmer.kick();
  assert.equal(await store.historyBase(), 2, 'the count limit applies while nothing is old');
  now += 120_000;
  await trimmer.kick();
  assert.equal(await store.historyBase(), 5, 'everything old goes but the newest revision');
  await trimmer.close();
  await store.close();
});

test('losing leadership stops a pass between steps; retention 0/0 keeps everything', async () => {
  const { store, calls } = await storeWith(12);
  const leadership = new TestLeadership();
  leadership.set(true);
  const trimmer = new HistoryTrimmer({
    store,
    leadership,
    retention: { revisions: 1, maxAgeMs: 0 },
    batchRevisions: 2,
    batchPauseMs: 1,
  });
  const trim = store.trimHistory.bind(store);
  store.trimHistory = async (request) => {
    const result = await trim(request);
    leadership.set(false);
    return result;
  };
  await trimmer.kick();
  assert.equal(await store.historyBase(), 2);
  await trimmer.close();

  const callsBefore = calls.length;
  const leading = new TestLeadership();
  leading.set(true);
  const keepAll = new HistoryTrimmer({
    store,
    leadership: leading,
    retention: { revisions: 0, maxAgeMs: 0 },
  });
  assert.equal(keepAll.enabled, false);
  keepAll.start();
  await keepAll.kick();
  assert.equal(calls.length, callsBefore);
  await keepAll.close();
  await store.close();
});
