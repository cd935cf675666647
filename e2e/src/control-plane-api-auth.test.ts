/**
 * The management API's authentication and roles end to end: a real control plane serving HTTPS
 * and gRPC over TLS with a test CA made by openssl, ferryctl as the operator runs it (tokens from
 * FERRY_TOKEN or its config file, --ca, --cert/--key), and the open loopback development mode.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GrpcClient, type StatusResponseMessage } from '@ferry/proto/grpc';
import { createCa, type TestCert } from '@ferry/shared/testing/test-pki';
import {
  CONTROL_PLANE_BIN,
  FERRYCTL_BIN,
  ferryctl,
  run,
  startControlPlane,
  staticClusterResource,
  stopAll,
  tempDir,
  type CommandResult,
  type ControlPlane,
} from './harness.js';

const BOOTSTRAP = 'bootstrap-admin-secret-for-this-test';

function ok(r: CommandResult, what: string): CommandResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

void describe('management API over TLS with tokens and roles', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let dir: string;
  let ca: string;
  let client: TestCert;
  const tokens: Record<string, string> = {};

  /** ferryctl against the TLS API, trusting the test CA, with `token` in FERRY_TOKEN. */
  const as = (token: string | undefined, args: string[], input?: string): Promise<CommandResult> =>
    ferryctl(
      cp.apiUrl,
      ['--ca', ca, ...args],
      input,
      token === undefined ? {} : { FERRY_TOKEN: token },
    );

  const webCluster = (name: string): string => JSON.stringify(staticClusterResource(name, [8080]));

  before(async () => {
    dir = tempDir('api-auth');
    const pki = createCa(dir, 'ca', { subject: '/CN=ferry test CA' });
    ca = pki.certFile;
    const server = pki.issue('server', {
      subject: '/CN=127.0.0.1',
      sans: ['IP:127.0.0.1', 'DNS:localhost'],
    });
    client = pki.issue('alice', { sans: ['URI:spiffe://ferry.test/alice'] });
    cp = await startControlPlane({
      args: [
        '--api-tls-cert', server.certFile, '--api-tls-key', server.keyFile, '--api-client-ca', ca,
      ], // prettier-ignore
      env: { FERRY_API_TOKEN: BOOTSTRAP },
    });
    assert.match(cp.apiUrl, /^https:\/\//);
    for (const [name, args] of [
      ['ci-web', ['--role', 'operator', '--group', 'web']],
      ['ro', ['--role', 'viewer', '--group', 'web', '--group', 'api']],
    ] as const) {
      const created = ok(
        await as(BOOTSTRAP, ['token', 'create', name, ...args]),
        `token create ${name}`,
      );
      tokens[name] = created.stdout.trim();
      assert.match(tokens[name], new RegExp(`^ferry\\.${name}\\.[A-Za-z0-9_-]{43}$`));
      assert.match(created.stderr, /shown only now/);
    }
  });
  after(() => stopAll());

  test('a viewer reads but cannot apply: exit 3 naming the role and group, nothing stored', async () => {
    ok(await as(tokens.ro, ['status']), 'viewer status');
    ok(await as(tokens.ro, ['get', 'clusters']), 'viewer get');
    const refused = await as(
      tokens.ro,
      ['apply', '-f', '-', '--group', 'web'],
      webCluster('viewer-made'),
    );
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(
      refused.stderr,
      /FERRY_FORBIDDEN: apply to group "web" needs the operator role for group "web"; token "ro" is a viewer of groups api, web/,
    );
    const listed = ok(await as(BOOTSTRAP, ['get', 'clusters', '-o', 'json']), 'admin get');
    assert.doesNotMatch(listed.stdout, /viewer-made/);
  });

  test('an operator applies to its group only; history names it as the actor', async () => {
    ok(
      await as(tokens['ci-web'], ['apply', '-f', '-', '--group', 'web'], webCluster('web-1')),
      'apply web',
    );
    const elsewhere = await as(
      tokens['ci-web'],
      ['apply', '-f', '-', '--group', 'api'],
      webCluster('api-1'),
    );
    assert.equal(elsewhere.code, 3, elsewhere.stderr);
    assert.match(elsewhere.stderr, /needs the operator role for group "api"/);

    const history = ok(await as(tokens.ro, ['history']), 'history');
    assert.match(history.stdout, /^REVISION\s+TIME\s+ACTOR\s+CHANGES\s+MESSAGE$/m);
    assert.match(history.stdout, /^\d+\s+\S+\s+ci-web\s+1 put\s+ferryctl apply -f -$/m);
    const json = JSON.parse(
      ok(await as(tokens.ro, ['history', '-o', 'json']), 'history json').stdout,
    ) as {
      entries: Array<{ actor: string; changes: Array<{ group: string; name: string }> }>;
    };
    assert.equal(
      json.entries.find((e) => e.changes.some((c) => c.name === 'web-1'))?.actor,
      'ci-web',
    );
  });

  test('show_secrets needs an admin', async () => {
    const refused = await as(tokens['ci-web'], [
      'get',
      'secrets',
      '--group',
      'web',
      '--show-secrets',
    ]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /show_secrets needs the admin role/);
    ok(await as(BOOTSTRAP, ['get', 'secrets', '--show-secrets']), 'admin show-secrets');
  });

  test('a revoked token exits 2 and says what to do', async () => {
    const created = ok(
      await as(BOOTSTRAP, ['token', 'create', 'temp', '--role', 'viewer', '--group', 'web']),
      'token create temp',
    ).stdout.trim();
    ok(await as(created, ['status']), 'before revoke');
    const listed = ok(await as(BOOTSTRAP, ['token', 'list']), 'token list').stdout;
    assert.match(listed, /^temp\s+viewer\s+web\s+token\s+never\s+\S+\s+FERRY_API_TOKEN$/m);
    assert.doesNotMatch(listed, new RegExp(created.split('.')[2] ?? 'unreachable'));
    ok(await as(BOOTSTRAP, ['token', 'revoke', 'temp']), 'token revoke');
    const refused = await as(created, ['status']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /FERRY_UNAUTHORIZED: token "temp" is not known: it was revoked or never created; ask an admin/,
    );
    const none = await as(undefined, ['status']);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /no credentials/);
  });

  test('https needs the CA: without --ca ferryctl fails with a TLS message', async () => {
    const untrusted = await ferryctl(cp.apiUrl, ['status'], undefined, {
      FERRY_TOKEN: tokens.ro ?? '',
    });
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(
      untrusted.stderr,
      /TLS: cannot verify the certificate of https:\/\/127\.0\.0\.1:\d+ .*pass the CA that signed it with --ca FILE/,
    );
  });

  test('the config file gives server, token and CA', async () => {
    const file = path.join(dir, 'ferryctl.yaml');
    fs.writeFileSync(file, `server: ${cp.apiUrl}\ntoken: ${tokens.ro}\nca: ca.crt\n`);
    // No --server, --ca or FERRY_TOKEN: everything comes from the file.
    const me = ok(
      await run(process.execPath, [FERRYCTL_BIN, 'whoami'], undefined, {
        FERRY_CONFIG: file,
        FERRY_SERVER: '',
        FERRY_TOKEN: '',
        FERRY_API_TOKEN: '',
      }),
      'whoami from config',
    );
    assert.equal(me.stdout, 'ro (token): viewer of api, web\n');
  });

  test('a client certificate bound to a role acts under it', async () => {
    const bind = ['token', 'create', 'alice', '--role', 'viewer', '--group', 'web'];
    ok(
      await as(BOOTSTRAP, [...bind, '--client-identity', 'spiffe://ferry.test/alice']),
      'bind alice',
    );
    const me = ok(
      await as(undefined, ['whoami', '--cert', client.certFile, '--key', client.keyFile]),
      'whoami',
    );
    assert.equal(me.stdout, 'alice (certificate): viewer of web\n');
    const refused = await as(
      undefined,
      ['apply', '-f', '-', '--group', 'web', '--cert', client.certFile, '--key', client.keyFile],
      webCluster('x'),
    );
    assert.equal(refused.code, 3, refused.stderr);
  });

  test('the gRPC API takes the same tokens over TLS', async () => {
    const grpcClient = new GrpcClient(
      'ferry.v1.Management',
      cp.grpcApiAddress,
      grpc.credentials.createSsl(fs.readFileSync(ca)),
    );
    try {
      const meta = (token: string): grpc.Metadata => {
        const m = new grpc.Metadata();
        m.set('authorization', `Bearer ${token}`);
        return m;
      };
      const status = await grpcClient.unary<unknown, StatusResponseMessage>(
        'Status',
        {},
        meta(tokens.ro ?? ''),
      );
      assert.ok(Number(status.revision) >= 1);
      await assert.rejects(
        grpcClient.unary('Rollback', { revision: 1, group: 'web' }, meta(tokens.ro ?? '')),
        (err: grpc.ServiceError) => {
          assert.equal(err.code, grpc.status.PERMISSION_DENIED);
          assert.match(err.details, /needs the operator role for group "web"/);
          return true;
        },
      );
      await assert.rejects(
        grpcClient.unary('Status', {}, new grpc.Metadata()),
        (err: grpc.ServiceError) => {
          assert.equal(err.code, grpc.status.UNAUTHENTICATED);
          return true;
        },
      );
    } finally {
      grpcClient.close();
    }
  });
});

