/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  meanLatencyPoints,
  ratePoints,
  sampleOf,
  UPSTREAM_RQ_TIME,
  type LoadSample,
} from './load-series.js';
import type { LoadJson } from './wire.js';

const counts = (issued: number, errors: number) => ({
  total_successful_requests: issued - errors,
  total_error_requests: errors,
  total_issued_requests: issued,
  total_requests_in_progress: 0,
  total_dropped_requests: 0,
});

const locality = (metrics: Array<[string, number, number]>) => ({
  locality: { region: '', zone: '', sub_zone: '' },
  latest: counts(0, 0),
  total: counts(0, 0),
  load_metric_stats: metrics.map(([metric_name, n, sum]) => ({
    metric_name,
    num_requests_finished_with_metric: n,
    total_metric_value: sum,
  })),
});

const node = (name: string, localities: ReturnType<typeof locality>[]) => ({
  node: name,
  reported_at: '2026-01-01T00:00:00Z',
  dropped: { latest: 0, total: 0 },
  localities,
});

const s = (t: number, timed: number, timeSum: number, issued = 0, errors = 0): LoadSample => ({
  t,
  issued,
  errors,
  timeSum,
  timed,
});

test('sampleOf sums the upstream time metric over nodes and localities, ignoring other metrics', () => {
  const cluster: LoadJson['clusters'][number] = {
    group: 'default',
    cluster: 'web',
    total: counts(50, 3),
    nodes: [
      node('a', [
        locality([
          [UPSTREAM_RQ_TIME, 10, 200],
          ['cpu_utilization', 7, 9999],
        ]),
        locality([[UPSTREAM_RQ_TIME, 5, 50]]),
      ]),
      node('b', [locality([[UPSTREAM_RQ_TIME, 20, 1000]])]),
    ],
  };
  assert.deepEqual(sampleOf(cluster, 1000), {
    t: 1000,
    issued: 50,
    errors: 3,
    timeSum: 1250,
    timed: 35,
  });
});

test('mean latency is the sum delta over the count delta of each interval', () => {
  const points = meanLatencyPoints([s(0, 10, 100), s(10_000, 30, 500), s(20_000, 40, 1500)]);
  assert.deepEqual(points, [
    { t: 10_000, v: 20 },
    { t: 20_000, v: 100 },
  ]);
});

test('an interval without timed requests, or across a counter restart, has no latency point', () => {
  const points = meanLatencyPoints([
    s(0, 10, 100),
    s(10_000, 10, 100), // idle
    s(20_000, 2, 10), // a proxy's stream reopened: counters restarted
    s(30_000, 6, 50),
    s(30_000, 9, 90), // same instant: no interval
  ]);
  assert.deepEqual(points, [{ t: 30_000, v: 10 }]);
});

test('request and error rates are per second and skip counter restarts', () => {
  const list = [s(0, 0, 0, 100, 1), s(10_000, 0, 0, 300, 6), s(20_000, 0, 0, 50, 0)];
  assert.deepEqual(ratePoints(list, 'issued'), [{ t: 10_000, v: 20 }]);
  assert.deepEqual(ratePoints(list, 'errors'), [{ t: 10_000, v: 0.5 }]);
});
