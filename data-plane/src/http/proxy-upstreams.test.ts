/**
 * Engine tests for upstream connections: HTTP/2 and TLS upstreams, DNS clusters and circuit
 * breakers, driven through a ProxyRuntime with configs translated from Envoy resources.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tls from 'node:tls';
import { createCa } from '@ferry/shared/testing/test-pki';
import type { JsonObject } from '../config/translate.js';
import { ProxyRuntime, type AccessLogEntry } from './proxy-runtime.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import {
  HTTP_PROTOCOL_OPTIONS,
  T,
  anyHost,
  backend,
  cluster,
  listener,
  local,
  prefixRoute,
  proxyConfig,
  request,
  silentLogger,
  until,
  type Backend,
} from './proxy-test-fixtures.js';

const H2_OPTIONS = {
  [HTTP_PROTOCOL_OPTIONS]: {
    '@type': `${T}${HTTP_PROTOCOL_OPTIONS}`,
    explicit_http_config: { http2_protocol_options: {} },
  },
};

function upstreamTls(sni: string, caPem: string): JsonObject {
  return {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
        sni,
        common_tls_context: { validation_context: { trusted_ca: { inline_string: caPem } } },
      },
    },
  };
}

interface Pki {
  readonly caPem: string;
  readonly otherCaPem: string;
  /** Leaf for DNS:backend.test signed by caPem's key. */
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA, a leaf for backend.test signed by it, and an unrelated CA. */
function makePki(dir: string): Pki {
  const ca = createCa(dir, 'ca');
  const leaf = ca.issue('leaf', { subject: '/CN=backend.test', sans: ['DNS:backend.test'] });
  const otherCa = createCa(dir, 'other-ca');
  return { caPem: ca.cert, otherCaPem: otherCa.cert, certPem: leaf.cert, keyPem: leaf.key };
}

describe('upstream protocols and TLS', () => {
  let dir: string;
  let pki: Pki;
  let h2c: http2.Http2Server;
  let h2cPort: number;
  const h2cSeen: { version: string; authority: string | undefined; path: string }[] = [];
  let tlsBackend: https.Server;
  let tlsPort: number;
  const tlsSeen: { servername: string | false | null | undefined }[] = [];
  let h2tls: http2.Http2SecureServer;
  let h2tlsPort: number;
  const accessLog: AccessLogEntry[] = [];
  const runtime = new ProxyRuntime({
    logger: silentLogger,
    workerId: 0,
    accessLog: (entry) => accessLog.push(entry),
  });
  let port: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-upstream-tls-'));
    pki = makePki(dir);
    h2c = http2.createServer();
    h2c.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      h2cSeen.push({
        version: req.httpVersion,
        authority: req.headers[':authority'],
        path: req.url,
      });
      res.writeHead(200, { 'x-backend': 'h2c' });
      res.end(`h2c ${req.url}`);
    });
    await new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve));
    h2cPort = (h2c.address() as net.AddressInfo).port;

    tlsBackend = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
      const socket = req.socket as tls.TLSSocket;
      tlsSeen.push({ servername: socket.servername });
      res.end(`tls ${req.url}`);
    });
    await new Promise<void>((resolve) => tlsBackend.listen(0, '127.0.0.1', resolve));
    tlsPort = (tlsBackend.address() as net.AddressInfo).port;

    h2tls = http2.createSecureServer({ cert: pki.certPem, key: pki.keyPem });
    h2tls.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      res.end(`h2tls ${req.httpVersion} ${(req.socket as tls.TLSSocket).servername}`);
    });
    await new Promise<void>((resolve) => h2tls.listen(0, '127.0.0.1', resolve));
    h2tlsPort = (h2tls.address() as net.AddressInfo).port;

    const routes = [
      prefixRoute('/h2c', { cluster: 'h2c' }),
      prefixRoute('/tls-wrong-ca', { cluster: 'tls-wrong-ca' }),
      prefixRoute('/tls-other-sni', { cluster: 'tls-other-sni' }),
      prefixRoute('/tls', { cluster: 'tls' }),
      prefixRoute('/h2tls', { cluster: 'h2tls' }),
    ];
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [anyHost(routes)]),
        cluster('h2c', local(h2cPort), { typed_extension_protocol_options: H2_OPTIONS }),
        cluster('tls', local(tlsPort), upstreamTls('backend.test', pki.caPem)),
        cluster('tls-wrong-ca', local(tlsPort), upstreamTls('backend.test', pki.otherCaPem)),
        cluster('tls-other-sni', local(tlsPort), upstreamTls('other.test', pki.caPem)),
        cluster('h2tls', local(h2tlsPort), {
          ...upstreamTls('backend.test', pki.caPem),
          typed_extension_protocol_options: H2_OPTIONS,
        }),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    runtime.destroy();
    await Promise.all([
      new Promise((resolve) => h2c.close(resolve)),
      new Promise((resolve) => {
        tlsBackend.closeAllConnections();
        tlsBackend.close(resolve);
      }),
      new Promise((resolve) => h2tls.close(resolve)),
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('explicit_http_config.http2_protocol_options speaks HTTP/2 (h2c) to the backend', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(port, { path: `/h2c/${i}`, host: 'api.example.com' });
      assert.equal(res.status, 200);
      assert.equal(res.body, `h2c /h2c/${i}`);
      assert.equal(res.headers['x-backend'], 'h2c');
    }
    assert.equal(h2cSeen.length, 3);
    for (const seen of h2cSeen) {
      assert.equal(seen.version, '2.0');
      assert.equal(seen.authority, 'api.example.com');
    }
  });

  test('UpstreamTlsContext: SNI is the configured sni and the chain verifies against trusted_ca', async () => {
    const res = await request(port, { path: '/tls/x' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'tls /tls/x');
    assert.equal(tlsSeen.at(-1)?.servername, 'backend.test');
  });

  test('a certificate that does not chain to trusted_ca is 503 UF', async () => {
    const before = tlsSeen.length;
    const res = await request(port, { path: '/tls-wrong-ca' });
    assert.equal(res.status, 503);
    assert.match(res.body, /connection failure/);
    assert.equal(accessLog.at(-1)?.responseFlags, 'UF');
    assert.equal(tlsSeen.length, before);
  });

  test('without SAN matchers the certificate name is not checked against sni (Envoy)', async () => {
    // CertificateValidationContext: only match_typed_subject_alt_names (unsupported, NACKed)
    // makes Envoy verify the presented names; trusted_ca alone verifies the chain.
    const res = await request(port, { path: '/tls-other-sni' });
    assert.equal(res.status, 200);
    assert.equal(tlsSeen.at(-1)?.servername, 'other.test');
  });

  test('HTTP/2 over TLS negotiates h2 with the configured SNI', async () => {
    const res = await request(port, { path: '/h2tls' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'h2tls 2.0 backend.test');
  });
});

