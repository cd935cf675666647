/**
 * Engine tests for listener updates (LDS semantics): a removed listener drains its in-flight
 * requests and refuses new connections; a listener changed in place keeps its socket.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { ProxyRuntime } from './proxy-runtime.js';
import {
  anyHost,
  backend,
  cluster,
  freePort,
  listener,
  local,
  prefixRoute,
  proxyConfig,
  request,
  silentLogger,
  until,
  type Backend,
} from './proxy-test-fixtures.js';

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

describe('listener updates', () => {
  let a: Backend;
  let b: Backend;
  let slow: Backend;
  const release: (() => void)[] = [];
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0 });

  before(async () => {
    a = await backend('a');
    b = await backend('b');
    slow = await backend('slow', (_req, res) => {
      release.push(() => res.end('slow done'));
    });
  });

  after(async () => {
    for (const fn of release.splice(0)) fn();
    runtime.destroy();
    await Promise.all([a.close(), b.close(), slow.close()]);
  });

  test('a removed listener finishes in-flight requests and refuses new connections', async () => {
    const doomedPort = await freePort();
    const clusters = [cluster('a', local(a.port)), cluster('slow', local(slow.port))];
    const routes = [anyHost([prefixRoute('/slow', { cluster: 'slow' })])];
    await runtime.apply(
      proxyConfig([
        listener('kept', 0, [anyHost([prefixRoute('/', { cluster: 'a' })])]),
        listener('doomed', doomedPort, routes),
        ...clusters,
      ]),
    );
    const inFlight = request(doomedPort, { path: '/slow' });
    await until(() => release.length === 1);

    await runtime.apply(
      proxyConfig([
        listener('kept', 0, [anyHost([prefixRoute('/', { cluster: 'a' })])]),
        ...clusters,
      ]),
    );
    assert.equal(await connectError(doomedPort), 'ECONNREFUSED');
    assert.equal(runtime.listenerPort('doomed'), undefined);
    const kept = await request(runtime.listenerPort('kept')!, { path: '/still' });
    assert.equal(kept.body, 'a /still');

    release.shift()!();
    const answered = await inFlight;
    assert.equal(answered.status, 200);
    assert.equal(answered.body, 'slow done');
  });

  test('changing a listener on the same address keeps accepting new connections', async () => {
    const port = await freePort();
    const clusters = [cluster('a', local(a.port)), cluster('b', local(b.port))];
    const config = (i: number): ReturnType<typeof proxyConfig> =>
      proxyConfig([
        listener(
          'main',
          port,
          [anyHost([prefixRoute('/', { cluster: i % 2 === 0 ? 'a' : 'b' })])],
          {
            // A listener-level change too, not only its routes.
            stat_prefix: `main-${i}`,
            use_remote_address: i % 2 === 0,
          },
        ),
        ...clusters,
      ]);
    await runtime.apply(config(0));
    let stop = false;
    let failures = 0;
    let done = 0;
    const load = (async () => {
      while (!stop) {
        // A new connection per request: the accept path is what must not break.
        const res = await request(port, { path: '/swap' }).catch(() => undefined);
        if (res?.status !== 200) failures++;
        done++;
      }
    })();
    for (let i = 1; i <= 10; i++) {
      await runtime.apply(config(i));
      const before = done;
      await until(() => done > before);
    }
    stop = true;
    await load;
    assert.equal(failures, 0);
    // config(10) routes to a.
    assert.equal((await request(port, { path: '/after' })).body, 'a /after');
  });
});
