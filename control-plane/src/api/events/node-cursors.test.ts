import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeCursors } from './node-cursors.js';

describe('node cursors', () => {
  test('a resume gets each node changed after the cursor once, at its last change, in order', () => {
    const n = new NodeCursors(10);
    n.changed('a', 1);
    n.changed('b', 2);
    n.changed('a', 3);
    n.changed('c', 4);
    assert.deepEqual(n.since(1)?.changed, [
      ['b', 2],
      ['a', 3],
      ['c', 4],
    ]);
    assert.deepEqual(n.since(3)?.changed, [['c', 4]]);
    assert.deepEqual(n.since(4), { changed: [], gone: [] });
  });

  test('a departed node is a departure, not a change', () => {
    const n = new NodeCursors(10);
    n.changed('a', 1);
    n.changed('b', 2);
    n.gone('a', 'web', 3);
    assert.deepEqual(n.since(0), {
      changed: [['b', 2]],
      gone: [{ seq: 3, nodeId: 'a', group: 'web' }],
    });
    assert.deepEqual(n.since(3), { changed: [], gone: [] });
    assert.equal(n.nodes, 1);
  });

  test('past the departure bound the oldest go, and a resume before them is refused', () => {
    const n = new NodeCursors(4);
    for (let seq = 1; seq <= 9; seq++) n.gone(`n${seq}`, 'web', seq);
    const kept = n.since(8);
    assert.deepEqual(
      kept?.gone.map((d) => d.seq),
      [9],
    );
    assert.equal(n.since(0), undefined);
    // At least three quarters of the bound stay; the cursor just before the oldest kept resumes.
    const oldest = [1, 2, 3, 4, 5, 6, 7, 8, 9].find((s) => n.since(s - 1) !== undefined)!;
    assert.ok(oldest > 1 && oldest <= 7, `oldest kept ${oldest}`);
    assert.deepEqual(
      n.since(oldest - 1)?.gone.map((d) => d.seq),
      [...Array(10 - oldest).keys()].map((i) => i + oldest),
    );
  });

  test('all() lists every known node, oldest change first', () => {
    const n = new NodeCursors(4);
    n.changed('b', 5);
    n.changed('a', 2);
    n.gone('c', 'web', 6);
    assert.deepEqual(n.all(), {
      changed: [
        ['a', 2],
        ['b', 5],
      ],
      gone: [],
    });
  });
});
