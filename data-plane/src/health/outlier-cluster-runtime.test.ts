/**
 * Outlier detection across workers, in one process: two "workers" (each its ClusterRuntime and
 * its own copy of the ejections) send their outcomes through OutcomeBuffers to one
 * OutlierManager, as the primary runs it, which sends the ejections back to both.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import type { ClusterModel } from '../config/model.js';
import { OUTLIER_DEFAULTS } from '../config/translate-outlier.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { CircuitBreakerState } from '../upstream/circuit-breaker.js';
import { ClusterRuntime, type ClusterShared } from '../upstream/cluster-runtime.js';
import { renderPrometheus } from '../stats/prometheus.js';
import { ClusterStats } from '../upstream/cluster-stats.js';
import { endpoint, lbCluster, locality } from '../upstream/load-balancer-fixtures.js';
import { ActiveHealthOverrides } from './active-health-overrides.js';
import { OutlierManager } from './outlier-manager.js';
import { decodeOutcome, encodeOutcome, OutcomeBuffer, workerOutliers } from './outlier-outcomes.js';

const logger = createLogger('outlier-runtime-test', 'silent');

interface Worker {
  readonly runtime: ClusterRuntime;
  readonly ejections: ActiveHealthOverrides;
  readonly outcomes: OutcomeBuffer;
}

function setup(maxEjectionPercent: number): {
  model: ClusterModel;
  manager: OutlierManager;
  workers: [Worker, Worker];
  worker: (model: ClusterModel, ejections: ActiveHealthOverrides) => ClusterRuntime;
} {
  const model: ClusterModel = {
    ...lbCluster('ROUND_ROBIN', [
      locality([endpoint('127.0.0.1', 1001), endpoint('127.0.0.1', 1002)]),
    ]),
    name: 'web',
    outlier: { ...OUTLIER_DEFAULTS, maxEjectionPercent },
  };
  const all: ActiveHealthOverrides[] = [new ActiveHealthOverrides(), new ActiveHealthOverrides()];
  const manager = new OutlierManager({
    random: () => 0,
    onEjections: (cluster, hosts) => {
      for (const ejections of all)
        ejections.set(cluster, Object.fromEntries(hosts.map((h) => [h, 'UNHEALTHY' as const])));
    },
  });
  manager.apply({ web: model });
  const worker = (m: ClusterModel, ejections: ActiveHealthOverrides): ClusterRuntime => {
    const shared: ClusterShared = {
      circuit: new CircuitBreakerState(),
      stats: new ClusterStats(new MemoryStatsSink(), m.name),
    };
    return new ClusterRuntime(m, shared, logger, new ActiveHealthOverrides(), ejections);
  };
  const make = (ejections: ActiveHealthOverrides): Worker => ({
    runtime: worker(model, ejections),
    ejections,
    outcomes: new OutcomeBuffer((batch) => manager.report(batch), 60_000),
  });
  return { model, manager, workers: [make(all[0]!), make(all[1]!)], worker };
}

function picks(runtime: ClusterRuntime): string[] {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(runtime.pickHost(undefined, undefined)!.key);
  return [...seen].sort();
}

/** `times` 500s to `key` from `worker`, sent to the primary as one batch. */
function fail(worker: Worker, key: string, times: number): void {
  workerOutliers.outcomes = worker.outcomes;
  const host = worker.runtime.hosts().get(key)!;
  for (let i = 0; i < times; i++) worker.runtime.reportOutcome(host, 500);
  worker.outcomes.flush();
}