describe('DNS clusters', () => {
  let a: Backend;
  let b: Backend;
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0 });
  let port: number;

  before(async () => {
    a = await backend('a');
    b = await backend('b');
    const names = (...ports: number[]): { host: string; port: number }[] =>
      ports.map((p) => ({ host: 'localhost', port: p }));
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [
          anyHost([
            prefixRoute('/strict-auto-host', { cluster: 'strict', auto_host_rewrite: true }),
            prefixRoute('/strict', { cluster: 'strict' }),
            prefixRoute('/logical', { cluster: 'logical' }),
          ]),
        ]),
        cluster('strict', names(a.port, b.port), {
          type: 'STRICT_DNS',
          dns_lookup_family: 'V4_ONLY',
        }),
        cluster('logical', names(b.port), { type: 'LOGICAL_DNS' }),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    runtime.destroy();
    await Promise.all([a.close(), b.close()]);
  });

  test('STRICT_DNS resolves every localhost endpoint and balances over them', async () => {
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await request(port, { path: '/strict' });
      assert.equal(res.status, 200);
      served.add(String(res.headers['x-backend']));
    }
    assert.deepEqual([...served].sort(), ['a', 'b']);
  });

  test('auto_host_rewrite sends the DNS name of the chosen host', async () => {
    const res = await request(port, { path: '/strict-auto-host', host: 'front.example.com' });
    assert.equal(res.status, 200);
    const backendSeen = res.headers['x-backend'] === 'a' ? a : b;
    assert.equal(backendSeen.seen.at(-1)?.headers.host, 'localhost');
  });

  test('LOGICAL_DNS forwards to the resolved localhost endpoint', async () => {
    const res = await request(port, { path: '/logical/1' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'b /logical/1');
  });
});

