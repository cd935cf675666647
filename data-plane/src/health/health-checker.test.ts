import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCa, type TestCa } from '@ferry/shared/testing/test-pki';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { plainTlsModel } from '../upstream/upstream-tls-fixtures.js';
import { upstreamTlsTarget } from '../upstream/upstream-tls.js';
import type { HttpHealthCheckModel } from '../config/model.js';
import { HEALTHY, type HealthCheckTarget } from './health-checker.js';
import { createHealthChecker } from './health-checker-factory.js';
import {
  decodeServingStatus,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
} from './health-checker-grpc.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers) await close();
});

async function listen(server: net.Server): Promise<HealthCheckTarget> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        (server as http.Server).closeAllConnections?.();
        server.close(() => resolve());
      }),
  );
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port, clusterName: 'web' };
}

/** A port nothing listens on. */
async function deadTarget(): Promise<HealthCheckTarget> {
  return { host: '127.0.0.1', port: await refusedPort(), clusterName: 'web' };
}

const never = new AbortController().signal;

function httpModel(overrides: Partial<HttpHealthCheckModel> = {}): HttpHealthCheckModel {
  return {
    kind: 'http',
    path: '/healthz',
    host: '',
    expectedStatuses: [{ start: 200, end: 201 }],
    retriableStatuses: [],
    requestHeadersToAdd: [],
    requestHeadersToRemove: [],
    protocol: 'HTTP1',
    ...overrides,
  };
}

describe('HTTP health checker', () => {
  const seen: http.IncomingHttpHeaders[] = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    seen.push({ ...req.headers, path: req.url });
    res.writeHead(status).end('ok');
  });

  test('healthy on an expected status, sending path, Host and headers', async () => {
    const target = await listen(server);
    const checker = createHealthChecker(
      httpModel({
        requestHeadersToAdd: [{ key: 'x-probe', value: '1', action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      }),
    );
    assert.deepEqual(await checker.check(target, never), { healthy: true });
    const last = seen.at(-1)!;
    assert.equal(last.path, '/healthz');
    assert.equal(last.host, 'web');
    assert.equal(last['x-probe'], '1');
    assert.equal(last['user-agent'], 'Envoy/HC');

    status = 503;
    const failed = await checker.check(target, never);
    assert.equal(failed.healthy, false);
    assert.ok(!failed.healthy && failed.failure === 'active' && !failed.retriable);

    status = 429;
    const retriable = await createHealthChecker(
      httpModel({ retriableStatuses: [{ start: 429, end: 430 }], host: 'probe.local' }),
    ).check(target, never);
    assert.ok(!retriable.healthy && retriable.failure === 'active' && retriable.retriable);
    assert.equal(seen.at(-1)!.host, 'probe.local');

    status = 204;
    const ranged = createHealthChecker(httpModel({ expectedStatuses: [{ start: 200, end: 300 }] }));
    assert.deepEqual(await ranged.check(target, never), { healthy: true });
  });

  test('network failure when nothing listens', async () => {
    const outcome = await createHealthChecker(httpModel()).check(await deadTarget(), never);
    assert.ok(!outcome.healthy && outcome.failure === 'network');
  });

  test('network failure when the host does not answer before the abort', async () => {
    const silent = http.createServer(() => undefined);
    const target = await listen(silent);
    const controller = new AbortController();
    const pending = createHealthChecker(httpModel()).check(target, controller.signal);
    setTimeout(() => controller.abort(), 50);
    const outcome = await pending;
    assert.ok(!outcome.healthy && outcome.failure === 'network');
  });

  test('HTTP/2 (prior knowledge)', async () => {
    const h2 = http2.createServer((req, res) => {
      res.writeHead(req.headers[':authority'] === 'web' ? 200 : 500).end();
    });
    const target = await listen(h2);
    const outcome = await createHealthChecker(httpModel({ protocol: 'HTTP2' })).check(
      target,
      never,
    );
    assert.deepEqual(outcome, { healthy: true });
  });
});

describe('TCP health checker', () => {
  test('connect only', async () => {
    const target = await listen(net.createServer((s) => s.end()));
    const checker = createHealthChecker({ kind: 'tcp', sendHex: '', receiveHex: [] });
    assert.deepEqual(await checker.check(target, never), { healthy: true });
    const dead = await checker.check(await deadTarget(), never);
    assert.ok(!dead.healthy && dead.failure === 'network');
  });

  test('send and receive payloads', async () => {
    // Replies "PONG" to "PING", in two pieces, and closes on anything else.
    const target = await listen(
      net.createServer((socket) => {
        socket.on('data', (data) => {
          if (data.toString() === 'PING') {
            socket.write('xxPO');
            setTimeout(() => socket.write('NGyy'), 10);
          } else socket.end();
        });
      }),
    );
    const hex = (s: string): string => Buffer.from(s).toString('hex');
    const good = createHealthChecker({
      kind: 'tcp',
      sendHex: hex('PING'),
      receiveHex: [hex('PO'), hex('NG')],
    });
    assert.deepEqual(await good.check(target, never), { healthy: true });
    const wrong = createHealthChecker({
      kind: 'tcp',
      sendHex: hex('HELO'),
      receiveHex: [hex('PONG')],
    });
    const outcome = await wrong.check(target, never);
    assert.ok(!outcome.healthy && outcome.failure === 'network');
  });
});

