import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AhoCorasickBuilder } from './aho-corasick.js';

const WORDS = 2;

/** The payloads a bitset from payloadsIn() holds, in order. */
function payloads(bits: Uint32Array | undefined): number[] {
  const out: number[] = [];
  if (bits === undefined) return out;
  for (let p = 0; p < bits.length * 32; p++) if ((bits[p >>> 5]! >>> (p & 31)) & 1) out.push(p);
  return out;
}

test('reports the payloads of every pattern found, overlapping and nested ones included', () => {
  const b = new AhoCorasickBuilder();
  b.add('he', 1);
  b.add('she', 2);
  b.add('his', 3);
  b.add('hers', 40);
  b.add('she', 5);
  const ac = b.build();
  assert.deepEqual(payloads(ac.payloadsIn('ushers', WORDS)), [1, 2, 5, 40]);
  assert.deepEqual(payloads(ac.payloadsIn('ahis', WORDS)), [3]);
  assert.equal(ac.payloadsIn('xxhixs', WORDS), undefined);
  assert.equal(ac.foundIn('ushers'), true);
  assert.equal(ac.foundIn('xxhixs'), false);
  assert.equal(ac.foundIn(''), false);
});

test('ASCII case folding only when asked, and never beyond ASCII', () => {
  const folded = new AhoCorasickBuilder({ foldAsciiCase: true });
  folded.add('Select', 0);
  folded.add('caf\xe9', 1);
  const ac = folded.build();
  assert.deepEqual(payloads(ac.payloadsIn('x SELECT y', WORDS)), [0]);
  assert.deepEqual(payloads(ac.payloadsIn('sElEcT', WORDS)), [0]);
  assert.deepEqual(payloads(ac.payloadsIn('CAF\xe9', WORDS)), [1]);
  assert.equal(ac.payloadsIn('CAF\xc9', WORDS), undefined, 'latin1 É is not é');
  const exact = new AhoCorasickBuilder();
  exact.add('select', 0);
  assert.equal(exact.build().foundIn('SELECT'), false);
});

test('agrees with a pattern-by-pattern search on random text', () => {
  const patterns = ['abc', 'bca', 'aab', 'cc', 'ba\xe9', 'A\xe9'];
  const b = new AhoCorasickBuilder({ foldAsciiCase: true });
  patterns.forEach((p, i) => b.add(p, i));
  const ac = b.build();
  let seed = 11;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let k = rnd() % 14; k > 0; k--) s += 'abcABC\xe9'[rnd() % 7];
    const lower = s.toLowerCase();
    const expected = patterns.flatMap((p, j) => (lower.includes(p.toLowerCase()) ? [j] : []));
    assert.deepEqual(payloads(ac.payloadsIn(s, WORDS)), expected, s);
    assert.equal(ac.foundIn(s), expected.length > 0, s);
  }
});

test('an empty pattern is in every value; no patterns are in none', () => {
  const b = new AhoCorasickBuilder();
  b.add('', 33);
  b.add('x', 1);
  const ac = b.build();
  assert.equal(ac.foundIn(''), true);
  assert.deepEqual(payloads(ac.payloadsIn('', WORDS)), [33]);
  assert.deepEqual(payloads(ac.payloadsIn('axa', WORDS)), [1, 33]);
  const none = new AhoCorasickBuilder().build();
  assert.equal(none.foundIn('anything'), false);
  assert.equal(none.payloadsIn('anything', WORDS), undefined);
});

test('an automaton beyond 65536 states (a 32-bit table) still finds every pattern', () => {
  const alphabet = 'abcdefghijklmnoprstuvwxyz0123456789-_.,~+'; // no q
  const patterns: string[] = [];
  for (const a of alphabet)
    for (const b of alphabet) for (const c of alphabet) patterns.push(`q${a}${b}${c}`);
  const builder = new AhoCorasickBuilder();
  patterns.forEach((p, i) => builder.add(p, i & 63));
  const ac = builder.build();
  for (let i = 0; i < patterns.length; i += 97) {
    assert.deepEqual(payloads(ac.payloadsIn(`x${patterns[i]!}x`, WORDS)), [i & 63], patterns[i]);
    assert.equal(ac.foundIn(`--${patterns[i]!}`), true, patterns[i]);
  }
  const last = patterns.length - 1;
  assert.deepEqual(payloads(ac.payloadsIn(patterns[last]!, WORDS)), [last & 63]);
  assert.equal(ac.payloadsIn('qab', WORDS), undefined);
  assert.equal(ac.foundIn('abcq'), false);
});
