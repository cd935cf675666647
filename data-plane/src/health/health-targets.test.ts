import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createLogger } from '@ferry/shared';
import type { ClusterModel, HealthCheckModel } from '../config/model.js';
import { endpoint, lbCluster, locality } from '../upstream/load-balancer-fixtures.js';
import { HealthManager, type HealthCheckedCluster } from './health-manager.js';
import { HealthTargets } from './health-targets.js';
import { healthCheck } from './health-test-fixtures.js';
import { until } from '../test-support/until.js';

const CHECK = healthCheck({
  timeoutMs: 500,
  intervalMs: 100,
  unhealthyThreshold: 1,
  healthyThreshold: 1,
  noTrafficIntervalMs: 100,
  noTrafficHealthyIntervalMs: 100,
  unhealthyIntervalMs: 100,
  unhealthyEdgeIntervalMs: 100,
  healthyEdgeIntervalMs: 100,
});

const logger = createLogger('health-targets-test', 'silent');

function dnsCluster(
  name: string,
  type: 'STRICT_DNS' | 'LOGICAL_DNS',
  host: string,
  port: number,
  checks: HealthCheckModel[] = [CHECK],
): ClusterModel {
  return {
    ...lbCluster('ROUND_ROBIN', [locality([endpoint(host, port)])]),
    name,
    type,
    dnsLookupFamily: 'V4_ONLY',
    activeHealthChecks: checks,
  };
}

function addresses(cluster: HealthCheckedCluster | undefined): string[] {
  return (cluster?.localities ?? []).flatMap((l) => l.endpoints.map((e) => `${e.host}:${e.port}`));
}

describe('HealthTargets', () => {
  test('firstResolution settles after each DNS cluster has resolved once, or failed to', async () => {
    const answers: ((addresses: string[]) => void)[] = [];
    const failures: ((err: Error) => void)[] = [];
    const targets = new HealthTargets({
      logger,
      apply: () => undefined,
      resolve: () =>
        new Promise<string[]>((resolve, reject) => {
          answers.push(resolve);
          failures.push(reject);
        }),
    });
    targets.update({
      a: dnsCluster('a', 'STRICT_DNS', 'a.test', 80),
      b: dnsCluster('b', 'LOGICAL_DNS', 'b.test', 80),
    });
    let settled = false;
    void targets.firstResolution(['a', 'b', 'not-dns']).then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    answers[0]!(['10.0.0.1']);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'b has not resolved yet');
    failures[1]!(new Error('ENOTFOUND b.test'));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, true, 'a failed resolution ends the wait too');
    targets.close();
  });

  test('DNS clusters are checked per resolved address; others as configured', async () => {
    const applied: Record<string, HealthCheckedCluster>[] = [];
    let answer = ['10.0.0.1', '10.0.0.2'];
    let fail = false;
    const targets = new HealthTargets({
      logger,
      apply: (clusters) => applied.push({ ...clusters }),
      resolve: (name) =>
        fail ? Promise.reject(new Error(`ENOTFOUND ${name}`)) : Promise.resolve(answer),
    });
    const staticCluster: ClusterModel = {
      ...lbCluster('ROUND_ROBIN', [locality([endpoint('10.9.9.9', 80)])]),
      name: 'static',
      activeHealthChecks: [CHECK],
    };
    targets.update({
      static: staticCluster,
      strict: dnsCluster('strict', 'STRICT_DNS', 'db.internal', 5432),
      logical: dnsCluster('logical', 'LOGICAL_DNS', 'api.internal', 443),
      unchecked: dnsCluster('unchecked', 'STRICT_DNS', 'x.internal', 1, []),
    });
    // At once: what needs no resolution.
    assert.deepEqual(Object.keys(applied[0]!), ['static']);
    await new Promise((resolve) => setImmediate(resolve));
    const last = applied.at(-1)!;
    assert.deepEqual(Object.keys(last).sort(), ['logical', 'static', 'strict']);
    assert.deepEqual(addresses(last.strict), ['10.0.0.1:5432', '10.0.0.2:5432']);
    assert.deepEqual(addresses(last.logical), ['10.0.0.1:443'], 'LOGICAL_DNS: the first address');
    assert.equal(last.static, staticCluster);

    // A config change that keeps the names keeps the addresses (no re-resolution needed).
    const count = applied.length;
    answer = ['10.0.0.3'];
    targets.update({ strict: dnsCluster('strict', 'STRICT_DNS', 'db.internal', 5432) });
    assert.equal(applied.length, count + 1);
    assert.deepEqual(Object.keys(applied.at(-1)!), ['strict']);
    assert.deepEqual(addresses(applied.at(-1)!.strict), ['10.0.0.1:5432', '10.0.0.2:5432']);

    // New names: resolved again; a failed resolution keeps the last addresses.
    fail = true;
    targets.update({ strict: dnsCluster('strict', 'STRICT_DNS', 'db2.internal', 5432) });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(Object.keys(applied.at(-1)!), [], 'not checked until its names resolve');
    fail = false;
    targets.update({ strict: dnsCluster('strict', 'STRICT_DNS', 'db3.internal', 5432) });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(addresses(applied.at(-1)!.strict), ['10.0.0.3:5432']);
    targets.close();
    targets.close();
  });

  describe('with a real resolver and a real target', () => {
    const server = net.createServer((socket) => socket.end());
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('a STRICT_DNS cluster on "localhost" is checked at 127.0.0.1', async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      const health = new HealthManager({ logger, onUpdate: () => undefined });
      const targets = new HealthTargets({ logger, apply: (c) => health.apply(c) });
      try {
        targets.update({ local: dnsCluster('local', 'STRICT_DNS', 'localhost', port) });
        const checked = (): boolean => {
          const host = health.view().get('local')?.get(`127.0.0.1:${port}`);
          return host !== undefined && !host.pending;
        };
        await until(checked, `the first check of 127.0.0.1:${port}`);
        assert.equal(health.view().get('local')?.get(`127.0.0.1:${port}`)?.status, 'HEALTHY');
      } finally {
        targets.close();
        health.close();
      }
    });
  });
});
