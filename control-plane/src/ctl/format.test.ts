import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nackCell, table, unifiedDiff } from './format.js';

describe('table', () => {
  test('aligns columns to the widest cell', () => {
    assert.equal(
      table(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['q', '22'],
        ],
      ),
      'A     LONGER\nxyz   1\nq     22\n',
    );
  });
});

describe('unifiedDiff', () => {
  test('equal texts give no diff', () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'old', 'new'), '');
  });

  test('a changed line with context', () => {
    const oldText = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n');
    const newText = ['1', '2', '3', '4', 'five', '6', '7', '8', '9'].join('\n');
    assert.equal(
      unifiedDiff(oldText, newText, 'old', 'new', 2),
      ['--- old', '+++ new', '@@ -3,5 +3,5 @@', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ''].join(
        '\n',
      ),
    );
  });

  test('a new file', () => {
    assert.equal(
      unifiedDiff('', 'x\ny\n', '/dev/null', 'new'),
      '--- /dev/null\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n',
    );
  });

  test('distant changes make separate hunks', () => {
    const oldText = Array.from({ length: 20 }, (_, i) => String(i)).join('\n');
    const newText = oldText.replace(/^1$/m, 'one').replace(/^18$/m, 'eighteen');
    const hunks = unifiedDiff(oldText, newText, 'a', 'b', 1)
      .split('\n')
      .filter((l) => l.startsWith('@@'));
    assert.deepEqual(hunks, ['@@ -1,3 +1,3 @@', '@@ -18,3 +18,3 @@']);
  });
});

describe('nackCell', () => {
  test('shows the short version, the error and the resources of the rejected response', () => {
    assert.equal(
      nackCell({ version: '0123456789abcdef', error: 'bad lb_policy', resources: ['c1', 'c2'] }),
      'v=0123456789ab: bad lb_policy (resources: c1,c2)',
    );
  });

  test('without resources or without a NACK', () => {
    assert.equal(nackCell({ version: 'abc', error: 'no' }), 'v=abc: no');
    assert.equal(nackCell({ version: 'abc', error: 'no', resources: [] }), 'v=abc: no');
    assert.equal(nackCell(undefined), '');
  });
});
