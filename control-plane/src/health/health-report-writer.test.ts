import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryToJson, contentVersion, jsonToBinary } from '@ferry/proto';
import type { ResourceStore } from '../store/store.js';
import { MemoryStore } from '../store/store-memory.js';
import { SqliteStore } from '../store/store-sqlite.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { EDS, endpoints, put } from '../xds/test-support.js';
import type { ClusterHealthReport, ReportedHealth } from './health-aggregate.js';
import { HealthReportWriter } from './health-report-writer.js';
import {
  HEALTH_REPORTS_NAMESPACE,
  NODE_HEALTH_REPORT_TYPE,
  decodeNodeHealthReport,
  encodeNodeHealthReport,
} from './quorum.js';
import { HealthOverlay } from './health-overlay.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

async function quorumCluster(store: ResourceStore, group: string, name: string): Promise<void> {
  const bytes = jsonToBinary('envoy.config.cluster.v3.Cluster', {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    metadata: { filter_metadata: { 'ferry.health_quorum': { unhealthy_percent: 50 } } },
  });
  assert.ok(bytes.ok);
  await store.apply([
    {
      op: 'put',
      typeUrl: CDS,
      group,
      name,
      value: bytes.value,
      version: contentVersion(bytes.value),
    },
  ]);
}

function report(cluster: string, endpoints: Record<string, ReportedHealth>): ClusterHealthReport {
  return { cluster, endpoints: new Map(Object.entries(endpoints)) };
}

function servedStatuses(cache: SnapshotCache, group: string, cluster: string): string[] {
  const r = cache.snapshot(group, EDS).resources.get(cluster);
  assert.ok(r, `EDS ${cluster} served in ${group}`);
  const json = binaryToJson('envoy.config.endpoint.v3.ClusterLoadAssignment', r.resource.value) as {
    endpoints: { lb_endpoints: { health_status?: string }[] }[];
  };
  return json.endpoints.flatMap((l) => l.lb_endpoints.map((e) => e.health_status ?? 'UNKNOWN'));
}

/** Resolves once `check` holds; fails after a safety bound. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A replica's health side on `store`: overlay + cache, following the leased reports as main.ts does. */
async function replicaOn(store: ResourceStore) {
  const overlay = new HealthOverlay();
  const cache = new SnapshotCache({ store, debounceMs: 0, overlay });
  await cache.start();
  const reports = store.watchLeased(HEALTH_REPORTS_NAMESPACE, (event) =>
    cache.overlayChanged(overlay.observeReports(event)),
  );
  const close = (): void => {
    reports.close();
    cache.close();
  };
  return { overlay, cache, close };
}

async function setup() {
  const store = new MemoryStore();
  await quorumCluster(store, 'g', 'web');
  await store.apply(put('g', endpoints('web', [8080, 8081])));
  const { overlay, cache, close } = await replicaOn(store);
  const writer = new HealthReportWriter({ store, overlay, replica: 'r1', flushDelayMs: 1 });
  return { store, overlay, cache, writer, close };
}

const statusesAre = (cache: SnapshotCache, expected: string[]) => (): boolean =>
  JSON.stringify(servedStatuses(cache, 'g', 'web')) === JSON.stringify(expected);

