/**
 * The health quorum rule with real processes: a control plane (HDS every 200 ms), two ferry-proxies
 * in group "default", an EDS cluster with active HTTP checks that opts in with
 * `metadata.filter_metadata["ferry.health_quorum"] = { unhealthy_percent: 50, min_proxies: 2 }`.
 * Stopping a backend: both proxies see it down, report it over HDS, the control plane stores their
 * views and serves the group's EDS with that endpoint UNHEALTHY — visible in both proxies'
 * /clusters as `/eds_health_status_unhealthy` (an EDS flag, not their own check) and in
 * `ferryctl health`. Restarting it flips EDS back. Liveness bounds only (`eventually`).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, ferryctl, type Proxy, fleetHealth, healthFlags } from './harness.js';
import { useHealthFleet } from './fixtures-health.js';

describe('health quorum rule flips EDS health for the group', () => {
  const fleet = useHealthFleet(['quorum-1', 'quorum-2'], {
    filter_metadata: { 'ferry.health_quorum': { unhealthy_percent: 50, min_proxies: 2 } },
  });

  const endpoint = (port: number) => fleetHealth(fleet.cp.apiUrl, 'web', port);

  const flags = (proxy: Proxy, port: number) => healthFlags(proxy, 'web', port);

  test('both proxies report both endpoints healthy; EDS as configured', async () => {
    for (const backend of [fleet.a, fleet.b]) {
      const e = await eventually(async () => {
        const found = await endpoint(backend.port);
        return found?.status === 'HEALTHY' && found.proxies === 2 ? found : undefined;
      }, `127.0.0.1:${backend.port} HEALTHY by 2 proxies`);
      assert.equal(e.eds_unhealthy_by_quorum, false);
    }
    for (const proxy of fleet.proxies) assert.equal(await flags(proxy, fleet.b.port), 'healthy');
  });

  test('a backend both proxies see down is served UNHEALTHY in EDS to the group', async () => {
    await fleet.b.stop();
    const e = await eventually(async () => {
      const found = await endpoint(fleet.b.port);
      return found?.eds_unhealthy_by_quorum === true ? found : undefined;
    }, `127.0.0.1:${fleet.b.port} marked UNHEALTHY by the quorum`);
    assert.equal(e.unhealthy, 2);
    assert.equal(e.proxies, 2);
    for (const proxy of fleet.proxies) {
      const seen = await eventually(async () => {
        const found = await flags(proxy, fleet.b.port);
        return found?.includes('/eds_health_status_unhealthy') ? found : undefined;
      }, `EDS health_status UNHEALTHY for 127.0.0.1:${fleet.b.port} reaches the proxy`);
      // Its own active check still runs (and still fails): EDS marks it as well.
      assert.equal(seen, '/failed_active_hc/eds_health_status_unhealthy');
      assert.equal(await flags(proxy, fleet.a.port), 'healthy');
    }
    const table = await ferryctl(fleet.cp.apiUrl, ['health']);
    assert.match(
      table.stdout,
      new RegExp(`127\\.0\\.0\\.1:${fleet.b.port}\\s.*UNHEALTHY \\(quorum\\)`),
    );
    // The node reports are internal records, not configuration.
    const listed = await fetch(`${fleet.cp.apiUrl}/v1/resources`);
    assert.equal(listed.status, 200);
    const text = await listed.text();
    assert.match(text, /ClusterLoadAssignment/);
    assert.doesNotMatch(text, /NodeHealthReport/);
  });

  test('when the backend returns, the proxies see it healthy and EDS flips back', async () => {
    await fleet.b.start();
    await eventually(async () => {
      const found = await endpoint(fleet.b.port);
      return found?.status === 'HEALTHY' && found.eds_unhealthy_by_quorum === false
        ? found
        : undefined;
    }, `127.0.0.1:${fleet.b.port} healthy and no longer marked`);
    for (const proxy of fleet.proxies) {
      await eventually(async () => {
        const found = await flags(proxy, fleet.b.port);
        return found === 'healthy' ? found : undefined;
      }, `127.0.0.1:${fleet.b.port} healthy again in the proxy's /clusters`);
    }
  });
});
