import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import { OUTLIER_DEFAULTS } from '../config/translate-outlier.js';
import { MemoryStatsSink } from '../http/stats-memory.js';
import { CircuitBreakerState } from '../upstream/circuit-breaker.js';
import { ClusterRuntime, type ClusterShared } from '../upstream/cluster-runtime.js';
import { ClusterStats } from '../upstream/cluster-stats.js';
import { endpoint, lbCluster, locality } from '../upstream/load-balancer-fixtures.js';
import { ActiveHealthOverrides } from './active-health-overrides.js';

const logger = createLogger('outlier-runtime-test', 'silent');

function setup(maxEjectionPercent: number): {
  model: ReturnType<typeof lbCluster>;
  shared: ClusterShared;
  overrides: ActiveHealthOverrides;
} {
  const model = {
    ...lbCluster('ROUND_ROBIN', [
      locality([endpoint('127.0.0.1', 1001), endpoint('127.0.0.1', 1002)]),
    ]),
    name: 'web',
    outlier: { ...OUTLIER_DEFAULTS, maxEjectionPercent },
  };
  const shared: ClusterShared = {
    circuit: new CircuitBreakerState(),
    stats: new ClusterStats(new MemoryStatsSink(), 'web'),
  };
  return { model, shared, overrides: new ActiveHealthOverrides() };
}

function picks(runtime: ClusterRuntime): string[] {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(runtime.pickHost(undefined, undefined)!.key);
  return [...seen].sort();
}

function fail(runtime: ClusterRuntime, key: string, times: number): void {
  const host = runtime.hosts().get(key)!;
  for (let i = 0; i < times; i++) runtime.reportOutcome(host, 500);
}

describe('ClusterRuntime with outlier detection', () => {
  test('an ejected host is not picked; ejection carries over to the next version', () => {
    const { model, shared, overrides } = setup(50);
    const runtime = new ClusterRuntime(model, shared, logger, overrides);
    fail(runtime, '127.0.0.1:1002', 5);
    assert.equal(runtime.isEjected('127.0.0.1:1002'), true);
    assert.deepEqual(picks(runtime), ['127.0.0.1:1001']);
    const next = new ClusterRuntime({ ...model, connectTimeoutMs: 1 }, shared, logger, overrides);
    runtime.retire(next);
    assert.deepEqual(picks(next), ['127.0.0.1:1001']);
    next.destroy();
  });

  test('with every host ejected the panic threshold balances over all of them', () => {
    const { model, shared, overrides } = setup(100);
    const runtime = new ClusterRuntime(model, shared, logger, overrides);
    fail(runtime, '127.0.0.1:1001', 5);
    fail(runtime, '127.0.0.1:1002', 5);
    assert.equal(runtime.isEjected('127.0.0.1:1001'), true);
    assert.deepEqual(picks(runtime), ['127.0.0.1:1001', '127.0.0.1:1002']);
    runtime.destroy();
  });

  test('a host turning healthy in active checks is unejected', () => {
    const { model, shared, overrides } = setup(50);
    const runtime = new ClusterRuntime(model, shared, logger, overrides);
    fail(runtime, '127.0.0.1:1002', 5);
    overrides.set('web', { '127.0.0.1:1002': 'HEALTHY' });
    assert.equal(runtime.isEjected('127.0.0.1:1002'), false);
    assert.deepEqual(picks(runtime), ['127.0.0.1:1001', '127.0.0.1:1002']);
    runtime.destroy();
  });

  test('removing outlier_detection from the cluster drops the ejections', () => {
    const { model, shared, overrides } = setup(50);
    const runtime = new ClusterRuntime(model, shared, logger, overrides);
    fail(runtime, '127.0.0.1:1002', 5);
    const { outlier: _removed, ...withoutOutlier } = model;
    const next = new ClusterRuntime(withoutOutlier, shared, logger, overrides);
    runtime.retire(next);
    assert.equal(shared.outlier, undefined);
    assert.deepEqual(picks(next), ['127.0.0.1:1001', '127.0.0.1:1002']);
    next.destroy();
  });
});
