import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { ClusterRuntime } from './cluster-runtime.js';
import { loopbackClusterRuntime } from './cluster-runtime-fixtures.js';
import { plainTlsModel } from './upstream-tls-fixtures.js';
import { TEST_CERT, TEST_KEY } from '../config/translate-test-fixtures.js';
import type { ClusterModel } from '../config/model.js';
import {
  sendAsyncRequest,
  type AsyncFailureReason,
  type AsyncHttpRequest,
  type AsyncHttpResponse,
} from './async-client.js';
import {
  GrpcMessageCodec,
  GrpcStatus,
  frameGrpcMessage,
  grpcUnaryCall,
  validateGrpcService,
  type GrpcServiceModel,
} from './async-grpc-client.js';
import { Issues } from '../config/translate-common.js';

const runtimes: ClusterRuntime[] = [];
after(() => {
  for (const r of runtimes) r.destroy();
});

function clusterMap(port: number, extra: Partial<ClusterModel> = {}): Map<string, ClusterRuntime> {
  const runtime = loopbackClusterRuntime('auth', port, extra);
  runtimes.push(runtime);
  return new Map([['auth', runtime]]);
}

type Outcome =
  | { kind: 'success'; response: AsyncHttpResponse }
  | { kind: 'failure'; reason: AsyncFailureReason; detail: string };

function send(
  clusters: Map<string, ClusterRuntime>,
  request: AsyncHttpRequest,
  timeoutMs = 5000,
  cluster = 'auth',
): Promise<Outcome> {
  return new Promise((resolve) => {
    sendAsyncRequest(
      clusters,
      cluster,
      request,
      { timeoutMs, maxResponseBytes: 1024 },
      {
        onSuccess: (response) => resolve({ kind: 'success', response }),
        onFailure: (reason, detail) => resolve({ kind: 'failure', reason, detail }),
      },
    );
  });
}

function header(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

async function listen(server: http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  return (server.address() as AddressInfo).port;
}

const POST: AsyncHttpRequest = {
  method: 'POST',
  path: '/check?x=1',
  authority: 'auth.local',
  headers: ['x-probe', 'yes'],
  body: Buffer.from('hello'),
};

describe('sendAsyncRequest over HTTP/1.1', () => {
  test('sends method, path, Host, headers and body; returns status, headers and body', async () => {
    const seen: { method?: string; url?: string; host?: string; probe?: string; body?: string } =
      {};
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        Object.assign(seen, {
          method: req.method,
          url: req.url,
          host: req.headers.host,
          probe: req.headers['x-probe'],
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(403, { 'x-reason': 'nope' }).end('denied');
      });
    });
    const clusters = clusterMap(await listen(server));
    const outcome = await send(clusters, POST);
    assert.equal(outcome.kind, 'success');
    const { response } = outcome as { response: AsyncHttpResponse };
    assert.equal(response.status, 403);
    assert.equal(header(response.headers, 'x-reason'), 'nope');
    assert.equal(response.body.toString(), 'denied');
    assert.deepEqual(seen, {
      method: 'POST',
      url: '/check?x=1',
      host: 'auth.local',
      probe: 'yes',
      body: 'hello',
    });
    assert.equal(clusters.get('auth')!.circuit.activeRequests, 0);
  });

  test('a response body above maxResponseBytes fails', async () => {
    const server = http.createServer((_req, res) => res.end(Buffer.alloc(4096, 'a')));
    const outcome = await send(clusterMap(await listen(server)), POST);
    assert.equal(outcome.kind === 'failure' && outcome.reason, 'response_too_large');
  });

  test('no response within the timeout fails with timeout; the cluster counts it', async () => {
    const server = http.createServer(() => undefined);
    server.on('connection', (s) => after(() => s.destroy()));
    const clusters = clusterMap(await listen(server));
    const outcome = await send(clusters, POST, 50);
    assert.equal(outcome.kind === 'failure' && outcome.reason, 'timeout');
    const cluster = clusters.get('auth')!;
    assert.equal(cluster.circuit.activeRequests, 0);
    assert.equal(cluster.circuit.pendingRequests, 0);
  });

  test('connection refused, unknown cluster', async () => {
    const port = await refusedPort();
    const refused = await send(clusterMap(port), POST);
    assert.equal(refused.kind === 'failure' && refused.reason, 'connect_failure');
    const missing = await send(clusterMap(port), POST, 1000, 'elsewhere');
    assert.equal(missing.kind === 'failure' && missing.reason, 'no_cluster');
  });

  test('cancel(): no callback follows and the upstream request is aborted', async () => {
    let closed!: () => void;
    const requestClosed = new Promise<void>((resolve) => (closed = resolve));
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const server = http.createServer((req) => {
      req.socket.on('close', closed);
      arrived();
    });
    const clusters = clusterMap(await listen(server));
    let called = false;
    const handle = sendAsyncRequest(
      clusters,
      'auth',
      { ...POST, body: null },
      { timeoutMs: 0 },
      { onSuccess: () => (called = true), onFailure: () => (called = true) },
    );
    await requestArrived;
    handle.cancel();
    await requestClosed;
    assert.equal(called, false);
    assert.equal(clusters.get('auth')!.circuit.activeRequests, 0);
  });

  test('failures are reported after send returned, never inside it', () => {
    let returned = false;
    let reportedAfterReturn: boolean | undefined;
    sendAsyncRequest(
      new Map(),
      'none',
      POST,
      { timeoutMs: 0 },
      {
        onSuccess: () => undefined,
        onFailure: () => (reportedAfterReturn = returned),
      },
    );
    returned = true;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        assert.equal(reportedAfterReturn, true);
        resolve();
      }),
    );
  });
});

