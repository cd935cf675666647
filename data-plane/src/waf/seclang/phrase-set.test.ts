import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhraseSet } from './phrase-set.js';

test('finds any phrase, including ones that overlap or end inside another', () => {
  const set = new PhraseSet(['he', 'she', 'his', 'hers', '/etc/passwd']);
  assert.equal(set.foundIn('ushers'), true);
  assert.equal(set.foundIn('xxhixs'), false);
  assert.equal(set.foundIn('ahis'), true);
  assert.equal(set.foundIn('cat /etc/passw'), false);
  assert.equal(set.foundIn('cat /etc/passwd'), true);
  assert.equal(set.foundIn(''), false);
});

test('agrees with a phrase-by-phrase search on random text', () => {
  const phrases = ['abc', 'bca', 'aab', 'cc', 'ba\xe9'];
  const set = new PhraseSet(phrases);
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let k = rnd() % 12; k > 0; k--) s += 'abc\xe9'[rnd() % 4];
    assert.equal(
      set.foundIn(s),
      phrases.some((p) => s.includes(p)),
      s,
    );
  }
});

test('an empty phrase matches everything, no phrases match nothing', () => {
  assert.equal(new PhraseSet(['']).foundIn('x'), true);
  assert.equal(new PhraseSet([]).foundIn('x'), false);
});
