import { selfSigned } from '@ferry/shared/testing/test-pki';
import { ROUTER_TYPE_URL } from '../filters/http/router/config.js';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ferry/shared';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { freePort } from '@ferry/shared/testing/free-port';
import type {
  ClusterModel,
  HttpConnectionManagerModel,
  ListenerModel,
  ProxyConfig,
  RouteActionModel,
  RouteModel,
  VirtualHostModel,
  DownstreamTlsModel,
} from '../config/model.js';
import { ProxyRuntime } from './proxy-runtime.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { until } from '../test-support/until.js';
import { TLS_INSPECTOR, chainModel, listenerModel } from '../listener/listener-test-fixtures.js';

// ------------------------------------------------------------------ fixture builders

const noMutations = {
  requestHeadersToAdd: [],
  requestHeadersToRemove: [],
  responseHeadersToAdd: [],
  responseHeadersToRemove: [],
};

function forward(
  cluster: string,
  extra: Partial<Extract<RouteActionModel, { kind: 'route' }>> = {},
): RouteActionModel {
  return {
    kind: 'route',
    cluster,
    autoHostRewrite: false,
    timeoutMs: 15_000,
    idleTimeoutMs: 0,
    hashPolicy: [],
    upgradeTypes: [],
    ...extra,
  };
}

function route(prefix: string, action: RouteActionModel, name = prefix): RouteModel {
  return {
    ...noMutations,
    name,
    match: {
      kind: 'prefix',
      value: prefix,
      caseSensitive: true,
      headers: [],
      queryParameters: [],
      grpc: false,
    },
    action,
  };
}

function vhost(name: string, domains: string[], routes: RouteModel[]): VirtualHostModel {
  return { ...noMutations, name, domains, routes, requireTls: 'NONE' };
}

function hcm(
  virtualHosts: VirtualHostModel[],
  extra: Partial<HttpConnectionManagerModel> = {},
): HttpConnectionManagerModel {
  return {
    statPrefix: 'ingress',
    codecType: 'AUTO',
    routeConfig: { ...noMutations, name: 'local', virtualHosts },
    useRemoteAddress: true,
    xffNumTrustedHops: 0,
    skipXffAppend: false,
    via: '',
    generateRequestId: true,
    preserveExternalRequestId: false,
    serverName: 'ferry',
    serverHeaderTransformation: 'OVERWRITE',
    streamIdleTimeoutMs: 300_000,
    requestTimeoutMs: 0,
    requestHeadersTimeoutMs: 0,
    idleTimeoutMs: 3_600_000,
    drainTimeoutMs: 5000,
    maxRequestHeadersKb: 60,
    maxHeadersCount: 100,
    acceptHttp10: false,
    upgradeTypes: ['websocket'],
    http2MaxConcurrentStreams: 100,
    httpFilters: [{ name: 'envoy.filters.http.router', typeUrl: ROUTER_TYPE_URL, config: {} }],
    ...extra,
  };
}

function listener(
  name: string,
  port: number,
  http: HttpConnectionManagerModel,
  tls?: DownstreamTlsModel[],
  serverNames: string[][] = [],
): ListenerModel {
  const chains =
    tls === undefined
      ? [chainModel({ name: 'plain', http })]
      : tls.map((t, i) =>
          chainModel({
            name: `tls${i}`,
            serverNames: serverNames[i] ?? [],
            transportProtocol: 'tls',
            tls: t,
            http,
          }),
        );
  return listenerModel({
    name,
    address: { host: '127.0.0.1', port },
    filterChains: chains,
    ...(tls === undefined ? {} : { listenerFilters: [TLS_INSPECTOR] }),
  });
}

