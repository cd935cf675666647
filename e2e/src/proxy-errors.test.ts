/**
 * The errors ferry-proxy answers itself, through a real proxy process (static bootstrap), each
 * with Envoy's status, body and response flag in the access log (`--access-log`): no route → 404
 * NR, a cluster with no endpoints → 503 UH, connection refused → 503 UF, route timeout → 504 UT,
 * unknown cluster → 503 NC.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
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
  tempDir,
  type Backend,
  type Proxy,
} from './harness.js';

interface AccessLine {
  path: string;
  authority: string;
  response_code: number;
  response_flags: string;
  upstream_cluster: string;
  upstream_host: string;
}

/** An HTTP server that accepts requests and never answers them. */
async function startSilentBackend(): Promise<{
  port: number;
  seen: string[];
  close(): Promise<void>;
}> {
  const seen: string[] = [];
  const server = http.createServer((req) => seen.push(`${req.method} ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('ferry-proxy error responses and response flags', () => {
  let web: Backend;
  let silent: Awaited<ReturnType<typeof startSilentBackend>>;
  let proxy: Proxy;
  let port: number;
  let refusedPort: number;
  let accessLogPath: string;

  before(async () => {
    web = await startBackend('web');
    silent = await startSilentBackend();
    port = await freePort();
    refusedPort = await freePort(); // bound and closed again: nothing listens there
    accessLogPath = path.join(tempDir('access'), 'access.log');
    const route = (prefix: string, cluster: string, extra: Record<string, unknown> = {}) => ({
      match: { prefix },
      route: { cluster, ...extra },
    });
    const routeConfig = {
      name: 'local',
      // Envoy rejects an inline route config naming an unknown cluster unless told otherwise.
      validate_clusters: false,
      virtual_hosts: [
        {
          name: 'app',
          domains: ['app.test'],
          routes: [
            route('/ok', 'web'),
            route('/empty', 'empty'),
            route('/refused', 'refused'),
            route('/slow', 'slow', { timeout: '0.3s' }),
            route('/unknown', 'no-such-cluster'),
          ],
        },
      ],
    };
    proxy = await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'errors-1',
        listeners: [listenerResource('http', port, [{ filters: [hcmFilter({ routeConfig })] }])],
        clusters: [
          staticClusterResource('web', [web.port]),
          staticClusterResource('empty', []),
          staticClusterResource('refused', [refusedPort]),
          staticClusterResource('slow', [silent.port]),
        ],
      }),
      concurrency: 1,
      args: ['--access-log', accessLogPath],
    });
  });
  after(async () => {
    await stopAll();
    await Promise.all([web?.close(), silent?.close()]);
  });

  function get(pathname: string, host = 'app.test') {
    return httpRequest(`http://127.0.0.1:${port}${pathname}`, { host });
  }

  /** The access log line for `pathname` (the log is flushed every 100 ms). */
  function accessLine(pathname: string, authority = 'app.test'): Promise<AccessLine> {
    return eventually(() => {
      if (!fs.existsSync(accessLogPath)) return undefined;
      return fs
        .readFileSync(accessLogPath, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as AccessLine)
        .find((e) => e.path === pathname && e.authority === authority);
    }, `the access log line for ${pathname}`);
  }

  test('a routed request succeeds, with no response flag', async () => {
    const res = await get('/ok');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'web /ok');
    const line = await accessLine('/ok');
    assert.equal(line.response_code, 200);
    assert.equal(line.response_flags, '-');
    assert.equal(line.upstream_cluster, 'web');
    assert.equal(line.upstream_host, `127.0.0.1:${web.port}`);
  });

  test('no virtual host for the authority → 404 NR', async () => {
    const res = await get('/ok', 'other.test');
    assert.equal(res.status, 404);
    assert.equal(res.body, '');
    const line = await accessLine('/ok', 'other.test');
    assert.equal(line.response_code, 404);
    assert.equal(line.response_flags, 'NR');
  });

  test('no route for the path → 404 NR', async () => {
    const res = await get('/nowhere');
    assert.equal(res.status, 404);
    assert.equal((await accessLine('/nowhere')).response_flags, 'NR');
  });

  test('a cluster with no endpoints → 503 UH "no healthy upstream"', async () => {
    const res = await get('/empty');
    assert.equal(res.status, 503);
    assert.equal(res.body, 'no healthy upstream');
    const line = await accessLine('/empty');
    assert.equal(line.response_code, 503);
    assert.equal(line.response_flags, 'UH');
  });

  test('connection refused → 503 UF', async () => {
    const res = await get('/refused');
    assert.equal(res.status, 503);
    assert.match(res.body, /^upstream connect error or disconnect\/reset before headers\./);
    assert.match(res.body, /connection failure/);
    const line = await accessLine('/refused');
    assert.equal(line.response_code, 503);
    assert.equal(line.response_flags, 'UF');
    assert.equal(line.upstream_host, `127.0.0.1:${refusedPort}`);
  });

  test('the route timeout passes → 504 UT "upstream request timeout"', async () => {
    const res = await get('/slow');
    assert.equal(res.status, 504);
    assert.equal(res.body, 'upstream request timeout');
    assert.deepEqual(silent.seen, ['GET /slow'], 'the request did reach the silent upstream');
    const line = await accessLine('/slow');
    assert.equal(line.response_code, 504);
    assert.equal(line.response_flags, 'UT');
  });

  test('a route naming an unknown cluster → 503 NC', async () => {
    const res = await get('/unknown');
    assert.equal(res.status, 503);
    assert.equal((await accessLine('/unknown')).response_flags, 'NC');
  });

  test('the failures are counted in the stats, and the proxy still serves', async () => {
    const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    const value = (name: string, cluster: string): number => {
      const m = new RegExp(`^${name}\\{[^}]*cluster="${cluster}"[^}]*\\} (\\d+)$`, 'm').exec(prom);
      return m ? Number(m[1]) : 0;
    };
    assert.ok(value('ferry_upstream_cx_connect_fail', 'refused') >= 1, prom);
    assert.equal(value('ferry_upstream_rq_timeout', 'slow'), 1, prom);
    assert.equal((await get('/ok')).status, 200);
    assert.equal((await httpRequest(`${proxy.adminUrl}/ready`)).status, 200);
  });
});