describe('HealthReportWriter + quorum overlay + snapshot cache', () => {
  test('a quorum of reports flips EDS health for the group, and back, without a revision', async () => {
    const { store, cache, writer, close } = await setup();
    const revision = await store.currentRevision();
    const plainVersion = cache.snapshot('g', EDS).version;
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNKNOWN', 'UNKNOWN']);

    // Reported twice before the write: the report repeats (HDS interval) faster than the
    // coalescing window, and must still be written once.
    for (let i = 0; i < 2; i++) {
      writer.report('n1', 'g', [
        report('web', { '127.0.0.1:8080': 'HEALTHY', '127.0.0.1:8081': 'UNHEALTHY' }),
        report('not-quorum', { '127.0.0.1:9': 'UNHEALTHY' }),
      ]);
    }
    await writer.flushed();
    await until(statusesAre(cache, ['UNKNOWN', 'UNHEALTHY']), 'n1 alone marks :8081');
    assert.notEqual(cache.snapshot('g', EDS).version, plainVersion);

    // Only quorum clusters are stored, as a leased record held by this replica.
    const stored = await store.listLeased(HEALTH_REPORTS_NAMESPACE);
    assert.deepEqual(
      stored.map((r) => [r.key, r.holder]),
      [['n1', 'r1']],
    );
    assert.deepEqual(decodeNodeHealthReport(stored[0]!.value), {
      node_id: 'n1',
      group: 'g',
      replica: 'r1',
      clusters: [
        {
          cluster: 'web',
          checked: ['127.0.0.1:8080', '127.0.0.1:8081'],
          unhealthy: ['127.0.0.1:8081'],
        },
      ],
    });

    // A second proxy sees it healthy: 1 of 2 is not a majority.
    writer.report('n2', 'g', [
      report('web', { '127.0.0.1:8080': 'HEALTHY', '127.0.0.1:8081': 'HEALTHY' }),
    ]);
    await writer.flushed();
    await until(statusesAre(cache, ['UNKNOWN', 'UNKNOWN']), 'n2 outvotes n1');
    assert.equal(cache.snapshot('g', EDS).version, plainVersion, 'back to the stored content');

    // n2 goes away: n1 alone is a majority again.
    writer.forget('n2');
    await writer.flushed();
    await until(statusesAre(cache, ['UNKNOWN', 'UNHEALTHY']), 'n2 forgotten');
    assert.deepEqual(
      (await store.listLeased(HEALTH_REPORTS_NAMESPACE)).map((r) => r.key),
      ['n1'],
    );
    // None of it is a revision: history holds the operator's applies only.
    assert.equal(await store.currentRevision(), revision);
    assert.equal((await store.history()).length, revision);
    await writer.close();
    close();
    await store.close();
  });

  test('a node that reconnected to another replica keeps the report that replica wrote', async () => {
    const { store, writer, close } = await setup();
    writer.report('n1', 'g', [report('web', { '127.0.0.1:8080': 'UNHEALTHY' })]);
    await writer.flushed();
    // Replica r2 now holds n1's stream and has written its report.
    const { value } = encodeNodeHealthReport({
      node_id: 'n1',
      group: 'g',
      replica: 'r2',
      clusters: [{ cluster: 'web', checked: ['127.0.0.1:8080'], unhealthy: ['127.0.0.1:8080'] }],
    });
    await store.putLeased(HEALTH_REPORTS_NAMESPACE, 'n1', 'r2', value, 60_000);
    writer.forget('n1');
    await writer.flushed();
    const left = await store.listLeased(HEALTH_REPORTS_NAMESPACE);
    assert.deepEqual(
      left.map((r) => [r.key, r.holder]),
      [['n1', 'r2']],
    );
    assert.equal(decodeNodeHealthReport(left[0]!.value).replica, 'r2');
    await writer.close();
    close();
    await store.close();
  });

  test("a dead replica's reports expire and the quorum drops them", async (t) => {
    // Two control planes on one SQLite file: the one that dies wrote the only report.
    const dir = mkdtempSync(join(tmpdir(), 'ferry-health-reports-'));
    const file = join(dir, 'store.db');
    const survivor = SqliteStore.open(file, { pollIntervalMs: 20 });
    const dying = SqliteStore.open(file, { pollIntervalMs: 20 });
    t.after(async () => {
      await survivor.close();
      await dying.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await quorumCluster(survivor, 'g', 'web');
    await survivor.apply(put('g', endpoints('web', [8080, 8081])));
    const seen = await replicaOn(survivor);
    t.after(seen.close);
    const other = await replicaOn(dying);
    const writer = new HealthReportWriter({
      store: dying,
      overlay: other.overlay,
      replica: 'r-dying',
      flushDelayMs: 1,
      ttlMs: 300,
    });
    await until(() => other.overlay.setting('g', 'web') !== undefined, 'the quorum cluster loaded');
    writer.report('n1', 'g', [report('web', { '127.0.0.1:8080': 'UNHEALTHY' })]);
    await writer.flushed();
    await until(statusesAre(seen.cache, ['UNHEALTHY', 'UNKNOWN']), 'the report marks :8080');
    // The replica stops without forgetting its nodes (no stream end, no delete): its store no
    // longer renews the records, as when the process is killed.
    other.close();
    await dying.close();
    await until(statusesAre(seen.cache, ['UNKNOWN', 'UNKNOWN']), 'the expired report dropped');
    assert.deepEqual(await survivor.listLeased(HEALTH_REPORTS_NAMESPACE), []);
  });

  test('report resources an older version stored are removed in one revision and never counted', async () => {
    const { store, writer, cache, close } = await setup();
    const { value, version } = encodeNodeHealthReport({
      node_id: 'old',
      group: 'g',
      replica: 'r1',
      clusters: [{ cluster: 'web', checked: ['127.0.0.1:8080'], unhealthy: ['127.0.0.1:8080'] }],
    });
    const legacy = (name: string) => ({
      op: 'put' as const,
      typeUrl: NODE_HEALTH_REPORT_TYPE,
      group: 'g',
      name,
      value,
      version,
    });
    await store.apply([legacy('node/old'), legacy('node/older')]);
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNKNOWN', 'UNKNOWN'], 'ignored');
    const before = await store.currentRevision();
    await writer.removeLegacyReports();
    assert.equal(await store.currentRevision(), before + 1);
    assert.deepEqual((await store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE })).resources, []);
    const [entry] = await store.history(1);
    assert.match(entry!.message, /moved out of the revision history/);
    assert.equal(entry!.changes.length, 2);
    // Done once: nothing left, no further revision.
    await writer.removeLegacyReports();
    assert.equal(await store.currentRevision(), before + 1);
    await writer.close();
    close();
    await store.close();
  });
});
