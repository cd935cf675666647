/**
 * Central health checking over HDS with real processes: three ferry-proxies in group "default",
 * an EDS cluster that opts in with `metadata.filter_metadata["ferry.hds"] = { checkers: 2 }`.
 * The control plane serves the cluster WITHOUT its health_checks (no proxy checks it on its own)
 * and hands the checks to two of the three proxies over HDS; their reports decide, through the
 * quorum rule, the EDS health every proxy uses. Stopping a backend: all three proxies — also the
 * one that checks nothing — see it `/eds_health_status_unhealthy`; restarting it clears that.
 * Liveness bounds only (`eventually`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RestartableBackend,
  apiApply,
  edsClusterResource,
  endpointsResource,
  eventually,
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

describe('central health checking: the control plane hands checks to 2 of 3 proxies', () => {
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
        metadata: { filter_metadata: { 'ferry.hds': { checkers: 2 } } },
      }),
      endpointsResource('web', [a.port, b.port]),
    ]);
    for (const id of ['central-1', 'central-2', 'central-3']) {
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

  test('exactly two proxies check and report; the cluster reaches proxies without checks', async () => {
    const e = await eventually(async () => {
      const found = await endpoint(b.port);
      return found?.status === 'HEALTHY' && found.proxies === 2 ? found : undefined;
    }, 'two proxies report 127.0.0.1:b HEALTHY');
    assert.equal(e.eds_unhealthy_by_quorum, false);
    const dump = await (await fetch(`${proxies[0]!.adminUrl}/config_dump`)).text();
    assert.match(dump, /"web"/);
    assert.doesNotMatch(dump, /healthz/, 'CDS carries no health_checks for the cluster');
  });

  test('a stopped backend is UNHEALTHY in every proxy through EDS', async () => {
    await b.stop();
    const e = await eventually(async () => {
      const found = await endpoint(b.port);
      return found?.eds_unhealthy_by_quorum === true ? found : undefined;
    }, 'the checkers see 127.0.0.1:b down and the quorum marks it');
    assert.equal(e.unhealthy, 2);
    assert.equal(e.unhealthy_nodes.length, 2);
    for (const proxy of proxies) {
      const f = await eventually(async () => {
        const found = await flags(proxy, b.port);
        return found === '/eds_health_status_unhealthy' ? found : undefined;
      }, 'EDS UNHEALTHY (and no own active check) in every proxy');
      assert.equal(f, '/eds_health_status_unhealthy');
      assert.equal(await flags(proxy, a.port), 'healthy');
    }
  });

  test('the restarted backend is healthy again everywhere', async () => {
    await b.start();
    for (const proxy of proxies) {
      await eventually(async () => {
        const found = await flags(proxy, b.port);
        return found === 'healthy' ? found : undefined;
      }, '127.0.0.1:b healthy again in every proxy');
    }
  });
});