/** A gRPC server with one unary method that echoes its request message in the response. */
function grpcHandler(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const body = Buffer.concat(chunks);
    const mode = headers['x-mode'];
    if (
      headers['content-type'] !== 'application/grpc' ||
      headers.te !== 'trailers' ||
      headers[':method'] !== 'POST' ||
      headers[':path'] !== '/envoy.service.auth.v3.Authorization/Check' ||
      !/^\d+m$/.test(String(headers['grpc-timeout']))
    ) {
      stream.respond({ ':status': 415 });
      stream.end();
    } else if (mode === 'trailers-only') {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '7',
          'grpc-message': 'no%20way',
        },
        { endStream: true },
      );
    } else if (mode === 'hang') {
      // Never answers.
    } else {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
        },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(body);
    }
  });
}

describe('sendAsyncRequest over HTTP/2', () => {
  test('concurrent POSTs with bodies share one connection as concurrent streams', async () => {
    // The server answers nothing until it holds CONCURRENT streams at once: calls queued one
    // at a time behind each other, or one per connection, fail the test.
    const CONCURRENT = 8;
    const held: http2.ServerHttp2Stream[] = [];
    const sessions = new Set<http2.ServerHttp2Session>();
    const server = http2.createServer();
    server.on('session', (session) => sessions.add(session));
    server.on('stream', (stream) => {
      stream.resume();
      stream.on('end', () => {
        held.push(stream);
        if (held.length < CONCURRENT) return;
        for (const s of held.splice(0)) {
          s.respond({ ':status': 200 });
          s.end('ok');
        }
      });
    });
    const clusters = clusterMap(await listen(server), { upstreamProtocol: 'HTTP2' });
    const outcomes = await Promise.all(
      Array.from({ length: CONCURRENT }, () => send(clusters, POST, 10_000)),
    );
    for (const outcome of outcomes) assert.equal(outcome.kind, 'success', JSON.stringify(outcome));
    assert.equal(sessions.size, 1);
  });
});

