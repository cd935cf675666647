/**
 * Who may do what over the HTTP management API: every route against every role, per group
 * (access.ts), and who is recorded for each write.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { MemoryStore } from '../store/store-memory.js';
import { cluster, TEST_CERT } from '../validation/test-fixtures.js';
import { IN_PROCESS_CALLER } from './access.js';
import { Authenticator, certificateIdentities, LOOPBACK_CALLER } from './authenticator.js';
import { HttpApi } from './http-api.js';
import { ManagementService } from './management-service.js';
import type { HistoryJson, ListResponseJson } from './wire-json.js';

interface Reply {
  status: number;
  authenticate: string | null;
  json: { code?: string; message?: string } & Record<string, unknown>;
}

async function call(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    authenticate: res.headers.get('www-authenticate'),
    json: res.headers.get('content-type')?.includes('json')
      ? (JSON.parse(text) as Reply['json'])
      : {},
  };
}

describe('HTTP management API: roles per route and group', () => {
  const service = new ManagementService({ store: new MemoryStore() });
  const api = new HttpApi({
    service,
    authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
  });
  let base = '';
  const token: Record<string, string> = {};

  before(async () => {
    base = `http://127.0.0.1:${(await api.listen('127.0.0.1', 0)).port}`;
    for (const [name, role, groups] of [
      ['root', 'admin', []],
      ['op-web', 'operator', ['web']],
      ['view-web', 'viewer', ['web']],
      ['view-all', 'viewer', ['*']],
    ] as const) {
      const created = await service.createToken(
        { name, role, groups: [...groups] },
        IN_PROCESS_CALLER,
      );
      token[name] = created.token ?? '';
    }
    await service.apply({ group: 'web', documents: [cluster('w')] });
    await service.apply({ group: 'api', documents: [cluster('a')] });
  });
  after(() => api.close());

  const applyTo = (group: string, extra: Record<string, unknown> = {}): unknown => ({
    group,
    resources: [cluster('w2', { ports: [9090] })],
    ...extra,
  });

  // [who, method, path, body, status, message pattern]
  const table: Array<[string | undefined, string, string, unknown, number, RegExp?]> = [
    [undefined, 'GET', '/v1/status', undefined, 401, /no credentials/],
    [undefined, 'GET', '/metrics', undefined, 401],
    ['view-web', 'GET', '/v1/status', undefined, 200],
    ['view-web', 'GET', '/metrics', undefined, 200],
    ['view-web', 'GET', '/v1/resources?group=web', undefined, 200],
    [
      'view-web',
      'GET',
      '/v1/resources?group=api',
      undefined,
      403,
      /reading group "api" needs the viewer role for group "api"/,
    ],
    ['view-web', 'GET', '/v1/resources/clusters/a?group=api', undefined, 403],
    [
      'view-web',
      'POST',
      '/v1/apply',
      applyTo('web'),
      403,
      /apply to group "web" needs the operator role for group "web"; token "view-web" is a viewer of group web/,
    ],
    ['view-web', 'POST', '/v1/apply', applyTo('web', { dry_run: true }), 200],
    ['view-web', 'POST', '/v1/rollback', { revision: 0, group: 'web' }, 403],
    ['view-web', 'DELETE', '/v1/resources/clusters/w?group=web', undefined, 403],
    [
      'op-web',
      'POST',
      '/v1/apply',
      applyTo('api'),
      403,
      /needs the operator role for group "api"; token "op-web" is an operator of group web/,
    ],
    [
      'op-web',
      'POST',
      '/v1/delete',
      { group: 'api', resources: [{ type: 'clusters', name: 'a' }] },
      403,
    ],
    ['op-web', 'POST', '/v1/rollback', { revision: 0 }, 403, /it changes group "api"/],
    [
      'op-web',
      'GET',
      '/v1/resources?show_secrets=true',
      undefined,
      403,
      /show_secrets needs the admin role/,
    ],
    ['op-web', 'GET', '/v1/tokens', undefined, 403, /token list needs the admin role/],
    ['op-web', 'POST', '/v1/tokens', { name: 'x', role: 'admin' }, 403],
    ['op-web', 'DELETE', '/v1/tokens/view-web', undefined, 403],
    ['view-all', 'GET', '/v1/resources?group=api', undefined, 200],
    ['view-all', 'POST', '/v1/apply', applyTo('api'), 403],
    ['root', 'GET', '/v1/resources?show_secrets=true', undefined, 200],
    ['root', 'GET', '/v1/tokens', undefined, 200],
    ['root', 'GET', '/v1/whoami', undefined, 200],
    ['nobody', 'GET', '/v1/status', undefined, 401, /not a Ferry API token/],
  ];

  test('each route answers each role as access.ts says', async () => {
    for (const [who, method, path, body, status, pattern] of table) {
      const reply = await call(
        base,
        who === undefined ? undefined : (token[who] ?? who),
        method,
        path,
        body,
      );
      const label = `${who ?? 'no credentials'} ${method} ${path}`;
      assert.equal(reply.status, status, `${label}: ${JSON.stringify(reply.json)}`);
      if (status === 401) {
        assert.equal(reply.json.code, 'FERRY_UNAUTHORIZED', label);
        assert.equal(reply.authenticate, 'Bearer realm="ferry"', label);
      }
      if (status === 403) assert.equal(reply.json.code, 'FERRY_FORBIDDEN', label);
      if (pattern) assert.match(reply.json.message ?? '', pattern, label);
    }
    // Nothing refused above was written: the store holds the two clusters applied in-process.
    const all = (await call(base, token.root, 'GET', '/v1/resources'))
      .json as unknown as ListResponseJson;
    assert.deepEqual(
      all.resources.map((r) => `${r.group}/${r.name}`),
      ['api/a', 'web/w'],
    );
  });

  test('a viewer of some groups sees only their resources and history', async () => {
    const list = (await call(base, token['view-web'], 'GET', '/v1/resources'))
      .json as unknown as ListResponseJson;
    assert.deepEqual(
      list.resources.map((r) => `${r.group}/${r.name}`),
      ['web/w'],
    );
    const history = (await call(base, token['view-web'], 'GET', '/v1/history'))
      .json as unknown as HistoryJson;
    assert.ok(history.entries.length > 0);
    for (const e of history.entries)
      for (const c of e.changes) assert.equal(c.group, 'web', e.message);
  });

  test('writes record the token that made them; history shows it', async () => {
    const applied = await call(base, token['op-web'], 'POST', '/v1/apply', applyTo('web'));
    assert.equal(applied.status, 200, JSON.stringify(applied.json));
    const deleted = await call(
      base,
      token['op-web'],
      'DELETE',
      '/v1/resources/clusters/w2?group=web',
    );
    assert.equal(deleted.status, 200, JSON.stringify(deleted.json));
    const rolled = await call(base, token.root, 'POST', '/v1/rollback', {
      revision: 0,
      group: 'web',
      dry_run: false,
    });
    assert.equal(rolled.status, 200, JSON.stringify(rolled.json));
    const history = (await call(base, token.root, 'GET', '/v1/history?limit=3'))
      .json as unknown as HistoryJson;
    assert.deepEqual(
      history.entries.map((e) => [e.actor, e.message.split(' ')[0]]),
      [
        ['root', 'rollback'],
        ['op-web', 'delete'],
        ['op-web', 'apply'],
      ],
    );
  });

  test('a revoked token is refused from the next request on', async () => {
    const created = await call(base, token.root, 'POST', '/v1/tokens', {
      name: 'short',
      role: 'viewer',
      groups: ['web'],
    });
    assert.equal(created.status, 201);
    const secret = String(created.json.token);
    assert.equal((await call(base, secret, 'GET', '/v1/status')).status, 200);
    assert.equal((await call(base, token.root, 'DELETE', '/v1/tokens/short')).status, 200);
    const refused = await call(base, secret, 'GET', '/v1/status');
    assert.equal(refused.status, 401);
    assert.match(refused.json.message ?? '', /"short" is not known: it was revoked/);
  });
});

describe('Authenticator: the open loopback mode and the bootstrap token', () => {
  test('no token and loopback: requests without credentials act as admin "loopback"; the first token closes it', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const auth = new Authenticator({ tokens: service.tokens, openOnLoopback: true });
    assert.deepEqual(await auth.authenticate({}), LOOPBACK_CALLER);
    await service.tokens.create({ name: 'first', role: 'admin', groups: [] }, 'loopback');
    await assert.rejects(auth.authenticate({}), /FERRY_UNAUTHORIZED|no credentials/);
  });

  test('a bootstrap token or a closed mode means credentials are always needed', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const bootstrap = new Authenticator({
      tokens: service.tokens,
      bootstrapToken: 'b00t',
      openOnLoopback: true,
    });
    await assert.rejects(bootstrap.authenticate({}), /no credentials/);
    assert.equal(
      (await bootstrap.authenticate({ authorization: 'Bearer b00t' })).name,
      'FERRY_API_TOKEN',
    );
    await assert.rejects(
      bootstrap.authenticate({ authorization: 'Bearer b00' }),
      /not a Ferry API token/,
    );
    await assert.rejects(
      bootstrap.authenticate({ authorization: 'Basic abc' }),
      /not "Bearer <token>"/,
    );
    const closed = new Authenticator({ tokens: service.tokens, openOnLoopback: false });
    await assert.rejects(closed.authenticate({}), /no credentials/);
  });

  test('a certificate is known by its SANs and CN', () => {
    const der = new X509Certificate(TEST_CERT).raw;
    assert.deepEqual(certificateIdentities(der), ['ferry-test']);
  });
});
