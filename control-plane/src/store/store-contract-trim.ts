/**
 * The trimming part of the ResourceStore contract (store.ts: historyBase, trimHistory, and what a
 * trimmed log means for listAt, history and watch), run by storeContract for every store.
 * `openPeer`, when given, is a second handle on the same backing store (another control-plane
 * process), so that trims and applies race across processes too. Imported by tests only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '@ferry/shared';
import type { ChangeEvent, ResourceStore, StoreSnapshot } from './store.js';
import { keyOf } from './store.js';
import type { OpenFreshStore, OpenPeerStore } from './store-contract-leased.js';
import {
  WatchRecorder,
  del,
  describeChanges,
  describeSnapshot,
  put,
} from './store-test-fixtures.js';

/** Revision k (1-based) of the workload: rewrites key k mod 4, and deletes key k mod 3 every third. */
function workload(k: number) {
  return k % 3 === 0
    ? [put(`k${k % 4}`, `c${k}`), del(`k${(k + 1) % 4}`)]
    : [put(`k${k % 4}`, `c${k}`)];
}

/** The state a watcher believes in after folding `events` (a reset replaces everything). */
function foldEvents(events: readonly ChangeEvent[]): string[] {
  const state = new Map<string, string>();
  for (const e of events) {
    if (e.reset) state.clear();
    for (const m of e.changes) {
      if (m.op === 'put') state.set(keyOf(m), describeChanges([m])[0]!);
      else state.delete(keyOf(m));
    }
  }
  return [...state.values()].sort();
}

function asPuts(snapshot: StoreSnapshot): string[] {
  return describeChanges(
    snapshot.resources.map((r) => ({
      op: 'put' as const,
      typeUrl: r.typeUrl,
      group: r.group,
      name: r.name,
      value: r.value,
      version: r.version,
    })),
  ).sort();
}

async function applyWorkload(store: ResourceStore, from: number, to: number): Promise<void> {
  for (let k = from; k <= to; k++) await store.apply(workload(k), { message: `step ${k}` });
}

