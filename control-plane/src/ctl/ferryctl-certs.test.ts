/**
 * `ferryctl certs` against a live API on a memory store: AcmeCertificates with their state, every
 * certificate in stored Secrets per group, and the expiry warning threshold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MemoryStore } from '../store/store-memory.js';
import { HttpApi } from '../api/http-api.js';
import { ManagementService } from '../api/management-service.js';
import { Authenticator } from '../api/authenticator.js';
import { IN_PROCESS_CALLER } from '../api/access.js';
import { certificatesStatus } from '../acme/acme-status.js';
import { stateMutation, EMPTY_STATE } from '../acme/acme-records.js';
import { tlsSecret } from '../validation/test-fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/ferryctl', import.meta.url));
const run = promisify(execFile);

function ferryctl(
  args: string[],
  server: string,
  token: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--server', server, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...(token ? { FERRY_API_TOKEN: token } : {}) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function certificate(
  dir: string,
  name: string,
  days: number,
): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    String(days),
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name},DNS:www.${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert: await fs.readFile(cert, 'utf8'), key: await fs.readFile(key, 'utf8') };
}

void describe('ferryctl certs', () => {
  let api: HttpApi;
  let server: string;
  let dir: string;
  let viewWeb = '';
  let admin = '';
  /** ferryctl certs ARGS as the admin. */
  const certs = (args: string[]): ReturnType<typeof ferryctl> =>
    ferryctl(['certs', ...args], server, admin);

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferryctl-certs-'));
    const store = new MemoryStore();
    const service = new ManagementService({ store });
    api = new HttpApi({
      service,
      authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
      certificates: (group, readable) => certificatesStatus(store, group, readable),
    });
    server = `http://127.0.0.1:${(await api.listen('127.0.0.1', 0)).port}`;
    const soon = await certificate(dir, 'soon.example.com', 10);
    const later = await certificate(dir, 'later.example.com', 100);
    await service.apply({ group: 'edge', documents: [tlsSecret('soon', soon.cert, soon.key)] });
    await service.apply({ group: 'web', documents: [tlsSecret('later', later.cert, later.key)] });
    await service.apply({
      group: 'edge',
      documents: [
        {
          '@type': 'type.googleapis.com/ferry.v1.AcmeCertificate',
          name: 'shop',
          domains: ['shop.example.com'],
          directory_url: 'https://acme.example.com/directory',
          secret_name: 'shop-tls',
        },
      ],
    });
    admin =
      (await service.createToken({ name: 'root', role: 'admin', groups: [] }, IN_PROCESS_CALLER))
        .token ?? '';
    viewWeb =
      (
        await service.createToken(
          { name: 'view-web', role: 'viewer', groups: ['web'] },
          IN_PROCESS_CALLER,
        )
      ).token ?? '';
    const spec = (await store.list({ typeUrl: 'type.googleapis.com/ferry.v1.AcmeCertificate' }))
      .resources[0]!;
    await store.apply([
      stateMutation('edge', 'shop', {
        ...EMPTY_STATE,
        status: 'FAILED',
        specVersion: spec.version,
        lastError: 'connection refused',
        failures: 3,
        nextAttemptAt: '2030-01-01T00:00:00.000Z',
      }),
    ]);
  });

  after(async () => {
    await api.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('lists ACME certificates and certificates in Secrets, warning under 21 days', async () => {
    const out = await certs([]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stdout,
      /edge\s+shop\s+shop\.example\.com\s+edge\/shop-tls\s+FAILED \(3x, retry 2030-01-01T00:00:00.000Z\)/,
    );
    assert.match(out.stdout, /connection refused/);
    assert.match(
      out.stdout,
      /edge\s+soon\s+CN=soon\.example\.com\s+soon\.example\.com,www\.soon\.example\.com\s+\S+\s+(9|10)\s/,
    );
    assert.match(out.stdout, /web\s+later\s+CN=later\.example\.com/);
    assert.match(
      out.stdout,
      /WARNING: secret edge\/soon \(soon\.example\.com,www\.soon\.example\.com\) expires in (9|10) days \(under 21\)/,
    );
    assert.doesNotMatch(out.stdout, /WARNING: secret web\/later/);
  });

  test('--warn-days sets the threshold; --group narrows; -o json carries it', async () => {
    const none = await certs(['--warn-days', '5']);
    assert.doesNotMatch(none.stdout, /WARNING/);
    const both = await certs(['--warn-days=200']);
    assert.equal(both.stdout.match(/WARNING/g)?.length, 2);
    const web = await certs(['-g', 'web', '-o', 'json']);
    const json = JSON.parse(web.stdout) as {
      warn_days: number;
      acme_certificates: unknown[];
      secrets: Array<{ name: string }>;
    };
    assert.equal(json.warn_days, 21);
    assert.deepEqual(json.acme_certificates, []);
    assert.deepEqual(
      json.secrets.map((s) => s.name),
      ['later'],
    );
    const bad = await certs(['--warn-days', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--warn-days: expected a whole number of days, got "soon"/);
  });

  test('a viewer of one group sees only that group’s certificates', async () => {
    const out = await ferryctl(['certs', '-o', 'json'], server, viewWeb);
    assert.equal(out.code, 0, out.stderr);
    const json = JSON.parse(out.stdout) as {
      acme_certificates: unknown[];
      secrets: Array<{ group: string }>;
    };
    assert.deepEqual(json.acme_certificates, []);
    assert.deepEqual(
      json.secrets.map((s) => s.group),
      ['web'],
    );
  });
});
