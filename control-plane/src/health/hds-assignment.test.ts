import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { binaryToJson, contentVersion, jsonToBinary } from '@ferry/proto';
import {
  GrpcClient,
  type DurationMessage,
  type HealthCheckRequestOrEndpointHealthResponse,
  type HealthCheckSpecifier,
} from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { XdsServer } from '../xds/xds-server.js';
import { EDS, endpoints, put } from '../xds/test-support.js';
import { chooseCheckers, hdsSettingOf } from './hds-assignment.js';
import { HDS_SERVICE } from './hds-server.js';
import { HealthOverlay } from './health-overlay.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const KEY = 'metadata.filter_metadata["ferry.hds"]';
const CHECK = {
  timeout: '1s',
  interval: '0.5s',
  unhealthy_threshold: 2,
  healthy_threshold: 1,
  http_health_check: { path: '/healthz' },
};

describe('hdsSettingOf', () => {
  const cases: Array<[string, Record<string, unknown>, unknown]> = [
    ['absent', { health_checks: [CHECK] }, { ok: true, value: undefined }],
    [
      'default checkers',
      { health_checks: [CHECK], metadata: { filter_metadata: { 'ferry.hds': {} } } },
      { ok: true, value: { checkers: 2 } },
    ],
    [
      'checkers set',
      { health_checks: [CHECK], metadata: { filter_metadata: { 'ferry.hds': { checkers: 3 } } } },
      { ok: true, value: { checkers: 3 } },
    ],
    [
      'needs health checks',
      { metadata: { filter_metadata: { 'ferry.hds': { checkers: 1 } } } },
      {
        ok: false,
        errors: [`${KEY}: the cluster needs health_checks for the control plane to hand out`],
      },
    ],
    [
      'bad checkers and unknown field',
      {
        health_checks: [CHECK],
        metadata: { filter_metadata: { 'ferry.hds': { checkers: 0, every: 1 } } },
      },
      {
        ok: false,
        errors: [
          `${KEY}.checkers: must be an integer >= 1, got 0`,
          `${KEY}.every: unknown field (known: checkers)`,
        ],
      },
    ],
  ];
  for (const [name, cluster, expected] of cases) {
    test(name, () => assert.deepEqual(hdsSettingOf(cluster), expected));
  }
});

describe('chooseCheckers (rendezvous)', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
  test('picks k nodes, deterministically, independent of order', () => {
    const a = chooseCheckers('web', nodes, 2);
    assert.equal(a.size, 2);
    assert.deepEqual(a, chooseCheckers('web', [...nodes].reverse(), 2));
    assert.equal(chooseCheckers('web', nodes, 9).size, 5);
  });
  test('a node that leaves moves only its own share', () => {
    const chosen = chooseCheckers('web', nodes, 2);
    const bystander = nodes.find((n) => !chosen.has(n))!;
    assert.deepEqual(
      chooseCheckers(
        'web',
        nodes.filter((n) => n !== bystander),
        2,
      ),
      chosen,
    );
    const leaver = [...chosen][0]!;
    const after = chooseCheckers(
      'web',
      nodes.filter((n) => n !== leaver),
      2,
    );
    assert.ok(after.has([...chosen][1]!), 'the other checker keeps its work');
  });
});

function hdsCluster(checkers: number): Parameters<MemoryStore['apply']>[0][number] {
  const bytes = jsonToBinary('envoy.config.cluster.v3.Cluster', {
    name: 'web',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    health_checks: [CHECK],
    metadata: { filter_metadata: { 'ferry.hds': { checkers } } },
  });
  assert.ok(bytes.ok);
  return {
    op: 'put',
    typeUrl: CDS,
    group: 'edge',
    name: 'web',
    value: bytes.value,
    version: contentVersion(bytes.value),
  };
}

/** The parts of a handed-out HealthCheck (proto-loader form) these tests read. */
interface HandedOutCheck {
  readonly http_health_check?: { readonly path?: string };
  readonly interval?: DurationMessage;
  readonly unhealthy_threshold?: { readonly value?: number };
}

