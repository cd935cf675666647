import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toYaml } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import { Authenticator } from '../api/authenticator.js';
import { HttpApi } from '../api/http-api.js';
import { ManagementService } from '../api/management-service.js';
import { basicGroup, cluster, listener, tlsSecret } from '../validation/test-fixtures.js';
import type { ApplyResponseJson, ListResponseJson } from '../api/wire-json.js';

const BIN = fileURLToPath(new URL('../../bin/ferryctl', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ferryctl(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

describe('ferryctl against a live API', () => {
  let api: HttpApi;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    api = new HttpApi({
      service,
      authenticator: new Authenticator({
        tokens: service.tokens,
        bootstrapToken: 'tok',
        openOnLoopback: true,
      }),
    });
    const { port } = await api.listen('127.0.0.1', 0);
    env = { FERRY_SERVER: `http://127.0.0.1:${port}`, FERRY_API_TOKEN: 'tok' };
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferryctl-test-'));
    const [web, webEndpoints, apiCluster, routes, http] = basicGroup();
    await fs.mkdir(path.join(dir, 'config'));
    // A directory is read in name order; the batch is validated as a whole, so order does not matter.
    await fs.writeFile(path.join(dir, 'config', '10-listener.yaml'), toYaml(http));
    await fs.writeFile(path.join(dir, 'config', '20-routes.json'), JSON.stringify(routes));
    await fs.writeFile(
      path.join(dir, 'config', '30-clusters.yml'),
      [web, webEndpoints, apiCluster].map((d) => toYaml(d)).join('---\n'),
    );
    await fs.writeFile(path.join(dir, 'config', 'README.md'), 'not config');
    await fs.writeFile(
      path.join(dir, 'bad.yaml'),
      toYaml(cluster('x')) + '---\n' + toYaml(listener('l', { port: 0, rds: 'gone' })),
    );
    await fs.writeFile(
      path.join(dir, 'update.yaml'),
      toYaml(cluster('api', { ports: [9999] })) + '---\n' + toYaml(cluster('new')),
    );
  });

  after(async () => {
    await api.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('--help and per-command help', async () => {
    const help = await ferryctl(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: ferryctl COMMAND/);
    const applyHelp = await ferryctl(['apply', '--help']);
    assert.equal(applyHelp.code, 0);
    assert.match(applyHelp.stdout, /Usage: ferryctl apply -f/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await ferryctl(['frobnicate'], env)).code, 2);
    assert.equal((await ferryctl(['get'], env)).code, 2);
    assert.equal((await ferryctl(['get', 'pods'], env)).code, 2);
    const missing = await ferryctl(['apply', '-f', path.join(dir, 'nope.yaml')], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file or directory/);
  });

  test('connection errors exit 2', async () => {
    const r = await ferryctl(['status', '--server', 'http://127.0.0.1:1'], {
      FERRY_API_TOKEN: 'tok',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot reach the Ferry API at http:\/\/127\.0\.0\.1:1/);
  });

  test('a wrong token is refused', async () => {
    const r = await ferryctl(['status'], {
      FERRY_SERVER: env.FERRY_SERVER ?? '',
      FERRY_TOKEN: 'wrong',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /FERRY_UNAUTHORIZED/);
  });

  test('apply a directory, then get, diff, delete, history and rollback', async () => {
    const dry = await ferryctl(['apply', '-f', path.join(dir, 'config'), '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: validated against revision 0; nothing written/);

    const applied = await ferryctl(['apply', '-f', path.join(dir, 'config')], env);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^RESOURCE\s+GROUP\s+ACTION$/m);
    assert.match(applied.stdout, /^listener\/http\s+default\s+created$/m);
    assert.match(applied.stdout, /^revision 1$/m);

    const table = await ferryctl(['get', 'clusters'], env);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^KIND\s+NAME\s+GROUP\s+VERSION\s+REVISION$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/)[1]),
      ['api', 'web'],
    );
    // Columns are aligned: every row's NAME starts where the header's does.
    assert.ok(lines.every((l) => l.indexOf(l.split(/\s+/)[1] ?? '') === lines[0]?.indexOf('NAME')));

    const json = await ferryctl(['get', 'cds', 'web', '-o', 'json'], env);
    const listed = JSON.parse(json.stdout) as ListResponseJson;
    assert.equal(listed.resources[0]?.resource.type, 'EDS');
    const yaml = await ferryctl(
      ['get', 'envoy.config.route.v3.RouteConfiguration', 'main', '-o', 'yaml'],
      env,
    );
    assert.match(
      yaml.stdout,
      /^"@type": type\.googleapis\.com\/envoy\.config\.route\.v3\.RouteConfiguration$/m,
    );
    assert.equal((await ferryctl(['get', 'cluster', 'ghost'], env)).code, 1);

    const diff = await ferryctl(['diff', '-f', path.join(dir, 'update.yaml')], env);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /# cluster\/api \(group default\): updated/);
    assert.match(diff.stdout, /^-\s+port_value: 8080$/m);
    assert.match(diff.stdout, /^\+\s+port_value: 9999$/m);
    assert.match(diff.stdout, /# cluster\/new \(group default\): created\n--- \/dev\/null/);

    const refused = await ferryctl(['delete', 'cluster', 'api'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: FERRY_REFERENCED/m);
    assert.match(
      refused.stderr,
      /^ {2}resources\[0\]\(Cluster "api"\): still referenced by RouteConfiguration "main"/m,
    );

    const deleted = await ferryctl(['delete', 'listener', 'http'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /^listener\/http\s+default\s+deleted$/m);

    const history = await ferryctl(['history'], env);
    assert.match(history.stdout, /^REVISION\s+TIME\s+ACTOR\s+CHANGES\s+MESSAGE$/m);
    assert.match(
      history.stdout,
      /^2\s+\S+\s+FERRY_API_TOKEN\s+1 deleted\s+ferryctl delete listener http$/m,
    );

    const rolled = await ferryctl(['rollback', '1'], env);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.match(rolled.stdout, /^listener\/http\s+default\s+created$/m);
    assert.match(rolled.stdout, /^revision 3$/m);
  });

  test('rejected input exits 1 with every detail and its source document', async () => {
    const r = await ferryctl(['apply', '-f', path.join(dir, 'bad.yaml'), '-g', 'other'], env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error: FERRY_INVALID_CONFIG: apply to group "other" rejected: 2 problems$/m,
    );
    assert.match(
      r.stderr,
      /^ {2}resources\[1\]\(Listener "l"\)\.address\.socket_address\.port_value: .*\(.*bad\.yaml document 2\)$/m,
    );
    assert.match(r.stderr, /route configuration "gone" does not exist in group "other"/);
  });

  test('apply from stdin, secrets redacted unless --show-secrets, status', async () => {
    const r = await ferryctl(
      ['apply', '-f', '-', '-g', 'tls', '-o', 'json'],
      env,
      toYaml(tlsSecret('cert')),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as ApplyResponseJson).changes[0]?.action, 'created');
    const hidden = await ferryctl(['get', 'secret', 'cert', '-g', 'tls', '-o', 'yaml'], env);
    assert.match(hidden.stdout, /inline_string: "\[redacted\]"/);
    assert.doesNotMatch(hidden.stdout, /PRIVATE KEY/);
    const shown = await ferryctl(
      ['get', 'secret', 'cert', '-g', 'tls', '-o', 'yaml', '--show-secrets'],
      env,
    );
    assert.match(shown.stdout, /BEGIN PRIVATE KEY/);
    const status = await ferryctl(['status'], env);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /^revision \d+\nno proxies connected$/m);
  });
});
