import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthAggregate, type ReportedHealth } from './health-aggregate.js';

/** A fake clock: `clock.now` is what the aggregate reads. */
function fakeClock(start = 1_000): { now: number; read: () => number } {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

function report(cluster: string, endpoints: Record<string, ReportedHealth>) {
  return { cluster, endpoints: new Map(Object.entries(endpoints)) };
}

describe('HealthAggregate', () => {
  test('counts proxies per group, cluster and endpoint', () => {
    const clock = fakeClock();
    const agg = new HealthAggregate({ now: clock.read });
    agg.report('p1', 'edge', [report('web', { 'a:1': 'HEALTHY', 'b:1': 'UNHEALTHY' })]);
    agg.report('p2', 'edge', [report('web', { 'a:1': 'HEALTHY', 'b:1': 'HEALTHY' })]);
    agg.report('p3', 'internal', [report('web', { 'a:1': 'UNHEALTHY' })]);
    const clusters = agg.clusters();
    assert.deepEqual(
      clusters.map((c) => [c.group, c.cluster]),
      [
        ['edge', 'web'],
        ['internal', 'web'],
      ],
    );
    const edge = clusters[0]!.endpoints;
    assert.deepEqual(
      edge.map((e) => [e.address, e.status, e.healthy, e.unhealthy, e.proxies, e.unhealthyNodes]),
      [
        ['a:1', 'HEALTHY', 2, 0, 2, []],
        ['b:1', 'MIXED', 1, 1, 2, ['p1']],
      ],
    );
    const internal = clusters[1]!.endpoints;
    assert.deepEqual(
      internal.map((e) => [e.address, e.status, e.unhealthy]),
      [['a:1', 'UNHEALTHY', 1]],
    );
  });

  test('since moves only when the counts of an endpoint change', () => {
    const clock = fakeClock(1_000);
    const agg = new HealthAggregate({ now: clock.read });
    agg.report('p1', 'g', [report('web', { 'a:1': 'HEALTHY', 'b:1': 'HEALTHY' })]);
    clock.now = 2_000;
    agg.report('p1', 'g', [report('web', { 'a:1': 'HEALTHY', 'b:1': 'HEALTHY' })]);
    const since = (address: string): number | undefined =>
      agg.clusters()[0]?.endpoints.find((e) => e.address === address)?.since;
    assert.equal(since('a:1'), 1_000, 'an identical report keeps since');
    clock.now = 3_000;
    agg.report('p1', 'g', [report('web', { 'a:1': 'HEALTHY', 'b:1': 'UNHEALTHY' })]);
    assert.equal(since('a:1'), 1_000);
    assert.equal(since('b:1'), 3_000, 'a flip moves since');
    clock.now = 4_000;
    agg.report('p2', 'g', [report('web', { 'a:1': 'HEALTHY' })]);
    assert.equal(since('a:1'), 4_000, 'another proxy reporting changes the counts');
  });

  test('a new report replaces the previous one; forget drops the node', () => {
    const agg = new HealthAggregate({ now: () => 0 });
    agg.report('p1', 'g', [
      report('web', { 'a:1': 'HEALTHY' }),
      report('api', { 'c:1': 'HEALTHY' }),
    ]);
    agg.report('p1', 'g', [report('web', { 'b:1': 'UNHEALTHY' })]);
    assert.deepEqual(
      agg.clusters().map((c) => [c.cluster, c.endpoints.map((e) => e.address)]),
      [['web', ['b:1']]],
    );
    assert.deepEqual(
      agg.nodes().map((n) => [n.nodeId, n.group, n.clusters.map((c) => c.cluster)]),
      [['p1', 'g', ['web']]],
    );
    agg.forget('p1');
    assert.deepEqual(agg.clusters(), []);
    assert.deepEqual(agg.nodes(), []);
  });

  test('the same endpoint twice in one report (two localities): unhealthy wins', () => {
    const agg = new HealthAggregate({ now: () => 0 });
    agg.report('p1', 'g', [
      report('web', { 'a:1': 'UNHEALTHY' }),
      report('web', { 'a:1': 'HEALTHY' }),
    ]);
    assert.equal(agg.clusters()[0]?.endpoints[0]?.status, 'UNHEALTHY');
  });
});

test('onTransition fires when an endpoint aggregate status changes, not on count-only changes', () => {
  const seen: string[] = [];
  const agg = new HealthAggregate({ now: () => 0, onTransition: (s) => seen.push(s) });
  agg.report('p1', 'g', [report('web', { 'a:1': 'HEALTHY' })]);
  agg.report('p2', 'g', [report('web', { 'a:1': 'HEALTHY' })]);
  agg.report('p2', 'g', [report('web', { 'a:1': 'UNHEALTHY' })]);
  agg.report('p1', 'g', [report('web', { 'a:1': 'UNHEALTHY' })]);
  assert.deepEqual(seen, ['HEALTHY', 'MIXED', 'UNHEALTHY']);
});