function trimmedError(revision: number, base: number): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isFerryError(err), `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, 'FERRY_REVISION_TRIMMED', err.message);
    assert.match(
      err.message,
      new RegExp(`revision ${revision} was trimmed; the oldest kept is ${base}\\b`),
    );
    return true;
  };
}

export function trimContract(openFresh: OpenFreshStore, openPeer?: OpenPeerStore): void {
  void test('trimHistory keeps the state of every kept revision, drops older history, never the newest', async (t) => {
    const store = openFresh(t);
    assert.equal(await store.historyBase(), 0);
    await applyWorkload(store, 1, 8);
    const before = new Map<number, string[]>();
    for (let r = 0; r <= 8; r++) before.set(r, describeSnapshot(await store.listAt(r)));

    assert.deepEqual(await store.trimHistory({ throughRevision: 5, maxRevisions: 2 }), {
      base: 2,
      trimmed: 2,
    });
    assert.deepEqual(await store.trimHistory({ throughRevision: 5, maxRevisions: 10 }), {
      base: 5,
      trimmed: 3,
    });
    assert.deepEqual(await store.trimHistory({ throughRevision: 5, maxRevisions: 10 }), {
      base: 5,
      trimmed: 0,
    });
    assert.equal(await store.historyBase(), 5);
    for (let r = 5; r <= 8; r++) {
      assert.deepEqual(describeSnapshot(await store.listAt(r)), before.get(r), `listAt(${r})`);
    }
    assert.deepEqual(
      describeSnapshot(await store.listAt(5, { name: 'k1' })),
      before.get(5)!.filter((l) => l.includes('/k1 ')),
    );
    await assert.rejects(store.listAt(4), trimmedError(4, 5));
    await assert.rejects(store.listAt(0), trimmedError(0, 5));
    assert.deepEqual(
      (await store.history(100)).map((e) => [e.revision, e.message]),
      [
        [8, 'step 8'],
        [7, 'step 7'],
        [6, 'step 6'],
      ],
    );
    // The newest revision stays, whatever is asked.
    assert.deepEqual(await store.trimHistory({ throughRevision: 100, maxRevisions: 100 }), {
      base: 7,
      trimmed: 2,
    });
    assert.deepEqual(describeSnapshot(await store.listAt(7)), before.get(7));
    assert.deepEqual(describeSnapshot(await store.list()), before.get(8));
    assert.deepEqual(
      (await store.history()).map((e) => e.revision),
      [8],
    );
    // Applies go on from the trimmed log.
    await applyWorkload(store, 9, 9);
    assert.equal(await store.currentRevision(), 9);
    assert.deepEqual(describeSnapshot(await store.listAt(8)), before.get(8));
  });

  void test('trimHistory with recordedBefore trims only revisions recorded before it', async (t) => {
    const store = openFresh(t);
    await applyWorkload(store, 1, 3);
    assert.deepEqual(
      await store.trimHistory({ throughRevision: 3, recordedBefore: 0, maxRevisions: 10 }),
      { base: 0, trimmed: 0 },
    );
    assert.deepEqual(
      await store.trimHistory({
        throughRevision: 3,
        recordedBefore: Date.now() + 60_000,
        maxRevisions: 10,
      }),
      { base: 2, trimmed: 2 },
    );
    await assert.rejects(store.trimHistory({ throughRevision: -1, maxRevisions: 1 }), RangeError);
    await assert.rejects(store.trimHistory({ throughRevision: 1, maxRevisions: 0 }), RangeError);
  });

  void test('a watch from a trimmed revision gets a reset with the base state, then every later revision', async (t) => {
    const store = openFresh(t);
    await applyWorkload(store, 1, 6);
    const baseState = asPuts(await store.listAt(4));
    await store.trimHistory({ throughRevision: 4, maxRevisions: 10 });
    const fromStart = new WatchRecorder(store, 0);
    const fromTrimmed = new WatchRecorder(store, 2);
    const fromBase = new WatchRecorder(store, 4);
    t.after(() => {
      fromStart.watch.close();
      fromTrimmed.watch.close();
      fromBase.watch.close();
    });
    await applyWorkload(store, 7, 7);
    await Promise.all([fromStart.until(7), fromTrimmed.until(7), fromBase.until(7)]);
    for (const recorder of [fromStart, fromTrimmed]) {
      assert.deepEqual(recorder.revisions, [4, 5, 6, 7]);
      assert.deepEqual(
        recorder.events.map((e) => e.reset === true),
        [true, false, false, false],
      );
      assert.deepEqual(describeChanges(recorder.events[0]!.changes).sort(), baseState);
      assert.deepEqual(foldEvents(recorder.events), asPuts(await store.list()));
    }
    assert.deepEqual(fromBase.revisions, [5, 6, 7]);
    assert.ok(fromBase.events.every((e) => e.reset !== true));
  });

  void test('trims race applies and other trimmers without losing or mixing a revision', async (t) => {
    const store = openFresh(t);
    const other = openPeer ? openPeer(t, store) : store;
    const watcher = new WatchRecorder(other, 0);
    t.after(() => watcher.watch.close());
    const total = 40;
    // The state after each revision, known up front: revision k is the workload's step k.
    const expected = new Map<number, string[]>();
    {
      const reference = new Map<string, string>();
      for (let k = 1; k <= total; k++) {
        for (const m of workload(k)) {
          if (m.op === 'put') reference.set(keyOf(m), describeChanges([m])[0]!);
          else reference.delete(keyOf(m));
        }
        expected.set(k, [...reference.values()].sort());
      }
    }
    let applying = true;
    const trimLoop = async (trimmer: ResourceStore): Promise<void> => {
      while (applying) {
        const latest = await trimmer.currentRevision();
        await trimmer.trimHistory({ throughRevision: Math.max(0, latest - 2), maxRevisions: 3 });
        // Each store's own queue order, not a delay: lets the applies interleave.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const trims = Promise.all([trimLoop(store), trimLoop(other)]);
    for (let k = 1; k <= total; k++) {
      await store.apply(workload(k), { message: `step ${k}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    applying = false;
    await trims;
    // Two trimmers at once on the same revisions: each revision is trimmed by one of them.
    const [mine, theirs] = await Promise.all([
      store.trimHistory({ throughRevision: total - 2, maxRevisions: total }),
      other.trimHistory({ throughRevision: total - 2, maxRevisions: total }),
    ]);
    assert.ok(mine.base <= total - 2 && theirs.base <= total - 2);
    const base = await store.historyBase();
    assert.equal(base, total - 2);
    assert.equal(await other.historyBase(), base);
    for (let r = base; r <= total; r++) {
      assert.deepEqual(asPuts(await other.listAt(r)), expected.get(r), `listAt(${r})`);
    }
    assert.deepEqual(
      (await store.history(1000)).map((e) => e.revision),
      Array.from({ length: total - base }, (_, i) => total - i),
    );
    await watcher.until(total);
    // Every revision once, in order, or a reset standing for those trimmed before delivery.
    const revisions = watcher.revisions;
    for (let i = 1; i < revisions.length; i++) {
      assert.ok(revisions[i]! > revisions[i - 1]!, `out of order: ${revisions.join(',')}`);
      if (watcher.events[i]!.reset !== true) {
        assert.equal(revisions[i], revisions[i - 1]! + 1, `gap: ${revisions.join(',')}`);
      }
    }
    assert.ok(revisions[0] === 1 || watcher.events[0]!.reset === true, `starts ${revisions[0]}`);
    assert.deepEqual(foldEvents(watcher.events), expected.get(total));
  });
}
