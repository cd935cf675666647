/**
 * Trimming on real etcd beyond the shared contract: a revision too big for one etcd transaction
 * is folded into the base in several (store-etcd-trim.ts), readers see a consistent base while
 * that is half done, and a trimmer that died half-way is finished by the next one. Etcd's own
 * compaction afterwards changes nothing Ferry answers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { isFerryError } from '@ferry/shared';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import type { Mutation } from './store.js';
import { encodeResource } from './store-etcd-codec.js';
import { EtcdLayout } from './store-etcd-layout.js';
import { EtcdStore } from './store-etcd.js';
import { WatchRecorder, describeSnapshot, put } from './store-test-fixtures.js';

let etcd: EtcdCluster;
let raw: Etcd3;
before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
});
after(async () => {
  raw?.close();
  await etcd?.stop();
});

/** More puts than one etcd transaction takes (--max-txn-ops 128). */
function bigBatch(tag: string): Mutation[] {
  return Array.from({ length: 300 }, (_, i) => put(`big-${i}`, `${tag}-${i}`));
}

void test('a revision larger than one transaction is trimmed in several and stays readable', async (t) => {
  const prefix = `/t/${randomUUID()}`;
  const store = EtcdStore.open({ endpoints: etcd.endpoints, prefix });
  t.after(() => store.close());
  await store.apply(bigBatch('one'));
  await store.apply(bigBatch('two'));
  await store.apply([put('small', 's')]);
  const at2 = describeSnapshot(await store.listAt(2));
  const at3 = describeSnapshot(await store.listAt(3));

  assert.deepEqual(await store.trimHistory({ throughRevision: 2, maxRevisions: 10 }), {
    base: 1,
    trimmed: 1,
  });
  assert.deepEqual(await store.trimHistory({ throughRevision: 2, maxRevisions: 10 }), {
    base: 2,
    trimmed: 1,
  });
  assert.deepEqual(describeSnapshot(await store.listAt(2)), at2);
  assert.deepEqual(describeSnapshot(await store.listAt(3)), at3);
  const layout = new EtcdLayout(prefix);
  const meta = await raw.getAll().prefix(`${layout.root}meta/`).strings();
  assert.equal(meta[`${layout.root}meta/base`], '2');
  assert.equal(meta[`${layout.root}meta/trimming`], undefined);
  assert.deepEqual(await raw.getAll().prefix(`${layout.root}log/`).keys(), [
    layout.logKey(3).toString(),
  ]);
  // What the log no longer holds, etcd's compaction of its own history cannot take either.
  const { header } = await raw.kv.range({ key: layout.revisionKey });
  await raw.kv.compact({ revision: header.revision, physical: true });
  assert.deepEqual(describeSnapshot(await store.listAt(2)), at2);
});

void test('a trim left half-done (meta/trimming set, base/ partly written) reads as its end and is finished', async (t) => {
  const prefix = `/t/${randomUUID()}`;
  const store = EtcdStore.open({ endpoints: etcd.endpoints, prefix });
  t.after(() => store.close());
  await store.apply(bigBatch('one'));
  await store.apply([put('big-0', 'changed'), put('extra', 'e')]);
  await store.apply([put('small', 's')]);
  const at1 = describeSnapshot(await store.listAt(1));
  const at2 = describeSnapshot(await store.listAt(2));
  // What a trimmer that died while folding revision 1 in leaves: the marker and part of base/.
  const layout = new EtcdLayout(prefix);
  await raw.put(layout.trimmingKey).value('1');
  for (const i of [0, 1, 2]) {
    const m = bigBatch('one')[i] as Mutation & { op: 'put' };
    await raw
      .put(layout.baseKey(m))
      .value(encodeResource({ version: m.version, revision: 1, value: m.value }));
  }

  assert.equal(await store.historyBase(), 1);
  assert.deepEqual(describeSnapshot(await store.listAt(1)), at1);
  assert.deepEqual(describeSnapshot(await store.listAt(2)), at2);
  await assert.rejects(
    store.listAt(0),
    (err) => isFerryError(err) && err.code === 'FERRY_REVISION_TRIMMED',
  );
  assert.deepEqual(
    (await store.history()).map((e) => e.revision),
    [3, 2],
  );
  const fromStart = new WatchRecorder(store, 0);
  t.after(() => fromStart.watch.close());
  await fromStart.until(3);
  assert.deepEqual(fromStart.revisions, [1, 2, 3]);
  assert.equal(fromStart.events[0]!.reset, true);
  assert.equal(fromStart.events[0]!.changes.length, 300);

  // The next trim finishes revision 1 first, then goes on.
  assert.deepEqual(await store.trimHistory({ throughRevision: 2, maxRevisions: 10 }), {
    base: 2,
    trimmed: 1,
  });
  const meta = await raw.getAll().prefix(`${layout.root}meta/`).strings();
  assert.equal(meta[`${layout.root}meta/base`], '2');
  assert.equal(meta[`${layout.root}meta/trimming`], undefined);
  assert.deepEqual(describeSnapshot(await store.listAt(2)), at2);
});
