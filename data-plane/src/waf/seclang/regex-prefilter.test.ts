import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requiredLiteral } from './regex-prefilter.js';

const lit = (p: string): string | undefined => requiredLiteral(p)?.text;

test('the longest top-level literal run', () => {
  assert.equal(lit('/admin\\.php\\?users/.*\\.\\d+/edit$'), '/admin.php?users/');
  assert.equal(lit('union.*?select'), 'select');
  assert.equal(lit('{{.*?}}'), '}}');
  assert.deepEqual(requiredLiteral('(?i)<SCRIPT[^>]*>'), { text: '<script', caseless: true });
});

test('quantified characters end a run or drop out of it', () => {
  assert.equal(lit('abc?de'), 'ab');
  assert.equal(lit('abx*yz'), 'ab');
  assert.equal(lit('abcd+ef'), 'abcd');
  assert.equal(lit('ab{0,2}cd'), 'cd');
  assert.equal(lit('\\W{4}xy'), 'xy');
  assert.equal(lit('^5\\d{2}$'), undefined);
});

test('escapes with letters or digits are not literals', () => {
  assert.equal(lit('\\xac\\xed\\x00\\x05'), undefined);
  assert.equal(lit('\\x{41}bc'), 'bc');
  assert.equal(lit('\\bServer Error in.{0,50}'), 'Server Error in');
});

test('no literal where the analysis cannot be sure', () => {
  assert.equal(lit('abc|def'), undefined);
  assert.equal(lit('(?:abc|def)'), undefined);
  assert.equal(lit('[abc]+'), undefined);
  assert.equal(lit('\\Qabc\\E'), undefined);
  assert.equal(lit('(?x) a b c'), undefined);
  assert.equal(lit('a'), undefined);
});
