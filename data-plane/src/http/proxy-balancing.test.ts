/**
 * Engine tests for choosing an upstream: weighted_clusters splits and hash policies (ring hash
 * with a header, cookie with ttl and Set-Cookie), driven through a ProxyRuntime.
 */
import { test, describe, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { ProxyRuntime } from './proxy-runtime.js';
import {
  anyHost,
  backend,
  cluster,
  listener,
  local,
  prefixRoute,
  proxyConfig,
  request,
  silentLogger,
  type Backend,
} from './proxy-test-fixtures.js';
import { seededRandom } from '../test-support/seeded-random.js';

describe('upstream selection', () => {
  const backends: Backend[] = [];
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let port: number;

  before(async () => {
    // A seeded random source for the route table, which takes Math.random when the config is
    // applied: the split below is the same on every run.
    mock.method(Math, 'random', seededRandom(0x5eed));
    for (const name of ['a', 'b', 'c']) backends.push(await backend(name));
    const [a, b, c] = backends as [Backend, Backend, Backend];
    const ring = { lb_policy: 'RING_HASH' };
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [
          anyHost([
            prefixRoute('/split', {
              weighted_clusters: {
                clusters: [
                  { name: 'a', weight: 3 },
                  { name: 'b', weight: 1 },
                  { name: 'c', weight: 0 },
                ],
              },
            }),
            prefixRoute('/by-header', {
              cluster: 'ring',
              hash_policy: [{ header: { header_name: 'x-user' } }],
            }),
            prefixRoute('/by-cookie', {
              cluster: 'ring',
              hash_policy: [{ cookie: { name: 'sticky', ttl: '60s', path: '/' } }],
            }),
          ]),
        ]),
        cluster('a', local(a.port)),
        cluster('b', local(b.port)),
        cluster('c', local(c.port)),
        cluster('ring', local(a.port, b.port, c.port), ring),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    mock.restoreAll();
    agent.destroy();
    runtime.destroy();
    await Promise.all(backends.map((b) => b.close()));
  });

  test('weighted_clusters splits by weight (3:1), never a zero weight', async () => {
    const n = 1000;
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const res = await request(port, { path: '/split', agent });
      assert.equal(res.status, 200);
      const name = String(res.headers['x-backend']);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    // a's count is Binomial(n, 3/4): mean 750, standard deviation ~13.7. Five deviations either
    // way holds with any fair random source but for one run in ~1.7 million; an even split
    // (500), or weights ignored in any other way, is far outside.
    const mean = n * 0.75;
    const bound = 5 * Math.sqrt(n * 0.75 * 0.25);
    const a = counts.get('a') ?? 0;
    assert.ok(Math.abs(a - mean) <= bound, `a got ${a} of ${n}, expected ${mean} ± ${bound}`);
    assert.equal((counts.get('b') ?? 0) + a, n);
    assert.equal(counts.get('c'), undefined, 'a zero weight is never chosen');
  });

  test('ring hash with a header hash policy: one header value, one backend', async () => {
    const used = new Set<string>();
    for (let user = 0; user < 20; user++) {
      const served = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const res = await request(port, {
          path: '/by-header',
          agent,
          headers: { 'x-user': `user-${user}` },
        });
        served.add(String(res.headers['x-backend']));
      }
      assert.equal(served.size, 1, `user-${user} was served by ${[...served].join(', ')}`);
      used.add([...served][0]!);
    }
    // 20 users on a 3-host ring all hashing to one host would mean the hash is not applied.
    assert.ok(used.size > 1);
  });

  test('cookie hash policy with ttl: Set-Cookie when absent, and the cookie keeps the backend', async () => {
    const first = await request(port, { path: '/by-cookie', agent });
    assert.equal(first.status, 200);
    const setCookie = first.headers['set-cookie'];
    assert.equal(setCookie?.length, 1);
    // Envoy's format (Http::Utility::makeSetCookieValue): quoted value, Max-Age, Path, HttpOnly.
    const match = /^sticky="([^"]+)"; Max-Age=60; Path=\/; HttpOnly$/.exec(setCookie[0]!);
    assert.ok(match, `unexpected Set-Cookie ${setCookie[0]}`);
    const cookie = `sticky="${match[1]}"`;
    for (let i = 0; i < 5; i++) {
      const next = await request(port, { path: '/by-cookie', agent, headers: { cookie } });
      assert.equal(next.headers['x-backend'], first.headers['x-backend']);
      assert.equal(next.headers['set-cookie'], undefined);
    }
  });
});
