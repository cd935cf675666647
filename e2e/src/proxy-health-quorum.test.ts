/**
 * The health quorum rule with real processes: a control plane (HDS every 200 ms), two ferry-proxies
 * in group "default", an EDS cluster with active HTTP checks that opts in with
 * `metadata.filter_metadata["ferry.health_quorum"] = { unhealthy_percent: 50, min_proxies: 2 }`.
 * Stopping a backend: both proxies see it down, report it over HDS, the control plane stores their
 * views and serves the group's EDS with that endpoint UNHEALTHY — visible in both proxies'
 * /clusters as `/eds_health_status_unhealthy` (an EDS flag, not their own check) and in
 * `ferryctl health`. Restarting it flips EDS back. Liveness bounds only (`eventually`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RestartableBackend,
  apiApply,
  edsClusterResource,
  endpointsResource,
  eventually,
  ferryctl,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  type ControlPlane,
  type Proxy,
  fleetHealth,
  healthFlags,
  fastHealthCheck,
} from './harness.js';

describe('health quorum rule flips EDS health for the group', () => {
  let cp: ControlPlane;
  let a: RestartableBackend;
  let b: RestartableBackend;
  const proxies: Proxy[] = [];

  before(async () => {
    a = await RestartableBackend.start();
    b = await RestartableBackend.start();
    cp = await startControlPlane({ args: ['--hds-interval-ms', '200'] });
    await apiApply(cp.apiUrl, [
      edsClusterResource('web', {
        health_checks: [fastHealthCheck()],
        metadata: {
          filter_metadata: { 'ferry.health_quorum': { unhealthy_percent: 50, min_proxies: 2 } },
        },
      }),
      endpointsResource('web', [a.port, b.port]),
    ]);
    for (const id of ['quorum-1', 'quorum-2']) {
      proxies.push(
        await startProxy({ bootstrap: proxyBootstrap({ nodeId: id, xdsAddress: cp.xdsAddress }) }),
      );
    }
  });

  after(async () => {
    await stopAll();
    await a.stop();
    await b.stop();
  });

  const endpoint = (port: number) => fleetHealth(cp.apiUrl, 'web', port);

  const flags = (proxy: Proxy, port: number) => healthFlags(proxy, 'web', port);

  test('both proxies report both endpoints healthy; EDS as configured', async () => {
    for (const backend of [a, b]) {
      const e = await eventually(async () => {
        const found = await endpoint(backend.port);
        return found?.status === 'HEALTHY' && found.proxies === 2 ? found : undefined;
      }, `127.0.0.1:${backend.port} HEALTHY by 2 proxies`);
      assert.equal(e.eds_unhealthy_by_quorum, false);
    }
    for (const proxy of proxies) assert.equal(await flags(proxy, b.port), 'healthy');
  });

  test('a backend both proxies see down is served UNHEALTHY in EDS to the group', async () => {
    await b.stop();
    const e = await eventually(async () => {
      const found = await endpoint(b.port);
      return found?.eds_unhealthy_by_quorum === true ? found : undefined;
    }, `127.0.0.1:${b.port} marked UNHEALTHY by the quorum`);
    assert.equal(e.unhealthy, 2);
    assert.equal(e.proxies, 2);
    for (const proxy of proxies) {
      const seen = await eventually(async () => {
        const found = await flags(proxy, b.port);
        return found?.includes('/eds_health_status_unhealthy') ? found : undefined;
      }, `EDS health_status UNHEALTHY for 127.0.0.1:${b.port} reaches the proxy`);
      // Its own active check still runs (and still fails): EDS marks it as well.
      assert.equal(seen, '/failed_active_hc/eds_health_status_unhealthy');
      assert.equal(await flags(proxy, a.port), 'healthy');
    }
    const table = await ferryctl(cp.apiUrl, ['health']);
    assert.match(table.stdout, new RegExp(`127\\.0\\.0\\.1:${b.port}\\s.*UNHEALTHY \\(quorum\\)`));
    // The node reports are internal records, not configuration.
    const listed = await fetch(`${cp.apiUrl}/v1/resources`);
    assert.equal(listed.status, 200);
    const text = await listed.text();
    assert.match(text, /ClusterLoadAssignment/);
    assert.doesNotMatch(text, /NodeHealthReport/);
  });

  test('when the backend returns, the proxies see it healthy and EDS flips back', async () => {
    await b.start();
    await eventually(async () => {
      const found = await endpoint(b.port);
      return found?.status === 'HEALTHY' && found.eds_unhealthy_by_quorum === false
        ? found
        : undefined;
    }, `127.0.0.1:${b.port} healthy and no longer marked`);
    for (const proxy of proxies) {
      await eventually(async () => {
        const found = await flags(proxy, b.port);
        return found === 'healthy' ? found : undefined;
      }, `127.0.0.1:${b.port} healthy again in the proxy's /clusters`);
    }
  });
});
