/**
 * Engine tests for the HTTP connection manager's request hardening: path normalization
 * (normalize_path, merge_slashes, path_with_escaped_slashes_action) before routing and
 * forwarding, and headers_with_underscores_action, over HTTP/1.1 and HTTP/2, with their stats.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { JsonObject } from '../config/translate.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { ProxyRuntime } from './proxy-runtime.js';
import {
  anyHost,
  backend,
  cluster,
  listener,
  local,
  proxyConfig,
  request,
  silentLogger,
  type Backend,
} from './proxy-test-fixtures.js';

const ADMIN_FORBIDDEN: JsonObject = {
  match: { prefix: '/admin' },
  direct_response: { status: 403, body: { inline_string: 'forbidden' } },
};

describe('HCM request hardening', () => {
  let upstream: Backend;
  const stats = new MemoryStatsSink();
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0, stats });
  const ports: Record<string, number> = {};
  const LISTENERS: [string, JsonObject][] = [
    ['plain', {}],
    [
      'h2-limits',
      { max_request_headers_kb: 16, common_http_protocol_options: { max_headers_count: 50 } },
    ],
    ['h2-idle', { common_http_protocol_options: { idle_timeout: '0.3s' } }],
    ['normalized', { normalize_path: true, merge_slashes: true }],
    [
      'reject-escaped',
      { normalize_path: true, path_with_escaped_slashes_action: 'REJECT_REQUEST' },
    ],
    [
      'redirect-escaped',
      {
        normalize_path: true,
        merge_slashes: true,
        path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT',
      },
    ],
    [
      'forward-escaped',
      { normalize_path: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' },
    ],
    [
      'drop-underscores',
      { common_http_protocol_options: { headers_with_underscores_action: 'DROP_HEADER' } },
    ],
    [
      'reject-underscores',
      { common_http_protocol_options: { headers_with_underscores_action: 'REJECT_REQUEST' } },
    ],
  ];

  function counter(name: string, listenerName: string, extra: Record<string, string> = {}): number {
    return stats.counterValue(name, {
      listener: listenerName,
      stat_prefix: listenerName,
      ...extra,
    });
  }

  before(async () => {
    upstream = await backend('app');
    const routes = [
      anyHost([ADMIN_FORBIDDEN, { match: { prefix: '/' }, route: { cluster: 'app' } }]),
    ];
    await runtime.apply(
      proxyConfig([
        ...LISTENERS.map(([name, extra]) => listener(name, 0, routes, extra)),
        cluster('app', local(upstream.port)),
      ]),
    );
    for (const [name] of LISTENERS) ports[name] = runtime.listenerPort(name)!;
  });

  after(async () => {
    runtime.destroy();
    await upstream.close();
  });

  test("without normalization the /admin rule is bypassed (Envoy's default too)", async () => {
    assert.equal((await request(ports.plain!, { path: '/admin/x' })).status, 403);
    for (const path of ['/x/../admin', '//admin', '/%61dmin']) {
      const reply = await request(ports.plain!, { path });
      assert.equal(reply.status, 200, path);
      assert.equal(reply.body, `app ${path}`, 'forwarded as received');
    }
  });

  test('a path with a fragment gets 400, with or without normalization (as in Envoy)', async () => {
    for (const name of ['plain', 'normalized']) {
      const before = counter('downstream_rq_failed_path_normalization', name);
      assert.equal((await request(ports[name]!, { path: '/page#top' })).status, 400, name);
      assert.equal(counter('downstream_rq_failed_path_normalization', name), before + 1);
    }
  });

  test('normalize_path + merge_slashes close the three bypasses', async () => {
    for (const path of ['/x/../admin', '//admin', '/%61dmin', '/./admin/', '/a\\..\\admin'])
      assert.equal((await request(ports.normalized!, { path })).status, 403, path);
  });

  test('the normalized path is what is forwarded; the query is kept', async () => {
    const reply = await request(ports.normalized!, { path: '/a/./b//c/../%64?q=/../x' });
    assert.equal(reply.status, 200);
    assert.equal(upstream.seen.at(-1)!.url, '/a/b/d?q=/../x');
  });

  test('an invalid path gets 400 (downstream_rq_failed_path_normalization)', async () => {
    const before = counter('downstream_rq_failed_path_normalization', 'normalized');
    const seen = upstream.seen.length;
    assert.equal((await request(ports.normalized!, { path: '/a%00b' })).status, 400);
    assert.equal(counter('downstream_rq_failed_path_normalization', 'normalized'), before + 1);
    assert.equal(upstream.seen.length, seen, 'not forwarded');
  });

  test('escaped slashes: REJECT_REQUEST answers 400, any case, %5C too', async () => {
    for (const path of ['/a%2Fadmin', '/a%2fb', '/a%5Cb', '/a%5cb'])
      assert.equal((await request(ports['reject-escaped']!, { path })).status, 400, path);
    assert.equal(counter('downstream_rq_failed_path_normalization', 'reject-escaped'), 4);
    assert.equal((await request(ports['reject-escaped']!, { path: '/ok?x=%2F' })).status, 200);
  });

  test('escaped slashes: UNESCAPE_AND_REDIRECT answers 307 to the normalized path', async () => {
    const reply = await request(ports['redirect-escaped']!, { path: '/x%2F..%2F%2Fadmin?y=1' });
    assert.equal(reply.status, 307);
    assert.equal(reply.headers.location, '/admin?y=1');
    assert.equal(counter('downstream_rq_redirected_with_normalized_path', 'redirect-escaped'), 1);
    // gRPC clients do not follow redirects: 400 instead (a trailers-only gRPC reply).
    const grpc = await request(ports['redirect-escaped']!, {
      path: '/svc%2FMethod',
      method: 'POST',
      headers: { 'content-type': 'application/grpc' },
    });
    assert.equal(grpc.headers['grpc-status'], '13');
    assert.equal(counter('downstream_rq_failed_path_normalization', 'redirect-escaped'), 1);
  });

  test('escaped slashes: UNESCAPE_AND_FORWARD decodes, normalizes and forwards', async () => {
    assert.equal(
      (await request(ports['forward-escaped']!, { path: '/x%2F..%2Fadmin' })).status,
      403,
    );
    const reply = await request(ports['forward-escaped']!, { path: '/a%5Cb' });
    assert.equal(reply.status, 200);
    assert.equal(upstream.seen.at(-1)!.url, '/a/b');
  });

  test('headers_with_underscores_action DROP_HEADER removes them before the filters', async () => {
    const reply = await request(ports['drop-underscores']!, {
      headers: { x_user: 'admin', 'x-user': 'alice', a_b_c: '1' },
    });
    assert.equal(reply.status, 200);
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.headers.x_user, undefined);
    assert.equal(seen.headers.a_b_c, undefined);
    assert.equal(seen.headers['x-user'], 'alice');
    assert.equal(
      counter('dropped_headers_with_underscores', 'drop-underscores', { codec: 'http1' }),
      2,
    );
  });

  test('headers_with_underscores_action REJECT_REQUEST: HTTP/1 gets 400 and the connection closes', async () => {
    const socket = net.connect(ports['reject-underscores']!, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nhost: a\r\nx_user: admin\r\n\r\n');
    let response = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (response += chunk));
    await new Promise((resolve) => socket.once('close', resolve));
    assert.match(response, /^HTTP\/1\.1 400 /);
    assert.match(response, /connection: close/i);
    assert.equal(
      counter('requests_rejected_with_underscores_in_headers', 'reject-underscores', {
        codec: 'http1',
      }),
      1,
    );
    assert.equal(
      (await request(ports['reject-underscores']!, { headers: { 'x-user': 'a' } })).status,
      200,
    );
  });

  test('headers_with_underscores_action REJECT_REQUEST: HTTP/2 resets the stream, the connection lives', async () => {
    const client = http2.connect(`http://127.0.0.1:${ports['reject-underscores']!}`);
    client.on('error', () => undefined);
    try {
      const rejected = client.request({ ':path': '/', x_user: 'admin' });
      rejected.on('error', () => undefined);
      rejected.resume();
      const code = await new Promise<number>((resolve) =>
        rejected.once('close', () => resolve(rejected.rstCode)),
      );
      assert.equal(code, http2.constants.NGHTTP2_INTERNAL_ERROR);
      const ok = client.request({ ':path': '/fine' });
      const status = await new Promise<number>((resolve) =>
        ok.once('response', (h) => resolve(Number(h[':status']))),
      );
      ok.resume();
      assert.equal(status, 200);
      assert.equal(
        counter('requests_rejected_with_underscores_in_headers', 'reject-underscores', {
          codec: 'http2',
        }),
        1,
      );
    } finally {
      client.close();
    }
  });

  test('an idle HTTP/2 connection is closed at common_http_protocol_options.idle_timeout', async () => {
    const client = http2.connect(`http://127.0.0.1:${ports['h2-idle']!}`);
    client.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const goaway = new Promise<number>((resolve) =>
      client.once('goaway', (code: number) => resolve(code)),
    );
    const req = client.request({ ':path': '/' });
    req.resume();
    const status = await new Promise<number>((resolve) =>
      req.once('response', (h) => resolve(Number(h[':status']))),
    );
    assert.equal(status, 200);
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR, 'drained with GOAWAY');
    await closed;
  });

  test('HTTP/2: a header block over max_request_headers_kb resets the stream, too many headers get 431', async () => {
    const client = http2.connect(`http://127.0.0.1:${ports['h2-limits']!}`);
    client.on('error', () => undefined);
    const seen = upstream.seen.length;
    try {
      // The server's SETTINGS (its header list limit) are in force once the client acked them.
      await new Promise((resolve) => client.once('remoteSettings', resolve));
      const big = client.request({ ':path': '/big', 'x-big': 'a'.repeat(20 * 1024) });
      big.on('error', () => undefined);
      big.resume();
      await new Promise((resolve) => big.once('close', resolve));
      assert.equal(big.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      const fields: Record<string, string> = {};
      for (let i = 0; i < 51; i++) fields[`x-h${i}`] = 'v';
      const many = client.request({ ':path': '/many', ...fields });
      many.resume();
      const status = await new Promise<number>((resolve) =>
        many.once('response', (h) => resolve(Number(h[':status']))),
      );
      assert.equal(status, 431);
      assert.equal(upstream.seen.length, seen, 'neither was forwarded');
      const ok = client.request({ ':path': '/fine' });
      ok.resume();
      const okStatus = await new Promise<number>((resolve) =>
        ok.once('response', (h) => resolve(Number(h[':status']))),
      );
      assert.equal(okStatus, 200, 'the connection still serves');
    } finally {
      client.close();
    }
  });

  /** Raw HTTP/1.1 upgrade request; resolves with what the proxy answered before closing. */
  function upgradeRequest(port: number, path: string, extra = ''): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let response = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (response += chunk));
      socket.on('error', () => undefined);
      socket.once('close', () => resolve(response));
      socket.write(
        `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n${extra}\r\n`,
      );
    });
  }

  test('upgrade requests get the same path and header checks', async () => {
    assert.match(await upgradeRequest(ports['reject-escaped']!, '/a%2Fb'), /^HTTP\/1\.1 400 /);
    assert.match(await upgradeRequest(ports.normalized!, '/a%00'), /^HTTP\/1\.1 400 /);
    assert.match(await upgradeRequest(ports.plain!, '/a#b'), /^HTTP\/1\.1 400 /);
    const redirect = await upgradeRequest(ports['redirect-escaped']!, '/x%2F..%2Fadmin?q');
    assert.match(redirect, /^HTTP\/1\.1 307 /);
    assert.match(redirect, /\r\nlocation: \/admin\?q\r\n/);
    assert.match(
      await upgradeRequest(ports['reject-underscores']!, '/', 'x_user: admin\r\n'),
      /^HTTP\/1\.1 400 /,
    );
  });
});