describe('grpcUnaryCall', () => {
  const codec = new GrpcMessageCodec(
    'envoy.service.auth.v3.CheckRequest',
    'envoy.service.auth.v3.CheckRequest',
  );
  const service = (extra: Partial<GrpcServiceModel> = {}): GrpcServiceModel => ({
    clusterName: 'auth',
    authority: 'auth',
    timeoutMs: 2000,
    initialMetadata: [],
    ...extra,
  });
  type GrpcOutcome = { message?: Buffer; status?: number; text?: string };
  const call = (
    clusters: Map<string, ClusterRuntime>,
    mode: string,
    timeoutMs = 2000,
  ): Promise<GrpcOutcome> =>
    new Promise((resolve) =>
      grpcUnaryCall(
        clusters,
        service(),
        '/envoy.service.auth.v3.Authorization/Check',
        codec.encode({ attributes: { contextExtensions: { k: 'v' } } }),
        { timeoutMs, metadata: ['x-mode', mode] },
        {
          onResponse: (message) => resolve({ message }),
          onError: (status, text) => resolve({ status, text }),
        },
      ),
    );

  test('h2c: one framed message, grpc-timeout, trailers with grpc-status 0', async () => {
    const server = http2.createServer();
    server.on('stream', grpcHandler);
    const clusters = clusterMap(await listen(server), { upstreamProtocol: 'HTTP2' });
    const outcome = await call(clusters, 'echo');
    assert.ok(outcome.message, `expected a message, got ${JSON.stringify(outcome)}`);
    const decoded = codec.decode(outcome.message) as unknown as {
      attributes: { contextExtensions: Record<string, string> };
    };
    assert.deepEqual(decoded.attributes.contextExtensions, { k: 'v' });
  });

  test('trailers-only response: status and percent-decoded message', async () => {
    const server = http2.createServer();
    server.on('stream', grpcHandler);
    const clusters = clusterMap(await listen(server), { upstreamProtocol: 'HTTP2' });
    assert.deepEqual(await call(clusters, 'trailers-only'), {
      status: GrpcStatus.PERMISSION_DENIED,
      text: 'no way',
    });
  });

  test('deadline: DEADLINE_EXCEEDED; refused: UNAVAILABLE', async () => {
    const server = http2.createServer();
    server.on('stream', grpcHandler);
    const clusters = clusterMap(await listen(server), { upstreamProtocol: 'HTTP2' });
    assert.equal((await call(clusters, 'hang', 50)).status, GrpcStatus.DEADLINE_EXCEEDED);
    const refused = clusterMap(await refusedPort(), { upstreamProtocol: 'HTTP2' });
    assert.equal((await call(refused, 'echo')).status, GrpcStatus.UNAVAILABLE);
  });

  test('TLS with ALPN h2 when the cluster has a transport socket', async () => {
    const server = http2.createSecureServer({ cert: TEST_CERT, key: TEST_KEY });
    server.on('stream', grpcHandler);
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
    after(() => server.close());
    const clusters = clusterMap(port, { upstreamProtocol: 'HTTP2', tls: plainTlsModel() });
    const outcome = await call(clusters, 'echo');
    assert.ok(outcome.message, `expected a message, got ${JSON.stringify(outcome)}`);
  });

  test('a non-200 HTTP status maps to its gRPC code', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 503 });
      stream.end();
    });
    const clusters = clusterMap(await listen(server), { upstreamProtocol: 'HTTP2' });
    assert.equal((await call(clusters, 'echo')).status, GrpcStatus.UNAVAILABLE);
  });

  test('a cluster without HTTP/2 is refused with UNAVAILABLE and the reason', async () => {
    const clusters = clusterMap(await refusedPort());
    const outcome = await call(clusters, 'echo');
    assert.equal(outcome.status, GrpcStatus.UNAVAILABLE);
    assert.match(outcome.text ?? '', /needs http2_protocol_options/);
  });

  test('framing: 5-byte prefix with the length', () => {
    assert.deepEqual([...frameGrpcMessage(Buffer.from('ab'))], [0, 0, 0, 0, 2, 97, 98]);
  });
});

describe('validateGrpcService', () => {
  test('envoy_grpc with authority, timeout and initial_metadata', () => {
    const issues = new Issues('');
    const model = validateGrpcService(
      {
        envoy_grpc: { cluster_name: 'authz' },
        timeout: '0.25s',
        initial_metadata: [{ key: 'x-a', value: '1' }],
      },
      'grpc_service',
      issues,
    );
    assert.deepEqual(issues.errors, []);
    assert.deepEqual(model, {
      clusterName: 'authz',
      authority: 'authz',
      timeoutMs: 250,
      initialMetadata: ['x-a', '1'],
    });
  });

  test('google_grpc is NACKed with its field path', () => {
    const issues = new Issues('');
    validateGrpcService({ google_grpc: { target_uri: 'x' } }, 'f.grpc_service', issues);
    assert.equal(issues.errors.length, 1);
    assert.match(issues.errors[0]!, /^f\.grpc_service\.google_grpc: google_grpc is not supported/);
  });
});
