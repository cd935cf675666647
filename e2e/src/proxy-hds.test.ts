/**
 * Health reported back over HDS, real processes on loopback: control plane (HDS interval
 * 200 ms) ← ferryctl apply of a STATIC cluster with an HTTP health check → one ferry-proxy,
 * which checks both backends and reports its view. Stopping a backend makes `ferryctl health`
 * show it UNHEALTHY as seen by 1 of 1 proxies; restarting it brings it back to HEALTHY.
 * Bounds are liveness bounds (`eventually`), never timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiApply,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  listenerResource,
  proxyBootstrap,
  staticClusterResource,
  startControlPlane,
  startProxy,
  stopAll,
  type ControlPlane,
  RestartableBackend,
  fleetHealth,
  fastHealthCheck,
} from './harness.js';

describe('ferry-proxy reports health to the control plane (HDS)', () => {
  let cp: ControlPlane;
  let a: RestartableBackend;
  let b: RestartableBackend;

  before(async () => {
    a = new RestartableBackend('backend', await freePort());
    b = new RestartableBackend('backend', await freePort());
    await a.start();
    await b.start();
    cp = await startControlPlane({ args: ['--hds-interval-ms', '200'] });
    const route = {
      name: 'main',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
        },
      ],
    };
    await apiApply(cp.apiUrl, [
      staticClusterResource('web', [a.port, b.port], {
        health_checks: [fastHealthCheck()],
      }),
      listenerResource('http', await freePort(), [
        { filters: [hcmFilter({ routeConfig: route })] },
      ]),
    ]);
    await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'hds-e2e', xdsAddress: cp.xdsAddress }),
    });
  });

  after(async () => {
    await stopAll();
    await a.stop();
    await b.stop();
  });

  const endpoint = (port: number) => fleetHealth(cp.apiUrl, 'web', port);

  test('both endpoints are reported HEALTHY by the one proxy', async () => {
    for (const backend of [a, b]) {
      const e = await eventually(async () => {
        const found = await endpoint(backend.port);
        return found?.status === 'HEALTHY' ? found : undefined;
      }, `127.0.0.1:${backend.port} HEALTHY in ferryctl health`);
      assert.equal(e.healthy, 1);
      assert.equal(e.proxies, 1);
    }
  });

  test('a stopped backend shows UNHEALTHY, seen by 1 of 1 proxies', async () => {
    await b.stop();
    const e = await eventually(async () => {
      const found = await endpoint(b.port);
      return found?.status === 'UNHEALTHY' ? found : undefined;
    }, `127.0.0.1:${b.port} UNHEALTHY in ferryctl health`);
    assert.equal(e.unhealthy, 1);
    assert.equal(e.proxies, 1);
    assert.deepEqual(e.unhealthy_nodes, ['hds-e2e']);
    assert.equal((await endpoint(a.port))?.status, 'HEALTHY');
    const table = await ferryctl(cp.apiUrl, ['health']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`127\\.0\\.0\\.1:${b.port}\\s+UNHEALTHY\\s+0/1\\s+1/1`));
    // The proxy's own view is part of `ferryctl status` too.
    const status = await ferryctl(cp.apiUrl, ['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`hds-e2e\\s+web\\s+1/2\\s+127\\.0\\.0\\.1:${b.port}\\s`),
    );
  });

  test('the restarted backend comes back HEALTHY', async () => {
    await b.start();
    const e = await eventually(async () => {
      const found = await endpoint(b.port);
      return found?.status === 'HEALTHY' ? found : undefined;
    }, `127.0.0.1:${b.port} HEALTHY again`);
    assert.equal(e.healthy, 1);
    assert.equal(e.unhealthy, 0);
  });
});
