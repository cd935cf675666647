import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerryError } from '@ferry/shared';
import { openStore } from './open-store.js';
import { MemoryStore } from './store-memory.js';
import { SqliteStore } from './store-sqlite.js';

void test('openStore opens the store each supported spec names', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-open-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases = [
    { spec: 'memory:', kind: MemoryStore },
    { spec: `sqlite:${join(dir, 'plain.db')}`, kind: SqliteStore },
    { spec: `sqlite://${join(dir, 'url-form.db')}`, kind: SqliteStore },
  ];
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