void describe(
  'management API on loopback with no token: the development mode',
  { timeout: 60_000 },
  () => {
    after(() => stopAll());

    test('open with a warning until the first token exists, then every request needs one', async () => {
      const cp = await startControlPlane();
      assert.ok(
        cp.logs.some((l) => l.includes('management API open on loopback')),
        'the control plane warns that it is open',
      );
      ok(await ferryctl(cp.apiUrl, ['status']), 'status without a token');
      const admin = ok(
        await ferryctl(cp.apiUrl, ['token', 'create', 'first-admin', '--role', 'admin']),
        'the first token, made as loopback',
      ).stdout.trim();
      const closed = await ferryctl(cp.apiUrl, ['status']);
      assert.equal(closed.code, 2, closed.stderr);
      assert.match(closed.stderr, /FERRY_UNAUTHORIZED/);
      ok(
        await ferryctl(cp.apiUrl, ['status'], undefined, { FERRY_TOKEN: admin }),
        'status with it',
      );
      const history = ok(
        await ferryctl(cp.apiUrl, ['history'], undefined, { FERRY_TOKEN: admin }),
        'history',
      );
      assert.match(history.stdout, /^1\s+\S+\s+loopback\s+1 put\s+token create first-admin/m);
    });

    test('off loopback it refuses to start without credentials; a token made offline in the store lets it in', async () => {
      const store = `sqlite:${path.join(tempDir('api-offline'), 'ferry.db')}`;
      const refused = await run(process.execPath, [
        CONTROL_PLANE_BIN, '--store', store, '--xds-address', '127.0.0.1:0',
        '--api-address', '0.0.0.0:0', '--api-grpc-address', '127.0.0.1:0',
      ]); // prettier-ignore
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /refusing to bind the management API to 0\.0\.0\.0: no API token exists yet; create one in the store first \(ferry-control-plane token create NAME --role admin/,
      );

      const made = await run(process.execPath, [
        CONTROL_PLANE_BIN, 'token', 'create', 'root', '--role', 'admin', '--store', store,
      ]); // prettier-ignore
      assert.equal(made.code, 0, made.stderr);
      const root = made.stdout.trim();
      assert.match(root, /^ferry\.root\.[A-Za-z0-9_-]{43}$/);

      const cp = await startControlPlane({ store });
      assert.ok(!cp.logs.some((l) => l.includes('management API open on loopback')));
      const closed = await ferryctl(cp.apiUrl, ['status']);
      assert.equal(closed.code, 2, closed.stderr);
      const history = ok(
        await ferryctl(cp.apiUrl, ['history'], undefined, { FERRY_TOKEN: root }),
        'history',
      );
      assert.match(
        history.stdout,
        /^1\s+\S+\s+ferry-control-plane token \(\S+\)\s+1 put\s+token create root/m,
      );
    });
  },
);
