/**
 * The leased-record part of the ResourceStore contract (store.ts, putLeased and what follows),
 * run by storeContract for every store. `openPeer`, when given, opens a second handle on the same
 * backing store (what another control-plane process sees); the tests of expiry with a dead holder
 * and of cross-process watching need one. Imported by tests only.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '@ferry/shared';
import type { LeasedEvent, LeasedRecord, ResourceStore } from './store.js';

/** Opens a fresh, empty store and registers its cleanup on the test context. */
export type OpenFreshStore = (t: TestContext) => ResourceStore;

export type OpenPeerStore = (t: TestContext, store: ResourceStore) => ResourceStore;

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function describeRecords(records: readonly LeasedRecord[]): string[] {
  return records.map((r) => `${r.namespace}/${r.key} ${r.holder}: ${text(r.value)}`);
}

/** Folds a leased watch's events into the state the watcher believes in. */
class LeasedRecorder {
  readonly state = new Map<string, string>();
  resets = 0;
  private readonly waiters = new Set<() => void>();
  readonly watch;

  constructor(store: ResourceStore, namespace: string) {
    this.watch = store.watchLeased(namespace, (e) => this.onEvent(e));
  }

  private onEvent(event: LeasedEvent): void {
    if (event.reset) {
      this.resets++;
      this.state.clear();
    }
    for (const r of event.puts) this.state.set(r.key, `${r.holder}: ${text(r.value)}`);
    for (const k of event.deletes) this.state.delete(k);
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once `check` holds of the state; fails after `timeoutMs`. */
  async until(check: (state: Map<string, string>) => boolean, what: string, timeoutMs = 20_000) {
    if (check(this.state)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new Error(`leased watch: ${what} not seen; state ${JSON.stringify([...this.state])}`),
        );
      }, timeoutMs);
      const waiter = (): void => {
        if (!check(this.state)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }
}

export function leasedContract(
  openFresh: (t: TestContext) => ResourceStore,
  openPeer: OpenPeerStore | undefined,
): void {
  void test('leased records: put, replace, owner-only delete, list; no revision, no history', async (t) => {
    const store = openFresh(t);
    await store.putLeased('reports', 'node-b', 'replica-a', bytes('b1'), 60_000);
    await store.putLeased('reports', 'node-a', 'replica-a', bytes('a1'), 60_000);
    await store.putLeased('other', 'node-a', 'replica-b', bytes('x'), 60_000);
    assert.deepEqual(describeRecords(await store.listLeased('reports')), [
      'reports/node-a replica-a: a1',
      'reports/node-b replica-a: b1',
    ]);
    // Another holder takes the key over: it is now theirs.
    await store.putLeased('reports', 'node-b', 'replica-b', bytes('b2'), 60_000);
    assert.equal(await store.deleteLeased('reports', 'node-b', 'replica-a'), false);
    assert.equal(await store.deleteLeased('reports', 'node-a', 'replica-b'), false);
    assert.equal(await store.deleteLeased('reports', 'node-a', 'replica-a'), true);
    assert.equal(await store.deleteLeased('reports', 'node-a', 'replica-a'), false, 'already gone');
    assert.deepEqual(describeRecords(await store.listLeased('reports')), [
      'reports/node-b replica-b: b2',
    ]);
    assert.deepEqual(describeRecords(await store.listLeased('other')), [
      'other/node-a replica-b: x',
    ]);
    assert.equal(await store.currentRevision(), 0);
    assert.deepEqual(await store.history(), []);
    assert.deepEqual((await store.list()).resources, []);
  });

  void test('leased watch: a reset with the current content, then puts and deletes of its namespace', async (t) => {
    const store = openFresh(t);
    await store.putLeased('reports', 'node-a', 'replica-a', bytes('a1'), 60_000);
    const recorder = new LeasedRecorder(store, 'reports');
    t.after(() => recorder.watch.close());
    await recorder.until((s) => s.get('node-a') === 'replica-a: a1', 'the initial content');
    assert.equal(recorder.resets, 1);
    await store.putLeased('reports', 'node-b', 'replica-a', bytes('b1'), 60_000);
    await store.putLeased('reports', 'node-a', 'replica-a', bytes('a2'), 60_000);
    await store.putLeased('elsewhere', 'node-c', 'replica-a', bytes('c1'), 60_000);
    await recorder.until(
      (s) => s.get('node-a') === 'replica-a: a2' && s.get('node-b') === 'replica-a: b1',
      'the puts',
    );
    await store.deleteLeased('reports', 'node-a', 'replica-a');
    await recorder.until((s) => !s.has('node-a'), 'the delete');
    assert.deepEqual([...recorder.state], [['node-b', 'replica-a: b1']], 'other namespaces unseen');
    // A closed watch hears nothing more.
    recorder.watch.close();
    await store.putLeased('reports', 'node-d', 'replica-a', bytes('d1'), 60_000);
    const check = new LeasedRecorder(store, 'reports');
    t.after(() => check.watch.close());
    await check.until((s) => s.has('node-d'), 'the later put on a new watch');
    assert.equal(recorder.state.has('node-d'), false);
  });

  void test('leased requests are checked and a closed store refuses them', async (t) => {
    const store = openFresh(t);
    await assert.rejects(store.putLeased('', 'k', 'h', bytes('v'), 1000), RangeError);
    await assert.rejects(store.putLeased('a/b', 'k', 'h', bytes('v'), 1000), RangeError);
    await assert.rejects(store.putLeased('ns', 'k', '', bytes('v'), 1000), RangeError);
    await assert.rejects(store.putLeased('ns', 'k', 'h', bytes('v'), 0), RangeError);
    await assert.rejects(store.deleteLeased('ns', '', 'h'), RangeError);
    await store.close();
    const unavailable = (err: unknown): boolean =>
      isFerryError(err) && err.code === 'FERRY_STORE_UNAVAILABLE';
    await assert.rejects(store.putLeased('ns', 'k', 'h', bytes('v'), 1000), unavailable);
    await assert.rejects(store.deleteLeased('ns', 'k', 'h'), unavailable);
    await assert.rejects(store.listLeased('ns'), unavailable);
    assert.throws(() => store.watchLeased('ns', () => {}), unavailable);
  });

  if (!openPeer) return;

  void test('leased records of a live holder outlast their ttl; another process sees them, and their expiry when it dies', async (t) => {
    const store = openFresh(t);
    const peer = openPeer(t, store);
    const recorder = new LeasedRecorder(store, 'reports');
    t.after(() => recorder.watch.close());
    await recorder.until((s) => s.size === 0, 'the empty start');
    const ttlMs = 1000;
    await peer.putLeased('reports', 'node-a', 'replica-peer', bytes('a1'), ttlMs);
    await recorder.until((s) => s.get('node-a') === 'replica-peer: a1', "the peer's put");
    // The holder's store keeps its records alive past the ttl while it is open.
    await new Promise((resolve) => setTimeout(resolve, 3 * ttlMs));
    assert.deepEqual(describeRecords(await store.listLeased('reports')), [
      'reports/node-a replica-peer: a1',
    ]);
    assert.equal(recorder.state.has('node-a'), true);
    // Closing stops the renewals, as the holder's death does: the record expires.
    await peer.close();
    await recorder.until((s) => !s.has('node-a'), 'the expiry');
    assert.deepEqual(await store.listLeased('reports'), []);
  });
}