function openStream(address: string, id: string) {
  const client = new GrpcClient(HDS_SERVICE, address, credentials.createInsecure());
  const call = client.stream<HealthCheckRequestOrEndpointHealthResponse, HealthCheckSpecifier>(
    'StreamHealthCheck',
  );
  const received: HealthCheckSpecifier[] = [];
  const waiters: Array<() => void> = [];
  call.on('data', (m: HealthCheckSpecifier) => {
    received.push(m);
    for (const w of waiters.splice(0)) w();
  });
  call.on('error', () => undefined);
  call.write({ health_check_request: { node: { id, cluster: 'edge' }, capability: {} } });
  return {
    /**
     * Resolves with the latest specifier once it satisfies `predicate` (names, specifier); fails
     * after 10 s (a liveness bound) with the clusters of the last one received.
     */
    async until(
      predicate: (clusters: string[], spec: HealthCheckSpecifier) => boolean,
    ): Promise<HealthCheckSpecifier> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const last = received.at(-1);
        const names = (last?.cluster_health_checks ?? []).map((c) => c.cluster_name ?? '');
        if (last && predicate(names, last)) return last;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `${id}: no specifier satisfied ${predicate.toString()} within 10 s; last clusters: ${JSON.stringify(names)}`,
          );
        }
        await new Promise<void>((r) => {
          const timer = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

describe('HDS hands out the checks of opted-in clusters', () => {
  const store = new MemoryStore();
  const overlay = new HealthOverlay();
  const cache = new SnapshotCache({ store, debounceMs: 0, overlay });
  let server: XdsServer;
  let address: string;

  before(async () => {
    server = new XdsServer({
      cache,
      logger: createLogger('hds-test', 'silent'),
      controlPlaneId: 'test',
      hdsWork: (group) => overlay.hdsWork(group),
    });
    overlay.onHdsWorkChanged = (group) => server.reassignHealthChecks(group);
    await store.apply([hdsCluster(1), ...put('edge', endpoints('web', [8080, 8081]))]);
    await cache.start();
    address = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  });
  after(async () => {
    server.destroy();
    cache.close();
    await store.close();
  });

  test('CDS is served without the health checks the checkers run', () => {
    const served = cache.snapshot('edge', CDS).resources.get('web');
    assert.ok(served);
    const json = binaryToJson('envoy.config.cluster.v3.Cluster', served.resource.value) as Record<
      string,
      unknown
    >;
    assert.equal(json.health_checks, undefined);
    assert.ok(json.metadata, 'the rest of the cluster is served as stored');
    assert.ok(cache.snapshot('edge', EDS).resources.get('web'));
  });

  test('preview gives what transform serves (the pre-flight checks resources as served)', async () => {
    const stored = (await store.list({ group: 'edge', typeUrl: CDS })).resources[0]!;
    const previewed = overlay.preview('edge', CDS, {
      name: stored.name,
      version: stored.version,
      value: Buffer.from(stored.value),
    });
    const served = cache.snapshot('edge', CDS).resources.get('web')!;
    assert.equal(previewed.version, served.version);
    assert.notEqual(previewed.version, stored.version, 'health_checks are stripped');
  });

  test('one checker of two nodes gets the work; when it leaves, the other one does', async () => {
    const chosen = [...chooseCheckers('web', ['a', 'b'], 1)][0]!;
    const other = chosen === 'a' ? 'b' : 'a';
    const first = openStream(address, chosen);
    const spec = await first.until((c) => c.includes('web'));
    const check = spec.cluster_health_checks?.[0];
    assert.deepEqual(
      (check?.locality_endpoints ?? []).flatMap((l) =>
        (l.endpoints ?? []).map((e) => Number(e.address?.socket_address?.port_value)),
      ),
      [8080, 8081],
    );
    const handedOut = check?.health_checks?.[0] as HandedOutCheck | undefined;
    assert.equal(handedOut?.http_health_check?.path, '/healthz');
    assert.equal(Number(handedOut?.interval?.nanos), 500_000_000);
    assert.equal(handedOut?.unhealthy_threshold?.value, 2);

    const second = openStream(address, other);
    await second.until((c) => c.length === 0);
    first.close();
    await second.until((c) => c.includes('web'));

    // New endpoints reach the checker with a new specifier.
    await store.apply(put('edge', endpoints('web', [8080, 8081, 8082])));
    await second.until((_c, spec) => JSON.stringify(spec).includes('8082'));
    second.close();
  });
});
