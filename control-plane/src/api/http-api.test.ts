import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/store-memory.js';
import { Authenticator } from './authenticator.js';
import { HttpApi } from './http-api.js';
import { jsonTooDeep } from './http-request.js';
import { ManagementService } from './management-service.js';
import type {
  ApplyResponseJson,
  HistoryJson,
  ListResponseJson,
  ResourceJson,
} from './wire-json.js';
import { basicGroup, cluster, tlsSecret } from '../validation/test-fixtures.js';

interface Started {
  api: HttpApi;
  base: string;
}

async function start(options: { token?: string; maxBodyBytes?: number } = {}): Promise<Started> {
  const { token, ...rest } = options;
  const service = new ManagementService({ store: new MemoryStore() });
  const api = new HttpApi({
    service,
    authenticator: new Authenticator({
      tokens: service.tokens,
      openOnLoopback: true,
      ...(token ? { bootstrapToken: token } : {}),
    }),
    ...rest,
  });
  const { port } = await api.listen('127.0.0.1', 0);
  return { api, base: `http://127.0.0.1:${port}` };
}

/** The body of an error response. */
interface ErrorJson {
  readonly code: string;
  readonly message: string;
  readonly details: readonly string[];
}

/** `T` is the body the test expects (a success shape from wire-json.ts, or ErrorJson). */
async function call<T = ErrorJson>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: T }> {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** The key material of a stored TLS Secret as the API shows it. */
function privateKey(resource: ResourceJson['resource']): { inline_string?: string } {
  const secret = resource as { tls_certificate?: { private_key?: { inline_string?: string } } };
  return secret.tls_certificate?.private_key ?? {};
}

describe('HTTP management API', () => {
  let s: Started;
  before(async () => {
    s = await start({ maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await s.api.close();
  });

  test('GET /healthz', async () => {
    assert.deepEqual(await call(s.base, 'GET', '/healthz'), {
      status: 200,
      json: { status: 'ok' },
    });
  });

  test('apply, dry run, list, get, delete, history, rollback', async () => {
    const dry = await call<ApplyResponseJson>(s.base, 'POST', '/v1/apply', {
      resources: basicGroup(),
      dry_run: true,
    });
    assert.equal(dry.status, 200);
    assert.equal(dry.json.dry_run, true);
    assert.equal(dry.json.revision, 0);

    const applied = await call<ApplyResponseJson>(s.base, 'POST', '/v1/apply', {
      resources: basicGroup(),
      message: 'first',
    });
    assert.equal(applied.status, 200, JSON.stringify(applied.json));
    assert.equal(applied.json.revision, 1);
    assert.deepEqual(applied.json.changes[0], {
      type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      kind: 'Cluster',
      group: 'default',
      name: 'web',
      action: 'created',
      version: applied.json.changes[0]?.version,
    });

    const list = await call<ListResponseJson>(s.base, 'GET', '/v1/resources?type=clusters');
    assert.deepEqual(
      list.json.resources.map((r) => r.name),
      ['api', 'web'],
    );
    const one = await call<ResourceJson>(s.base, 'GET', '/v1/resources/cds/api?group=default');
    assert.equal(one.json.resource['@type'], 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
    assert.equal((await call(s.base, 'GET', '/v1/resources/cluster/none')).status, 404);

    const refused = await call(s.base, 'DELETE', '/v1/resources/cluster/api');
    assert.equal(refused.status, 409);
    assert.equal(refused.json.code, 'FERRY_REFERENCED');
    assert.match(refused.json.details[0] ?? '', /still referenced by RouteConfiguration "main"/);

    const batch = await call<ApplyResponseJson>(s.base, 'POST', '/v1/delete', {
      resources: [
        { type: 'listener', name: 'http' },
        { type: 'routes', name: 'main' },
      ],
    });
    assert.equal(batch.status, 200, JSON.stringify(batch.json));
    assert.equal(batch.json.revision, 2);

    const history = await call<HistoryJson>(s.base, 'GET', '/v1/history?limit=5');
    assert.deepEqual(
      history.json.entries.map((e) => e.revision),
      [2, 1],
    );
    assert.equal(history.json.entries[1]?.message, 'first');

    const rolled = await call<ApplyResponseJson>(s.base, 'POST', '/v1/rollback', { revision: 1 });
    assert.equal(rolled.status, 200, JSON.stringify(rolled.json));
    assert.equal(rolled.json.revision, 3);
    const listeners = await call<ListResponseJson>(s.base, 'GET', '/v1/resources?type=lds');
    assert.equal(listeners.json.resources.length, 1);

    const status = await call<unknown>(s.base, 'GET', '/v1/status');
    assert.deepEqual(status.json, { revision: 3, nodes: [] });
  });

  test('validation errors are 400 with every detail', async () => {
    const res = await call(s.base, 'POST', '/v1/apply', {
      group: 'g2',
      resources: [cluster('a', { ports: [0] }), { '@type': 'nope' }],
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'FERRY_INVALID_CONFIG');
    assert.match(res.json.details.join('\n'), /^resources\[1\]: "@type" "nope"/m);
  });

  test('stale expected_revision is 409 FERRY_CONFLICT', async () => {
    const res = await call(s.base, 'POST', '/v1/apply', {
      group: 'g3',
      resources: [cluster('a')],
      expected_revision: 9999,
    });
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'FERRY_CONFLICT');
  });

  test('YAML bodies with query parameters', async () => {
    const yaml = `"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: y1\nconnect_timeout: 2s\n---\n"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: y2\n`;
    const res = await call<ApplyResponseJson>(
      s.base,
      'POST',
      '/v1/apply?group=yaml&dry_run=false',
      yaml,
      {
        'content-type': 'application/yaml',
      },
    );
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(
      res.json.changes.map((c) => [c.group, c.name]),
      [
        ['yaml', 'y1'],
        ['yaml', 'y2'],
      ],
    );
  });

  test('malformed requests', async () => {
    const bad = await call(s.base, 'POST', '/v1/apply', '{"resources": [');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'FERRY_BAD_REQUEST');
    assert.equal(
      (await call(s.base, 'POST', '/v1/apply', { resources: [], dryrun: true })).status,
      400,
    );
    assert.equal((await call(s.base, 'GET', '/v1/resources?type=pods')).status, 400);
    assert.equal((await call(s.base, 'GET', '/v1/apply')).status, 405);
    assert.equal((await call(s.base, 'GET', '/v2/nothing')).status, 404);
    const big = await call(s.base, 'POST', '/v1/apply', {
      resources: [{ pad: 'x'.repeat(70 * 1024) }],
    });
    assert.equal(big.status, 413);
  });

  test('secrets are redacted unless show_secrets', async () => {
    await call(s.base, 'POST', '/v1/apply', { group: 'tls', resources: [tlsSecret('cert')] });
    const hidden = await call<ResourceJson>(s.base, 'GET', '/v1/resources/secret/cert?group=tls');
    assert.deepEqual(privateKey(hidden.json.resource), {
      inline_string: '[redacted]',
    });
    const shown = await call<ResourceJson>(
      s.base,
      'GET',
      '/v1/resources/secret/cert?group=tls&show_secrets=true',
    );
    assert.match(privateKey(shown.json.resource).inline_string ?? '', /BEGIN PRIVATE KEY/);
  });
});

describe('HTTP management API authentication', () => {
  test('requires the bearer token on /v1 but not /healthz', async () => {
    const s = await start({ token: 's3cret' });
    try {
      assert.equal((await call(s.base, 'GET', '/healthz')).status, 200);
      const none = await call(s.base, 'GET', '/v1/status');
      assert.equal(none.status, 401);
      assert.equal(none.json.code, 'FERRY_UNAUTHORIZED');
      assert.equal(
        (await call(s.base, 'GET', '/v1/status', undefined, { authorization: 'Bearer wrong' }))
          .status,
        401,
      );
      assert.equal(
        (await call(s.base, 'GET', '/v1/status', undefined, { authorization: 'Bearer s3cret' }))
          .status,
        200,
      );
    } finally {
      await s.api.close();
    }
  });

  test('refuses a non-loopback address while requests without credentials are allowed', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const api = new HttpApi({
      service,
      authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
    });
    await assert.rejects(
      api.listen('0.0.0.0', 0),
      /refusing to listen on 0\.0\.0\.0 while requests without credentials are allowed/,
    );
    await api.close();
  });
});

describe('jsonTooDeep', () => {
  test('counts arrays and objects, not brackets inside strings or after escapes', () => {
    const body = (text: string): Buffer => Buffer.from(text);
    assert.equal(jsonTooDeep(body('{"a":[[1]]}'), 3), undefined);
    assert.equal(jsonTooDeep(body('{"a":[[[1]]]}'), 3), 7);
    assert.equal(jsonTooDeep(body('{"a":"[[[[\\"[[[["}'), 1), undefined);
    assert.equal(jsonTooDeep(body('['.repeat(100_000)), 100), 100);
  });
});
