import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryToJson, contentVersion, jsonToBinary } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { EDS, endpoints, put } from '../xds/test-support.js';
import type { ClusterHealthReport, ReportedHealth } from './health-aggregate.js';
import { HealthReportWriter } from './health-report-writer.js';
import {
  NODE_HEALTH_REPORT_TYPE,
  decodeNodeHealthReport,
  encodeNodeHealthReport,
  reportName,
} from './quorum.js';
import { HealthOverlay } from './health-overlay.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

async function quorumCluster(store: MemoryStore, group: string, name: string): Promise<void> {
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

async function setup() {
  const store = new MemoryStore();
  const overlay = new HealthOverlay();
  const cache = new SnapshotCache({ store, debounceMs: 0, overlay });
  await quorumCluster(store, 'g', 'web');
  await store.apply(put('g', endpoints('web', [8080, 8081])));
  await cache.start();
  const writer = new HealthReportWriter({ store, overlay, replica: 'r1', flushDelayMs: 1 });
  return { store, overlay, cache, writer };
}

describe('HealthReportWriter + quorum overlay + snapshot cache', () => {
  test('a quorum of reports flips EDS health for the group, and back', async () => {
    const { store, cache, writer } = await setup();
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
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNKNOWN', 'UNHEALTHY']);
    assert.notEqual(cache.snapshot('g', EDS).version, plainVersion);

    // Only quorum clusters are stored.
    const stored = (await store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE })).resources;
    assert.equal(stored.length, 1);
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

    // An unchanged report writes nothing.
    const revision = await store.currentRevision();
    writer.report('n1', 'g', [
      report('web', { '127.0.0.1:8080': 'HEALTHY', '127.0.0.1:8081': 'UNHEALTHY' }),
    ]);
    await writer.flushed();
    assert.equal(await store.currentRevision(), revision);

    // A second proxy sees it healthy: 1 of 2 is not a majority.
    writer.report('n2', 'g', [
      report('web', { '127.0.0.1:8080': 'HEALTHY', '127.0.0.1:8081': 'HEALTHY' }),
    ]);
    await writer.flushed();
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNKNOWN', 'UNKNOWN']);
    assert.equal(cache.snapshot('g', EDS).version, plainVersion, 'back to the stored content');

    // n2 goes away: n1 alone is a majority again.
    writer.forget('n2');
    await writer.flushed();
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNKNOWN', 'UNHEALTHY']);
    assert.equal((await store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE })).resources.length, 1);
    await writer.close();
    cache.close();
  });

  test('a node that reconnected to another replica keeps the report that replica wrote', async () => {
    const { store, writer, cache } = await setup();
    writer.report('n1', 'g', [report('web', { '127.0.0.1:8080': 'UNHEALTHY' })]);
    await writer.flushed();
    // Replica r2 now holds n1's stream and has written its report.
    const { value, version } = encodeNodeHealthReport({
      node_id: 'n1',
      group: 'g',
      replica: 'r2',
      clusters: [{ cluster: 'web', checked: ['127.0.0.1:8080'], unhealthy: ['127.0.0.1:8080'] }],
    });
    await store.apply([
      {
        op: 'put',
        typeUrl: NODE_HEALTH_REPORT_TYPE,
        group: 'g',
        name: reportName('n1'),
        value,
        version,
      },
    ]);
    writer.forget('n1');
    await writer.flushed();
    const left = (await store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE })).resources;
    assert.equal(left.length, 1);
    assert.equal(decodeNodeHealthReport(left[0]!.value).replica, 'r2');
    await writer.close();
    cache.close();
  });

  test('after a restart, reports of nodes that never came back are removed', async () => {
    const { store, overlay, cache } = await setup();
    const { value, version } = encodeNodeHealthReport({
      node_id: 'gone',
      group: 'g',
      replica: 'r1',
      clusters: [{ cluster: 'web', checked: ['127.0.0.1:8080'], unhealthy: ['127.0.0.1:8080'] }],
    });
    await store.apply([
      {
        op: 'put',
        typeUrl: NODE_HEALTH_REPORT_TYPE,
        group: 'g',
        name: reportName('gone'),
        value,
        version,
      },
    ]);
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNHEALTHY', 'UNKNOWN']);
    const restarted = new HealthReportWriter({ store, overlay, replica: 'r1', staleAfterMs: 0 });
    const removed = new Promise<void>((resolve) => {
      const w = store.watch(0, (event) => {
        if (event.changes.some((c) => c.op === 'delete' && c.name === reportName('gone'))) {
          w.close();
          resolve();
        }
      });
    });
    // Keep the event loop alive while the unref'd clean-up timer runs.
    const hold = setInterval(() => {}, 1000);
    restarted.start();
    await removed;
    clearInterval(hold);
    assert.deepEqual(servedStatuses(cache, 'g', 'web'), ['UNKNOWN', 'UNKNOWN']);
    await restarted.close();
    cache.close();
  });
});
