import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '@ferry/proto/grpc';
import { parseResourceJson } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import { addManagementService } from './grpc-api.js';
import { ManagementService } from './management-service.js';
import { basicGroup, cluster } from '../validation/test-fixtures.js';

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
