import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { CircuitBreakerState } from '../upstream/circuit-breaker.js';
import { ClusterRuntime } from '../upstream/cluster-runtime.js';
import { ClusterStats } from '../upstream/cluster-stats.js';
import { endpoint, lbCluster, locality } from '../upstream/load-balancer-fixtures.js';
import { ActiveHealthOverrides, withActiveHealth } from './active-health-overrides.js';

describe('withActiveHealth', () => {
  const localities = [
    locality([
      endpoint('10.0.0.1', 80),
      endpoint('10.0.0.2', 80, { health: 'HEALTHY' }),
      endpoint('10.0.0.3', 80, { health: 'UNHEALTHY' }),
      endpoint('10.0.0.4', 80, { health: 'DEGRADED' }),
    ]),
  ];
  const statuses = (active: Record<string, 'HEALTHY' | 'UNHEALTHY'>): string[] =>
    withActiveHealth(localities, new Map(Object.entries(active)))[0]!.endpoints.map(
      (e) => e.healthStatus,
    );

  test('failing active checks override every EDS status', () => {
    assert.deepEqual(
      statuses({
        '10.0.0.1:80': 'UNHEALTHY',
        '10.0.0.2:80': 'UNHEALTHY',
        '10.0.0.3:80': 'UNHEALTHY',
        '10.0.0.4:80': 'UNHEALTHY',
      }),
      ['UNHEALTHY', 'UNHEALTHY', 'UNHEALTHY', 'UNHEALTHY'],
    );
  });

  test('passing active checks keep the EDS status (EDS UNHEALTHY stays out)', () => {
    assert.deepEqual(
      statuses({
        '10.0.0.1:80': 'HEALTHY',
        '10.0.0.2:80': 'HEALTHY',
        '10.0.0.3:80': 'HEALTHY',
        '10.0.0.4:80': 'HEALTHY',
      }),
      ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DEGRADED'],
    );
    assert.equal(withActiveHealth(localities, undefined), localities);
  });
});

describe('ClusterRuntime with active health', () => {
  test('stops picking a host marked unhealthy and picks it again when it recovers', () => {
    const overrides = new ActiveHealthOverrides();
    const model = {
      ...lbCluster('ROUND_ROBIN', [
        locality([
          endpoint('127.0.0.1', 1001),
          endpoint('127.0.0.1', 1002),
          endpoint('127.0.0.1', 1003),
        ]),
      ]),
      name: 'web',
    };
    const shared = {
      circuit: new CircuitBreakerState(),
      stats: new ClusterStats(new MemoryStatsSink(), 'web'),
    };
    const logger = createLogger('active-health-test', 'silent');
    // Results that arrived before the cluster version was built apply to it.
    overrides.set('web', { '127.0.0.1:1002': 'UNHEALTHY' });
    const runtime = new ClusterRuntime(model, shared, logger, overrides);
    const picks = (): Set<string> => {
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add(runtime.pickHost(undefined, undefined)!.key);
      return seen;
    };
    assert.deepEqual([...picks()].sort(), ['127.0.0.1:1001', '127.0.0.1:1003']);
    overrides.set('web', { '127.0.0.1:1002': 'HEALTHY', '127.0.0.1:1003': 'UNHEALTHY' });
    assert.deepEqual([...picks()].sort(), ['127.0.0.1:1001', '127.0.0.1:1002']);
    overrides.set('web', {});
    assert.equal(picks().size, 3);
    runtime.destroy();
    // A destroyed runtime no longer listens.
    overrides.set('web', { '127.0.0.1:1001': 'UNHEALTHY' });
  });
});
