import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isFerryError, type ErrorCode } from '@ferry/shared';
import { MemoryStore } from '../store/store-memory.js';
import { API_TOKEN_TYPE, ApiTokens, INTERNAL_GROUP } from './api-tokens.js';
import { ManagementService } from './management-service.js';
import { basicGroup } from '../validation/test-fixtures.js';

function failsWith(code: ErrorCode, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isFerryError(err), `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message + '\n' + err.details.join('\n'), pattern);
    return true;
  };
}

void describe('ApiTokens', () => {
  void test('a created token is ferry.NAME.SECRET with 32 random bytes; the store keeps only its SHA-256', async () => {
    const store = new MemoryStore();
    const tokens = new ApiTokens(store);
    const { token, record } = await tokens.create(
      { name: 'ci-web', role: 'operator', groups: ['web', 'api', 'web'] },
      'admin-1',
    );
    assert.ok(token);
    const match = /^ferry\.ci-web\.([A-Za-z0-9_-]+)$/.exec(token);
    assert.ok(match, token);
    const secret = match[1] ?? '';
    assert.equal(Buffer.from(secret, 'base64url').length, 32);
    assert.deepEqual(record.groups, ['api', 'web']);

    const { resources } = await store.list({ typeUrl: API_TOKEN_TYPE });
    assert.equal(resources.length, 1);
    assert.equal(resources[0]?.group, INTERNAL_GROUP);
    const stored = Buffer.from(resources[0]?.value ?? []);
    assert.ok(!stored.includes(secret), 'the secret itself is not stored');
    assert.ok(!stored.includes(Buffer.from(secret, 'base64url')), 'nor its bytes');
    assert.ok(stored.includes(createHash('sha256').update(secret).digest()), 'its digest is');

    const [history] = await store.history(1);
    assert.equal(history?.actor, 'admin-1');
    assert.match(history?.message ?? '', /token create ci-web/);
  });

  void test('verify accepts the token and refuses a wrong secret, a revoked, an expired or a malformed one', async () => {
    let now = Date.UTC(2026, 0, 1);
    const tokens = new ApiTokens(new MemoryStore(), () => new Date(now));
    const { token } = await tokens.create(
      { name: 'ops', role: 'operator', groups: ['web'], expiresInSeconds: 3600 },
      'a',
    );
    assert.ok(token);
    assert.deepEqual(await tokens.verify(token), {
      name: 'ops',
      role: 'operator',
      groups: ['web'],
      via: 'token',
    });
    const wrong = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    await assert.rejects(
      tokens.verify(wrong),
      failsWith('FERRY_UNAUTHORIZED', /wrong secret for token "ops"/),
    );
    await assert.rejects(
      tokens.verify('s3cret'),
      failsWith('FERRY_UNAUTHORIZED', /not a Ferry API token/),
    );
    await assert.rejects(
      tokens.verify('ferry.nobody.abc'),
      failsWith('FERRY_UNAUTHORIZED', /"nobody" is not known: it was revoked or never created/),
    );

    now += 3600_000;
    await assert.rejects(
      tokens.verify(token),
      failsWith('FERRY_UNAUTHORIZED', /"ops" expired at 2026-01-01T01:00:00Z/),
    );

    await tokens.revoke('ops', 'a');
    await assert.rejects(
      tokens.verify(token),
      failsWith('FERRY_UNAUTHORIZED', /revoked or never created/),
    );
    await assert.rejects(
      tokens.revoke('ops', 'a'),
      failsWith('FERRY_NOT_FOUND', /"ops" does not exist/),
    );
  });

  void test('a recreated name gets a new secret: the old token stays refused', async () => {
    const tokens = new ApiTokens(new MemoryStore());
    const first = await tokens.create({ name: 'ci', role: 'viewer', groups: ['*'] }, 'a');
    await assert.rejects(
      tokens.create({ name: 'ci', role: 'viewer', groups: ['*'] }, 'a'),
      failsWith('FERRY_CONFLICT', /"ci" already exists; revoke it first/),
    );
    await tokens.revoke('ci', 'a');
    const second = await tokens.create({ name: 'ci', role: 'viewer', groups: ['*'] }, 'a');
    assert.notEqual(first.token, second.token);
    await assert.rejects(
      tokens.verify(first.token ?? ''),
      failsWith('FERRY_UNAUTHORIZED', /wrong secret/),
    );
    assert.equal((await tokens.verify(second.token ?? '')).name, 'ci');
  });

  void test('create succeeds while other writers move the revision between its check and its write', async () => {
    const store = new MemoryStore();
    let interleaved = 0;
    const list = store.list.bind(store);
    // Another writer (an apply, a health report) commits right after each of the first two checks.
    store.list = async (filter) => {
      const snapshot = await list(filter);
      if (filter?.typeUrl === API_TOKEN_TYPE && interleaved < 2) {
        interleaved++;
        const value = new Uint8Array([interleaved]);
        await store.apply([
          { op: 'put', typeUrl: 'other', group: 'g', name: 'n', value, version: `v${interleaved}` },
        ]);
      }
      return snapshot;
    };
    const tokens = new ApiTokens(store);
    const { token } = await tokens.create({ name: 'busy', role: 'viewer', groups: ['web'] }, 'a');
    assert.equal(interleaved, 2);
    assert.equal((await tokens.verify(token ?? '')).name, 'busy');
  });

  void test('create checks every field and says what is wrong', async () => {
    const tokens = new ApiTokens(new MemoryStore());
    await assert.rejects(
      tokens.create({ name: 'Bad.Name', role: 'root', groups: [], expiresInSeconds: -1 }, 'a'),
      failsWith(
        'FERRY_BAD_REQUEST',
        /name: "Bad.Name" is not a token name[\s\S]*role: expected viewer, operator or admin, got "root"[\s\S]*expires_in_seconds/,
      ),
    );
    await assert.rejects(
      tokens.create({ name: 'v', role: 'viewer', groups: [] }, 'a'),
      failsWith('FERRY_BAD_REQUEST', /groups: at least one group/),
    );
    await assert.rejects(
      tokens.create({ name: 'a', role: 'admin', groups: ['web'] }, 'a'),
      failsWith('FERRY_BAD_REQUEST', /an admin holds every group/),
    );
    const admin = await tokens.create({ name: 'root', role: 'admin', groups: [] }, 'a');
    assert.deepEqual(admin.record.groups, ['*']);
    assert.deepEqual(
      (await tokens.list()).map((t) => [t.name, t.role, t.groups]),
      [['root', 'admin', ['*']]],
    );
  });

  void test('a client-certificate binding has no secret and verifies by certificate identity', async () => {
    const tokens = new ApiTokens(new MemoryStore());
    const created = await tokens.create(
      {
        name: 'alice',
        role: 'operator',
        groups: ['web'],
        clientIdentity: 'spiffe://example.org/alice',
      },
      'a',
    );
    assert.equal(created.token, undefined);
    assert.deepEqual(await tokens.verifyCertificate(['spiffe://example.org/alice', 'alice']), {
      name: 'alice',
      role: 'operator',
      groups: ['web'],
      via: 'certificate',
    });
    await assert.rejects(
      tokens.verifyCertificate(['CN=mallory']),
      failsWith('FERRY_UNAUTHORIZED', /not bound to a role/),
    );
    // A binding has no secret: no bearer token can stand for it.
    await assert.rejects(
      tokens.verify('ferry.alice.anything'),
      failsWith('FERRY_UNAUTHORIZED', /wrong secret/),
    );
  });

  void test('tokens are not configuration: not listed, not rolled back, shown in history as ApiToken', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    await service.apply({ documents: basicGroup() });
    await service.tokens.create({ name: 'ops', role: 'operator', groups: ['default'] }, 'root');
    const listed = await service.list();
    assert.ok(listed.resources.every((r) => r.typeUrl !== API_TOKEN_TYPE));
    const rolled = await service.rollback({ revision: 0 });
    assert.ok(rolled.changes.every((c) => c.typeUrl !== API_TOKEN_TYPE));
    assert.equal((await service.tokens.list()).length, 1, 'the rollback left the token alone');
    const history = await service.history();
    const created = history.find((e) => e.message.startsWith('token create'));
    assert.equal(created?.actor, 'root');
    assert.deepEqual(
      created?.changes.map((c) => [c.kind, c.group, c.name]),
      [['ApiToken', INTERNAL_GROUP, 'ops']],
    );
  });
});
