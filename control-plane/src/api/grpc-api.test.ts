import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '@ferry/proto/grpc';
import { parseResourceJson } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import { addManagementService } from './grpc-api.js';
import { ManagementService } from './management-service.js';
import { basicGroup, cluster } from '../validation/test-fixtures.js';
import { HealthAggregate } from '../health/health-aggregate.js';
import { LoadAggregate } from '../load/load-aggregate.js';

function anyOf(doc: Record<string, unknown>): { type_url: string; value: Buffer } {
  const parsed = parseResourceJson(doc);
  if (!parsed.ok) assert.fail(parsed.errors.join('\n'));
  return { type_url: parsed.value.type.typeUrl, value: Buffer.from(parsed.value.bytes) };
}

describe('gRPC management API', () => {
  let server: grpc.Server;
  let client: any;
  const unary = (method: string, request: unknown, metadata = new grpc.Metadata()): Promise<any> =>
    new Promise((resolve, reject) => {
      client[method](request, metadata, (err: grpc.ServiceError | null, res: unknown) =>
        err ? reject(err) : resolve(res),
      );
    });

  before(async () => {
    server = new grpc.Server();
    addManagementService(server, new ManagementService({ store: new MemoryStore() }), {
      token: 't0k',
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const Client = serviceClient('ferry.v1.Management');
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  const auth = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('authorization', 'Bearer t0k');
    return m;
  };

  test('apply and list with Any resources', async () => {
    const applied = await unary('Apply', { resources: basicGroup().map(anyOf) }, auth());
    assert.equal(Number(applied.revision), 1);
    assert.equal(applied.changes.length, 5);
    const list = await unary(
      'List',
      { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
      auth(),
    );
    assert.deepEqual(
      list.resources.map((r: any) => r.name),
      ['api', 'web'],
    );
    assert.equal(
      list.resources[0].resource.type_url,
      'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    );
    assert.ok(Buffer.isBuffer(list.resources[0].resource.value));
  });

  test('errors map to gRPC statuses with every detail', async () => {
    const invalid = await unary(
      'Apply',
      { resources: [anyOf(cluster('x', { ports: [0] }))] },
      auth(),
    ).catch((e) => e);
    assert.equal(invalid.code, grpc.status.INVALID_ARGUMENT);
    assert.match(invalid.details, /resources\[0\]\(Cluster "x"\)\.load_assignment\.endpoints\[0\]/);
    assert.equal(invalid.metadata.get('ferry-error-code')[0], 'FERRY_INVALID_CONFIG');

    const referenced = await unary(
      'Delete',
      {
        resources: [
          { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'api' },
        ],
      },
      auth(),
    ).catch((e) => e);
    assert.equal(referenced.code, grpc.status.FAILED_PRECONDITION);

    const conflict = await unary(
      'Apply',
      { resources: [anyOf(cluster('y'))], expected_revision: 42 },
      auth(),
    ).catch((e) => e);
    assert.equal(conflict.code, grpc.status.ABORTED);

    const missing = await unary('Rollback', { revision: 77 }, auth()).catch((e) => e);
    assert.equal(missing.code, grpc.status.NOT_FOUND);

    const unauthenticated = await unary('Status', {}).catch((e) => e);
    assert.equal(unauthenticated.code, grpc.status.UNAUTHENTICATED);
  });

  test('history and status', async () => {
    const history = await unary('History', { limit: 10 }, auth());
    assert.ok(history.entries.length >= 1);
    assert.ok(Number(history.entries[0].time.seconds) > 0);
    const status = await unary('Status', {}, auth());
    assert.equal(Number(status.revision), 1);
    assert.deepEqual(status.nodes ?? [], []);
  });
});

describe('gRPC management API: Health and Load (as GET /v1/health and /v1/load)', () => {
  let server: grpc.Server;
  let withoutViews: grpc.Server;
  let client: any;
  let bare: any;
  const call = (c: any, method: string, request: unknown): Promise<any> =>
    new Promise((resolve, reject) => {
      c[method](request, (err: grpc.ServiceError | null, res: unknown) =>
        err ? reject(err) : resolve(res),
      );
    });

  before(async () => {
    const health = new HealthAggregate({ now: () => Date.UTC(2026, 0, 1) });
    health.report('p1', 'edge', [
      { cluster: 'web', endpoints: new Map([['10.0.0.1:80', 'UNHEALTHY' as const]]) },
    ]);
    const load = new LoadAggregate({ now: () => Date.UTC(2026, 0, 1) });
    load.report('p1', 'edge', [
      {
        cluster: 'web',
        localities: [
          {
            locality: { region: 'eu', zone: 'west', subZone: '' },
            successful: 7,
            error: 1,
            issued: 8,
            inProgress: 2,
          },
        ],
        dropped: 0,
      },
    ]);
    const service = new ManagementService({ store: new MemoryStore() });
    server = new grpc.Server();
    addManagementService(server, service, { health, load });
    withoutViews = new grpc.Server();
    addManagementService(withoutViews, service);
    const bind = (s: grpc.Server): Promise<number> =>
      new Promise((resolve, reject) =>
        s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
    const Client = serviceClient('ferry.v1.Management');
    client = new Client(`127.0.0.1:${await bind(server)}`, grpc.credentials.createInsecure());
    bare = new Client(`127.0.0.1:${await bind(withoutViews)}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client.close();
    bare.close();
    server.forceShutdown();
    withoutViews.forceShutdown();
  });

  test('Health: the aggregate and each proxy view, times as Timestamps', async () => {
    const res = await call(client, 'Health', { group: 'edge' });
    const [web] = res.clusters;
    assert.equal(web.cluster, 'web');
    assert.deepEqual(
      { ...web.endpoints[0], since: Number(web.endpoints[0].since.seconds) },
      {
        address: '10.0.0.1:80',
        status: 'UNHEALTHY',
        healthy: 0,
        unhealthy: 1,
        proxies: 1,
        since: Date.UTC(2026, 0, 1) / 1000,
        unhealthy_nodes: ['p1'],
      },
    );
    assert.equal(res.nodes[0].node_id, 'p1');
    assert.equal(res.nodes[0].clusters[0].endpoints[0].status, 'UNHEALTHY');
    assert.deepEqual((await call(client, 'Health', { group: 'other' })).clusters ?? [], []);
  });

  test('Load: totals per cluster and each proxy per locality', async () => {
    const res = await call(client, 'Load', { cluster: 'web' });
    const [web] = res.clusters;
    assert.equal(web.group, 'edge');
    assert.equal(Number(web.total.total_successful_requests), 7);
    assert.equal(Number(web.total.total_requests_in_progress), 2);
    const [node] = web.nodes;
    assert.equal(node.node, 'p1');
    assert.deepEqual(node.localities[0].locality, { region: 'eu', zone: 'west', sub_zone: '' });
    assert.equal(Number(node.localities[0].latest.total_error_requests), 1);
  });

  test('a server without the views answers NOT_FOUND with what to use', async () => {
    await assert.rejects(call(bare, 'Health', {}), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.match(err.details, /no HDS health view/);
      return true;
    });
  });
});
