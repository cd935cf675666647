/**
 * The ResourceStore contract (store.ts), run against every implementation so they stay
 * interchangeable: store-contract.test.ts runs it for the embedded stores, store-etcd.test.ts
 * against real etcd. A new store adds one `storeContract(...)` call. Imported by tests only.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError, type ErrorCode } from '@ferry/shared';
import type { Mutation } from './store.js';
import {
  CLUSTER,
  LISTENER,
  WatchRecorder,
  del,
  describeChanges,
  describeSnapshot,
  put,
} from './store-test-fixtures.js';
import {
  leasedContract,
  type OpenFreshStore,
  type OpenPeerStore,
} from './store-contract-leased.js';
import { trimContract } from './store-contract-trim.js';
import { traceContract } from './store-contract-trace.js';

function rejectsWith(code: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isFerryError(err), `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

export function storeContract(
  name: string,
  openFresh: OpenFreshStore,
  options: {
    readonly timeoutMs?: number;
    /** A second handle on the same backing store, as another process has (leased records). */
    readonly openPeer?: OpenPeerStore;
  } = {},
): void {
  void describe(`ResourceStore contract: ${name}`, { timeout: options.timeoutMs ?? 20_000 }, () => {
    void test('a new store is empty at revision 0', async (t) => {
      const store = openFresh(t);
      assert.equal(await store.currentRevision(), 0);
      assert.deepEqual(await store.list(), { revision: 0, resources: [] });
      assert.deepEqual(await store.history(), []);
    });

    void test('apply stores the whole batch at one new revision', async (t) => {
      const store = openFresh(t);
      const batch = [
        put('web', 'web-1'),
        put('api', 'api-1', { group: 'edge' }),
        put('http', 'l-1', { typeUrl: LISTENER }),
      ];
      const result = await store.apply(batch, { message: 'first' });
      assert.equal(result.revision, 1);
      assert.deepEqual(describeChanges(result.changes), describeChanges(batch));
      assert.equal(await store.currentRevision(), 1);
      assert.deepEqual(describeSnapshot(await store.list()), [
        'Cluster default/web v:web-1 rev=1 web-1',
        'Cluster edge/api v:api-1 rev=1 api-1',
        'Listener default/http v:l-1 rev=1 l-1',
      ]);
    });

    void test('each apply that changes something advances the revision by exactly one', async (t) => {
      const store = openFresh(t);
      const steps: Array<{ batch: Mutation[]; revision: number }> = [
        { batch: [put('a', '1')], revision: 1 },
        { batch: [put('a', '2'), put('b', '1')], revision: 2 },
        { batch: [put('a', '2')], revision: 2 },
        { batch: [del('b')], revision: 3 },
        { batch: [del('b')], revision: 3 },
        { batch: [put('b', '1')], revision: 4 },
      ];
      for (const [i, step] of steps.entries()) {
        const result = await store.apply(step.batch);
        assert.equal(result.revision, step.revision, `step ${i}`);
        assert.equal(await store.currentRevision(), step.revision, `step ${i}`);
      }
      assert.deepEqual(
        (await store.history()).map((h) => h.revision),
        [4, 3, 2, 1],
      );
    });

    const noOps: Array<{ name: string; batch: Mutation[] }> = [
      { name: 'an empty batch', batch: [] },
      { name: 'a put of the stored version', batch: [put('web', 'web-1')] },
      { name: 'a delete of an absent key', batch: [del('ghost')] },
      { name: 'a delete in another group', batch: [del('web', { group: 'other' })] },
      { name: 'a put then delete of an absent key', batch: [put('ghost', 'x'), del('ghost')] },
      {
        name: 'a change that the batch reverts',
        batch: [put('web', 'web-2'), put('web', 'web-1')],
      },
      { name: 'several no-ops together', batch: [put('web', 'web-1'), del('ghost')] },
    ];
    for (const noOp of noOps) {
      void test(`a batch that changes nothing creates no revision: ${noOp.name}`, async (t) => {
        const store = openFresh(t);
        await store.apply([put('web', 'web-1')]);
        const watcher = new WatchRecorder(store, 0);
        const result = await store.apply(noOp.batch);
        assert.deepEqual(result, { revision: 1, changes: [] });
        assert.equal(await store.currentRevision(), 1);
        assert.equal((await store.history()).length, 1);
        assert.deepEqual(describeSnapshot(await store.list()), [
          'Cluster default/web v:web-1 rev=1 web-1',
        ]);
        // A later real change is the next revision, and the watcher saw no empty revision.
        assert.equal((await store.apply([put('web', 'web-3')])).revision, 2);
        await watcher.until(2);
        assert.deepEqual(watcher.revisions, [1, 2]);
      });
    }

    void test('within a batch the last mutation of a key wins and only changes are recorded', async (t) => {
      const store = openFresh(t);
      await store.apply([put('keep', 'k'), put('web', 'web-1'), put('gone', 'g')]);
      const result = await store.apply([
        put('web', 'web-2'),
        put('keep', 'k'),
        del('web'),
        put('new', 'n-1'),
        put('web', 'web-3'),
        put('new', 'n-2'),
        put('gone', 'g-2'),
        del('gone'),
      ]);
      assert.equal(result.revision, 2);
      assert.deepEqual(describeChanges(result.changes), [
        'put default/web v:web-3 web-3',
        'put default/new v:n-2 n-2',
        'delete default/gone',
      ]);
      assert.deepEqual(describeSnapshot(await store.list()), [
        'Cluster default/keep v:k rev=1 k',
        'Cluster default/new v:n-2 rev=2 n-2',
        'Cluster default/web v:web-3 rev=2 web-3',
      ]);
      const [entry] = await store.history(1);
      assert.deepEqual(entry?.changes, [
        { op: 'put', typeUrl: CLUSTER, group: 'default', name: 'web', version: 'v:web-3' },
        { op: 'put', typeUrl: CLUSTER, group: 'default', name: 'new', version: 'v:n-2' },
        { op: 'delete', typeUrl: CLUSTER, group: 'default', name: 'gone' },
      ]);
    });

    void test('expectedRevision: matching applies, mismatching fails with FERRY_CONFLICT and changes nothing', async (t) => {
      const store = openFresh(t);
      assert.equal((await store.apply([put('a', '1')], { expectedRevision: 0 })).revision, 1);
      assert.equal((await store.apply([put('a', '2')], { expectedRevision: 1 })).revision, 2);
      for (const stale of [0, 1, 3, 99]) {
        await assert.rejects(
          store.apply([put('a', 'lost'), put('b', 'lost')], { expectedRevision: stale }),
          rejectsWith('FERRY_CONFLICT'),
        );
      }
      assert.equal(await store.currentRevision(), 2);
      assert.deepEqual(describeSnapshot(await store.list()), ['Cluster default/a v:2 rev=2 2']);
      // A no-op at the expected revision is fine; at another revision it is still a conflict.
      assert.equal((await store.apply([put('a', '2')], { expectedRevision: 2 })).revision, 2);
      await assert.rejects(
        store.apply([put('a', '2')], { expectedRevision: 1 }),
        rejectsWith('FERRY_CONFLICT'),
      );
    });

    void test('a malformed mutation rejects the whole batch with FERRY_BAD_REQUEST', async (t) => {
      const store = openFresh(t);
      const malformed = [
        put('ok', 'fine'),
        { op: 'put', typeUrl: CLUSTER, group: 'default', name: 'bad', value: 'text', version: 'v' },
      ] as unknown as Mutation[];
      await assert.rejects(store.apply(malformed), (err: unknown) => {
        rejectsWith('FERRY_BAD_REQUEST')(err);
        assert.match((err as Error).message, /mutations\[1\]\.value/);
        return true;
      });
      assert.equal(await store.currentRevision(), 0);
      assert.deepEqual((await store.list()).resources, []);
    });

    const filterCases: Array<{
      filter: { typeUrl?: string; group?: string; name?: string };
      names: string[];
    }> = [
      { filter: {}, names: ['default/api', 'default/http', 'default/web', 'edge/api', 'edge/web'] },
      {
        filter: { typeUrl: CLUSTER },
        names: ['default/api', 'default/web', 'edge/api', 'edge/web'],
      },
      { filter: { typeUrl: LISTENER }, names: ['default/http'] },
      { filter: { group: 'edge' }, names: ['edge/api', 'edge/web'] },
      { filter: { name: 'api' }, names: ['default/api', 'edge/api'] },
      { filter: { typeUrl: CLUSTER, group: 'default', name: 'web' }, names: ['default/web'] },
      { filter: { typeUrl: LISTENER, group: 'edge' }, names: [] },
      { filter: { group: 'nobody' }, names: [] },
    ];
    void test('list and listAt apply every filter field', async (t) => {
      const store = openFresh(t);
      await store.apply([
        put('web', 'w'),
        put('api', 'a'),
        put('web', 'ew', { group: 'edge' }),
        put('api', 'ea', { group: 'edge' }),
        put('http', 'l', { typeUrl: LISTENER }),
      ]);
      // A later revision, so listAt(1) is really about the past.
      await store.apply([put('later', 'x'), del('api', { group: 'edge' })]);
      for (const { filter, names } of filterCases) {
        const listed = (await store.listAt(1, filter)).resources.map((r) => `${r.group}/${r.name}`);
        assert.deepEqual(listed.sort(), names, JSON.stringify(filter));
      }
      const current = await store.list({ group: 'edge' });
      assert.equal(current.revision, 2);
      assert.deepEqual(
        current.resources.map((r) => r.name),
        ['web'],
      );
    });

    void test('listAt returns the state as it was at every past revision', async (t) => {
      const store = openFresh(t);
      const batches: Mutation[][] = [
        [put('a', 'a1'), put('b', 'b1')],
        [put('a', 'a2')],
        [del('b'), put('c', 'c1', { group: 'edge' })],
        [put('b', 'b2'), del('a')],
        [del('c', { group: 'edge' }), put('c', 'c2')],
      ];
      const seen: string[][] = [describeSnapshot(await store.list())];
      for (const batch of batches) {
        await store.apply(batch);
        seen.push(describeSnapshot(await store.list()));
      }
      for (const [revision, expected] of seen.entries()) {
        const past = await store.listAt(revision);
        assert.equal(past.revision, revision);
        assert.deepEqual(describeSnapshot(past), expected, `revision ${revision}`);
      }
      for (const missing of [6, 100, -1, 1.5]) {
        await assert.rejects(store.listAt(missing), rejectsWith('FERRY_NOT_FOUND'));
      }
    });

    void test('history lists revisions newest first with message, time and changed keys', async (t) => {
      const store = openFresh(t);
      await store.apply([put('a', '1'), put('b', '1')], { message: 'apply web.yaml' });
      await store.apply([del('a')], { message: 'delete a' });
      await store.apply([put('b', '2')]);
      const history = await store.history();
      assert.deepEqual(
        history.map((h) => [h.revision, h.message]),
        [
          [3, ''],
          [2, 'delete a'],
          [1, 'apply web.yaml'],
        ],
      );
      for (const h of history) assert.ok(!Number.isNaN(Date.parse(h.time)), h.time);
      assert.deepEqual(history[1]?.changes, [
        { op: 'delete', typeUrl: CLUSTER, group: 'default', name: 'a' },
      ]);
      assert.deepEqual(history[2]?.changes, [
        { op: 'put', typeUrl: CLUSTER, group: 'default', name: 'a', version: 'v:1' },
        { op: 'put', typeUrl: CLUSTER, group: 'default', name: 'b', version: 'v:1' },
      ]);
      assert.deepEqual(
        (await store.history(2)).map((h) => h.revision),
        [3, 2],
      );
      assert.deepEqual(await store.history(0), []);
    });

    void test('history records who made each revision', async (t) => {
      const store = openFresh(t);
      await store.apply([put('a', '1')], { message: 'apply', actor: 'ci-web' });
      await store.apply([put('a', '2')], { message: 'by the control plane' });
      await store.apply([del('a')], { message: 'delete a', actor: 'CN=alice' });
      // A batch that changes nothing makes no revision, so its actor is recorded nowhere.
      await store.apply([del('a')], { actor: 'nobody' });
      assert.deepEqual(
        (await store.history()).map((h) => [h.revision, h.actor, h.message]),
        [
          [3, 'CN=alice', 'delete a'],
          [2, '', 'by the control plane'],
          [1, 'ci-web', 'apply'],
        ],
      );
    });

    void test('watch replays past revisions then delivers live ones, in order, each once', async (t) => {
      const store = openFresh(t);
      await store.apply([put('a', '1')]);
      await store.apply([put('b', '1')]);
      await store.apply([del('a')]);
      const fromOne = new WatchRecorder(store, 1);
      const fromNow = new WatchRecorder(store, 3);
      const fromStart = new WatchRecorder(store, 0);
      // Commit before replay has run: replay and live delivery must not double or drop it.
      const fourth = store.apply([put('c', '1')]);
      const fifth = store.apply([put('a', '2'), put('c', '2')]);
      await Promise.all([fourth, fifth]);
      await Promise.all([fromOne.until(5), fromNow.until(5), fromStart.until(5)]);
      await store.apply([del('c')]);
      await Promise.all([fromOne.until(6), fromNow.until(6), fromStart.until(6)]);
      assert.deepEqual(fromStart.revisions, [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(fromOne.revisions, [2, 3, 4, 5, 6]);
      assert.deepEqual(fromNow.revisions, [4, 5, 6]);
      assert.deepEqual(
        fromStart.events.map((e) => describeChanges(e.changes)),
        [
          ['put default/a v:1 1'],
          ['put default/b v:1 1'],
          ['delete default/a'],
          ['put default/c v:1 1'],
          ['put default/a v:2 2', 'put default/c v:2 2'],
          ['delete default/c'],
        ],
      );
    });

    void test('watch delivers in order to every watcher even when a callback applies', async (t) => {
      const store = openFresh(t);
      const order: string[] = [];
      let reacted = false;
      const first = store.watch(0, (e) => {
        order.push(`first:${e.revision}`);
        if (!reacted) {
          reacted = true;
          void store.apply([put('reaction', 'r')]);
        }
      });
      const second = new WatchRecorder(store, 0);
      t.after(() => first.close());
      await store.apply([put('a', '1')]);
      await second.until(2);
      assert.deepEqual(second.revisions, [1, 2]);
      assert.deepEqual(order, ['first:1', 'first:2']);
    });

    void test('a closed watch receives nothing more', async (t) => {
      const store = openFresh(t);
      const watcher = new WatchRecorder(store, 0);
      const other = new WatchRecorder(store, 0);
      await store.apply([put('a', '1')]);
      await watcher.until(1);
      watcher.watch.close();
      watcher.watch.close();
      await store.apply([put('a', '2')]);
      await other.until(2);
      assert.deepEqual(watcher.revisions, [1]);
      assert.deepEqual(other.revisions, [1, 2]);
    });

    void test('close is idempotent and ends watches; later calls fail with FERRY_STORE_UNAVAILABLE', async (t) => {
      const store = openFresh(t);
      await store.apply([put('a', '1')]);
      const watcher = new WatchRecorder(store, 1);
      await store.close();
      await store.close();
      const unavailable = rejectsWith('FERRY_STORE_UNAVAILABLE');
      await assert.rejects(store.apply([put('a', '2')]), unavailable);
      await assert.rejects(store.list(), unavailable);
      await assert.rejects(store.listAt(0), unavailable);
      await assert.rejects(store.history(), unavailable);
      await assert.rejects(store.currentRevision(), unavailable);
      assert.throws(() => store.watch(0, () => {}), unavailable);
      assert.deepEqual(watcher.revisions, []);
    });

    void test('a lease has one holder until it expires or is released', async (t) => {
      const store = openFresh(t);
      const first = await store.acquireLease('acme', 'replica-a', 60_000);
      assert.equal(first.held, true);
      assert.equal(first.lease?.holder, 'replica-a');
      const other = await store.acquireLease('acme', 'replica-b', 60_000);
      assert.equal(other.held, false);
      assert.equal(other.lease?.holder, 'replica-a', 'the refusal names the holder');
      assert.equal((await store.renewLease('acme', 'replica-b', 60_000)).held, false);
      // Other names are independent.
      assert.equal((await store.acquireLease('other', 'replica-b', 60_000)).held, true);
      // The holder extends it, by acquire or renew.
      const renewed = await store.renewLease('acme', 'replica-a', 120_000);
      assert.equal(renewed.held, true);
      assert.ok(renewed.lease!.expiresAt >= first.lease.expiresAt);
      assert.equal((await store.acquireLease('acme', 'replica-a', 60_000)).held, true);
      // Releasing by a non-holder does nothing; by the holder frees it.
      await store.releaseLease('acme', 'replica-b');
      assert.equal((await store.acquireLease('acme', 'replica-b', 60_000)).held, false);
      await store.releaseLease('acme', 'replica-a');
      assert.equal((await store.acquireLease('acme', 'replica-b', 60_000)).held, true);
      // Leases are not resources: no revision, no history.
      assert.equal(await store.currentRevision(), 0);
      assert.deepEqual(await store.history(), []);
    });

    void test('an expired lease can be taken by another holder, and its old holder cannot renew it', async (t) => {
      const store = openFresh(t);
      assert.equal((await store.acquireLease('acme', 'replica-a', 30)).held, true);
      const deadline = Date.now() + 10_000;
      let taken = await store.acquireLease('acme', 'replica-b', 60_000);
      while (!taken.held && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        taken = await store.acquireLease('acme', 'replica-b', 60_000);
      }
      assert.equal(taken.held, true, 'the lapsed lease was never free');
      const late = await store.renewLease('acme', 'replica-a', 60_000);
      assert.equal(late.held, false);
      assert.equal(late.lease?.holder, 'replica-b');
    });

    void test('of concurrent acquirers exactly one holds the lease', async (t) => {
      const store = openFresh(t);
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.acquireLease('acme', `replica-${i}`, 60_000)),
      );
      assert.equal(outcomes.filter((o) => o.held).length, 1);
    });

    void test('lease requests are checked and a closed store refuses them', async (t) => {
      const store = openFresh(t);
      await assert.rejects(store.acquireLease('', 'a', 1000), RangeError);
      await assert.rejects(store.acquireLease('acme', 'a', 0), RangeError);
      await assert.rejects(store.renewLease('acme', '', 1000), RangeError);
      await store.close();
      const unavailable = rejectsWith('FERRY_STORE_UNAVAILABLE');
      await assert.rejects(store.acquireLease('acme', 'a', 1000), unavailable);
      await assert.rejects(store.renewLease('acme', 'a', 1000), unavailable);
      await assert.rejects(store.releaseLease('acme', 'a'), unavailable);
    });

    leasedContract(openFresh, options.openPeer);
    trimContract(openFresh, options.openPeer);
    traceContract(openFresh, options.openPeer);
  });
}
