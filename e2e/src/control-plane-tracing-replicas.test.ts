/**
 * One apply, one trace, across control-plane replicas: two real control planes share one SQLite
 * store and export to one OTLP receiver. An apply made at replica A is recorded with its trace
 * context; replica B, which learns of the revision from the store, publishes it in a
 * `snapshot.build` span that is a child of A's apply span, as A's own publish is. The history API
 * (of either replica) and `ferryctl history` name that trace id; each replica's pushes to its
 * proxy link to the apply.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { HistoryJson } from '@ferry/shared/api-wire';
import { ferryctl, startControlPlane, stopAll, tempDir, type ControlPlane } from './harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
import { RawAdsClient } from './raw-ads-client.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

const CLUSTER_YAML = `"@type": ${CDS}
name: traced
type: STATIC
connect_timeout: 1s
load_assignment:
  cluster_name: traced
  endpoints:
    - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`;

let receiver: OtlpReceiver;
let replicaA: ControlPlane;
let replicaB: ControlPlane;
const clients: RawAdsClient[] = [];

before(async () => {
  receiver = await startOtlpReceiver();
  const store = `sqlite:${path.join(tempDir('traced-replicas'), 'ferry.db')}`;
  const start = (id: string): Promise<ControlPlane> =>
    startControlPlane({
      store,
      args: [
        '--replica-id',
        id,
        '--otlp-endpoint',
        receiver.grpcAddress,
        '--otlp-protocol',
        'grpc',
      ],
      env: { OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: `cp-${id}` },
    });
  [replicaA, replicaB] = await Promise.all([start('a'), start('b')]);
});

after(async () => {
  for (const c of clients) c.close();
  await stopAll();
  await receiver.close();
});

/** A raw ADS client subscribed to every cluster at `cp`, its first (empty) answer ACKed. */
async function subscribed(cp: ControlPlane, nodeId: string): Promise<RawAdsClient> {
  const ads = new RawAdsClient(cp.xdsAddress, nodeId);
  clients.push(ads);
  ads.request(CDS, []);
  ads.request(CDS, [], await ads.next());
  return ads;
}

async function history(cp: ControlPlane): Promise<HistoryJson> {
  const response = await fetch(`${cp.apiUrl}/v1/history`);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as HistoryJson;
}

const linksTo = (span: ReceivedSpan, apply: ReceivedSpan): boolean =>
  span.links.some((l) => l.traceId === apply.traceId && l.spanId === apply.spanId);

test('an apply at one replica and every replica’s publish of it are one trace, named by history', async () => {
  const [adsA, adsB] = await Promise.all([
    subscribed(replicaA, 'node-at-a'),
    subscribed(replicaB, 'node-at-b'),
  ]);
  const applied = await ferryctl(replicaA.apiUrl, ['apply', '-f', '-'], CLUSTER_YAML);
  assert.equal(applied.code, 0, applied.stderr);
  // Each replica pushes the new cluster to its own client (B after its store poll); ACK both.
  const [pushA, pushB] = await Promise.all([adsA.next(), adsB.next()]);
  adsA.request(CDS, [], pushA);
  adsB.request(CDS, [], pushB);

  // Both replicas read the trace id from the shared store.
  const [fromA, fromB] = await Promise.all([history(replicaA), history(replicaB)]);
  const entry = fromB.entries.find((e) => e.changes.some((c) => c.name === 'traced'));
  assert.ok(entry, `the apply in replica B's history: ${JSON.stringify(fromB)}`);
  const traceId = entry.trace_id;
  assert.match(traceId ?? '', /^[0-9a-f]{32}$/, 'history names the apply’s trace');
  assert.equal(fromA.entries.find((e) => e.revision === entry.revision)?.trace_id, traceId);

  const spans = await receiver.waitForSpans((all) => {
    const apply = all.find((s) => s.name === 'apply' && s.traceId === traceId);
    if (!apply) return false;
    const builtBy = new Set(
      all
        .filter((s) => s.name === 'snapshot.build' && s.parentSpanId === apply.spanId)
        .map((s) => s.serviceName),
    );
    const pushedBy = new Set(
      all.filter((s) => s.name === 'xds.push' && linksTo(s, apply)).map((s) => s.serviceName),
    );
    return builtBy.size === 2 && pushedBy.size === 2;
  });
  const apply = spans.find((s) => s.name === 'apply' && s.traceId === traceId)!;
  assert.equal(apply.serviceName, 'cp-a', 'the apply was served by replica A');
  const builds = spans.filter((s) => s.name === 'snapshot.build' && s.traceId === traceId);
  assert.deepEqual(builds.map((s) => s.serviceName).sort(), ['cp-a', 'cp-b']);
  for (const build of builds) {
    assert.equal(build.parentSpanId, apply.spanId, `${build.serviceName}'s publish is a child`);
  }
  const pushes = spans.filter((s) => s.name === 'xds.push' && linksTo(s, apply));
  assert.deepEqual(
    new Set(pushes.map((s) => s.attributes['xds.node.id'])),
    new Set(['node-at-a', 'node-at-b']),
  );

  const listed = await ferryctl(replicaB.apiUrl, ['history']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^REVISION\s+TIME\s+ACTOR\s+CHANGES\s+TRACE\s+MESSAGE$/m);
  assert.match(listed.stdout, new RegExp(`^${entry.revision}\\s.*\\s${traceId}\\s`, 'm'));
});
