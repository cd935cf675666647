import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineQueue, deadlineQueueFor, type DeadlineEntry } from './deadline-queue.js';
import { eventually } from './codec/codec-test-fixtures.js';

class Entry implements DeadlineEntry {
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineQueue: DeadlineQueue | undefined = undefined;
  expiredAt = -1;
  armedAt = -1;
  onExpiry: (() => void) | undefined;

  constructor(
    readonly name: string,
    private readonly order: string[],
  ) {}

  arm(queue: DeadlineQueue): void {
    this.armedAt = performance.now();
    queue.add(this);
  }

  onDeadline(): void {
    this.expiredAt = performance.now();
    this.order.push(this.name);
    this.onExpiry?.();
  }
}

test('entries expire in arming order, never before their duration; removed ones never', async () => {
  const order: string[] = [];
  const queue = new DeadlineQueue(30, true);
  const a = new Entry('a', order);
  const b = new Entry('b', order);
  const c = new Entry('c', order);
  a.arm(queue);
  b.arm(queue);
  c.arm(queue);
  // The head is removed: the list's timer, due for it, must go on to the next entries.
  queue.remove(a);
  await eventually(() => order.length === 2, 'b and c expire');
  assert.deepEqual(order, ['b', 'c']);
  for (const entry of [b, c]) {
    assert.ok(entry.expiredAt - entry.armedAt >= 30, `${entry.name} expired early`);
    assert.equal(entry.deadlineQueue, undefined);
  }
  assert.equal(a.expiredAt, -1);
});

test('re-arming restarts the countdown: an entry re-armed before expiring waits again', async () => {
  const order: string[] = [];
  const queue = new DeadlineQueue(40, true);
  const kept = new Entry('kept', order);
  const other = new Entry('other', order);
  kept.arm(queue);
  other.arm(queue);
  // Re-armed: it moves behind `other` and its deadline restarts.
  kept.arm(queue);
  await eventually(() => order.length === 2, 'both expire');
  assert.deepEqual(order, ['other', 'kept']);
  assert.ok(kept.expiredAt - kept.armedAt >= 40, 'the re-armed entry expired early');
});

test('an entry armed from an expiry callback, and moved between durations, expires once in its new queue', async () => {
  const order: string[] = [];
  const short = deadlineQueueFor(10, true);
  const long = deadlineQueueFor(60, true);
  assert.equal(deadlineQueueFor(10, true), short, 'one queue per duration');
  const first = new Entry('first', order);
  const chained = new Entry('chained', order);
  const moved = new Entry('moved', order);
  first.onExpiry = () => chained.arm(short);
  first.arm(short);
  moved.arm(short);
  moved.arm(long);
  await eventually(() => order.length === 3, 'every entry expires');
  assert.deepEqual(order, ['first', 'chained', 'moved']);
  assert.ok(moved.expiredAt - moved.armedAt >= 60, 'the moved entry kept its old duration');
});

test('a queue whose entries are all removed leaves no timer holding the process', () => {
  const queue = new DeadlineQueue(60_000, true);
  const entry = new Entry('e', []);
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  entry.arm(queue);
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before + 1);
  queue.remove(entry);
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
});
