/**
 * Crash safety of the SQLite store with a real process: a child applies batches and prints each
 * acknowledged revision; the parent SIGKILLs it after a chosen number of acknowledgements (so
 * at an arbitrary point, often mid-transaction), reopens the file and checks that every
 * acknowledged revision is there and that every revision, the last included, holds its whole
 * batch and nothing of a later one. The rounds share one file, so recovery is followed by more
 * writes. Nothing is timed: the kill points are counts of acknowledgements.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore } from './store-sqlite.js';
import { crashStateAt, describeSnapshot } from './store-test-fixtures.js';

const CHILD = fileURLToPath(new URL('./store-sqlite-crash-child.js', import.meta.url));
const BATCH_SIZE = 50;
/** Acknowledgements to wait for before each kill. */
const KILL_AFTER_ACKS = [1, 3, 8, 2, 20, 45];

/** Runs the child until `acks` acknowledgements were read, SIGKILLs it, returns the highest ack. */
async function runChildAndKill(t: TestContext, file: string, acks: number): Promise<number> {
  const child = spawn(process.execPath, [CHILD, file, String(BATCH_SIZE)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let read = 0;
  let highest = 0;
  // Read every line until stdout closes: lines already in the pipe when the kill lands were
  // acknowledged too and must be present.
  for await (const line of createInterface({ input: child.stdout })) {
    const match = /^ack (\d+)$/.exec(line);
    assert.ok(match, `unexpected child output: ${line}`);
    highest = Math.max(highest, Number(match[1]));
    if (++read === acks) child.kill('SIGKILL');
  }
  const { code, signal } = await exited;
  assert.equal(signal, 'SIGKILL', `child ended with code ${code} before ${acks} acks: ${stderr}`);
  return highest;
}

async function assertConsistent(file: string, acknowledged: number): Promise<number> {
  const raw = new Database(file);
  try {
    assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    raw.close();
  }
  const store = SqliteStore.open(file);
  try {
    const latest = await store.currentRevision();
    assert.ok(
      latest >= acknowledged,
      `revision ${acknowledged} was acknowledged, store has ${latest}`,
    );
    assert.deepEqual(describeSnapshot(await store.list()), crashStateAt(latest, BATCH_SIZE));
    for (let revision = 0; revision <= latest; revision++) {
      assert.deepEqual(
        describeSnapshot(await store.listAt(revision)),
        crashStateAt(revision, BATCH_SIZE),
        `state at revision ${revision}`,
      );
    }
    const history = await store.history(latest + 10);
    assert.deepEqual(
      history.map((h) => h.message),
      Array.from({ length: latest }, (_, i) => `batch ${latest - i}`),
    );
    return latest;
  } finally {
    await store.close();
  }
}

void test(
  'SIGKILL at any point loses no acknowledged revision and never half a batch',
  { timeout: 120_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-store-crash-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'store.db');
    let previous = 0;
    for (const acks of KILL_AFTER_ACKS) {
      const acknowledged = await runChildAndKill(t, file, acks);
      // Each round continues from the recovered state, so its acks start above the last round's.
      assert.ok(acknowledged >= previous + acks, `round after ${previous}: acked ${acknowledged}`);
      previous = await assertConsistent(file, acknowledged);
    }
  },
);
