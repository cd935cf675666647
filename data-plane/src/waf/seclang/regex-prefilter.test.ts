import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prefilterLiterals } from './regex-prefilter.js';

test('placeholder', () => {
  assert.deepEqual(prefilterLiterals('abc|def'), ['abc', 'def']);
});
