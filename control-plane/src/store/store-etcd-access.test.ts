/**
 * Reaching etcd as operators run it, on real etcd: TLS with a client certificate (etcds://,
 * --etcd-ca/--etcd-cert/--etcd-key) and etcd's auth (--etcd-username with the password from a file
 * or FERRY_ETCD_PASSWORD). What is refused is refused with FERRY_STORE_UNAVAILABLE and a message
 * saying what to check.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerryError } from '@ferry/shared';
import { etcdctl, startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import { createCa } from '@ferry/shared/testing/test-pki';
import type { ResourceStore } from './store.js';
import { EtcdStore } from './store-etcd.js';
import { etcdStoreOptions } from './store-etcd-spec.js';
import { describeSnapshot, put } from './store-test-fixtures.js';

function unavailable(says: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isFerryError(err), String(err));
    assert.equal(err.code, 'FERRY_STORE_UNAVAILABLE', err.message);
    assert.match(err.message, says);
    return true;
  };
}

async function roundTrip(store: ResourceStore): Promise<void> {
  try {
    await store.apply([put('a', '1')]);
    assert.deepEqual(describeSnapshot(await store.list()), ['Cluster default/a v:1 rev=1 1']);
  } finally {
    await store.close();
  }
}

void describe('EtcdStore over TLS with client certificates', { timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  let dir: string;
  let files: { ca: string; cert: string; key: string; otherCa: string };
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-etcd-tls-'));
    const ca = createCa(dir, 'etcd-ca');
    const server = ca.issue('etcd-server', { sans: ['IP:127.0.0.1', 'DNS:localhost'] });
    const client = ca.issue('ferry-client', { subject: '/CN=ferry' });
    const other = createCa(dir, 'other-ca');
    files = {
      ca: ca.certFile,
      cert: client.certFile,
      key: client.keyFile,
      otherCa: other.certFile,
    };
    etcd = await startEtcd({
      tls: {
        certFile: server.certFile,
        keyFile: server.keyFile,
        caFile: ca.certFile,
        clientCertAuth: true,
        probe: { certFile: client.certFile, keyFile: client.keyFile },
      },
    });
  });
  test.after(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('etcds:// with the CA and a client certificate works', async () => {
    const spec = `etcds://${etcd.endpoints.join(',')}/tls`;
    await roundTrip(
      EtcdStore.open(
        etcdStoreOptions(spec, { caFile: files.ca, certFile: files.cert, keyFile: files.key }),
      ),
    );
  });

  void test('without a client certificate, or trusting another CA, etcd is unavailable', async () => {
    const spec = `etcds://${etcd.endpoints.join(',')}/tls`;
    const cases = [
      { caFile: files.ca },
      { caFile: files.otherCa, certFile: files.cert, keyFile: files.key },
    ];
    for (const access of cases) {
      const store = EtcdStore.open({ ...etcdStoreOptions(spec, access), callTimeoutMs: 3000 });
      try {
        await assert.rejects(store.currentRevision(), unavailable(/etcd .*: /));
      } finally {
        await store.close();
      }
    }
  });
});

void describe("EtcdStore with etcd's auth", { timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  let dir: string;
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-etcd-auth-'));
    etcd = await startEtcd();
    const steps = [
      ['user', 'add', 'root:root-secret'],
      ['role', 'add', 'ferry'],
      ['role', 'grant-permission', 'ferry', 'readwrite', '/ferry-auth/', '--prefix=true'],
      ['user', 'add', 'ferry:ferry-secret'],
      ['user', 'grant-role', 'ferry', 'ferry'],
      ['auth', 'enable'],
    ];
    for (const step of steps) await etcdctl(etcd, step);
  });
  test.after(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('the password from a file or FERRY_ETCD_PASSWORD', async () => {
    const spec = `etcd://${etcd.endpoints.join(',')}/ferry-auth`;
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'ferry-secret\n');
    await roundTrip(EtcdStore.open(etcdStoreOptions(spec, { username: 'ferry', passwordFile })));
    const fromEnv = EtcdStore.open(
      etcdStoreOptions(spec, { username: 'ferry' }, { FERRY_ETCD_PASSWORD: 'ferry-secret' }),
    );
    try {
      assert.equal(await fromEnv.currentRevision(), 1);
    } finally {
      await fromEnv.close();
    }
  });

  void test('a wrong password, no user, or a prefix outside the role are refused', async () => {
    const endpoints = etcd.endpoints.join(',');
    const cases = [
      {
        options: etcdStoreOptions(
          `etcd://${endpoints}/ferry-auth`,
          { username: 'ferry' },
          { FERRY_ETCD_PASSWORD: 'wrong' },
        ),
        says: /authentication failed.*--etcd-username/,
      },
      {
        options: etcdStoreOptions(`etcd://${endpoints}/ferry-auth`),
        says: /user name is empty.*--etcd-username/,
      },
      {
        options: etcdStoreOptions(
          `etcd://${endpoints}/elsewhere`,
          { username: 'ferry' },
          { FERRY_ETCD_PASSWORD: 'ferry-secret' },
        ),
        says: /permission denied.*role on the prefix/,
      },
    ];
    for (const { options, says } of cases) {
      const store = EtcdStore.open({ ...options, callTimeoutMs: 3000 });
      try {
        await assert.rejects(store.apply([put('a', '1')]), unavailable(says));
      } finally {
        await store.close();
      }
    }
  });
});
