/**
 * Active health checking in ferry-proxy, real processes on loopback: a STATIC cluster of two
 * HTTP backends with an HTTP health check, two workers. Killing a backend takes it out of
 * rotation once the checks (run once, in the primary) fail; restarting it brings it back. Steps
 * run in order, each building on the previous one. Bounds are liveness bounds (`eventually`),
 * never timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  eventually,
  fastHealthCheck,
  freePort,
  httpListener,
  httpRequest,
  inlineRouteConfig,
  routeAllTo,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Proxy,
  RestartableBackend,
} from './harness.js';
import { hostStatuses, isHealthy, useCheckedSite } from './fixtures-health.js';

describe('ferry-proxy active health checks', () => {
  const site = useCheckedSite('health-e2e');
  const hosts = () => hostStatuses(site.proxy);

  async function get(path: string): Promise<{ status: number; backend: string }> {
    const res = await httpRequest(`http://127.0.0.1:${site.listenerPort}${path}`);
    return { status: res.status, backend: String(res.headers['x-backend'] ?? '') };
  }

  test('both backends pass their checks and share the traffic', async () => {
    await eventually(async () => {
      const s = await hosts();
      return isHealthy(s.get(site.a.port)) && isHealthy(s.get(site.b.port)) ? true : undefined;
    }, 'both hosts healthy in /clusters');
    const text = (await httpRequest(`${site.proxy.adminUrl}/clusters`)).body;
    assert.match(text, new RegExp(`web::127\\.0\\.0\\.1:${site.b.port}::health_flags::healthy`));
    await eventually(async () => {
      await get('/spread');
      return site.a.requests.length > 0 && site.b.requests.length > 0 ? true : undefined;
    }, 'requests reaching both backends');
    assert.ok(site.a.healthChecks > 0 && site.b.healthChecks > 0);
  });

  test('a killed backend is marked failed_active_hc and gets no more requests', async () => {
    await site.b.stop();
    await eventually(async () => {
      const s = await hosts();
      return s.get(site.b.port)?.failed_active_health_check === true ? true : undefined;
    }, 'b marked failed_active_health_check');
    const text = (await httpRequest(`${site.proxy.adminUrl}/clusters`)).body;
    assert.match(
      text,
      new RegExp(`web::127\\.0\\.0\\.1:${site.b.port}::health_flags::/failed_active_hc`),
    );
    // The result reaches the workers over IPC right after the primary records it; let both
    // workers' next few requests show it before counting.
    await eventually(async () => {
      const batch = await Promise.all([1, 2, 3, 4].map(() => get('/settle')));
      return batch.every((r) => r.status === 200) ? true : undefined;
    }, 'requests answered by the healthy backend');
    const results = [];
    for (let i = 0; i < 40; i++) results.push(await get(`/after-kill/${i}`));
    assert.deepEqual(
      results.filter((r) => r.status !== 200 || r.backend !== 'a'),
      [],
      'every request went to the healthy backend',
    );
  });

  test('a restarted backend passes its checks and returns to rotation', async () => {
    const before = site.b.requests.length;
    await site.b.start();
    await eventually(async () => {
      const s = await hosts();
      return isHealthy(s.get(site.b.port)) ? true : undefined;
    }, 'b healthy again in /clusters');
    await eventually(async () => {
      const r = await get('/back');
      assert.equal(r.status, 200);
      return site.b.requests.length > before ? true : undefined;
    }, 'requests reaching b again');
  });
});

describe('ferry-proxy cluster warming (first health-check round)', () => {
  let proxy: Proxy;
  let listenerPort: number;
  let a: RestartableBackend;
  let hole: net.Server;
  const held = new Set<net.Socket>();

  before(async () => {
    // A healthy host whose health endpoint is slow (its first check passes after 2 s, longer
    // than the proxy takes to start its workers) …
    a = new RestartableBackend('a', await freePort());
    a.healthDelayMs = 2000;
    await a.start();
    // … and a host that accepts connections and never answers (its check ends by its timeout).
    hole = net.createServer((socket) => {
      held.add(socket);
      socket.on('close', () => held.delete(socket));
    });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const holePort = (hole.address() as net.AddressInfo).port;
    listenerPort = await freePort();
    proxy = await startProxy({
      concurrency: 2,
      bootstrap: staticBootstrap({
        nodeId: 'warming-e2e',
        listeners: [
          httpListener('http', listenerPort, {
            routeConfig: inlineRouteConfig(
              routeAllTo('main', 'web', { action: { timeout: '1s' } }),
            ),
          }),
        ],
        clusters: [
          staticClusterResource('web', [a.port, holePort], {
            health_checks: [
              fastHealthCheck({ timeout: '3s', interval: '10s', no_traffic_interval: '10s' }),
            ],
          }),
        ],
      }),
    });
  });

  after(async () => {
    await stopAll();
    await a.stop();
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => hole.close(() => resolve()));
  });

  test('the listeners take traffic only after the first round, and none goes to the silent host', async () => {
    assert.ok(
      proxy.logs.some((line) => line.includes('waiting for their first health-check round')),
      'the proxy said it was warming',
    );
    // Without warming both hosts would still be pending (unhealthy) for the first 2 s, and panic
    // routing would send about half of these to the silent host (504 after the route's 1 s).
    // After the round one host in two is healthy: not below the 50% panic threshold.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        httpRequest(`http://127.0.0.1:${listenerPort}/first/${i}`),
      ),
    );
    assert.deepEqual(
      results.map((r) => `${r.status} ${String(r.headers['x-backend'])}`),
      Array.from({ length: 20 }, () => '200 a'),
    );
  });
});
