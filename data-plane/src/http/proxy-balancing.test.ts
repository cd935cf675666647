/**
 * Engine tests for choosing an upstream: weighted_clusters splits and hash policies (ring hash
 * with a header, cookie with ttl and Set-Cookie), driven through a ProxyRuntime.
 */
import { test, describe, before, after } from 'node:test';
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

describe('upstream selection', () => {
  const backends: Backend[] = [];
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let port: number;

  before(async () => {
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
                  { name: 'a', weight: 1 },
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
    agent.destroy();
    runtime.destroy();
    await Promise.all(backends.map((b) => b.close()));
  });

  test('weighted_clusters splits over the weighted clusters, never a zero weight', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const res = await request(port, { path: '/split', agent });
      assert.equal(res.status, 200);
      const name = String(res.headers['x-backend']);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    assert.ok((counts.get('a') ?? 0) > 0, 'cluster a never chosen');
    assert.ok((counts.get('b') ?? 0) > 0, 'cluster b never chosen');
    assert.equal(counts.get('c'), undefined);
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
