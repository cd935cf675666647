import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRing, type Resume } from './event-ring.js';

function ids(r: Resume): string[] | 'reset' {
  return r.reset ? 'reset' : r.events.map((e) => e.id);
}

describe('event ring', () => {
  test('a cursor resumes with exactly the later events, in order', () => {
    const ring = new EventRing(100, 1 << 20, 'ep');
    for (let i = 0; i < 5; i++) ring.append('store', 'web', { i });
    assert.equal(ring.newest, 'ep-5');
    assert.deepEqual(ids(ring.since('ep-2')), ['ep-3', 'ep-4', 'ep-5']);
    assert.deepEqual(ids(ring.since('ep-0')), ['ep-1', 'ep-2', 'ep-3', 'ep-4', 'ep-5']);
    assert.deepEqual(ids(ring.since('ep-5')), []);
  });

  test('each frame is one SSE event: id, event type and one JSON data line', () => {
    const ring = new EventRing(10, 1 << 20, 'ep');
    const e = ring.append('node', 'web', { node_id: 'a\nb', text: 'x\r\ny' });
    assert.equal(e.frame, 'id: ep-1\nevent: node\ndata: {"node_id":"a\\nb","text":"x\\r\\ny"}\n\n');
  });

  test('past the count bound the oldest go, and a cursor before them resets', () => {
    const ring = new EventRing(3, 1 << 20, 'ep');
    for (let i = 0; i < 10; i++) ring.append('store', 'web', { i });
    assert.equal(ring.size, 3);
    // ep-7 is the predecessor of the oldest kept (ep-8): nothing is missing.
    assert.deepEqual(ids(ring.since('ep-7')), ['ep-8', 'ep-9', 'ep-10']);
    assert.equal(ids(ring.since('ep-6')), 'reset');
    assert.equal(ids(ring.since('ep-0')), 'reset');
  });

  test('past the byte bound the oldest go (the newest always stays)', () => {
    const ring = new EventRing(1000, 500, 'ep');
    for (let i = 0; i < 50; i++) ring.append('store', 'web', { pad: 'x'.repeat(100) });
    assert.ok(ring.size >= 1 && ring.size <= 4, `kept ${ring.size}`);
    ring.append('store', 'web', { pad: 'y'.repeat(2000) });
    assert.equal(ring.size, 1);
    assert.deepEqual(ids(ring.since('ep-50')), ['ep-51']);
  });

  test('cursors of another epoch, from the future, or malformed reset', () => {
    const ring = new EventRing(10, 1 << 20, 'ep');
    ring.append('store', 'web', {});
    assert.equal(ids(ring.since('other-1')), 'reset');
    assert.equal(ids(ring.since('ep-2')), 'reset');
    assert.equal(ids(ring.since('garbage')), 'reset');
    assert.equal(ids(ring.since('ep-99999999999999999999')), 'reset');
  });

  test('stays consistent across compactions of a long run', () => {
    const ring = new EventRing(10, 1 << 20, 'ep');
    for (let i = 1; i <= 5000; i++) ring.append('store', 'web', { i });
    assert.equal(ring.size, 10);
    assert.deepEqual(ids(ring.since('ep-4997')), ['ep-4998', 'ep-4999', 'ep-5000']);
    assert.equal(ids(ring.since('ep-4989')), 'reset');
  });

  test('sequence numbers taken for events kept elsewhere leave gaps that resume skips', () => {
    const ring = new EventRing(100, 1 << 20, 'ep');
    ring.append('store', 'web', {});
    assert.equal(ring.take(), 2);
    assert.equal(ring.take(), 3);
    ring.append('store', 'web', {});
    assert.equal(ring.newest, 'ep-4');
    assert.deepEqual(ids(ring.since('ep-0')), ['ep-1', 'ep-4']);
    assert.deepEqual(ids(ring.since('ep-2')), ['ep-4']);
    assert.deepEqual(ids(ring.since('ep-4')), []);
    assert.equal(ring.seqOf('ep-5'), undefined);
  });

  test('with gaps, a cursor resets only when a kept event after it was dropped', () => {
    const ring = new EventRing(2, 1 << 20, 'ep');
    ring.append('store', 'web', {}); // 1, dropped below
    ring.take(); // 2
    ring.append('store', 'web', {}); // 3
    ring.take(); // 4
    ring.append('store', 'web', {}); // 5
    assert.equal(ids(ring.since('ep-0')), 'reset');
    assert.deepEqual(ids(ring.since('ep-1')), ['ep-3', 'ep-5']);
    assert.deepEqual(ids(ring.since('ep-2')), ['ep-3', 'ep-5']);
    assert.deepEqual(ids(ring.since('ep-4')), ['ep-5']);
  });
});
