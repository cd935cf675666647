import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import type { HealthCheckModel } from '../config/model.js';
import { networkFailure, type CheckOutcome } from './health-checker.js';
import { HdsAssignments } from './hds-assignments.js';
import { advance, FakeChecker, healthCheck } from './health-test-fixtures.js';

const check = (extra: Partial<HealthCheckModel> = {}): HealthCheckModel =>
  healthCheck({ unhealthyThreshold: 1, healthyThreshold: 1, ...extra });
import type { HdsClusterAssignment } from './hds-specifier.js';

const logger = createLogger('hds-assignments-test', 'silent');

function assigned(
  name: string,
  ports: number[],
  checks: HealthCheckModel[] = [check()],
): HdsClusterAssignment {
  return {
    name,
    checks,
    localities: [
      { locality: { zone: 'z1' }, endpoints: ports.map((port) => ({ host: '10.0.0.1', port })) },
    ],
  };
}

/** cluster → "port=STATUS" list, in report order. */
function statuses(assignments: HdsAssignments): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const cluster of assignments.view())
    result[cluster.name] = cluster.localities.flatMap((l) =>
      l.endpoints.map((e) => `${e.port}=${e.status}`),
    );
  return result;
}

describe('HdsAssignments', () => {
  test('reports assigned endpoints by locality; replaces work; keeps unchanged sessions', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const answers = new Map<number, CheckOutcome | 'hang'>([[2, networkFailure('refused')]]);
      const checker = new FakeChecker(answers);
      const assignments = new HdsAssignments({
        logger,
        createChecker: () => checker,
        random: () => 0,
      });
      assignments.apply([assigned('web', [1, 2]), assigned('api', [3])]);
      // Before the first check, hosts are unhealthy (Envoy's FAILED_ACTIVE_HC).
      assert.deepEqual(statuses(assignments), {
        web: ['1=UNHEALTHY', '2=UNHEALTHY'],
        api: ['3=UNHEALTHY'],
      });
      await advance(0);
      assert.deepEqual(statuses(assignments), {
        web: ['1=HEALTHY', '2=UNHEALTHY'],
        api: ['3=HEALTHY'],
      });
      assert.deepEqual(assignments.view()[0]?.localities[0]?.locality, { zone: 'z1' });
      assert.deepEqual([...assignments.clusterNames()], ['web', 'api']);

      // Port 1 would now fail, but its session survives the new assignment: no new probe until
      // its interval, and it stays HEALTHY. `api` is no longer assigned.
      answers.set(1, networkFailure('refused'));
      const probesOf1 = (): number => checker.probes.filter((p) => p.port === 1).length;
      assert.equal(probesOf1(), 1);
      assignments.apply([assigned('web', [1, 2, 4])]);
      await advance(0);
      assert.deepEqual(statuses(assignments), { web: ['1=HEALTHY', '2=UNHEALTHY', '4=HEALTHY'] });
      assert.equal(probesOf1(), 1);

      // A changed check is a new session (Envoy's HdsCluster::updateHealthchecks).
      assignments.apply([assigned('web', [1, 2, 4], [check({ timeoutMs: 200 })])]);
      assert.deepEqual(statuses(assignments), {
        web: ['1=UNHEALTHY', '2=UNHEALTHY', '4=UNHEALTHY'],
      });
      await advance(0);
      assert.equal(probesOf1(), 2);
      assert.deepEqual(statuses(assignments), { web: ['1=UNHEALTHY', '2=UNHEALTHY', '4=HEALTHY'] });

      // An empty assignment removes everything and stops probing.
      assignments.apply([]);
      assert.deepEqual(assignments.view(), []);
      const probes = checker.probes.length;
      await advance(5000);
      assert.equal(checker.probes.length, probes);
      assignments.close();
      assignments.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('an endpoint whose failing check timed out is reported TIMEOUT', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const answers = new Map<number, CheckOutcome | 'hang'>([[1, 'hang']]);
      const checker = new FakeChecker(answers);
      const assignments = new HdsAssignments({ logger, createChecker: () => checker });
      assignments.apply([assigned('web', [1, 2], [check({ timeoutMs: 100 })])]);
      await advance(0);
      await advance(100);
      assert.deepEqual(statuses(assignments), { web: ['1=TIMEOUT', '2=HEALTHY'] });
      answers.set(1, networkFailure('refused'));
      await advance(1000);
      assert.deepEqual(statuses(assignments), { web: ['1=UNHEALTHY', '2=HEALTHY'] });
      assignments.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('health_check_config port: probed there, reported under the endpoint address', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const checker = new FakeChecker(new Map());
      const assignments = new HdsAssignments({ logger, createChecker: () => checker });
      assignments.apply([
        {
          name: 'web',
          checks: [check()],
          localities: [{ endpoints: [{ host: '10.0.0.1', port: 80, healthCheckPort: 8081 }] }],
        },
      ]);
      await advance(0);
      assert.deepEqual(
        checker.probes.map((p) => [p.host, p.port, p.clusterName]),
        [['10.0.0.1', 8081, 'web']],
      );
      assert.deepEqual(statuses(assignments), { web: ['80=HEALTHY'] });
      assignments.close();
    } finally {
      mock.timers.reset();
    }
  });
});
