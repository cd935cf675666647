import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenTexts, TextMemo } from './text-memo.js';

test('keeps what was set and finds it again', () => {
  const memo = new TextMemo<number>(4);
  assert.equal(memo.get('a'), undefined);
  memo.set('a', 1);
  memo.set('b', 2);
  assert.equal(memo.get('a'), 1);
  assert.equal(memo.get('b'), 2);
  assert.equal(memo.size, 2);
});

test('holds at most two generations of `capacity` entries', () => {
  const memo = new TextMemo<number>(3);
  for (let i = 0; i < 100; i++) memo.set(`t${i}`, i);
  assert.ok(memo.size <= 6, `size ${memo.size}`);
  // The latest entries are kept, the oldest are gone.
  assert.equal(memo.get('t99'), 99);
  assert.equal(memo.get('t0'), undefined);
});

test('a text used since the last turn survives the next one; one that was not is dropped', () => {
  const memo = new TextMemo<string>(2);
  memo.set('kept', 'K');
  memo.set('dropped', 'D');
  // The young generation is full: the next set turns it into the old one.
  memo.set('x', 'X');
  // Used again: moved back into the young generation.
  assert.equal(memo.get('kept'), 'K');
  // Young is full again (x, kept): this turn drops the old generation, which held `dropped`.
  memo.set('y', 'Y');
  assert.equal(memo.get('dropped'), undefined);
  assert.equal(memo.get('kept'), 'K');
  assert.equal(memo.get('y'), 'Y');
});

test('a text is seen before on its second sighting, not its first', () => {
  const seen = new SeenTexts(64);
  assert.equal(seen.seenBefore('User-Agent: curl'), false);
  assert.equal(seen.seenBefore('User-Agent: curl'), true);
  // An equal text made anew (another request's copy) counts too.
  assert.equal(seen.seenBefore(['User-Agent:', 'curl'].join(' ')), true);
  assert.equal(seen.seenBefore(''), false);
  assert.equal(seen.seenBefore(''), true);
});

test('texts sharing a slot push each other out; unique texts are never seen before', () => {
  const seen = new SeenTexts(1);
  assert.equal(seen.seenBefore('a'), false);
  assert.equal(seen.seenBefore('b'), false);
  assert.equal(seen.seenBefore('a'), false);
  const big = new SeenTexts(1024);
  for (let i = 0; i < 5000; i++) assert.equal(big.seenBefore(`request-${i}`), false);
});

test('with a seen table, a text is admitted on its second offer only', () => {
  const memo = new TextMemo<number>(8, 64);
  assert.equal(memo.admit('x', 1), false);
  assert.equal(memo.get('x'), undefined);
  assert.equal(memo.admit('x', 2), true);
  assert.equal(memo.get('x'), 2);
  // Without one, every offer is kept.
  const open = new TextMemo<number>(8);
  assert.equal(open.admit('y', 3), true);
  assert.equal(open.get('y'), 3);
});