function cluster(name: string, ports: number[], extra: Partial<ClusterModel> = {}): ClusterModel {
  return {
    name,
    type: 'STATIC',
    edsServiceName: name,
    connectTimeoutMs: 1000,
    lbPolicy: 'ROUND_ROBIN',
    leastRequestChoiceCount: 2,
    ringHashMinSize: 1024,
    ringHashMaxSize: 8_388_608,
    maglevTableSize: 65537,
    localities: [
      {
        locality: { region: '', zone: '', subZone: '' },
        priority: 0,
        weight: 1,
        endpoints: ports.map((port) => ({
          host: '127.0.0.1',
          port,
          weight: 1,
          healthStatus: 'HEALTHY' as const,
          hostname: '',
        })),
      },
    ],
    overprovisioningFactor: 140,
    healthyPanicThresholdPercent: 50,
    dnsRefreshRateMs: 5000,
    dnsLookupFamily: 'AUTO',
    upstreamProtocol: 'HTTP1',
    maxRequestsPerConnection: 0,
    upstreamIdleTimeoutMs: 3_600_000,
    circuitBreakers: {
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    },
    perConnectionBufferLimitBytes: 1 << 20,
    healthChecks: [],
    ...extra,
  };
}

// ------------------------------------------------------------------ helpers

