import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import type { ClusterModel, HealthCheckModel } from '../config/model.js';
import { endpoint, lbCluster, locality } from '../upstream/load-balancer-fixtures.js';
import { networkFailure, type CheckOutcome } from './health-checker.js';
import { HealthManager, type ClusterHostHealth } from './health-manager.js';
import { advance, FakeChecker, healthCheck as check } from './health-test-fixtures.js';

const logger = createLogger('health-manager-test', 'silent');

function cluster(name: string, ports: number[], checks: HealthCheckModel[]): ClusterModel {
  return {
    ...lbCluster('ROUND_ROBIN', [locality(ports.map((p) => endpoint('10.0.0.1', p)))]),
    name,
    activeHealthChecks: checks,
  };
}

describe('HealthManager', () => {
  test('no_traffic_interval until the cluster has traffic, then the regular interval', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const checker = new FakeChecker(new Map());
      const manager = new HealthManager({
        logger,
        onUpdate: () => undefined,
        createChecker: () => checker,
        random: () => 0,
      });
      const slow = check({ noTrafficIntervalMs: 60_000, noTrafficHealthyIntervalMs: 60_000 });
      manager.apply({ web: cluster('web', [1], [slow]), api: cluster('api', [2], [slow]) });
      await advance(0);
      assert.equal(checker.probes.length, 2, 'first checks at once');
      await advance(58_000);
      assert.equal(checker.probes.length, 2, 'no traffic: nothing before no_traffic_interval');
      // Traffic to web: its next check is brought forward to the regular 1 s; api stays slow.
      manager.markTraffic('web');
      manager.markTraffic('web');
      await advance(1000);
      assert.deepEqual(
        checker.probes.slice(2).map((p) => p.port),
        [1],
      );
      await advance(1000);
      assert.deepEqual(
        checker.probes
          .slice(2)
          .map((p) => p.port)
          .sort(),
        [1, 1, 2],
        'web every second; api at its 60 s no-traffic mark',
      );
      manager.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('checks every host, applies thresholds, reports complete maps on change', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const answers = new Map<number, CheckOutcome>();
      const checker = new FakeChecker(answers);
      const updates: [string, ClusterHostHealth][] = [];
      const manager = new HealthManager({
        logger,
        onUpdate: (name, hosts) => updates.push([name, hosts]),
        createChecker: () => checker,
        random: () => 0,
      });
      manager.apply({ web: cluster('web', [1, 2], [check()]) });
      // Before any check: both pending, reported unhealthy (Envoy's FAILED_ACTIVE_HC).
      assert.deepEqual(updates.at(-1), [
        'web',
        { '10.0.0.1:1': 'UNHEALTHY', '10.0.0.1:2': 'UNHEALTHY' },
      ]);
      assert.equal(manager.view().get('web')?.get('10.0.0.1:1')?.pending, true);

      await advance(0);
      assert.deepEqual(updates.at(-1), [
        'web',
        { '10.0.0.1:1': 'HEALTHY', '10.0.0.1:2': 'HEALTHY' },
      ]);
      assert.equal(checker.probes[0]?.clusterName, 'web');

      answers.set(2, networkFailure('refused'));
      const before = updates.length;
      await advance(1000);
      assert.equal(updates.length, before, 'one failure is below unhealthy_threshold');
      await advance(1000);
      assert.deepEqual(updates.at(-1), [
        'web',
        { '10.0.0.1:1': 'HEALTHY', '10.0.0.1:2': 'UNHEALTHY' },
      ]);
      assert.deepEqual(manager.view().get('web')?.get('10.0.0.1:2'), {
        status: 'UNHEALTHY',
        pending: false,
      });

      // A config change keeps surviving hosts' state and drops removed ones.
      manager.apply({ web: cluster('web', [2, 3], [check()]) });
      assert.deepEqual(updates.at(-1), [
        'web',
        { '10.0.0.1:2': 'UNHEALTHY', '10.0.0.1:3': 'UNHEALTHY' },
      ]);
      await advance(0);
      assert.deepEqual(updates.at(-1), [
        'web',
        { '10.0.0.1:2': 'UNHEALTHY', '10.0.0.1:3': 'HEALTHY' },
      ]);

      answers.delete(2);
      await advance(1000);
      await advance(1000);
      assert.deepEqual(updates.at(-1), [
        'web',
        { '10.0.0.1:2': 'HEALTHY', '10.0.0.1:3': 'HEALTHY' },
      ]);

      // Removing the checks clears the cluster's results and stops probing.
      manager.apply({ web: cluster('web', [2, 3], []) });
      assert.deepEqual(updates.at(-1), ['web', {}]);
      const probes = checker.probes.length;
      await advance(5000);
      assert.equal(checker.probes.length, probes);
      manager.close();
      manager.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('a host is unhealthy while any of the cluster’s checks fails it', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const failing = new FakeChecker(new Map([[1, networkFailure('x')]]));
      const passing = new FakeChecker(new Map());
      const updates: ClusterHostHealth[] = [];
      const manager = new HealthManager({
        logger,
        onUpdate: (_name, hosts) => updates.push(hosts),
        createChecker: (model) => (model.checker.kind === 'tcp' ? failing : passing),
      });
      const grpc = check({ checker: { kind: 'grpc', serviceName: '', authority: '' } });
      manager.apply({ web: cluster('web', [1], [grpc, check()]) });
      await advance(0);
      assert.deepEqual(updates.at(-1), { '10.0.0.1:1': 'UNHEALTHY' });
      assert.equal(failing.probes.length, 1);
      assert.equal(passing.probes.length, 1);
      manager.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('counts attempts, failures and status transitions by cluster', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const answers = new Map<number, CheckOutcome>();
      const manager = new HealthManager({
        logger,
        onUpdate: () => undefined,
        createChecker: () => new FakeChecker(answers),
        random: () => 0,
      });
      manager.apply({ web: cluster('web', [1], [check()]) });
      await advance(0);
      answers.set(1, networkFailure('refused'));
      await advance(1000);
      await advance(1000);
      const byId = new Map(
        manager.counters().map((c) => [`${c.name}${JSON.stringify(c.labels)}`, c.value]),
      );
      assert.deepEqual(
        byId,
        new Map([
          ['health_check_attempts_total{"cluster":"web"}', 3],
          ['health_check_transitions_total{"cluster":"web","to":"HEALTHY"}', 1],
          ['health_check_failures_total{"cluster":"web"}', 2],
          ['health_check_transitions_total{"cluster":"web","to":"UNHEALTHY"}', 1],
        ]),
      );
      manager.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('firstRound resolves once every host of the clusters has had its first check', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const answers = new Map<number, CheckOutcome | 'hang'>([
        [2, networkFailure('refused')],
        [3, 'hang'],
      ]);
      const manager = new HealthManager({
        logger,
        onUpdate: () => undefined,
        createChecker: () => new FakeChecker(answers),
        random: () => 0,
      });
      const web = cluster('web', [1, 2], [check()]);
      const slow = cluster('slow', [3], [check({ timeoutMs: 500 })]);
      manager.apply({ web, slow });
      assert.equal(HealthManager.firstRoundBoundMs([web, slow]), 500);
      const settled: string[] = [];
      void manager.firstRound(['web'], 10_000).then(() => settled.push('web'));
      void manager.firstRound(['web', 'slow'], 10_000).then(() => settled.push('web+slow'));
      void manager.firstRound(['slow'], 200).then(() => settled.push('slow capped'));
      void manager.firstRound(['unknown'], 10_000).then(() => settled.push('unknown'));
      await Promise.resolve();
      assert.deepEqual(settled, ['unknown'], 'a cluster that is not checked does not wait');
      await advance(0);
      assert.deepEqual(settled, ['unknown', 'web'], 'a failed first check ends the round too');
      await advance(200);
      assert.deepEqual(settled, ['unknown', 'web', 'slow capped']);
      await advance(300);
      assert.deepEqual(
        settled,
        ['unknown', 'web', 'slow capped', 'web+slow'],
        'a hanging probe ends at its timeout',
      );
      assert.equal(manager.view().get('slow')?.get('10.0.0.1:3')?.status, 'UNHEALTHY');
      let closed = false;
      manager.apply({ later: cluster('later', [3], [check({ timeoutMs: 500 })]) });
      void manager.firstRound(['later'], 10_000).then(() => (closed = true));
      manager.close();
      await advance(0);
      assert.equal(closed, true, 'close ends every wait');
    } finally {
      mock.timers.reset();
    }
  });

  test('DNS clusters and clusters without checks are not checked', () => {
    const updates: string[] = [];
    const manager = new HealthManager({ logger, onUpdate: (name) => updates.push(name) });
    manager.apply({
      dns: { ...cluster('dns', [1], [check()]), type: 'STRICT_DNS' },
      plain: cluster('plain', [1], []),
    });
    assert.deepEqual(updates, []);
    assert.equal(manager.view().size, 0);
    manager.close();
  });
});
