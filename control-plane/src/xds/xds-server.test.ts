import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import {
  GrpcClient,
  type ClientStatusResponse,
  type DiscoveryResponse,
  type GenericXdsConfigMessage,
} from '@ferry/proto/grpc';
import { MemoryStore } from '../store/store-memory.js';
import {
  CDS,
  cluster,
  DeltaClient,
  deltaNames,
  LDS,
  listener,
  namesOf,
  node,
  put,
  RDS,
  route,
  SotwClient,
  startHarness,
} from './test-support.js';

async function unary<Response>(
  service: string,
  method: string,
  address: string,
  request: unknown,
): Promise<Response> {
  const client = new GrpcClient(service, address, credentials.createInsecure());
  try {
    return await client.unary<unknown, Response>(method, request);
  } finally {
    client.close();
  }
}

void describe('xDS server', () => {
  void test('identical content has identical versions on two server instances, whatever the apply order', async () => {
    const storeA = new MemoryStore();
    const storeB = new MemoryStore();
    await storeA.apply(put('default', listener('l1', 'r1'), listener('l2', 'r2', 10001)));
    await storeB.apply(put('default', listener('l2', 'r2', 10001)));
    await storeB.apply(put('default', listener('l1', 'r1')));
    const a = await startHarness({ store: storeA });
    const b = await startHarness({ store: storeB });
    const ca = new SotwClient(a.address);
    const cb = new SotwClient(b.address);
    try {
      ca.request(LDS, [], { node: node('n1') });
      cb.request(LDS, [], { node: node('n1') });
      const ra = await ca.expect(LDS);
      const rb = await cb.expect(LDS);
      assert.equal(ra.version_info, rb.version_info);
      assert.deepEqual(namesOf(ra), namesOf(rb));
    } finally {
      ca.close();
      cb.close();
      await a.close();
      await b.close();
    }
  });

  void test('per-type services serve their type without type_url; Fetch answers once', async () => {
    const h = await startHarness();
    await h.store.apply(put('default', cluster('c1'), route('r1', 'c1'), route('r2', 'c1')));
    const cds = new SotwClient(
      h.address,
      'envoy.service.cluster.v3.ClusterDiscoveryService',
      'StreamClusters',
    );
    const rds = new DeltaClient(
      h.address,
      'envoy.service.route.v3.RouteDiscoveryService',
      'DeltaRoutes',
    );
    try {
      cds.send({ node: node('n1'), resource_names: [] });
      const r = await cds.expect(CDS);
      assert.deepEqual(namesOf(r), ['c1']);
      rds.send({ node: node('n1'), resource_names_subscribe: ['r2'] });
      assert.deepEqual(deltaNames(await rds.expect(RDS)), ['r2']);
      const fetched = await unary<DiscoveryResponse>(
        'envoy.service.route.v3.RouteDiscoveryService',
        'FetchRoutes',
        h.address,
        {
          node: node('n2'),
          resource_names: ['r1'],
        },
      );
      assert.deepEqual(namesOf(fetched), ['r1']);
      assert.deepEqual([...(h.fleet.nodes()[0]?.streams ?? [])].sort(), ['cds', 'rds-delta']);
    } finally {
      cds.close();
      rds.close();
      await h.close();
    }
  });

  void test('CSDS reports each node with per-resource status, NACK details and node_matchers', async () => {
    const h = await startHarness();
    await h.store.apply(put('default', cluster('c1')));
    const good = new SotwClient(h.address);
    const bad = new SotwClient(h.address);
    try {
      good.request(CDS, [], { node: node('good') });
      const r1 = await good.expect(CDS);
      good.ack(r1, []);
      await good.barrier();
      bad.request(CDS, [], { node: node('bad') });
      const r2 = await bad.expect(CDS);
      bad.nack(r2, [], 'no thanks');
      await bad.barrier();

      const csds = 'envoy.service.status.v3.ClientStatusDiscoveryService';
      const all = await unary<ClientStatusResponse>(csds, 'FetchClientStatus', h.address, {});
      const byNode = new Map((all.config ?? []).map((c) => [c.node?.id ?? '', c]));
      assert.deepEqual([...byNode.keys()].sort(), ['bad', 'good']);
      const cdsOf = (id: string): GenericXdsConfigMessage | undefined =>
        byNode.get(id)?.generic_xds_configs?.find((g) => g.type_url === CDS);
      const goodCds = cdsOf('good');
      assert.equal(goodCds?.name, 'c1');
      assert.equal(goodCds?.config_status, 'SYNCED');
      assert.equal(goodCds?.version_info, r1.version_info);
      assert.equal(goodCds?.xds_config?.type_url, CDS);
      const badCds = cdsOf('bad');
      assert.equal(badCds?.config_status, 'ERROR');
      assert.equal(badCds?.client_status, 'NACKED');
      assert.equal(badCds?.error_state?.details, 'no thanks');
      assert.equal(badCds?.error_state?.version_info, r2.version_info);

      const one = await unary<ClientStatusResponse>(csds, 'FetchClientStatus', h.address, {
        node_matchers: [{ node_id: { exact: 'good' } }],
      });
      assert.deepEqual(
        (one.config ?? []).map((c) => c.node?.id),
        ['good'],
      );
    } finally {
      good.close();
      bad.close();
      await h.close();
    }
  });

  void test('CSDS marks as NACKED only the resources of the rejected response; the others keep their status', async () => {
    const h = await startHarness();
    await h.store.apply(put('default', cluster('c1')));
    const c = new DeltaClient(h.address);
    try {
      c.request(CDS, { node: node('d1') });
      c.ack(await c.expect(CDS));
      await c.barrier(); // the ACK is processed before the next push
      await h.store.apply(put('default', cluster('c2')));
      const update = await c.expect(CDS);
      assert.deepEqual(deltaNames(update), ['c2']);
      c.nack(update, 'c2: unsupported');
      await c.barrier();
      const all = await unary<ClientStatusResponse>(
        'envoy.service.status.v3.ClientStatusDiscoveryService',
        'FetchClientStatus',
        h.address,
        {},
      );
      const byName = new Map(
        (all.config?.[0]?.generic_xds_configs ?? [])
          .filter((g) => g.type_url === CDS)
          .map((g) => [g.name, g]),
      );
      assert.equal(byName.get('c1')?.config_status, 'SYNCED');
      assert.equal(byName.get('c1')?.client_status, 'ACKED');
      assert.ok(!byName.get('c1')?.error_state);
      assert.equal(byName.get('c2')?.config_status, 'ERROR');
      assert.equal(byName.get('c2')?.client_status, 'NACKED');
      assert.equal(byName.get('c2')?.error_state?.details, 'c2: unsupported');
    } finally {
      c.close();
      await h.close();
    }
  });

  void test('close() ends open streams and is idempotent; the node stays listed as disconnected', async () => {
    const h = await startHarness();
    const c = new SotwClient(h.address);
    try {
      c.request(CDS, [], { node: node('n1') });
      await c.expect(CDS);
      const closing = h.server.close();
      assert.equal(h.server.close(), closing);
      await c.ended();
      await closing;
      const n = h.fleet.nodes()[0];
      assert.equal(n?.nodeId, 'n1');
      assert.equal(n?.connected, false);
      assert.deepEqual(n?.streams, []);
    } finally {
      c.close();
      await h.close();
    }
  });
});