interface Backend {
  port: number;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function backend(name: string, handler?: http.RequestListener): Promise<Backend> {
  const seen: Backend['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (handler !== undefined) return handler(req, res);
    const body = `${name} ${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(body);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const agent = new http.Agent({ keepAlive: true });

function get(
  port: number,
  path: string,
  host = 'example.com',
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, headers: { host, ...headers }, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function rawExchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(payload));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

const logger = createLogger('proxy-runtime-test', 'silent');

// ------------------------------------------------------------------ tests

describe('ProxyRuntime', () => {
  let a: Backend;
  let b: Backend;
  let flaky: Backend;
  let slow: Backend;
  let flakyCalls = 0;
  let held: Backend;
  const release: (() => void)[] = [];
  let deadPort: number;
  let proxyPort: number;
  const stats = new MemoryStatsSink();
  const runtime = new ProxyRuntime({ logger, workerId: 0, stats });

  function baseConfig(version: string, overrideRoutes?: RouteModel[]): ProxyConfig {
    const routes = overrideRoutes ?? [
      route('/direct', { kind: 'direct_response', status: 218, body: 'hello direct' }),
      route('/old', {
        kind: 'redirect',
        httpsRedirect: false,
        pathRedirect: '/new',
        responseCode: 301,
        stripQuery: false,
      }),
      route('/rewrite/', forward('a', { prefixRewrite: '/inner/' })),
      route(
        '/flaky',
        forward('flaky', {
          retryPolicy: {
            retryOn: ['5xx'],
            numRetries: 3,
            perTryTimeoutMs: 0,
            retriableStatusCodes: [],
            backoffBaseMs: 1,
            backoffMaxMs: 2,
            previousHostsPredicate: false,
            hostSelectionRetryMaxAttempts: 1,
          },
        }),
      ),
      route('/slow', forward('slow', { timeoutMs: 100 })),
      route('/dead', forward('dead')),
      route(
        '/retry-dead',
        forward('dead-then-a', {
          retryPolicy: {
            retryOn: ['connect-failure'],
            numRetries: 2,
            perTryTimeoutMs: 0,
            retriableStatusCodes: [],
            backoffBaseMs: 1,
            backoffMaxMs: 2,
            previousHostsPredicate: true,
            hostSelectionRetryMaxAttempts: 1,
          },
        }),
      ),
      route('/missing-cluster', forward('nope')),
      route('/cb', forward('cb')),
      route('/', forward('a')),
    ];
    return {
      version,
      listeners: [
        listener(
          'main',
          proxyPort,
          hcm([
            vhost('b', ['b.example.com'], [route('/', forward('b'))]),
            vhost('narrow', ['narrow.example.com'], [route('/only', forward('a'))]),
            vhost('default', ['*'], routes),
          ]),
        ),
      ],
      routeConfigs: {},
      clusters: {
        a: cluster('a', [a.port]),
        b: cluster('b', [b.port]),
        flaky: cluster('flaky', [flaky.port]),
        slow: cluster('slow', [slow.port]),
        dead: cluster('dead', [deadPort]),
        'dead-then-a': cluster('dead-then-a', [deadPort, a.port]),
        cb: cluster('cb', [held.port], {
          circuitBreakers: {
            maxConnections: 1,
            maxPendingRequests: 1,
            maxRequests: 1,
            maxRetries: 1,
          },
        }),
      },
    };
  }

  before(async () => {
    a = await backend('a');
    b = await backend('b');
    flaky = await backend('flaky', (_req, res) => {
      flakyCalls++;
      res.writeHead(flakyCalls % 3 === 0 ? 200 : 503);
      res.end(flakyCalls % 3 === 0 ? 'finally' : 'nope');
    });
    slow = await backend('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 2000).unref();
    });
    held = await backend('held', (_req, res) => {
      release.push(() => res.end('released'));
    });
    deadPort = await refusedPort();
    proxyPort = await freePort();
    await runtime.apply(baseConfig('1'));
  });

  after(async () => {
    agent.destroy();
    runtime.destroy();
    runtime.destroy();
    await Promise.all([a.close(), b.close(), flaky.close(), slow.close(), held.close()]);
  });

  test('routes by host and path', async () => {
    const toA = await get(proxyPort, '/hello');
    assert.equal(toA.status, 200);
    assert.equal(toA.body, 'a /hello');
    assert.equal(toA.headers.server, 'ferry');
    const toB = await get(proxyPort, '/hello', 'b.example.com');
    assert.equal(toB.body, 'b /hello');
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.ok(seen.headers['x-forwarded-for']);
    assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers.host, 'example.com');
  });

  test('direct response, redirect and prefix rewrite', async () => {
    const direct = await get(proxyPort, '/direct');
    assert.equal(direct.status, 218);
    assert.equal(direct.body, 'hello direct');
    const redirect = await get(proxyPort, '/old?x=1');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, 'http://example.com/new?x=1');
    const rewritten = await get(proxyPort, '/rewrite/x?q=2');
    assert.equal(rewritten.body, 'a /inner/x?q=2');
  });

  test('no route is 404, unknown cluster 503', async () => {
    const before = a.seen.length;
    // The virtual host matches; none of its routes does (Envoy: 404, flag NR, empty body).
    const noRoute = await get(proxyPort, '/elsewhere', 'narrow.example.com');
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.body, '');
    assert.equal((await get(proxyPort, '/only/x', 'narrow.example.com')).body, 'a /only/x');
    const noCluster = await get(proxyPort, '/missing-cluster');
    assert.equal(noCluster.status, 503);
    assert.equal(noCluster.body, 'cluster not found');
    assert.deepEqual(
      a.seen.slice(before).map((r) => r.url),
      ['/only/x'],
      'neither reached a backend',
    );
  });

  test('retries 5xx until success', async () => {
    flakyCalls = 0;
    const res = await get(proxyPort, '/flaky');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'finally');
    assert.equal(flakyCalls, 3);
    assert.equal(stats.counterValue('upstream_rq_retry', { cluster: 'flaky' }), 2);
  });

  test('connect failure is 503 UF; with retry it moves to another host', async () => {
    const res = await get(proxyPort, '/dead');
    assert.equal(res.status, 503);
    assert.match(res.body, /connection failure/);
    for (let i = 0; i < 4; i++) {
      const retried = await get(proxyPort, '/retry-dead');
      assert.equal(retried.status, 200);
    }
  });

  test('circuit breaker overflow is 503 and counted', async () => {
    const first = get(proxyPort, '/cb');
    await until(() => held.seen.length > 0, 'the first request to reach the held backend');
    const second = await get(proxyPort, '/cb');
    assert.equal(second.status, 503);
    assert.match(second.body, /overflow/);
    assert.equal(stats.counterValue('upstream_rq_pending_overflow', { cluster: 'cb' }), 1);
    release.shift()!();
    assert.equal((await first).body, 'released');
  });

  test('route timeout is 504', async () => {
    const res = await get(proxyPort, '/slow');
    assert.equal(res.status, 504);
    assert.equal(res.body, 'upstream request timeout');
  });

  test('malformed requests get 400 and never reach the backend', async () => {
    const before = a.seen.length;
    const bad = await rawExchange(
      proxyPort,
      'GET /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    assert.match(bad, /^HTTP\/1\.1 400 /);
    const badLine = await rawExchange(proxyPort, 'GET\x01 / HTTP/1.1\r\n\r\n');
    assert.match(badLine, /^HTTP\/1\.1 400 /);
    assert.equal(a.seen.length, before);
  });

  test('oversized headers get 431', async () => {
    const big = 'x'.repeat(70 * 1024);
    const res = await rawExchange(
      proxyPort,
      `GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: ${big}\r\n\r\n`,
    );
    assert.match(res, /^HTTP\/1\.1 431 /);
  });

  test('h2c with prior knowledge', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxyPort}`);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/h2', ':authority': 'b.example.com' });
        let data = '';
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (data += c));
        stream.on('end', () => resolve(data));
        stream.on('error', reject);
      });
      assert.equal(body, 'b /h2');
    } finally {
      session.close();
    }
  });

  test('websocket upgrade passes through', async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(proxyPort, '127.0.0.1', () => {
        socket.write(
          'GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
        );
      });
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => {
        data += c;
        if (data.includes('\r\n\r\n') && !data.includes('ping')) socket.write('ping');
        if (data.endsWith('ping')) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('error', reject);
    });
    assert.match(echoed, /^HTTP\/1\.1 101/);
  });

  test('live applies under continuous requests: no failures, same port keeps serving', async () => {
    let failures = 0;
    let done = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const res = await get(proxyPort, '/live').catch(() => ({ status: 0, body: '' }));
        if (res.status !== 200) failures++;
        done++;
      }
    })();
    for (let i = 0; i < 10; i++) {
      // Alternate the default route between clusters a and b.
      const target = i % 2 === 0 ? 'b' : 'a';
      await runtime.apply(baseConfig(`live-${i}`, [route('/', forward(target))]));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop = true;
    await load;
    assert.equal(failures, 0);
    assert.ok(done > 0);
    const last = await get(proxyPort, '/after');
    assert.equal(last.body, 'a /after');
    await runtime.apply(baseConfig('back'));
  });
});

