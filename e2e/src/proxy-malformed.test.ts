/**
 * Malformed HTTP/1.1 requests sent on raw sockets to a real ferry-proxy process (static
 * bootstrap, no control plane): each gets Envoy's answer (400, 431 or 501, or a closed connection),
 * none reaches the backend, and the proxy keeps serving normal requests afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  rawExchange,
  startBackend,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Backend,
  type Proxy,
} from './harness.js';

interface MalformedCase {
  readonly name: string;
  readonly bytes: string;
  /** Acceptable answers: a status, or 0 for "connection closed without a response". */
  readonly expect: readonly number[];
}

const HOST = 'Host: proxy.test\r\n';
// Every request whose headers are malformed targets a path with "evil" in it: the backend must
// never see one.
const CASES: readonly MalformedCase[] = [
  { name: 'garbage request line', bytes: 'HELLO THERE\r\n\r\n', expect: [400] },
  { name: 'request line without a version', bytes: `GET /evil-1\r\n${HOST}\r\n`, expect: [400] },
  { name: 'unknown HTTP version', bytes: `GET /evil-2 HTTP/3.7\r\n${HOST}\r\n`, expect: [400] },
  {
    name: 'space in the request target',
    bytes: `GET /evil 3 HTTP/1.1\r\n${HOST}\r\n`,
    expect: [400],
  },
  {
    name: 'conflicting Content-Length and Transfer-Encoding (smuggling attempt)',
    bytes:
      `POST /evil-4 HTTP/1.1\r\n${HOST}Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `0\r\n\r\nGET /evil-smuggled HTTP/1.1\r\n${HOST}\r\n`,
    expect: [400],
  },
  {
    name: 'duplicate Content-Length with different values',
    bytes: `POST /evil-5 HTTP/1.1\r\n${HOST}Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde`,
    expect: [400],
  },
  {
    // Envoy answers a transfer-coding it does not implement with 501 Not Implemented.
    name: 'Transfer-Encoding that does not end in chunked',
    bytes: `POST /evil-6 HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\nabc`,
    expect: [501],
  },
  {
    // The body follows complete headers, so (as with Envoy, which streams) the request may
    // already be on its way upstream: only the answer is checked, not the backend's log.
    name: 'invalid chunk size',
    bytes: `POST /body-error-7 HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    expect: [400],
  },
  {
    name: 'headers over 60 KiB',
    bytes: `GET /evil-8 HTTP/1.1\r\n${HOST}X-Big: ${'a'.repeat(61 * 1024)}\r\n\r\n`,
    expect: [431],
  },
  {
    name: 'more than 100 headers (Envoy max_headers_count)',
    bytes: `GET /evil-9 HTTP/1.1\r\n${HOST}${Array.from({ length: 120 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
    expect: [431],
  },
  {
    name: 'space inside a header name',
    bytes: `GET /evil-10 HTTP/1.1\r\n${HOST}Bad Header: x\r\n\r\n`,
    expect: [400],
  },
  {
    name: 'separator character in a header name',
    bytes: `GET /evil-11 HTTP/1.1\r\n${HOST}X(y): z\r\n\r\n`,
    expect: [400],
  },
  {
    name: 'whitespace before the colon',
    bytes: `GET /evil-12 HTTP/1.1\r\n${HOST}X-Thing : z\r\n\r\n`,
    expect: [400],
  },
  {
    name: 'NUL byte in a header value',
    bytes: `GET /evil-13 HTTP/1.1\r\n${HOST}X-Thing: a\u0000b\r\n\r\n`,
    expect: [400],
  },
  {
    name: 'obsolete line folding',
    bytes: `GET /evil-14 HTTP/1.1\r\n${HOST}X-Thing: a\r\n  folded\r\n\r\n`,
    expect: [400],
  },
  {
    name: 'request line ending in a bare LF',
    bytes: `GET /evil-15 HTTP/1.1\n${HOST}\r\n`,
    expect: [400, 0],
  },
  {
    name: 'HTTP/1.1 without Host',
    bytes: 'GET /evil-16 HTTP/1.1\r\nX-Thing: a\r\n\r\n',
    expect: [400],
  },
];

describe('ferry-proxy against malformed requests', () => {
  let backend: Backend;
  let proxy: Proxy;
  let port: number;

  before(async () => {
    backend = await startBackend('web');
    port = await freePort();
    const routeConfig = {
      name: 'local',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
        },
      ],
    };
    proxy = await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'malformed-1',
        listeners: [listenerResource('http', port, [{ filters: [hcmFilter({ routeConfig })] }])],
        clusters: [staticClusterResource('web', [backend.port])],
      }),
      concurrency: 2,
    });
  });
  after(async () => {
    await stopAll();
    await backend?.close();
  });

  test('a well-formed request is proxied (the baseline)', async () => {
    const res = await httpRequest(`http://127.0.0.1:${port}/fine`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'web /fine');
    const raw = await rawExchange(port, `GET /raw-fine HTTP/1.1\r\n${HOST}\r\n`);
    assert.equal(raw.status, 200, raw.response);
  });

  for (const c of CASES) {
    test(`${c.name} → ${c.expect.map((s) => (s === 0 ? 'closed' : s)).join(' or ')}`, async () => {
      const ex = await rawExchange(port, c.bytes);
      assert.ok(
        c.expect.includes(ex.status),
        `expected ${c.expect.join('/')}, got ${ex.status}: ${JSON.stringify(ex.response.slice(0, 200))}`,
      );
      if (ex.status === 0) assert.equal(ex.closed, true, 'no response: the connection is closed');
      // Nothing after the error response: a rejected connection is never reused.
      if (ex.status === 400) assert.equal(ex.response.match(/HTTP\/1\.1 /g)?.length, 1);
      // The proxy is still serving on a new connection.
      const next = await httpRequest(`http://127.0.0.1:${port}/after`);
      assert.equal(next.status, 200);
    });
  }

  test('no malformed request reached the backend; the proxy is alive and ready', async () => {
    const leaked = backend.requests.filter((r) => r.includes('evil'));
    assert.deepEqual(leaked, []);
    assert.equal(backend.requests.filter((r) => r === 'GET /after').length, CASES.length);
    assert.equal(proxy.proc.exitCode, null);
    assert.equal(proxy.proc.signalCode, null);
    const ready = await httpRequest(`${proxy.adminUrl}/ready`);
    assert.equal(ready.status, 200);
    const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    assert.match(prom, /ferry_workers_live 2/);
  });
});
