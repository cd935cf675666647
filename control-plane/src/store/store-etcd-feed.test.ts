import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdFeed, type AsyncChangeLog } from './store-etcd-feed.js';
import type { ChangeEvent } from './store.js';

/** A log of revisions 1..latest whose reads wait until the test releases them, one at a time. */
class GatedLog implements AsyncChangeLog {
  latest = 0;
  private readonly gates: (() => void)[] = [];
  readsWaiting = 0;

  latestRevision(): Promise<number> {
    return Promise.resolve(this.latest);
  }

  async eventsBetween(after: number, upTo: number, limit: number): Promise<ChangeEvent[]> {
    this.readsWaiting += 1;
    await new Promise<void>((resolve) => this.gates.push(resolve));
    this.readsWaiting -= 1;
    const events: ChangeEvent[] = [];
    for (let r = after + 1; r <= Math.min(upTo, after + limit); r++)
      events.push({ revision: r, changes: [] });
    return events;
  }

  release(): void {
    this.gates.shift()?.();
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('EtcdFeed', () => {
  test('a watcher added while a read is in flight gets every revision from its own, in order (regression: it skipped to the read)', async () => {
    const log = new GatedLog();
    const feed = new EtcdFeed(log, (err) => assert.fail(err));
    log.latest = 10;
    const first: number[] = [];
    feed.add(10, (e) => first.push(e.revision));
    // Revision 11 is committed: the feed reads 10..11 for the first watcher.
    log.latest = 11;
    feed.notify();
    await until(() => log.readsWaiting === 1, 'the read after 10');
    // A replica starting now: it wants everything from the beginning.
    const late: number[] = [];
    feed.add(0, (e) => late.push(e.revision));
    while (late.length < 11) {
      await until(() => log.readsWaiting === 1 || late.length === 11, 'a read');
      log.release();
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(first, [11]);
    assert.deepEqual(
      late,
      Array.from({ length: 11 }, (_v, i) => i + 1),
    );
    feed.close();
  });
});
