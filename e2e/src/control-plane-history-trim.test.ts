/**
 * The revision log trimmed by a real control plane (docs/architecture.md, "How the log is
 * trimmed"), on SQLite and on etcd: started with `--history-retain 3`, its leader trims older
 * revisions in the background; `ferryctl history` says up to where, a rollback to a trimmed
 * revision is refused with FERRY_REVISION_TRIMMED naming the oldest kept (ferryctl exit 1, HTTP
 * 410), one to the oldest kept works; and a second control plane started afterwards on the same
 * store (it follows the store from revision 0, which is trimmed: a reset) serves the same
 * clusters. Waits are liveness bounds (`eventually`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import {
  apiApply,
  eventually,
  ferryctl,
  httpRequest,
  startControlPlane,
  staticClusterResource,
  stopAll,
  tempDir,
  waitForPublished,
  type ControlPlane,
} from './harness.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const RETAIN = ['--history-retain', '3', '--history-trim-interval-ms', '200'];

interface HistoryJson {
  history_base: number;
  entries: { revision: number }[];
}

async function history(cp: ControlPlane): Promise<HistoryJson> {
  const res = await ferryctl(cp.apiUrl, ['history', '-o', 'json']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as HistoryJson;
}

/** Eight revisions: cluster c0..c3 created, then rewritten (each apply changes one). */
async function applyEight(cp: ControlPlane): Promise<void> {
  for (let i = 0; i < 8; i++) {
    await apiApply(cp.apiUrl, [staticClusterResource(`c${i % 4}`, [20_000 + i])]);
  }
}

for (const kind of ['sqlite', 'etcd'] as const) {
  void describe(`the revision log trimmed by a running control plane (${kind})`, () => {
    let etcd: EtcdCluster | undefined;
    let store: string;
    let cp: ControlPlane;

    before(async () => {
      if (kind === 'etcd') {
        etcd = await startEtcd();
        store = `etcd://${etcd.endpoints.join(',')}/e2e/${randomUUID()}`;
      } else {
        store = `sqlite:${path.join(tempDir('trim'), 'ferry.db')}`;
      }
      cp = await startControlPlane({ store, args: RETAIN });
    });
    after(async () => {
      await stopAll();
      await etcd?.stop();
    });

    void test('history, rollback and a late replica after trimming', async () => {
      await applyEight(cp);
      const trimmed = await eventually(
        async () => {
          const h = await history(cp);
          return h.history_base === 5 ? h : undefined;
        },
        'the leader trimming to the newest 3 revisions',
        30_000,
      );
      assert.deepEqual(
        trimmed.entries.map((e) => e.revision),
        [8, 7, 6],
      );
      const table = await ferryctl(cp.apiUrl, ['history']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /revisions up to 5 were trimmed/);

      const refused = await ferryctl(cp.apiUrl, ['rollback', '2', '--dry-run']);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        /FERRY_REVISION_TRIMMED: revision 2 was trimmed; the oldest kept is 5\b/,
      );
      const http = await httpRequest(`${cp.apiUrl}/v1/rollback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ revision: 4, dry_run: true }),
      });
      assert.equal(http.status, 410, http.body);
      assert.equal((JSON.parse(http.body) as { code: string }).code, 'FERRY_REVISION_TRIMMED');
      // Revision 5's state is the base: rollback to it works (c1..c3 go back to their first ports).
      const back = await ferryctl(cp.apiUrl, ['rollback', '5', '-o', 'json']);
      assert.equal(back.code, 0, back.stderr);
      const changes = (JSON.parse(back.stdout) as { changes: { name: string; action: string }[] })
        .changes;
      assert.deepEqual(changes.map((c) => `${c.name} ${c.action}`).sort(), [
        'c1 updated',
        'c2 updated',
        'c3 updated',
      ]);

      // A control plane started now follows the store from revision 0: the reset from the base.
      const late = await startControlPlane({ store, args: RETAIN });
      await waitForPublished(late, CDS, ['c0', 'c1', 'c2', 'c3']);
      const [mine, theirs] = await Promise.all([
        ferryctl(cp.apiUrl, ['get', 'clusters', '-o', 'json']),
        ferryctl(late.apiUrl, ['get', 'clusters', '-o', 'json']),
      ]);
      assert.equal(mine.code, 0, mine.stderr);
      assert.equal(theirs.stdout, mine.stdout);
    });
  });
}
