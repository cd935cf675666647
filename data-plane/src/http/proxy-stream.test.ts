/**
 * Engine tests for what the connection manager and the router own per stream: require_tls
 * redirects, stream_idle_timeout and request_timeout, host reselection with previous_hosts, and
 * the access log entry's details.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { JsonObject } from '../config/translate.js';
import type { AccessLogEntry } from '../access-log/access-log-record.js';
import { ProxyRuntime } from './proxy-runtime.js';
import { overloadState } from '../overload/overload-manager.js';
import {
  backend,
  cluster,
  freePort,
  listener,
  local,
  proxyConfig,
  request,
  silentLogger,
  until,
  type Backend,
} from './proxy-test-fixtures.js';

/** Sends `head` on a raw connection; resolves with everything read until the proxy closes. */
function raw(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('stream lifecycle', () => {
  let slow: Backend;
  let fast: Backend;
  let failing: Backend;
  const entries: AccessLogEntry[] = [];
  const runtime = new ProxyRuntime({
    logger: silentLogger,
    workerId: 0,
    accessLog: (entry) => entries.push(entry),
  });
  let port = 0;
  let idlePort = 0;

  before(async () => {
    slow = await backend('slow', () => undefined); // never answers
    fast = await backend('fast');
    port = await freePort();
    idlePort = await freePort();
    const routes: JsonObject[] = [
      {
        name: 'tls-vhost',
        domains: ['secure.example.com'],
        require_tls: 'ALL',
        routes: [{ match: { prefix: '/' }, route: { cluster: 'fast' } }],
      },
      {
        name: 'external-only',
        domains: ['ext.example.com'],
        require_tls: 'EXTERNAL_ONLY',
        routes: [{ match: { prefix: '/' }, route: { cluster: 'fast' } }],
      },
      {
        name: 'any',
        domains: ['*'],
        routes: [
          { match: { prefix: '/slow' }, route: { cluster: 'slow', timeout: '0s' } },
          {
            match: { prefix: '/retry' },
            route: {
              cluster: 'pair',
              retry_policy: {
                retry_on: '5xx',
                num_retries: 1,
                retry_host_predicate: [
                  {
                    name: 'envoy.retry_host_predicates.previous_hosts',
                    typed_config: {
                      '@type':
                        'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
                    },
                  },
                ],
                host_selection_retry_max_attempts: 3,
              },
            },
          },
          { match: { prefix: '/' }, route: { cluster: 'fast' } },
        ],
      },
    ];
    failing = await backend('failing', (_req, res) => {
      res.writeHead(503).end('down');
    });
    await runtime.apply(
      proxyConfig([
        listener('main', port, routes, { use_remote_address: true }),
        listener(
          'idle',
          idlePort,
          [{ name: 'any', domains: ['*'], routes: routes[2]!.routes as JsonObject[] }],
          {
            stream_idle_timeout: '0.3s',
            request_timeout: '0s',
          },
        ),
        cluster('slow', local(slow.port)),
        cluster('fast', local(fast.port)),
        cluster('pair', local(failing.port, fast.port)),
      ]),
    );
  });

  after(async () => {
    await runtime.close(1000);
    await Promise.all([slow.close(), fast.close(), failing.close()]);
  });

  test('require_tls ALL redirects plaintext requests to https with the same host and path', async () => {
    const res = await request(port, { host: 'secure.example.com', path: '/a?b=1' });
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, 'https://secure.example.com/a?b=1');
    assert.equal(fast.seen.length, 0);
  });

  test('require_tls EXTERNAL_ONLY redirects external requests only', async () => {
    // Loopback peers are internal under use_remote_address: forwarded.
    const internal = await request(port, { host: 'ext.example.com', path: '/x' });
    assert.equal(internal.status, 200);
    assert.equal(internal.body, 'fast /x');
  });

  test('stream_idle_timeout answers 408 with flag SI when nothing moves', async () => {
    const before = entries.length;
    const res = await request(idlePort, { path: '/slow' });
    assert.equal(res.status, 408);
    assert.equal(res.body, 'stream timeout');
    await until(() => entries.length > before);
    const entry = entries.at(-1)!;
    assert.equal(entry.responseFlags, 'SI');
    assert.equal(entry.status, 408);
  });

  test('overload stop_accepting_requests: 503 envoy overloaded, x-envoy-overloaded, flag OM', async () => {
    const seen = fast.seen.length;
    const before = entries.length;
    overloadState.stopAcceptingRequests = true;
    try {
      const res = await request(port, { path: '/fast-path' });
      assert.equal(res.status, 503);
      assert.equal(res.headers['x-envoy-overloaded'], 'true');
      assert.equal(res.body, 'envoy overloaded');
    } finally {
      overloadState.stopAcceptingRequests = false;
    }
    await until(() => entries.length > before);
    const entry = entries.at(-1)!;
    assert.equal(entry.responseFlags, 'OM');
    assert.equal(entry.responseCodeDetails, 'overload');
    assert.equal(fast.seen.length, seen, 'the request never reached the upstream');
    assert.equal((await request(port, { path: '/after' })).status, 200);
  });

  test('a request body that stops arriving hits the stream idle timeout too', async () => {
    const text = await raw(
      idlePort,
      'POST /slow HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc',
    );
    assert.match(text, /^HTTP\/1\.1 408 /);
  });

  test('previous_hosts with host_selection_retry_max_attempts retries on the other host', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await request(port, { path: `/retry/${i}` });
      assert.equal(res.status, 200, `request ${i}`);
      assert.equal(res.body, `fast /retry/${i}`);
    }
  });

  test('access log entries carry the route, cluster, host and attempts', async () => {
    const before = entries.length;
    await request(port, { path: '/retry/log' });
    await until(() => entries.length > before);
    const entry = entries.at(-1)!;
    assert.equal(entry.cluster, 'pair');
    assert.equal(entry.upstreamHost, `127.0.0.1:${fast.port}`);
    assert.ok(entry.attempts === 1 || entry.attempts === 2, `attempts ${entry.attempts}`);
    assert.equal(entry.status, 200);
    assert.equal(entry.requestHeaders?.get(':path'), '/retry/log');
  });
});
