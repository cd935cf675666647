import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePriorityLoads, type LevelCounts } from './load-balancer-priority.js';

const level = (total: number, healthy: number, degraded = 0): LevelCounts => ({
  total,
  healthy,
  degraded,
});

const cases: [
  name: string,
  levels: LevelCounts[],
  threshold: number,
  healthy: number[],
  degraded: number[],
  panic: boolean[],
][] = [
  [
    'all healthy: everything to P0',
    [level(4, 4), level(4, 4)],
    50,
    [100, 0],
    [0, 0],
    [false, false],
  ],
  [
    'P0 72% healthy is still 100% available (×1.4)',
    [level(100, 72), level(4, 4)],
    50,
    [100, 0],
    [0, 0],
    [false, false],
  ],
  ['P0 half healthy: 70/30', [level(2, 1), level(2, 2)], 50, [70, 30], [0, 0], [false, false]],
  ['P0 20% healthy: 28/72', [level(10, 2), level(10, 10)], 50, [28, 72], [0, 0], [false, false]],
  [
    'total below 100: normalised, both in panic',
    [level(10, 3), level(10, 2)],
    50,
    [60, 40],
    [0, 0],
    [true, true],
  ],
  ['panic threshold 0: normalised, no panic', [level(10, 3)], 0, [100], [0], [false]],
  ['degraded take what healthy cannot', [level(4, 2, 2)], 50, [70], [30], [false]],
  ['only degraded', [level(4, 0, 4)], 50, [0], [100], [false]],
  [
    'nothing available: P0 in panic',
    [level(4, 0), level(4, 0)],
    50,
    [100, 0],
    [0, 0],
    [true, true],
  ],
  ['nothing available, panic disabled', [level(4, 0)], 0, [100], [0], [false]],
];

for (const [name, levels, threshold, healthy, degraded, panic] of cases) {
  test(name, () => {
    assert.deepEqual(computePriorityLoads(levels, 140, threshold), { healthy, degraded, panic });
  });
}
