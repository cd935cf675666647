import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  GrpcClient,
  type ApplyResponseMessage,
  type HealthResponseMessage,
  type HistoryResponseMessage,
  type ListResponseMessage,
  type LoadResponseMessage,
  type StatusResponseMessage,
} from '@ferry/proto/grpc';
import { parseResourceJson } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import { addManagementService } from './grpc-api.js';
import { Authenticator } from './authenticator.js';
import { ManagementService } from './management-service.js';
import { basicGroup, cluster } from '../validation/test-fixtures.js';
import { HealthAggregate } from '../health/health-aggregate.js';
import { LoadAggregate } from '../load/load-aggregate.js';
import { FleetTracker } from '../xds/fleet.js';

function anyOf(doc: Record<string, unknown>): { type_url: string; value: Buffer } {
  const parsed = parseResourceJson(doc);
  if (!parsed.ok) assert.fail(parsed.errors.join('\n'));
  return { type_url: parsed.value.type.typeUrl, value: Buffer.from(parsed.value.bytes) };
}

/** The error a call failed with (a test failure when it succeeded). */
async function failure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  assert.fail('the call succeeded');
}

const MANAGEMENT = 'ferry.v1.Management';

describe('gRPC management API', () => {
  let server: grpc.Server;
  let client: GrpcClient;
  const unary = <Response>(
    method: string,
    request: unknown,
    metadata = new grpc.Metadata(),
  ): Promise<Response> => client.unary<unknown, Response>(method, request, metadata);

  before(async () => {
    server = new grpc.Server();
    const service = new ManagementService({ store: new MemoryStore() });
    addManagementService(server, service, {
      authenticator: new Authenticator({
        tokens: service.tokens,
        bootstrapToken: 't0k',
        openOnLoopback: true,
      }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new GrpcClient(MANAGEMENT, `127.0.0.1:${port}`, grpc.credentials.createInsecure());
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
    const applied = await unary<ApplyResponseMessage>(
      'Apply',
      { resources: basicGroup().map(anyOf) },
      auth(),
    );
    assert.equal(Number(applied.revision), 1);
    assert.equal(applied.changes?.length, 5);
    const list = await unary<ListResponseMessage>(
      'List',
      { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
      auth(),
    );
    assert.deepEqual(
      (list.resources ?? []).map((r) => r.name),
      ['api', 'web'],
    );
    const first = list.resources?.[0]?.resource;
    assert.equal(first?.type_url, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
    assert.ok(Buffer.isBuffer(first?.value));
  });

  test('errors map to gRPC statuses with every detail', async () => {
    const invalid = await failure(
      unary('Apply', { resources: [anyOf(cluster('x', { ports: [0] }))] }, auth()),
    );
    assert.equal(invalid.code, grpc.status.INVALID_ARGUMENT);
    assert.match(invalid.details, /resources\[0\]\(Cluster "x"\)\.load_assignment\.endpoints\[0\]/);
    assert.equal(invalid.metadata.get('ferry-error-code')[0], 'FERRY_INVALID_CONFIG');

    const referenced = await failure(
      unary(
        'Delete',
        {
          resources: [
            { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'api' },
          ],
        },
        auth(),
      ),
    );
    assert.equal(referenced.code, grpc.status.FAILED_PRECONDITION);

    const conflict = await failure(
      unary('Apply', { resources: [anyOf(cluster('y'))], expected_revision: 42 }, auth()),
    );
    assert.equal(conflict.code, grpc.status.ABORTED);

    const missing = await failure(unary('Rollback', { revision: 77 }, auth()));
    assert.equal(missing.code, grpc.status.NOT_FOUND);

    const unauthenticated = await failure(unary('Status', {}));
    assert.equal(unauthenticated.code, grpc.status.UNAUTHENTICATED);
  });

  test('history and status', async () => {
    const history = await unary<HistoryResponseMessage>('History', { limit: 10 }, auth());
    assert.ok((history.entries ?? []).length >= 1);
    assert.ok(Number(history.entries?.[0]?.time?.seconds) > 0);
    // Writes made with the bootstrap token are recorded as its.
    assert.equal(history.entries?.[0]?.actor, 'FERRY_API_TOKEN');
    const status = await unary<StatusResponseMessage>('Status', {}, auth());
    assert.equal(Number(status.revision), 1);
    assert.deepEqual(status.nodes ?? [], []);
  });

  test('tokens: an admin creates, lists and revokes; a viewer is refused writes and token calls', async () => {
    const created = await unary<{ token?: string; info?: { name?: string; groups?: string[] } }>(
      'CreateToken',
      { name: 'ro', role: 'viewer', groups: ['default'], expires_in_seconds: 3600 },
      auth(),
    );
    assert.match(created.token ?? '', /^ferry\.ro\./);
    assert.deepEqual(created.info?.groups, ['default']);
    const as = (token: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${token}`);
      return m;
    };
    const viewer = as(created.token ?? '');
    assert.equal(Number((await unary<StatusResponseMessage>('Status', {}, viewer)).revision), 2);
    const refused = await failure(unary('Apply', { resources: [anyOf(cluster('z'))] }, viewer));
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
    assert.equal(refused.metadata.get('ferry-error-code')[0], 'FERRY_FORBIDDEN');
    assert.match(refused.details, /needs the operator role for group "default"/);
    assert.equal(
      (await failure(unary('ListTokens', {}, viewer))).code,
      grpc.status.PERMISSION_DENIED,
    );

    const listed = await unary<{ tokens?: Array<{ name?: string; expires_at?: unknown }> }>(
      'ListTokens',
      {},
      auth(),
    );
    assert.deepEqual(
      listed.tokens?.map((t) => t.name),
      ['ro'],
    );
    assert.ok(listed.tokens?.[0]?.expires_at);
    await unary('RevokeToken', { name: 'ro' }, auth());
    const revoked = await failure(unary('Status', {}, viewer));
    assert.equal(revoked.code, grpc.status.UNAUTHENTICATED);
    assert.match(revoked.details, /revoked/);
  });
});

describe('gRPC management API: Health and Load (as GET /v1/health and /v1/load)', () => {
  let server: grpc.Server;
  let withoutViews: grpc.Server;
  let client: GrpcClient;
  let bare: GrpcClient;
  const call = <Response>(c: GrpcClient, method: string, request: unknown): Promise<Response> =>
    c.unary<unknown, Response>(method, request);

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
    const authenticator = new Authenticator({ tokens: service.tokens, openOnLoopback: true });
    addManagementService(server, service, { authenticator, health, load });
    withoutViews = new grpc.Server();
    addManagementService(withoutViews, service, { authenticator });
    const bind = (s: grpc.Server): Promise<number> =>
      new Promise((resolve, reject) =>
        s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
    const connect = async (s: grpc.Server): Promise<GrpcClient> =>
      new GrpcClient(MANAGEMENT, `127.0.0.1:${await bind(s)}`, grpc.credentials.createInsecure());
    client = await connect(server);
    bare = await connect(withoutViews);
  });
  after(() => {
    client.close();
    bare.close();
    server.forceShutdown();
    withoutViews.forceShutdown();
  });

  test('Health: the aggregate and each proxy view, times as Timestamps', async () => {
    const res = await call<HealthResponseMessage>(client, 'Health', { group: 'edge' });
    const web = res.clusters?.[0];
    assert.equal(web?.cluster, 'web');
    const endpoint = web?.endpoints?.[0];
    assert.deepEqual(
      { ...endpoint, since: Number(endpoint?.since?.seconds) },
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
    assert.equal(res.nodes?.[0]?.node_id, 'p1');
    assert.equal(res.nodes?.[0]?.clusters?.[0]?.endpoints?.[0]?.status, 'UNHEALTHY');
    const other = await call<HealthResponseMessage>(client, 'Health', { group: 'other' });
    assert.deepEqual(other.clusters ?? [], []);
  });

  test('Load: totals per cluster and each proxy per locality', async () => {
    const res = await call<LoadResponseMessage>(client, 'Load', { cluster: 'web' });
    const web = res.clusters?.[0];
    assert.equal(web?.group, 'edge');
    assert.equal(Number(web?.total?.total_successful_requests), 7);
    assert.equal(Number(web?.total?.total_requests_in_progress), 2);
    const node = web?.nodes?.[0];
    assert.equal(node?.node, 'p1');
    const locality = node?.localities?.[0];
    assert.deepEqual(locality?.locality, { region: 'eu', zone: 'west', sub_zone: '' });
    assert.equal(Number(locality?.latest?.total_error_requests), 1);
  });

  test('a server without the views answers NOT_FOUND with what to use', async () => {
    await assert.rejects(call(bare, 'Health', {}), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.match(err.details, /no HDS health view/);
      return true;
    });
  });
});

describe('gRPC management API: Status per resource', () => {
  const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
  let server: grpc.Server;
  let client: GrpcClient;

  before(async () => {
    const v1 = new Map([
      ['web', {}],
      ['api', {}],
    ]);
    const v2 = new Map(v1);
    const fleet = new FleetTracker({
      connectedProxies: () => ({ inc: () => undefined, set: () => undefined, get: () => 0 }),
      snapshots: () => v2,
    });
    const h = fleet.connect({ id: 'p1', cluster: 'edge' }, 'ads-sotw', '127.0.0.1:1');
    const sub = { wildcard: true, names: new Set<string>() };
    h.sent(LDS, 'v1', 2, sub, v1);
    h.acked(LDS, 'v1');
    h.sent(LDS, 'v2', 2, sub, v2);
    h.nacked(
      LDS,
      'v2',
      'Listener "api": bad',
      ['web', 'api'],
      [{ name: 'api', error: 'Listener "api": bad' }],
    );
    const service = new ManagementService({ store: new MemoryStore(), fleet });
    server = new grpc.Server();
    addManagementService(server, service, {
      authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new GrpcClient(MANAGEMENT, `127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  interface TypeStatusMessage {
    version_applied?: string;
    rejected_resources?: { name?: string; version_running?: string }[];
    resource_statuses?: {
      name?: string;
      state?: string;
      version_running?: string;
      version_sent?: string;
      nack_version?: string;
      nack_error?: string;
    }[];
  }
  const status = (request: unknown): Promise<{ nodes?: { types?: TypeStatusMessage[] }[] }> =>
    client.unary('Status', request);

  test('rejected resources always; every resource for one node when asked', async () => {
    const all = await status({});
    const t = all.nodes?.[0]?.types?.[0];
    assert.equal(t?.version_applied, 'v2');
    assert.deepEqual(
      t?.rejected_resources?.map((r) => [r.name, r.version_running]),
      [['api', 'v1']],
    );
    assert.deepEqual(t?.resource_statuses ?? [], []);

    const one = await status({ node_id: 'p1', resources: true });
    assert.deepEqual(
      one.nodes?.[0]?.types?.[0]?.resource_statuses?.map((r) => [
        r.name,
        r.state,
        r.version_running,
        r.version_sent,
        r.nack_version ?? '',
        r.nack_error ?? '',
      ]),
      [
        ['api', 'NACKED', 'v1', 'v2', 'v2', 'Listener "api": bad'],
        ['web', 'ACKED', 'v2', 'v2', '', ''],
      ],
    );
    assert.deepEqual((await status({ node_id: 'nobody' })).nodes ?? [], []);
  });
});
