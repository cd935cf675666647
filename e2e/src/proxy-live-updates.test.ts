/**
 * Live updates under load, with real processes: two ferry-proxy instances of one group (the
 * second with --listener-port-offset 1) in front of two backends, a client keeping a fixed number
 * of requests in flight that retries a failed request once against the other proxy (the client
 * side "with retries/fallback"), and during the load 50 config changes through the control
 * plane's HTTP API (weighted splits, route changes, endpoint changes, in turn) plus a rolling
 * restart of the second proxy on its state dir. No request may fail at the client side.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  apiApply,
  edsClusterResource,
  endpointsResource,
  eventually,
  freePortPair,
  hcmFilter,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  type Backend,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

const CONFIG_CHANGES = 50;
const IN_FLIGHT = 8;
/** A liveness bound per request (a hung request is a failure, not a hung test). */
const REQUEST_TIMEOUT_MS = 5000;

interface Outcome {
  ok: boolean;
  backend?: string;
  /** The x-generation response header (set by route changes). */
  generation?: string;
  error?: string;
}

/** One GET over a keep-alive agent; ok only for a 200 whose body names the path. */
function get(agent: http.Agent, port: number, pathname: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: pathname, agent, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const backend = String(res.headers['x-backend']);
          const generation = res.headers['x-generation'] as string | undefined;
          const ok = res.statusCode === 200 && body === `${backend} ${pathname}`;
          resolve(
            ok
              ? { ok, backend, ...(generation !== undefined ? { generation } : {}) }
              : { ok, error: `${res.statusCode}: ${body.slice(0, 200)}` },
          );
        });
        res.on('error', (err) => resolve({ ok: false, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

function routeTo(action: Json, extra: Json = {}): Json {
  return routeConfigResource('main', [
    {
      name: 'all',
      domains: ['*'],
      routes: [
        { match: { prefix: '/only-a' }, route: { cluster: 'a' } },
        { match: { prefix: '/' }, route: action, ...extra },
      ],
    },
  ]);
}

/** Change i: a weighted split, a route change or an endpoint change, in turn. */
function change(i: number, ports: { a: number; b: number }): Json[] {
  switch (i % 3) {
    case 0: {
      const weight = 1 + (i % 9);
      return [
        routeTo({
          weighted_clusters: {
            clusters: [
              { name: 'a', weight },
              { name: 'pool', weight: 10 - weight },
            ],
          },
        }),
      ];
    }
    case 1:
      return [
        routeTo(
          { cluster: i % 2 === 0 ? 'pool' : 'b' },
          { response_headers_to_add: [{ header: { key: 'x-generation', value: String(i) } }] },
        ),
      ];
    default: {
      const sets = [[ports.a], [ports.b], [ports.a, ports.b]];
      return [endpointsResource('pool', sets[i % sets.length]!)];
    }
  }
}

describe('live updates and a rolling restart under load', () => {
  let cp: ControlPlane;
  let a: Backend;
  let b: Backend;
  let port: number;
  const proxies: Proxy[] = [];
  const bootstraps: Json[] = [];

  before(async () => {
    [cp, a, b, port] = await Promise.all([
      startControlPlane(),
      startBackend('a'),
      startBackend('b'),
      freePortPair(),
    ]);
    await apiApply(cp.apiUrl, [
      listenerResource('http', port, [{ filters: [hcmFilter({ rds: 'main' })] }]),
      routeTo({ cluster: 'pool' }),
      edsClusterResource('a'),
      edsClusterResource('b'),
      edsClusterResource('pool'),
      endpointsResource('a', [a.port]),
      endpointsResource('b', [b.port]),
      endpointsResource('pool', [a.port, b.port]),
    ]);
    for (const [index, offset] of [0, 1].entries()) {
      const bootstrap = proxyBootstrap({ nodeId: `live-${index + 1}`, xdsAddress: cp.xdsAddress });
      bootstraps.push(bootstrap);
      proxies.push(
        await startProxy({
          bootstrap,
          concurrency: 2,
          args: ['--listener-port-offset', String(offset)],
        }),
      );
    }
  });
  after(async () => {
    await stopAll();
    await Promise.all([a?.close(), b?.close()]);
  });

  test('50 config changes and a rolling restart: zero failed requests at the client', async (t) => {
    const ports = [port, port + 1];
    const agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT }));
    try {
      for (const p of ports) {
        await eventually(async () => {
          const r = await get(agents[0]!, p, '/warm');
          return r.ok ? true : undefined;
        }, `the proxy on port ${p} to route`);
      }

      const servedBy = new Map<string, number>();
      const failures: string[] = [];
      let requests = 0;
      let fallbacks = 0;
      let stopping = false;
      const firstErrors = new Map<string, number>();
      let restartPhase = 'before';

      const client = async (lane: number): Promise<void> => {
        for (let n = 0; !stopping; n++) {
          const first = (lane + n) % 2;
          const pathname = `/load/${lane}/${n}`;
          requests++;
          let outcome = await get(agents[first]!, ports[first]!, pathname);
          if (!outcome.ok) {
            fallbacks++;
            const firstError = outcome.error;
            // proxy index : restart phase : error, counted for the assertions below.
            const reason = `${first}:${restartPhase}:${String(firstError).slice(0, 60)}`;
            firstErrors.set(reason, (firstErrors.get(reason) ?? 0) + 1);
            outcome = await get(agents[1 - first]!, ports[1 - first]!, pathname);
            if (!outcome.ok)
              failures.push(`${pathname}: ${firstError} / fallback: ${outcome.error}`);
          }
          if (outcome.backend !== undefined)
            servedBy.set(outcome.backend, (servedBy.get(outcome.backend) ?? 0) + 1);
        }
      };
      const load = Promise.all(Array.from({ length: IN_FLIGHT }, (_, lane) => client(lane)));

      const rollingRestart = async (): Promise<void> => {
        const old = proxies[1]!;
        restartPhase = 'stopping';
        assert.equal(await old.stop(), 0, 'SIGTERM drains and exits cleanly');
        restartPhase = 'starting';
        proxies[1] = await startProxy({
          bootstrap: bootstraps[1]!,
          stateDir: old.stateDir,
          concurrency: 2,
          args: ['--listener-port-offset', '1'],
        });
        restartPhase = 'after';
      };

      let restart: Promise<void> | undefined;
      try {
        for (let i = 0; i < CONFIG_CHANGES; i++) {
          if (i === CONFIG_CHANGES / 2) restart = rollingRestart();
          await apiApply(cp.apiUrl, change(i, { a: a.port, b: b.port }));
          // Let the change reach the proxies while requests flow (pacing, not an assertion).
          await new Promise((resolve) => setTimeout(resolve, 60));
        }
        await restart;
      } finally {
        stopping = true;
        await load;
      }

      t.diagnostic(JSON.stringify(Object.fromEntries(firstErrors)));
      t.diagnostic(
        `${requests} requests, ${fallbacks} retried on the other proxy, served by ${JSON.stringify(Object.fromEntries(servedBy))}`,
      );
      assert.deepEqual(failures, [], 'no request failed at the client side');
      // Stronger: config changes alone never fail a request; only the restarting proxy may
      // (connection refused while it is down, a keep-alive race while it drains).
      const outsideRestart = [...firstErrors.keys()].filter(
        (reason) => !/^1:(stopping|starting):/.test(reason),
      );
      assert.deepEqual(outsideRestart, [], 'first attempts failed outside the restart');
      assert.ok((servedBy.get('a') ?? 0) > 0, 'backend a served requests');
      assert.ok((servedBy.get('b') ?? 0) > 0, 'backend b served requests');

      // Both proxies, the restarted one included, end on the last change: change 49 routes / to
      // b and tags responses x-generation: 49 (no earlier version does both). It may still be in
      // the control plane's debounce window when the loop ends.
      const restarted = proxies[1]!;
      assert.equal(restarted.proc.exitCode, null);
      assert.deepEqual(change(CONFIG_CHANGES - 1, { a: a.port, b: b.port }), [
        routeTo(
          { cluster: 'b' },
          { response_headers_to_add: [{ header: { key: 'x-generation', value: '49' } }] },
        ),
      ]);
      for (const p of ports) {
        const latest = await eventually(async () => {
          const r = await get(agents[0]!, p, '/latest');
          return r.generation === '49' ? r : undefined;
        }, `the proxy on port ${p} to serve change 49`);
        assert.deepEqual(latest, { ok: true, backend: 'b', generation: '49' });
        // Routes that no change touched still route as configured.
        assert.deepEqual(await get(agents[0]!, p, '/only-a/check'), { ok: true, backend: 'a' });
      }
    } finally {
      for (const agent of agents) agent.destroy();
    }
  });
});
