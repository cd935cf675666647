/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffLines } from './line-diff.js';

const render = (a: string, b: string): string =>
  diffLines(a, b)
    .map((l) => `${l.op}${l.text}`)
    .join('|');

test('common lines kept, changed ones removed then added', () => {
  assert.equal(render('a\nb\nc\n', 'a\nx\nc\n'), ' a|-b|+x| c');
});

test('from nothing and to nothing', () => {
  assert.equal(render('', 'a\nb\n'), '+a|+b');
  assert.equal(render('a\n', ''), '-a');
  assert.equal(render('', ''), '');
});

test('an insertion in the middle keeps both ends', () => {
  assert.equal(render('a\nc\n', 'a\nb\nc\n'), ' a|+b| c');
});
