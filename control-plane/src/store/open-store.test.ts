import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerryError } from '@ferry/shared';
import { openStore } from './open-store.js';
import { MemoryStore } from './store-memory.js';
import { SqliteStore } from './store-sqlite.js';
import { etcdStoreOptions, type EtcdAccess } from './store-etcd-spec.js';
import { EtcdStore } from './store-etcd.js';

void test('openStore opens the store each supported spec names', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-open-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases = [
    { spec: 'memory:', kind: MemoryStore },
    { spec: `sqlite:${join(dir, 'plain.db')}`, kind: SqliteStore },
    { spec: `sqlite://${join(dir, 'url-form.db')}`, kind: SqliteStore },
  ];
  // An etcd store connects on first use: opening it needs no etcd.
  const etcd = await openStore('etcd://127.0.0.1:2379/ferry');
  assert.ok(etcd instanceof EtcdStore);
  await etcd.close();
  for (const { spec, kind } of cases) {
    const store = await openStore(spec);
    try {
      assert.ok(store instanceof kind, spec);
      assert.equal(await store.currentRevision(), 0);
    } finally {
      await store.close();
    }
  }
});

void test('openStore rejects other specs with FERRY_BAD_REQUEST naming the supported schemes', async () => {
  const cases = [
    { spec: 'etcd://', says: /names no endpoint/ },
    { spec: 'etcd://127.0.0.1/ferry', says: /endpoint "127.0.0.1" is not HOST:PORT/ },
    { spec: 'etcd://a:1,b:99999/ferry', says: /endpoint "b:99999" is not HOST:PORT/ },
    { spec: 'postgres://db/ferry', says: /scheme "postgres:" is not supported/ },
    { spec: 'sqlite:', says: /names no file/ },
    { spec: 'memory:extra', says: /memory: takes nothing after the colon/ },
    { spec: '/var/lib/ferry.db', says: /has no scheme/ },
    { spec: '', says: /has no scheme/ },
  ];
  for (const { spec, says } of cases) {
    await assert.rejects(openStore(spec), (err: unknown) => {
      assert.ok(isFerryError(err), spec);
      assert.equal(err.code, 'FERRY_BAD_REQUEST', spec);
      assert.match(err.message, says, spec);
      assert.match(err.message, /sqlite:PATH|etcd:\/\/HOST:PORT/, spec);
      return true;
    });
  }
});

void test('etcd specs: endpoints, prefix and TLS from the URL, secrets from files or the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-etcd-spec-'));
  try {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 's3cret\n');
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, 'CA PEM');
    const plain = etcdStoreOptions('etcd://10.0.0.1:2379,etcd-2.internal:2379/team/ferry', {}, {});
    assert.deepEqual(plain, {
      endpoints: ['10.0.0.1:2379', 'etcd-2.internal:2379'],
      prefix: '/team/ferry',
    });
    assert.equal(etcdStoreOptions('etcd://h:1', {}, {}).prefix, '');
    const tls = etcdStoreOptions('etcds://[::1]:2379/p', { caFile }, {});
    assert.equal(tls.tls?.ca?.toString(), 'CA PEM');
    assert.deepEqual(
      etcdStoreOptions('etcd://h:1/p', { username: 'ferry', passwordFile }, {}).auth,
      { username: 'ferry', password: 's3cret' },
    );
    assert.deepEqual(
      etcdStoreOptions('etcd://h:1/p', { username: 'ferry' }, { FERRY_ETCD_PASSWORD: 'env' }).auth,
      { username: 'ferry', password: 'env' },
    );
    const refused: Array<{ spec: string; access: EtcdAccess; says: RegExp }> = [
      { spec: 'etcd://h:1/p', access: { caFile }, says: /need etcds:\/\// },
      {
        spec: 'etcds://h:1/p',
        access: { certFile: caFile },
        says: /--etcd-cert and --etcd-key go together/,
      },
      {
        spec: 'etcd://h:1/p',
        access: { username: 'ferry' },
        says: /--etcd-password-file FILE or FERRY_ETCD_PASSWORD/,
      },
      {
        spec: 'etcd://h:1/p',
        access: { passwordFile },
        says: /--etcd-password-file needs --etcd-username/,
      },
      {
        spec: 'etcds://h:1/p',
        access: { caFile: join(dir, 'missing') },
        says: /--etcd-ca .*missing/,
      },
      { spec: 'etcd://h:1/p?x=1', access: {}, says: /not an etcd URL/ },
    ];
    for (const { spec, access, says } of refused) {
      assert.throws(
        () => etcdStoreOptions(spec, access, {}),
        (err: unknown) => {
          assert.ok(isFerryError(err), spec);
          assert.equal(err.code, 'FERRY_BAD_REQUEST');
          assert.match(err.message, says, spec);
          return true;
        },
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
