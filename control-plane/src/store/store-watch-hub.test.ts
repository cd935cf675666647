import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent } from './store.js';
import { WatchHub, type ChangeLog } from './store-watch-hub.js';
import { put } from './store-test-fixtures.js';

/** A log in memory whose reads can be made to fail, standing in for an unreadable file. */
class FlakyLog implements ChangeLog {
  readonly events: ChangeEvent[] = [];
  failReads = 0;

  append(): void {
    const revision = this.events.length + 1;
    this.events.push({ revision, changes: [put(`r${revision}`, String(revision))] });
  }

  latestRevision(): number {
    return this.events.length;
  }

  eventsBetween(after: number, upTo: number, limit: number): ChangeEvent[] {
    if (this.failReads > 0) {
      this.failReads--;
      throw new Error('disk I/O error');
    }
    return this.events.slice(after, Math.min(upTo, after + limit));
  }
}

void test('a failed read loses nothing: the next notify resumes where delivery stopped', async () => {
  const log = new FlakyLog();
  const readErrors: string[] = [];
  const hub = new WatchHub(log, (err) => readErrors.push(err.message));
  const seen: number[] = [];
  log.append();
  log.failReads = 1;
  hub.add(0, (e) => seen.push(e.revision));
  await Promise.resolve();
  assert.deepEqual(readErrors, ['disk I/O error']);
  assert.deepEqual(seen, []);
  assert.equal(hub.needsRetry, true);
  log.append();
  hub.notify();
  await Promise.resolve();
  assert.deepEqual(seen, [1, 2]);
  assert.equal(hub.needsRetry, false);
  hub.close();
});

void test('replay of a long log is read in chunks and delivered in order', async () => {
  const log = new FlakyLog();
  for (let i = 0; i < 1000; i++) log.append();
  const limits: number[] = [];
  const chunked: ChangeLog = {
    latestRevision: () => log.latestRevision(),
    eventsBetween: (after, upTo, limit) => {
      limits.push(limit);
      return log.eventsBetween(after, upTo, limit);
    },
  };
  const hub = new WatchHub(chunked);
  const seen: number[] = [];
  hub.add(10, (e) => seen.push(e.revision));
  await Promise.resolve();
  assert.deepEqual(
    seen,
    Array.from({ length: 990 }, (_, i) => i + 11),
  );
  assert.ok(limits.length > 1, 'read in more than one chunk');
  hub.close();
});
