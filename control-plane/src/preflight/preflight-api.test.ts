/** The pre-flight over the management API's transports: `force`, the report, the refusal. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GrpcClient, type ApplyResponseMessage } from '@ferry/proto/grpc';
import { parseResourceJson } from '@ferry/proto';
import { proxyVersion } from '@ferry/data-plane/translator';
import { MemoryStore } from '../store/store-memory.js';
import { addManagementService } from '../api/grpc-api.js';
import { HttpApi } from '../api/http-api.js';
import { Authenticator } from '../api/authenticator.js';
import { ManagementService } from '../api/management-service.js';
import type { ApplyResponseJson } from '../api/wire-json.js';
import { basicGroup, routeConfig, virtualHost, type Doc } from '../validation/test-fixtures.js';
import { Preflight } from './preflight.js';

function badRoutes(): Doc {
  const config = routeConfig('main', [
    virtualHost('all', ['*'], [{ prefix: '/', cluster: 'api' }]),
  ]);
  const vhosts = config.virtual_hosts as Array<{ routes: Array<{ match: Doc }> }>;
  vhosts[0]!.routes[0]!.match.runtime_fraction = {
    default_value: { numerator: 50 },
    runtime_key: 'r',
  };
  return config;
}

function anyOf(doc: Doc): { type_url: string; value: Buffer } {
  const parsed = parseResourceJson(doc);
  if (!parsed.ok) assert.fail(parsed.errors.join('\n'));
  return { type_url: parsed.value.type.typeUrl, value: Buffer.from(parsed.value.bytes) };
}

describe('pre-flight over HTTP and gRPC', () => {
  let server: grpc.Server;
  let client: GrpcClient;
  let http: HttpApi;
  let apiUrl: string;

  before(async () => {
    const store = new MemoryStore();
    const service = new ManagementService({
      store,
      preflight: new Preflight({
        fleet: {
          connectedNodes: () => [
            { id: 'p1', user_agent_name: 'ferry-proxy', user_agent_version: proxyVersion() },
          ],
        },
      }),
    });
    await service.apply({ documents: basicGroup() });
    const authenticator = new Authenticator({
      tokens: service.tokens,
      bootstrapToken: 't0k',
      openOnLoopback: true,
    });
    server = new grpc.Server();
    addManagementService(server, service, { authenticator });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new GrpcClient(
      'ferry.v1.Management',
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    );
    http = new HttpApi({ service, authenticator });
    const { port: httpPort } = await http.listen('127.0.0.1', 0);
    apiUrl = `http://127.0.0.1:${httpPort}`;
  });
  after(async () => {
    client.close();
    server.forceShutdown();
    await http.close();
  });

  const auth = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('authorization', 'Bearer t0k');
    return m;
  };

  test('gRPC: a refused Apply is FAILED_PRECONDITION with the code; dry run and force carry the report', async () => {
    let refused: grpc.ServiceError | undefined;
    try {
      await client.unary('Apply', { resources: [anyOf(badRoutes())] }, auth());
    } catch (err) {
      refused = err as grpc.ServiceError;
    }
    assert.ok(refused, 'the Apply was refused');
    assert.equal(refused.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(refused.metadata.get('ferry-error-code')[0], 'FERRY_PREFLIGHT_REJECTED');
    assert.match(refused.details, /runtime_fraction: not supported by ferry-proxy/);

    const dry = await client.unary<unknown, ApplyResponseMessage>(
      'Apply',
      { resources: [anyOf(badRoutes())], dry_run: true },
      auth(),
    );
    const report = dry.preflight?.[0];
    assert.equal(report?.refuse, true);
    assert.deepEqual(
      report?.resources?.map((r) => [r.kind, r.name, r.rejected_by, r.blocking]),
      [['RouteConfiguration', 'main', ['p1'], true]],
    );
    assert.deepEqual(
      report?.proxies?.map((p) => [p.node_id, p.pre_checked, p.would_ack]),
      [['p1', true, false]],
    );

    const forced = await client.unary<unknown, ApplyResponseMessage>(
      'Apply',
      { resources: [anyOf(badRoutes())], force: true },
      auth(),
    );
    assert.equal(forced.dry_run, false);
    assert.equal(forced.preflight?.[0]?.refuse, true);
  });

  test('HTTP: 422 with the code; `force` in the body and the query', async () => {
    const post = (path: string, body: unknown, type = 'application/json'): Promise<Response> =>
      fetch(`${apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': type, authorization: 'Bearer t0k' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    // The group already holds the forced bad route (previous test): a new bad one is refused.
    const worse = badRoutes();
    (worse.virtual_hosts as Array<{ name: string }>)[0]!.name = 'other';
    const refused = await post('/v1/apply', { resources: [worse] });
    assert.equal(refused.status, 422);
    const error = (await refused.json()) as { code: string; details: string[] };
    assert.equal(error.code, 'FERRY_PREFLIGHT_REJECTED');
    assert.match(error.details[0]!, /^RouteConfiguration "main": virtual_hosts\[0\]/);

    const forced = await post('/v1/apply', { resources: [worse], force: true });
    assert.equal(forced.status, 200);
    const body = (await forced.json()) as ApplyResponseJson;
    assert.equal(body.preflight?.[0]?.refuse, true);
    assert.equal(body.preflight?.[0]?.resources[0]?.kind, 'RouteConfiguration');

    const yaml = await post(
      '/v1/apply?force=true&dry_run=true',
      JSON.stringify(basicGroup().find((d) => d.name === 'api')),
      'application/yaml',
    );
    assert.equal(yaml.status, 200, await yaml.clone().text());
    assert.equal(((await yaml.json()) as ApplyResponseJson).preflight?.[0]?.refuse, false);
  });
});
