/**
 * Central health checking over HDS with real processes: three ferry-proxies in group "default",
 * an EDS cluster that opts in with `metadata.filter_metadata["ferry.hds"] = { checkers: 2 }`.
 * The control plane serves the cluster WITHOUT its health_checks (no proxy checks it on its own)
 * and hands the checks to two of the three proxies over HDS; their reports decide, through the
 * quorum rule, the EDS health every proxy uses. Stopping a backend: all three proxies — also the
 * one that checks nothing — see it `/eds_health_status_unhealthy`; restarting it clears that.
 * Liveness bounds only (`eventually`).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type Proxy, fleetHealth, healthFlags } from './harness.js';
import { useHealthFleet } from './fixtures-health.js';

describe('central health checking: the control plane hands checks to 2 of 3 proxies', () => {
  const fleet = useHealthFleet(['central-1', 'central-2', 'central-3'], {
    filter_metadata: { 'ferry.hds': { checkers: 2 } },
  });

  const endpoint = (port: number) => fleetHealth(fleet.cp.apiUrl, 'web', port);

  const flags = (proxy: Proxy, port: number) => healthFlags(proxy, 'web', port);

  test('exactly two proxies check and report; the cluster reaches proxies without checks', async () => {
    const e = await eventually(async () => {
      const found = await endpoint(fleet.b.port);
      return found?.status === 'HEALTHY' && found.proxies === 2 ? found : undefined;
    }, 'two proxies report 127.0.0.1:b HEALTHY');
    assert.equal(e.eds_unhealthy_by_quorum, false);
    const dump = await (await fetch(`${fleet.proxies[0]!.adminUrl}/config_dump`)).text();
    assert.match(dump, /"web"/);
    assert.doesNotMatch(dump, /healthz/, 'CDS carries no health_checks for the cluster');
  });

  test('a stopped backend is UNHEALTHY in every proxy through EDS', async () => {
    await fleet.b.stop();
    const e = await eventually(async () => {
      const found = await endpoint(fleet.b.port);
      return found?.eds_unhealthy_by_quorum === true ? found : undefined;
    }, 'the checkers see 127.0.0.1:b down and the quorum marks it');
    assert.equal(e.unhealthy, 2);
    assert.equal(e.unhealthy_nodes.length, 2);
    for (const proxy of fleet.proxies) {
      const f = await eventually(async () => {
        const found = await flags(proxy, fleet.b.port);
        return found === '/eds_health_status_unhealthy' ? found : undefined;
      }, 'EDS UNHEALTHY (and no own active check) in every proxy');
      assert.equal(f, '/eds_health_status_unhealthy');
      assert.equal(await flags(proxy, fleet.a.port), 'healthy');
    }
  });

  test('the restarted backend is healthy again everywhere', async () => {
    await fleet.b.start();
    for (const proxy of fleet.proxies) {
      await eventually(async () => {
        const found = await flags(proxy, fleet.b.port);
        return found === 'healthy' ? found : undefined;
      }, '127.0.0.1:b healthy again in every proxy');
    }
  });
});