describe('gRPC health checker', () => {
  test('encodes the request and decodes responses', () => {
    assert.deepEqual(
      [...encodeHealthCheckRequest('svc')],
      [0, 0, 0, 0, 5, 0x0a, 3, ...Buffer.from('svc')],
    );
    assert.deepEqual([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0]);
    assert.equal(decodeServingStatus(encodeHealthCheckResponse(1)), 1);
    assert.equal(decodeServingStatus(encodeHealthCheckResponse(2)), 2);
    assert.equal(decodeServingStatus(encodeHealthCheckResponse(0)), 0);
    assert.equal(decodeServingStatus(Buffer.from([0, 0, 0, 0, 2, 0x08])), undefined);
  });

  test('SERVING is healthy, NOT_SERVING and errors are not', async () => {
    const statusByService: Record<string, number> = { up: 1, down: 2 };
    const requests: { path: string; authority: string }[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        requests.push({ path: String(headers[':path']), authority: String(headers[':authority']) });
        const body = Buffer.concat(chunks);
        const service = body.length > 7 ? body.subarray(7).toString() : '';
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': service === 'missing' ? '5' : '0' }),
        );
        stream.end(
          service === 'missing'
            ? undefined
            : encodeHealthCheckResponse(statusByService[service] ?? 0),
        );
      });
    });
    const target = await listen(server);
    const check = (
      serviceName: string,
    ): ReturnType<ReturnType<typeof createHealthChecker>['check']> =>
      createHealthChecker({ kind: 'grpc', serviceName, authority: '' }).check(target, never);
    assert.deepEqual(await check('up'), { healthy: true });
    const down = await check('down');
    assert.ok(!down.healthy && down.failure === 'active');
    const missing = await check('missing');
    assert.ok(!missing.healthy && missing.failure === 'active');
    assert.deepEqual(requests[0], { path: '/grpc.health.v1.Health/Check', authority: 'web' });
    const dead = await check('up').then(async () =>
      createHealthChecker({ kind: 'grpc', serviceName: '', authority: '' }).check(
        await deadTarget(),
        never,
      ),
    );
    assert.ok(!dead.healthy && dead.failure === 'network');
  });
});

describe('health checkers over the cluster’s TLS (UpstreamTlsContext)', () => {
  let dir: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let target: HealthCheckTarget;
  const sniSeen: (string | false | null)[] = [];
  const requests: string[] = [];

  // An HTTPS server (HTTP/1.1, h2 and gRPC) with a CA-signed certificate.
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-hc-tls-'));
    closers.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    ca = createCa(dir, 'ca');
    otherCa = createCa(dir, 'other-ca');
    const leaf = ca.issue('backend', { sans: ['DNS:backend.test'] });
    const server = http2.createSecureServer(
      { cert: leaf.cert, key: leaf.key, allowHTTP1: true },
      (req, res) => {
        requests.push(`${req.httpVersion} ${req.url}`);
        if (req.url === '/grpc.health.v1.Health/Check') {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/grpc' });
          res.addTrailers({ 'grpc-status': '0' });
          res.end(encodeHealthCheckResponse(1));
          return;
        }
        res.writeHead(200);
        res.end();
      },
    );
    server.on('secureConnection', (socket: TLSSocket) => sniSeen.push(socket.servername));
    server.on('tlsClientError', () => undefined);
    const plain = await listen(server);
    target = {
      ...plain,
      tls: upstreamTlsTarget(
        plainTlsModel({ sni: 'backend.test', trustedCaPem: ca.cert }),
        '127.0.0.1',
      ),
    };
  });

  test('HTTP/1.1, HTTP/2 (ALPN h2), gRPC and TCP checks are healthy over TLS', async () => {
    const checkers = [
      createHealthChecker(httpModel()),
      createHealthChecker(httpModel({ protocol: 'HTTP2' })),
      createHealthChecker({ kind: 'grpc', serviceName: '', authority: '' }),
      createHealthChecker({ kind: 'tcp', sendHex: '', receiveHex: [] }),
    ];
    for (const checker of checkers) assert.deepEqual(await checker.check(target, never), HEALTHY);
    assert.deepEqual(requests, [
      '1.1 /healthz',
      '2.0 /healthz',
      '2.0 /grpc.health.v1.Health/Check',
    ]);
    assert.deepEqual(sniSeen, ['backend.test', 'backend.test', 'backend.test', 'backend.test']);
  });

  test('the same checks in plaintext fail against the TLS-only server', async () => {
    const plain = { host: target.host, port: target.port, clusterName: 'web' };
    const outcome = await createHealthChecker(httpModel()).check(plain, never);
    assert.equal(outcome.healthy, false);
  });

  test('a certificate not signed by trusted_ca fails every checker (network failure)', async () => {
    const untrusted = {
      ...target,
      tls: upstreamTlsTarget(plainTlsModel({ trustedCaPem: otherCa.cert }), '127.0.0.1'),
    };
    for (const model of [
      httpModel(),
      httpModel({ protocol: 'HTTP2' }),
      { kind: 'grpc', serviceName: '', authority: '' } as const,
      { kind: 'tcp', sendHex: '', receiveHex: [] } as const,
    ]) {
      const outcome = await createHealthChecker(model).check(untrusted, never);
      assert.equal(outcome.healthy, false);
      if (!outcome.healthy) assert.match(outcome.detail, /certificate verification failed/);
    }
  });
});
