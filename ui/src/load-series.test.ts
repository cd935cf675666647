/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanLatencyPoints, ratePoints, windowEnd } from './load-series.js';
import type { LoadHistoryJson } from './wire.js';

const series = {
  requests: [0, 30, 60],
  errors: [0, 3, 0],
  latency_ms_sum: [0, 300, 0],
  latency_count: [0, 20, 0],
};
const history: LoadHistoryJson = {
  bucket_ms: 30_000,
  start_ms: 900_000,
  buckets: 3,
  clusters: [{ group: 'edge', cluster: 'web', ...series, localities: [] }],
};

test('rates are per second of each bucket, one point at each bucket’s end', () => {
  assert.equal(windowEnd(history), 990_000);
  assert.deepEqual(ratePoints(history, series, 'requests'), [
    { t: 930_000, v: 0 },
    { t: 960_000, v: 1 },
    { t: 990_000, v: 2 },
  ]);
  assert.deepEqual(
    ratePoints(history, series, 'errors').map((p) => p.v),
    [0, 0.1, 0],
  );
});

test('mean latency is the bucket’s sum over its count; a bucket without timed requests has no point', () => {
  assert.deepEqual(meanLatencyPoints(history, series), [{ t: 960_000, v: 15 }]);
});
