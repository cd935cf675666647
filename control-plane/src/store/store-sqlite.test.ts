/**
 * What the SQLite store promises beyond the shared contract (store-contract.test.ts): the file
 * outlives the process, a failed batch leaves no trace, several connections share one file, and
 * the schema is versioned.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isFerryError, type ErrorCode } from '@ferry/shared';
import { SqliteStore } from './store-sqlite.js';
import { SCHEMA_VERSION } from './store-sqlite-schema.js';
import {
  TRACEPARENT_A,
  TRACEPARENT_B,
  WatchRecorder,
  del,
  describeChanges,
  describeSnapshot,
  put,
} from './store-test-fixtures.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-store-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openClosedLater(t: TestContext, file: string, pollIntervalMs?: number): SqliteStore {
  const store = SqliteStore.open(file, pollIntervalMs === undefined ? {} : { pollIntervalMs });
  t.after(() => store.close());
  return store;
}

function failsWith(code: ErrorCode, pattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isFerryError(err), `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

void describe('SqliteStore', { timeout: 20_000 }, () => {
  void test('open creates missing parent directories and a WAL file at the current schema', async (t) => {
    const file = join(tempDir(t), 'a', 'b', 'store.db');
    const store = openClosedLater(t, file);
    await store.apply([put('a', '1')]);
    assert.ok(existsSync(file));
    const raw = new Database(file, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    } finally {
      raw.close();
    }
  });

  void test('everything survives close and reopen, and watches replay from the file', async (t) => {
    const file = join(tempDir(t), 'store.db');
    const first = SqliteStore.open(file);
    await first.apply([put('a', '1'), put('b', '1')], { message: 'one' });
    await first.apply([del('a'), put('b', '2')], { message: 'two' });
    const before = {
      list: describeSnapshot(await first.list()),
      past: describeSnapshot(await first.listAt(1)),
      history: await first.history(),
    };
    await first.close();

    const second = openClosedLater(t, file);
    assert.equal(await second.currentRevision(), 2);
    assert.deepEqual(describeSnapshot(await second.list()), before.list);
    assert.deepEqual(describeSnapshot(await second.listAt(1)), before.past);
    assert.deepEqual(await second.history(), before.history);
    const watcher = new WatchRecorder(second, 0);
    await second.apply([put('c', '1')]);
    await watcher.until(3);
    assert.deepEqual(
      watcher.events.map((e) => [e.revision, ...describeChanges(e.changes)]),
      [
        [1, 'put default/a v:1 1', 'put default/b v:1 1'],
        [2, 'delete default/a', 'put default/b v:2 2'],
        [3, 'put default/c v:1 1'],
      ],
    );
  });

  void test('a batch that fails half-way leaves no trace: no revision, no resource, no event', async (t) => {
    const file = join(tempDir(t), 'store.db');
    const store = openClosedLater(t, file);
    await store.apply([put('a', '1')]);
    // A trigger makes SQLite itself fail on the third row, after two rows were written.
    const raw = new Database(file);
    raw.exec(`CREATE TRIGGER fail_on_boom BEFORE INSERT ON resources WHEN NEW.name = 'boom'
              BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    raw.close();
    const watcher = new WatchRecorder(store, 0);
    await assert.rejects(
      store.apply([put('a', '2'), put('b', '1'), put('boom', 'x')]),
      failsWith('FERRY_INTERNAL', /injected failure/),
    );
    await store.apply([put('c', '1')]);
    await watcher.until(2);
    assert.deepEqual(watcher.revisions, [1, 2]);
    assert.deepEqual(describeSnapshot(await store.list()), [
      'Cluster default/a v:1 rev=1 1',
      'Cluster default/c v:1 rev=2 1',
    ]);
    assert.deepEqual(
      (await store.history()).map((h) => h.revision),
      [2, 1],
    );
  });

  void test('two stores on one file share revisions and detect each other’s conflicts', async (t) => {
    const file = join(tempDir(t), 'store.db');
    const one = openClosedLater(t, file);
    const two = openClosedLater(t, file);
    assert.equal((await one.apply([put('a', '1')])).revision, 1);
    assert.equal((await two.apply([put('b', '1')])).revision, 2);
    assert.equal(await one.currentRevision(), 2);
    await assert.rejects(
      one.apply([put('a', '2')], { expectedRevision: 1 }),
      failsWith('FERRY_CONFLICT'),
    );
    assert.deepEqual(describeSnapshot(await one.list()), describeSnapshot(await two.list()));
  });

  void test('two stores on one file see one lease holder, and a lease survives reopening', async (t) => {
    const file = join(tempDir(t), 'ferry.db');
    const a = openClosedLater(t, file);
    const b = openClosedLater(t, file);
    assert.equal((await a.acquireLease('acme', 'replica-a', 60_000)).held, true);
    const refused = await b.acquireLease('acme', 'replica-b', 60_000);
    assert.equal(refused.held, false);
    assert.equal(refused.lease?.holder, 'replica-a');
    await a.close();
    const reopened = openClosedLater(t, file);
    assert.equal((await reopened.renewLease('acme', 'replica-a', 60_000)).held, true);
    await reopened.releaseLease('acme', 'replica-a');
    assert.equal((await b.acquireLease('acme', 'replica-b', 60_000)).held, true);
  });

  void test('watchers receive revisions committed through another connection', async (t) => {
    const file = join(tempDir(t), 'store.db');
    // A short poll keeps the test quick; correctness does not depend on it.
    const watched = openClosedLater(t, file, 10);
    const writer = openClosedLater(t, file);
    await watched.apply([put('a', '1')]);
    const watcher = new WatchRecorder(watched, 0);
    await writer.apply([put('b', '1')]);
    await writer.apply([put('a', '2')]);
    await watcher.until(3);
    await watched.apply([del('b')]);
    await watcher.until(4);
    assert.deepEqual(
      watcher.events.map((e) => [e.revision, ...describeChanges(e.changes)]),
      [
        [1, 'put default/a v:1 1'],
        [2, 'put default/b v:1 1'],
        [3, 'put default/a v:2 2'],
        [4, 'delete default/b'],
      ],
    );
  });

  void test('a file from a newer schema is refused with FERRY_STORE_UNAVAILABLE', (t) => {
    const file = join(tempDir(t), 'store.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(
      () => SqliteStore.open(file),
      failsWith('FERRY_STORE_UNAVAILABLE', /newer than this Ferry understands/),
    );
  });

  void test('a file from before actors were recorded opens, keeps its history and records actors from then on', async (t) => {
    const file = join(tempDir(t), 'store.db');
    const before = SqliteStore.open(file);
    await before.apply([put('a', '1')], { message: 'old', actor: 'dropped below' });
    await before.close();
    // Turn the file back into schema version 1: no actor column, no leases, leased records or
    // trimmed-log base.
    const raw = new Database(file);
    raw.exec('ALTER TABLE revisions DROP COLUMN actor');
    raw.exec('ALTER TABLE revisions DROP COLUMN traceparent');
    raw.exec('DROP TABLE leases');
    raw.exec('DROP TABLE leased');
    raw.exec('DROP TABLE base');
    raw.exec('DROP TABLE log_base');
    raw.pragma('user_version = 1');
    raw.close();
    const store = openClosedLater(t, file);
    await store.apply([put('a', '2')], { message: 'new', actor: 'ci-web' });
    // The migrations since added leased records.
    await store.putLeased('ns', 'k', 'h', Uint8Array.of(1), 60_000);
    assert.equal((await store.listLeased('ns')).length, 1);
    assert.deepEqual(
      (await store.history()).map((h) => [h.revision, h.actor, h.message]),
      [
        [2, 'ci-web', 'new'],
        [1, '', 'old'],
      ],
    );
    // ... and the trimmed log's base.
    assert.deepEqual(await store.trimHistory({ throughRevision: 1, maxRevisions: 10 }), {
      base: 1,
      trimmed: 1,
    });
    assert.deepEqual(describeSnapshot(await store.listAt(1)), ['Cluster default/a v:1 rev=1 1']);
  });

  void test('a file from before trace contexts were recorded opens and records them from then on', async (t) => {
    const file = join(tempDir(t), 'store.db');
    const before = SqliteStore.open(file);
    await before.apply([put('a', '1')], { message: 'old', traceparent: TRACEPARENT_A });
    await before.close();
    // Back to schema version 5: no traceparent column.
    const raw = new Database(file);
    raw.exec('ALTER TABLE revisions DROP COLUMN traceparent');
    raw.pragma('user_version = 5');
    raw.close();
    const store = openClosedLater(t, file);
    await store.apply([put('a', '2')], { message: 'new', traceparent: TRACEPARENT_B });
    assert.deepEqual(
      (await store.history()).map((h) => [h.revision, h.traceparent]),
      [
        [2, TRACEPARENT_B],
        [1, undefined],
      ],
    );
    const watched = new WatchRecorder(store, 0);
    t.after(() => watched.watch.close());
    await watched.until(2);
    assert.deepEqual(
      watched.events.map((e) => [e.revision, e.traceparent]),
      [
        [1, undefined],
        [2, TRACEPARENT_B],
      ],
    );
  });

  void test('trimming the log gives the freed pages back to the file system (incremental vacuum)', async (t) => {
    const file = join(tempDir(t), 'store.db');
    const store = openClosedLater(t, file);
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 40; i++) await store.apply([put('big', `${i}${big}`)]);
    // The WAL holds the newest pages until a checkpoint; measure the database file itself.
    const raw = new Database(file);
    t.after(() => raw.close());
    assert.equal(raw.pragma('auto_vacuum', { simple: true }), 2, 'INCREMENTAL on a new file');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const grown = statSync(file).size;
    assert.deepEqual(await store.trimHistory({ throughRevision: 39, maxRevisions: 100 }), {
      base: 39,
      trimmed: 39,
    });
    raw.pragma('wal_checkpoint(TRUNCATE)');
    assert.equal(raw.pragma('freelist_count', { simple: true }), 0);
    const trimmed = statSync(file).size;
    assert.ok(trimmed < grown / 4, `file ${grown} bytes before, ${trimmed} after trimming`);
  });

  void test('a file that is not a database is refused with FERRY_STORE_UNAVAILABLE', (t) => {
    const file = join(tempDir(t), 'store.db');
    writeFileSync(file, 'this is not an SQLite database, just some text '.repeat(100));
    assert.throws(() => SqliteStore.open(file), failsWith('FERRY_STORE_UNAVAILABLE', /NOTADB/));
  });

  void test('values come back as the same bytes, including empty and binary ones', async (t) => {
    const store = openClosedLater(t, join(tempDir(t), 'store.db'));
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
    await store.apply([
      { op: 'put', typeUrl: 't', group: 'g', name: 'bin', value: binary, version: 'v1' },
      {
        op: 'put',
        typeUrl: 't',
        group: 'g',
        name: 'empty',
        value: new Uint8Array(),
        version: 'v0',
      },
    ]);
    const { resources } = await store.list({ typeUrl: 't' });
    const byName = new Map(resources.map((r) => [r.name, r.value]));
    assert.deepEqual(byName.get('bin'), binary);
    assert.deepEqual(byName.get('empty'), new Uint8Array());
    const [past] = (await store.listAt(1, { name: 'bin' })).resources;
    assert.deepEqual(past?.value, binary);
  });
});