describe('ProxyRuntime TLS', () => {
  let dir: string;
  let backendA: Backend;
  const runtime = new ProxyRuntime({ logger, workerId: 0 });
  let port: number;

  function cert(cn: string): { certificateChainPem: string; privateKeyPem: string } {
    const pair = selfSigned(dir, cn);
    return { certificateChainPem: pair.cert, privateKeyPem: pair.key };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
    backendA = await backend('a');
    port = await freePort();
    const tlsFor = (cn: string): DownstreamTlsModel => ({
      certificates: [cert(cn)],
      alpnProtocols: ['h2', 'http/1.1'],
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      cipherSuites: [],
      requireClientCertificate: false,
    });
    const http = hcm([vhost('all', ['*'], [route('/', forward('a'))])]);
    await runtime.apply({
      version: 'tls',
      listeners: [
        listener(
          'tls',
          port,
          http,
          [tlsFor('one.test'), tlsFor('two.test')],
          [['one.test'], ['two.test']],
        ),
      ],
      routeConfigs: {},
      clusters: { a: cluster('a', [backendA.port]) },
    });
  });

  after(async () => {
    await runtime.close(1000);
    await backendA.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ['one.test', 'two.test']) {
    test(`SNI ${name} selects its certificate (HTTP/1.1 over TLS)`, async () => {
      const result = await new Promise<{ cn: string; body: string; proto: string | undefined }>(
        (resolve, reject) => {
          const req = https.request(
            {
              host: '127.0.0.1',
              port,
              servername: name,
              path: '/tls',
              rejectUnauthorized: false,
              headers: { host: name },
            },
            (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString()));
              const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
              res.on('end', () => {
                resolve({
                  cn: String(peer.subject.CN),
                  body,
                  proto: backendA.seen.at(-1)?.headers['x-forwarded-proto'] as string | undefined,
                });
              });
            },
          );
          req.on('error', reject);
          req.end();
        },
      );
      assert.equal(result.cn, name);
      assert.equal(result.body, 'a /tls');
      assert.equal(result.proto, 'https');
    });
  }

  test('h2 over TLS via ALPN', async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      servername: 'one.test',
      rejectUnauthorized: false,
    });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/h2tls', ':authority': 'one.test' });
        let data = '';
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (data += c));
        stream.on('end', () => resolve(data));
        stream.on('error', reject);
      });
      assert.equal(body, 'a /h2tls');
    } finally {
      session.close();
    }
  });
});
