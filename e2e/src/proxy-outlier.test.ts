/**
 * Passive outlier detection in ferry-proxy, real processes on loopback: a STATIC cluster of two
 * HTTP backends with outlier_detection (consecutive_5xx 3, base_ejection_time 4s), two workers.
 * Each request comes on a new connection, so the workers share the three consecutive 500s of a
 * failing backend: the primary's detector counts both workers' outcomes, as Envoy's counts all
 * its worker threads, ejects the backend and takes it out of both workers' rotation; once it
 * recovers it returns after its ejection time. Observed through the backends' request counters; bounds are liveness
 * bounds (`eventually`), never timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  eventually,
  healthFlags,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Json,
  type Proxy,
} from './harness.js';

/** An HTTP backend that counts requests and answers 500 while `failing`. */
class Backend {
  requests = 0;
  failing = false;
  readonly server: http.Server;

  constructor(readonly name: string) {
    this.server = http.createServer((_req, res) => {
      this.requests++;
      res.writeHead(this.failing ? 500 : 200, { 'x-backend': this.name }).end(this.name);
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

describe('ferry-proxy outlier detection', () => {
  let listenerPort: number;
  let proxy: Proxy;
  const a = new Backend('a');
  const b = new Backend('b');

  before(async () => {
    const ports = [await a.start(), await b.start()];
    listenerPort = await freePort();
    const route: Json = {
      name: 'main',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
        },
      ],
    };
    proxy = await startProxy({
      concurrency: 2,
      bootstrap: staticBootstrap({
        nodeId: 'outlier-e2e',
        listeners: [
          listenerResource('http', listenerPort, [
            { filters: [hcmFilter({ routeConfig: route })] },
          ]),
        ],
        clusters: [
          staticClusterResource('web', ports, {
            outlier_detection: {
              consecutive_5xx: 3,
              interval: '0.1s',
              // Long enough that the checks below (admin calls + 20 requests) finish inside the
              // ejection even on a loaded CI machine; the return test waits up to 15 s.
              base_ejection_time: '4s',
              // Envoy's default 10% would allow no ejection among two hosts.
              max_ejection_percent: 50,
            },
          }),
        ],
      }),
    });
  });

  after(async () => {
    await stopAll();
    await a.stop();
    await b.stop();
  });

  async function get(path: string): Promise<{ status: number; backend: string }> {
    const res = await httpRequest(`http://127.0.0.1:${listenerPort}${path}`);
    return { status: res.status, backend: String(res.headers['x-backend'] ?? '') };
  }

  test('both backends share the traffic', async () => {
    await eventually(async () => {
      await get('/spread');
      return a.requests > 0 && b.requests > 0 ? true : undefined;
    }, 'requests reaching both backends');
  });

  test('a backend answering 500 is ejected after consecutive_5xx and gets no requests', async () => {
    b.failing = true;
    const before = b.requests;
    const seen: number[] = [];
    // Sequential requests: round robin sends b every other one until its third 500.
    while (b.requests < before + 3) {
      assert.ok(seen.length < 100, `b got ${b.requests - before} of 100 requests: no round robin`);
      seen.push((await get('/failing')).status);
    }
    assert.equal(seen.filter((s) => s === 500).length, 3);
    // The worker sends its outcomes to the primary within OUTCOME_FLUSH_MS; the primary's
    // detector ejects (as Envoy's main thread does, after the fact) and tells the workers.
    const bPort = (b.server.address() as { port: number }).port;
    await eventually(async () => {
      const flags = await healthFlags(proxy, 'web', bPort);
      return flags?.startsWith('/failed_outlier_check') === true ? true : undefined;
    }, 'b marked /failed_outlier_check in /clusters');
    // The ejection went to the worker before /clusters answered; one request lets it settle.
    await get('/settle');
    const ejectedAt = b.requests;
    const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    assert.match(prom, /^ferry_outlier_ejections_active\{cluster="web"\} 1$/m);
    assert.match(prom, /^ferry_outlier_ejections_total\{cluster="web"\} [1-9]\d*$/m);
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await get(`/ejected/${i}`));
    assert.equal(b.requests, ejectedAt, 'no request reached the ejected backend');
    assert.deepEqual(
      results.filter((r) => r.status !== 200 || r.backend !== 'a'),
      [],
      'every request went to the healthy backend',
    );
  });

  test('the recovered backend returns after base_ejection_time', async () => {
    b.failing = false;
    const before = b.requests;
    const back = await eventually(async () => {
      const r = await get('/recovered');
      assert.equal(r.status, 200);
      return r.backend === 'b' ? r : undefined;
    }, 'requests reaching b again');
    assert.equal(back.status, 200);
    assert.ok(b.requests > before);
  });
});