describe('circuit breakers', () => {
  let held: Backend;
  const release: (() => void)[] = [];
  const stats = new MemoryStatsSink();
  const accessLog: AccessLogEntry[] = [];
  const runtime = new ProxyRuntime({
    logger: silentLogger,
    workerId: 0,
    stats,
    accessLog: (entry) => accessLog.push(entry),
  });
  let port: number;

  function thresholds(limits: JsonObject): JsonObject {
    return { circuit_breakers: { thresholds: [limits] } };
  }

  before(async () => {
    held = await backend('held', (_req, res) => {
      release.push(() => res.end('released'));
    });
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [
          anyHost([
            prefixRoute('/max-requests', { cluster: 'max-requests' }),
            prefixRoute('/max-pending', { cluster: 'max-pending' }),
          ]),
        ]),
        cluster(
          'max-requests',
          local(held.port),
          thresholds({ max_requests: 1, max_pending_requests: 100, max_connections: 100 }),
        ),
        cluster(
          'max-pending',
          local(held.port),
          thresholds({ max_requests: 100, max_pending_requests: 1, max_connections: 1 }),
        ),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    for (const fn of release.splice(0)) fn();
    runtime.destroy();
    await held.close();
  });

  test('max_requests overflow is 503 UO with x-envoy-overloaded: true', async () => {
    const first = request(port, { path: '/max-requests' });
    await until(() => release.length === 1);
    const second = await request(port, { path: '/max-requests' });
    assert.equal(second.status, 503);
    assert.match(second.body, /overflow/);
    assert.equal(second.headers['x-envoy-overloaded'], 'true');
    assert.equal(accessLog.at(-1)?.responseFlags, 'UO');
    assert.equal(
      stats.counterValue('upstream_rq_pending_overflow', { cluster: 'max-requests' }),
      1,
    );
    release.shift()!();
    const answered = await first;
    assert.equal(answered.status, 200);
    assert.equal(answered.headers['x-envoy-overloaded'], undefined);
  });

  test('max_pending_requests overflow is 503 UO with x-envoy-overloaded: true', async () => {
    // max_connections 1: the first request holds the only connection, the second waits for it
    // (pending), the third finds the pending queue full.
    const first = request(port, { path: '/max-pending/1' });
    await until(() => release.length === 1);
    const second = request(port, { path: '/max-pending/2' });
    await until(
      () =>
        stats.gaugeValue('upstream_rq_active', { cluster: 'max-pending' }) === 1 &&
        stats.gaugeValue('upstream_rq_pending_active', { cluster: 'max-pending' }) === 1,
    );
    const third = await request(port, { path: '/max-pending/3' });
    assert.equal(third.status, 503);
    assert.equal(third.headers['x-envoy-overloaded'], 'true');
    assert.equal(accessLog.at(-1)?.responseFlags, 'UO');
    release.shift()!();
    assert.equal((await first).status, 200);
    await until(() => release.length === 1);
    release.shift()!();
    assert.equal((await second).status, 200);
  });
});

describe('HTTP/2 upstream stream resets', () => {
  let h2: http2.Http2Server;
  /** Streams the backend saw, by path. */
  const seen = new Map<string, number>();
  const accessLog: AccessLogEntry[] = [];
  const runtime = new ProxyRuntime({
    logger: silentLogger,
    workerId: 0,
    accessLog: (entry) => accessLog.push(entry),
  });
  let port: number;

  before(async () => {
    // /refused-once/*: the first stream of each path is refused, later ones answered;
    // /refused: always refused; /cancel: always reset with CANCEL.
    h2 = http2.createServer();
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      stream.on('error', () => undefined);
      const path = String(headers[':path']);
      const count = (seen.get(path) ?? 0) + 1;
      seen.set(path, count);
      if (path.startsWith('/cancel')) stream.close(http2.constants.NGHTTP2_CANCEL);
      else if (path.startsWith('/refused/') || (path.startsWith('/refused-once') && count === 1))
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else {
        stream.respond({ ':status': 200 });
        stream.end(`answered after ${count}`);
      }
    });
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
    const h2Port = (h2.address() as net.AddressInfo).port;
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [
          anyHost([
            prefixRoute('/refused-once', {
              cluster: 'h2',
              retry_policy: { retry_on: 'refused-stream', num_retries: 1 },
            }),
            prefixRoute('/', { cluster: 'h2' }),
          ]),
        ]),
        cluster('h2', local(h2Port), { typed_extension_protocol_options: H2_OPTIONS }),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    runtime.destroy();
    await new Promise((resolve) => h2.close(resolve));
  });

  test('retry_on refused-stream retries a stream the upstream refused', async () => {
    const res = await request(port, { path: '/refused-once/a' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'answered after 2');
    assert.equal(seen.get('/refused-once/a'), 2);
  });

  test('without a retry, a refused or reset stream is 503 UR (remote reset)', async () => {
    for (const path of ['/refused/b', '/cancel/c']) {
      const res = await request(port, { path });
      assert.equal(res.status, 503);
      assert.match(res.body, /remote reset/);
      assert.equal(accessLog.at(-1)?.responseFlags, 'UR');
      assert.equal(seen.get(path), 1);
    }
  });
});
