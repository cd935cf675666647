import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoTime } from './iso-time.js';

test('isoTime writes what toISOString writes, within a second and across seconds', () => {
  const base = Date.UTC(2026, 11, 7, 4, 59, 59);
  const times = [
    0,
    1,
    999,
    1000,
    -1,
    -1001,
    base,
    base + 7,
    base + 42,
    base + 999,
    base + 1000,
    base + 7,
    Date.UTC(2000, 1, 29, 23, 59, 59, 990),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    Date.UTC(10000, 0, 1),
    Date.UTC(-1, 0, 1, 0, 0, 0, 5),
    8.64e15,
    1.5,
  ];
  for (const ms of times) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  assert.throws(() => isoTime(Number.NaN), RangeError);
});
