/**
 * AcmeManager with a recording issuer in place of the CA (the real CA path is e2e, against
 * Pebble): one lease holder among replicas sharing a store, no order while a valid Secret exists
 * (after a restart or a state loss it is adopted), renewal when due, and exponential backoff.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseResourceJson } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import type { Mutation, ResourceStore } from '../store/store.js';
import { FleetTracker } from '../xds/fleet.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { AcmeChallengeOverlay } from './acme-challenge-overlay.js';
import { AcmeManager, type CertificateIssuer } from './acme-manager.js';
import {
  ACME_ACTOR,
  ACME_STATE_TYPE,
  decodeAcmeState,
  type AcmeStateRecord,
} from './acme-records.js';
import type { AcmeSpec } from './acme-spec.js';
import { leafInfo, secretChainPem, secretMutation, SECRET_TYPE } from './certificate-info.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'ferry-acme-manager-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let certCount = 0;
/** A self-signed certificate for `domain`, valid `days`, made with openssl. */
async function certificate(domain: string, days: number): Promise<{ cert: string; key: string }> {
  certCount += 1;
  const key = join(dir, `${certCount}.key`);
  const cert = join(dir, `${certCount}.crt`);
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
    `/CN=${domain}`,
    '-addext',
    `subjectAltName=DNS:${domain}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

function acmeCertificate(extra: Record<string, unknown> = {}): Mutation {
  const parsed = parseResourceJson({
    '@type': 'type.googleapis.com/ferry.v1.AcmeCertificate',
    name: 'web',
    domains: ['web.example.com'],
    directory_url: 'https://ca.example.com/directory',
    secret_name: 'web-tls',
    ...extra,
  });
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.join('; '));
  const { type, name, bytes, version } = parsed.value;
  return { op: 'put', typeUrl: type.typeUrl, group: 'edge', name, value: bytes, version };
}

/** Records orders; answers with `next` (a certificate, or an error to throw). */
class RecordingIssuer implements CertificateIssuer {
  readonly orders: Array<{ spec: AcmeSpec; state: AcmeStateRecord }> = [];
  next: Array<{ cert: string; key: string } | Error> = [];

  issue(
    spec: AcmeSpec,
    state: AcmeStateRecord,
  ): Promise<{ chainPem: string; privateKeyPem: string }> {
    this.orders.push({ spec, state });
    const answer = this.next.shift() ?? new Error('no certificate prepared');
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve({ chainPem: answer.cert, privateKeyPem: answer.key });
  }
}

function manager(
  store: ResourceStore,
  replica: string,
  issuer: CertificateIssuer,
  retryBaseMs = 60_000,
): AcmeManager {
  return new AcmeManager({
    store,
    cache: new SnapshotCache({ store, debounceMs: 0 }),
    fleet: new FleetTracker(),
    overlay: new AcmeChallengeOverlay(),
    replica,
    issuer,
    leaseTtlMs: 3000,
    checkIntervalMs: 50,
    retryBaseMs,
  });
}

async function state(store: ResourceStore): Promise<AcmeStateRecord | undefined> {
  const r = (await store.list({ typeUrl: ACME_STATE_TYPE, group: 'edge', name: 'web' }))
    .resources[0];
  return r && decodeAcmeState(r.value);
}

async function secretSerial(store: ResourceStore): Promise<string | undefined> {
  const r = (await store.list({ typeUrl: SECRET_TYPE.typeUrl, group: 'edge', name: 'web-tls' }))
    .resources[0];
  const chain = r && secretChainPem(r.value);
  return chain ? leafInfo(chain)?.serial : undefined;
}

async function until<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

void describe('AcmeManager', () => {
  void test('of two replicas sharing a store, exactly one orders, once', async (t) => {
    const store = new MemoryStore();
    const issued = await certificate('web.example.com', 30);
    const issuers = [new RecordingIssuer(), new RecordingIssuer()];
    for (const i of issuers) i.next.push(issued);
    const managers = [manager(store, 'a', issuers[0]!), manager(store, 'b', issuers[1]!)];
    t.after(async () => {
      for (const m of managers) await m.close();
      await store.close();
    });
    await store.apply([acmeCertificate()]);
    await Promise.all(managers.map((m) => m.start()));
    assert.equal(managers.filter((m) => m.isLeader).length, 1);
    const serial = await until(() => secretSerial(store), 'the Secret');
    assert.equal(serial, leafInfo(issued.cert)!.serial);
    const s = await until(
      async () => ((await state(store))?.status === 'VALID' ? state(store) : undefined),
      'VALID',
    );
    assert.equal(s.serial, serial);
    assert.equal(issuers[0]!.orders.length + issuers[1]!.orders.length, 1);
    const issuedRevision = (await store.history()).find((h) => /issued/.test(h.message));
    assert.equal(issuedRevision?.actor, ACME_ACTOR, 'history says who wrote the Secret');
    // The holder stops; the other replica takes over and finds nothing to order.
    const leader = managers.find((m) => m.isLeader)!;
    const other = managers.find((m) => m !== leader)!;
    await leader.close();
    await until(
      () => Promise.resolve(other.isLeader ? true : undefined),
      'the other replica to take the lease',
    );
    await store.apply([acmeCertificate({ email: 'ops@example.com' })]);
    // A changed spec is re-checked; the Secret still covers the domains, so it is adopted.
    await until(async () => {
      const now = await state(store);
      return now?.status === 'VALID' && now.replica === (leader === managers[0] ? 'b' : 'a')
        ? true
        : undefined;
    }, 'the new holder to adopt the Secret');
    assert.equal(issuers[0]!.orders.length + issuers[1]!.orders.length, 1);
  });

  void test('a valid Secret is adopted after a restart without ordering; a due one is renewed', async (t) => {
    const store = new MemoryStore();
    const existing = await certificate('web.example.com', 1);
    await store.apply([
      acmeCertificate(),
      secretMutation('edge', 'web-tls', existing.cert, existing.key),
    ]);
    const issuer = new RecordingIssuer();
    const m = manager(store, 'a', issuer);
    t.after(async () => {
      await m.close();
      await store.close();
    });
    await m.start();
    const adopted = await until(
      async () => ((await state(store))?.status === 'VALID' ? state(store) : undefined),
      'adoption',
    );
    assert.equal(adopted.serial, leafInfo(existing.cert)!.serial);
    assert.equal(issuer.orders.length, 0);

    // Renewal due: less than renew_before (2 days) remains of a 1-day certificate.
    const renewed = await certificate('web.example.com', 30);
    issuer.next.push(renewed);
    await store.apply([acmeCertificate({ renew_before: '172800s' })]);
    await until(
      async () =>
        (await secretSerial(store)) === leafInfo(renewed.cert)!.serial ? true : undefined,
      'the renewed Secret',
    );
    assert.equal(issuer.orders.length, 1);
  });

  void test('a Secret that does not cover the domains is replaced', async (t) => {
    const store = new MemoryStore();
    const wrong = await certificate('other.example.com', 30);
    await store.apply([
      acmeCertificate(),
      secretMutation('edge', 'web-tls', wrong.cert, wrong.key),
    ]);
    const issuer = new RecordingIssuer();
    issuer.next.push(await certificate('web.example.com', 30));
    const m = manager(store, 'a', issuer);
    t.after(async () => {
      await m.close();
      await store.close();
    });
    await m.start();
    await until(async () => ((await state(store))?.status === 'VALID' ? true : undefined), 'VALID');
    assert.equal(issuer.orders.length, 1);
  });

  void test('failures are recorded and retried with a doubling delay', async (t) => {
    const store = new MemoryStore();
    await store.apply([acmeCertificate()]);
    const issuer = new RecordingIssuer();
    issuer.next.push(new Error('CA said no'), new Error('CA said no again'));
    const m = manager(store, 'a', issuer, 200);
    t.after(async () => {
      await m.close();
      await store.close();
    });
    await m.start();
    const second = await until(async () => {
      const s = await state(store);
      return s?.failures === 2 ? s : undefined;
    }, 'two failures');
    assert.equal(second.status, 'FAILED');
    assert.equal(second.lastError, 'CA said no again');
    // next_attempt_at is set before updated_at: the recorded delay is at most 400 ms (2 × 200).
    const delay = Date.parse(second.nextAttemptAt) - Date.parse(second.updatedAt);
    assert.ok(delay > 200 && delay <= 400, `second delay ${delay} ms`);
    assert.equal(issuer.orders[1]!.state.failures, 1, 'the second attempt saw the first failure');
    const issued = await certificate('web.example.com', 30);
    issuer.next.push(issued);
    const ok = await until(
      async () => ((await state(store))?.status === 'VALID' ? state(store) : undefined),
      'VALID after retries',
    );
    assert.equal(ok.failures, 0);
    assert.equal(ok.lastError, '');
  });
});
