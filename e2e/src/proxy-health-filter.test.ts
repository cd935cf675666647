/**
 * envoy.filters.http.health_check and admin /healthcheck/fail|ok, real processes on loopback:
 * a proxy with two workers, one listener answering /healthz itself (pass_through_mode false)
 * and one forwarding /hc to the backend (pass_through_mode true). Failing health checks makes
 * both answer 503 locally while normal routes keep serving (with `connection: close`, so load
 * balancers in front drain the proxy); /healthcheck/ok restores them. Steps run in order.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  eventually,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  startBackend,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Backend,
  type HttpResult,
  type Json,
  type Proxy,
} from './harness.js';

const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

function healthCheckFilter(passThroughMode: boolean, path: string): Json {
  return {
    name: 'envoy.filters.http.health_check',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
      pass_through_mode: passThroughMode,
      headers: [{ name: ':path', string_match: { exact: path } }],
      cluster_min_healthy_percentages: { web: { value: 50 } },
    },
  };
}

const ROUTES: Json = {
  name: 'main',
  virtual_hosts: [
    {
      name: 'all',
      domains: ['*'],
      routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
    },
  ],
};

describe('ferry-proxy health_check filter and /healthcheck/fail', () => {
  let proxy: Proxy;
  let backend: Backend;
  let localPort: number;
  let passThroughPort: number;

  before(async () => {
    backend = await startBackend('web');
    localPort = await freePort();
    passThroughPort = await freePort();
    const listener = (name: string, port: number, filter: Json): Json =>
      listenerResource(name, port, [
        { filters: [hcmFilter({ routeConfig: ROUTES }, { http_filters: [filter, ROUTER] })] },
      ]);
    proxy = await startProxy({
      concurrency: 2,
      bootstrap: staticBootstrap({
        nodeId: 'health-filter-e2e',
        listeners: [
          listener('local', localPort, healthCheckFilter(false, '/healthz')),
          listener('pass', passThroughPort, healthCheckFilter(true, '/hc')),
        ],
        clusters: [staticClusterResource('web', [backend.port])],
      }),
    });
  });

  after(async () => {
    await stopAll();
    await backend.close();
  });

  const get = (port: number, path: string): Promise<HttpResult> =>
    httpRequest(`http://127.0.0.1:${port}${path}`);

  /** Several requests in a row (new connections, so both workers answer some) all match. */
  async function settled(port: number, path: string, status: number): Promise<true | undefined> {
    for (let i = 0; i < 6; i++) if ((await get(port, path)).status !== status) return undefined;
    return true;
  }

  /** A keep-alive request: the `connection` response header is then the proxy's choice. */
  function getKeepAlive(port: number, path: string): Promise<HttpResult> {
    const agent = new http.Agent({ keepAlive: true });
    return new Promise<HttpResult>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
    }).finally(() => agent.destroy());
  }

  const admin = (path: string): Promise<HttpResult> =>
    httpRequest(`${proxy.adminUrl}${path}`, { method: 'POST' });

  test('healthy: /healthz is answered by the proxy, pass-through /hc reaches the backend', async () => {
    const health = await get(localPort, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body, '');
    assert.ok(!backend.requests.includes('GET /healthz'), 'the proxy answered /healthz itself');
    const app = await get(localPort, '/app');
    assert.equal(app.status, 200);
    assert.equal(app.body, 'web /app');
    const hc = await get(passThroughPort, '/hc');
    assert.equal(hc.status, 200);
    assert.equal(hc.body, 'web /hc');
  });

  test('/healthcheck/fail: health checks get 503, normal routes serve with connection: close', async () => {
    assert.equal((await admin('/healthcheck/fail')).status, 200);
    await eventually(() => settled(localPort, '/healthz', 503), '/healthz answering 503');
    await eventually(() => settled(passThroughPort, '/hc', 503), 'pass-through /hc answering 503');
    const forwardedBefore = backend.requests.filter((r) => r === 'GET /hc').length;
    assert.equal((await get(passThroughPort, '/hc')).status, 503);
    assert.equal(
      backend.requests.filter((r) => r === 'GET /hc').length,
      forwardedBefore,
      'a failing pass-through health check is not forwarded',
    );
    const app = await getKeepAlive(localPort, '/app-while-failing');
    assert.equal(app.status, 200);
    assert.equal(app.body, 'web /app-while-failing');
    assert.equal(app.headers.connection, 'close');
    assert.equal((await httpRequest(`${proxy.adminUrl}/ready`)).status, 503);
  });

  test('/healthcheck/ok: 200 again and connections are kept alive', async () => {
    assert.equal((await admin('/healthcheck/ok')).status, 200);
    await eventually(() => settled(localPort, '/healthz', 200), '/healthz answering 200 again');
    await eventually(
      () => settled(passThroughPort, '/hc', 200),
      'pass-through /hc forwarded again',
    );
    const app = await getKeepAlive(localPort, '/app-again');
    assert.equal(app.status, 200);
    // HTTP/1.1 connections persist unless the response says `connection: close` (RFC 9112
    // §9.3); like Envoy, ferry-proxy does not add `connection: keep-alive`.
    assert.notEqual(app.headers.connection, 'close');
  });
});