describe('outlier detection across workers', () => {
  after(() => {
    workerOutliers.outcomes = undefined;
  });

  test('outcomes round-trip their IPC codes', () => {
    for (const outcome of [200, 503, 'connect-failure', 'timeout', 'reset'] as const)
      assert.equal(decodeOutcome(encodeOutcome(outcome)), outcome);
  });

  test('consecutive 5xx count over both workers; the ejection reaches both', () => {
    const { manager, workers } = setup(50);
    fail(workers[0], '127.0.0.1:1002', 3);
    assert.equal(workers[1].runtime.isEjected('127.0.0.1:1002'), false, '3 of 5');
    fail(workers[1], '127.0.0.1:1002', 2);
    for (const w of workers) {
      assert.equal(w.runtime.isEjected('127.0.0.1:1002'), true);
      assert.deepEqual(picks(w.runtime), ['127.0.0.1:1001']);
    }
    assert.deepEqual([...(manager.ejectedHosts().get('web') ?? [])], ['127.0.0.1:1002']);
    // The primary exports them (with the workers' merged stats) on /stats/prometheus.
    const text = renderPrometheus({
      counters: manager.counters(),
      gauges: manager.gauges(),
      histograms: [],
    });
    assert.match(text, /^ferry_outlier_ejections_total\{cluster="web"\} 1$/m);
    assert.match(text, /^ferry_outlier_ejections_active\{cluster="web"\} 1$/m);
    manager.close();
  });

  test('an ejection carries over to the next cluster version', () => {
    const { model, manager, workers, worker } = setup(50);
    fail(workers[0], '127.0.0.1:1002', 5);
    const next = worker({ ...model, connectTimeoutMs: 1 }, workers[0].ejections);
    workers[0].runtime.retire(next);
    assert.deepEqual(picks(next), ['127.0.0.1:1001']);
    next.destroy();
    manager.close();
  });

  test('with every host ejected the panic threshold balances over all of them', () => {
    const { manager, workers } = setup(100);
    fail(workers[0], '127.0.0.1:1001', 5);
    fail(workers[1], '127.0.0.1:1002', 5);
    assert.equal(workers[0].runtime.isEjected('127.0.0.1:1001'), true);
    assert.deepEqual(picks(workers[0].runtime), ['127.0.0.1:1001', '127.0.0.1:1002']);
    manager.close();
  });

  test('a host turning healthy in active checks is unejected everywhere', () => {
    const { manager, workers } = setup(50);
    fail(workers[0], '127.0.0.1:1002', 5);
    manager.activeHealth('web', { '127.0.0.1:1002': 'HEALTHY' });
    for (const w of workers) {
      assert.equal(w.runtime.isEjected('127.0.0.1:1002'), false);
      assert.deepEqual(picks(w.runtime), ['127.0.0.1:1001', '127.0.0.1:1002']);
    }
    manager.close();
  });

  test("a DNS cluster's detector learns its hosts from the outcomes the workers resolved", () => {
    const { model, manager } = setup(100);
    const dns: ClusterModel = { ...model, name: 'dns', type: 'STRICT_DNS' };
    manager.apply({ dns });
    manager.report({ dns: { '10.1.1.1:80': [500, 500, 500, 500, 500] } });
    assert.deepEqual([...(manager.ejectedHosts().get('dns') ?? [])], ['10.1.1.1:80']);
    manager.close();
  });

  test('removing outlier_detection drops the ejections; its outcomes are no longer sent', () => {
    const { model, manager, workers, worker } = setup(50);
    fail(workers[0], '127.0.0.1:1002', 5);
    const { outlier: _removed, ...withoutOutlier } = model;
    manager.apply({ web: withoutOutlier });
    const next = worker(withoutOutlier, workers[0].ejections);
    workers[0].runtime.retire(next);
    assert.deepEqual(picks(next), ['127.0.0.1:1001', '127.0.0.1:1002']);
    let sent = 0;
    workerOutliers.outcomes = new OutcomeBuffer(() => sent++, 60_000);
    next.reportOutcome(next.hosts().get('127.0.0.1:1002')!, 500);
    (workerOutliers.outcomes as OutcomeBuffer).flush();
    assert.equal(sent, 0);
    assert.equal(manager.ejectedHosts().size, 0);
    assert.deepEqual(manager.counters(), []);
    next.destroy();
    manager.close();
  });
});
