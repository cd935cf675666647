import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { Http1Pool, type Http1PoolOptions } from './upstream-http1-pool.js';
import { TEST_CERT, TEST_KEY } from '../config/translate-test-fixtures.js';
import { eventually } from '../http/codec/codec-test-fixtures.js';
import { upstreamTlsTarget } from './upstream-tls.js';
import { plainTlsModel } from './upstream-tls-fixtures.js';
import {
  Recorder,
  Teardown,
  closeServer,
  listenOnLoopback,
  silentServer,
  writeUntilBackedUp,
} from './upstream-pool-fixtures.js';
import type { PendingRequest } from './upstream-http1-connection.js';

/** A request as the raw server read it, with the socket to answer on. */
interface ReceivedRequest {
  head: string;
  body: string;
  socket: net.Socket;
}

/** A loopback server that hands each request head (and Content-Length body) to the test. */
class RawServer {
  readonly requests: ReceivedRequest[] = [];
  readonly sockets: net.Socket[] = [];
  port = 0;
  onRequest: (request: ReceivedRequest) => void = () => undefined;
  private server: net.Server | tls.Server;

  constructor(secure = false) {
    const onSocket = (socket: net.Socket): void => {
      this.sockets.push(socket);
      socket.on('error', () => undefined);
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffered.slice(0, end);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          const request = { head, body: buffered.slice(end + 4, end + 4 + length), socket };
          buffered = buffered.slice(end + 4 + length);
          this.requests.push(request);
          this.onRequest(request);
        }
      });
    };
    this.server = secure
      ? tls.createServer({ cert: TEST_CERT, key: TEST_KEY }, onSocket)
      : net.createServer(onSocket);
  }

  async listen(): Promise<this> {
    this.port = await listenOnLoopback(this.server);
    return this;
  }

  close(): Promise<void> {
    return closeServer(this.server, this.sockets);
  }
}

const teardown = new Teardown();
after(() => teardown.run());

async function rawServer(secure = false): Promise<RawServer> {
  const server = await new RawServer(secure).listen();
  teardown.add(() => server.close());
  return server;
}

function pool(server: RawServer, options: Partial<Http1PoolOptions> = {}): Http1Pool {
  const created = new Http1Pool({
    host: '127.0.0.1',
    port: server.port,
    connectTimeoutMs: 2000,
    maxConnections: 4,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    ...options,
  });
  teardown.add(() => created.destroy());
  return created;
}

function get(target: Http1Pool, path = '/', method = 'GET'): Recorder {
  const recorder = new Recorder();
  target.dispatch({ path, method, headers: ['host', 'a.example'], body: null }, recorder);
  return recorder;
}

function answer(response: string): (request: ReceivedRequest) => void {
  return (request) => request.socket.write(response);
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

test('keep-alive: sequential requests reuse one connection; connect/disconnect events', async () => {
  const server = await rawServer();
  server.onRequest = answer(OK);
  const target = pool(server);
  let connects = 0;
  target.on('connect', () => connects++);
  for (const path of ['/1', '/2', '/3']) {
    const recorder = get(target, path);
    await recorder.done;
    assert.equal(recorder.connected, true);
    assert.equal(recorder.status, 200);
    assert.equal(recorder.body, 'ok');
  }
  assert.equal(server.sockets.length, 1);
  assert.equal(connects, 1);
  assert.match(server.requests[0]!.head, /^GET \/1 HTTP\/1\.1\r\nhost: a\.example$/);
  let disconnects = 0;
  target.on('disconnect', () => disconnects++);
  await target.close();
  assert.equal(disconnects, 1);
});

test('max connections: requests beyond it wait in order for a free connection', async () => {
  const server = await rawServer();
  const target = pool(server, { maxConnections: 1 });
  const recorders = [get(target, '/a'), get(target, '/b'), get(target, '/c')];
  await eventually(() => server.requests.length === 1, 'the first request');
  assert.equal(target.pending, 2);
  assert.equal(recorders[1]!.connected, false);
  server.onRequest = answer(OK);
  server.requests[0]!.socket.write(OK);
  await Promise.all(recorders.map((r) => r.done));
  assert.deepEqual(
    server.requests.map((r) => r.head.split(' ')[1]),
    ['/a', '/b', '/c'],
  );
  assert.equal(server.sockets.length, 1);
});

test('maxRequestsPerConnection opens a new connection after the limit', async () => {
  const server = await rawServer();
  server.onRequest = answer(OK);
  const target = pool(server, { maxRequestsPerConnection: 2 });
  for (let i = 0; i < 3; i++) await get(target).done;
  assert.equal(server.sockets.length, 2);
});

test('a body delimited by the connection closing; the connection is not reused', async () => {
  const server = await rawServer();
  server.onRequest = (request) => request.socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
  const target = pool(server);
  const first = get(target);
  await first.done;
  assert.equal(first.body, 'until the end');
  assert.equal(first.completed, true);
  server.onRequest = answer(OK);
  await get(target).done;
  assert.equal(server.sockets.length, 2);
});

test('HEAD, 204 and 304 have no body; 1xx are skipped; chunked with trailers', async () => {
  const server = await rawServer();
  const target = pool(server);
  server.onRequest = answer('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n');
  const head = get(target, '/', 'HEAD');
  await head.done;
  assert.equal(head.completed, true);
  server.onRequest = answer('HTTP/1.1 204 No Content\r\n\r\n');
  assert.equal((await settle(get(target))).status, 204);
  server.onRequest = answer('HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n');
  assert.equal((await settle(get(target))).status, 304);
  server.onRequest = answer(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nx-sum: 1\r\n\r\n',
  );
  const chunked = await settle(get(target));
  assert.equal(chunked.status, 200);
  assert.equal(chunked.body, 'abcde');
  assert.deepEqual(chunked.trailers, ['x-sum', '1']);
  // Every response above left the connection reusable.
  assert.equal(server.sockets.length, 1);
});

async function settle(recorder: Recorder): Promise<Recorder> {
  await recorder.done;
  return recorder;
}

const MALFORMED: [string, string][] = [
  [
    'Content-Length with Transfer-Encoding',
    'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  ],
  [
    'differing Content-Length',
    'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd',
  ],
  [
    'repeated Content-Length',
    'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc',
  ],
  ['invalid Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 3x\r\n\r\nabc'],
  ['Transfer-Encoding gzip', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nabc'],
  [
    'Transfer-Encoding chunked, gzip',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nabc',
  ],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nx-a: 1\r\n 2\r\ncontent-length: 0\r\n\r\n'],
  ['bare LF', 'HTTP/1.1 200 OK\ncontent-length: 0\n\n'],
  ['NUL in a value', 'HTTP/1.1 200 OK\r\nx-a: a\0b\r\ncontent-length: 0\r\n\r\n'],
  ['invalid status line', 'HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n'],
  [
    '101 to a plain request',
    'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n',
  ],
];

for (const [name, response] of MALFORMED) {
  test(`malformed response (${name}) → onError, nothing forwarded, connection closed`, async () => {
    const server = await rawServer();
    server.onRequest = answer(response);
    const target = pool(server);
    const recorder = await settle(get(target));
    assert.equal(recorder.error?.code, 'UPSTREAM_PROTOCOL_ERROR', String(recorder.error));
    assert.equal(recorder.status, 0, 'no head was forwarded');
    await eventually(
      () => server.sockets[0]!.destroyed || server.sockets[0]!.readableEnded,
      'the close',
    );
  });
}

test('malformed chunked body after the head → onError after onHeaders', async () => {
  const server = await rawServer();
  server.onRequest = answer('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n');
  const recorder = await settle(get(pool(server)));
  assert.equal(recorder.status, 200);
  assert.equal(recorder.error?.code, 'UPSTREAM_PROTOCOL_ERROR');
  assert.equal(recorder.completed, false);
});

test('upstream closing an idle connection: the pool drops it and the next request opens another', async () => {
  const server = await rawServer();
  server.onRequest = answer(OK);
  const target = pool(server);
  let disconnects = 0;
  target.on('disconnect', () => disconnects++);
  await get(target).done;
  server.sockets[0]!.end();
  await eventually(() => disconnects === 1, 'the pool to see the close');
  const next = await settle(get(target));
  assert.equal(next.body, 'ok');
  assert.equal(server.sockets.length, 2);
});

test('a reused connection closed before any response byte: UND_ERR_SOCKET after onConnect', async () => {
  const server = await rawServer();
  server.onRequest = answer(OK);
  const target = pool(server);
  await get(target).done;
  server.onRequest = (request) => request.socket.destroy();
  const recorder = await settle(get(target));
  assert.equal(recorder.connected, true);
  assert.ok(
    ['UND_ERR_SOCKET', 'ECONNRESET'].includes(recorder.error?.code ?? ''),
    String(recorder.error),
  );
});

test('connection refused: the socket code, without onConnect, for every waiting request', async () => {
  const server = await rawServer();
  const port = server.port;
  await server.close();
  const target = new Http1Pool({
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 2000,
    maxConnections: 1,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
  });
  const recorders = [new Recorder(), new Recorder()];
  for (const r of recorders)
    target.dispatch({ path: '/', method: 'GET', headers: ['host', 'a'], body: null }, r);
  await Promise.all(recorders.map((r) => r.done));
  for (const r of recorders) {
    assert.equal(r.error?.code, 'ECONNREFUSED');
    assert.equal(r.connected, false);
  }
  await target.destroy();
});

test('connection refused with several connections opening: every waiting request fails once, no reconnect loop', async () => {
  // Envoy purges every pending stream on a connect failure. Before, a failure with another
  // connection still opening put the queue on a new connection, and with as many requests as
  // connections opening that repeated until the route timeout.
  const target = new Http1Pool({
    host: '127.0.0.1',
    port: await refusedPort(),
    connectTimeoutMs: 2000,
    maxConnections: 1024,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
  });
  const recorders = [new Recorder(), new Recorder(), new Recorder()];
  for (const r of recorders)
    target.dispatch({ path: '/', method: 'GET', headers: ['host', 'a'], body: null }, r);
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 10_000);
  });
  const outcome = await Promise.race([Promise.all(recorders.map((r) => r.done)), bound]);
  clearTimeout(timer);
  assert.notEqual(outcome, 'timeout', 'requests still waiting 10 s after the connects failed');
  for (const r of recorders) assert.equal(r.error?.code, 'ECONNREFUSED');
  await target.destroy();
});

test('connect timeout: a TLS handshake that never completes gives UND_ERR_CONNECT_TIMEOUT', async () => {
  const target = new Http1Pool({
    host: '127.0.0.1',
    port: await silentServer(teardown),
    tls: upstreamTlsTarget(plainTlsModel(), ''),
    connectTimeoutMs: 100,
    maxConnections: 1,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
  });
  const recorder = new Recorder();
  target.dispatch({ path: '/', method: 'GET', headers: ['host', 'a'], body: null }, recorder);
  await recorder.done;
  assert.equal(recorder.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
  assert.equal(recorder.connected, false);
  await target.destroy();
});

test('TLS upstream: requests over tls.connect options, connection reused', async () => {
  const server = await rawServer(true);
  server.onRequest = answer(OK);
  const target = pool(server, { tls: upstreamTlsTarget(plainTlsModel(), 'a.example') });
  for (let i = 0; i < 2; i++) assert.equal((await settle(get(target))).body, 'ok');
  assert.equal(server.sockets.length, 1);
});

test('request bodies: Content-Length as given, chunked without it', async () => {
  const server = await rawServer();
  const raw: string[] = [];
  server.sockets.length = 0;
  server.onRequest = (request) => {
    raw.push(request.head);
    request.socket.write(OK);
  };
  const target = pool(server);
  const sized = new PassThrough();
  const first = new Recorder();
  target.dispatch(
    { path: '/s', method: 'POST', headers: ['host', 'a', 'content-length', '5'], body: sized },
    first,
  );
  sized.end('hello');
  await first.done;
  assert.equal(server.requests[0]!.body, 'hello');
  const streamed = new PassThrough();
  const second = new Recorder();
  let chunkedBytes = '';
  server.sockets[0]!.on('data', (chunk: Buffer) => (chunkedBytes += chunk.toString('latin1')));
  target.dispatch({ path: '/c', method: 'POST', headers: ['host', 'a'], body: streamed }, second);
  streamed.write('ab');
  streamed.end('cde');
  await eventually(() => chunkedBytes.endsWith('0\r\n\r\n'), 'the last chunk');
  assert.match(chunkedBytes, /transfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n$/);
  server.sockets[0]!.write(OK);
  await second.done;
  assert.equal(second.body, 'ok');
});

test('a response before the request body was sent completes; the connection is not reused', async () => {
  const server = await rawServer();
  const target = pool(server);
  const body = new PassThrough();
  const recorder = new Recorder();
  server.onRequest = () => undefined;
  target.dispatch(
    { path: '/u', method: 'PUT', headers: ['host', 'a', 'content-length', '100'], body },
    recorder,
  );
  body.write('partial');
  await eventually(() => server.sockets.length === 1, 'the connection');
  server.sockets[0]!.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n');
  await recorder.done;
  assert.equal(recorder.status, 413);
  assert.equal(recorder.completed, true);
  server.onRequest = answer(OK);
  await get(target).done;
  assert.equal(server.sockets.length, 2);
});

test('onData false pauses reading until resume()', async () => {
  const server = await rawServer();
  const target = pool(server);
  const recorder = new Recorder();
  recorder.pauseOnData = true;
  // Two chunks in one write: with reading paused after the first, the second must wait.
  server.onRequest = (request) =>
    request.socket.write(
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n',
    );
  target.dispatch({ path: '/', method: 'GET', headers: ['host', 'a'], body: null }, recorder);
  await eventually(() => recorder.body === 'abc', 'the first chunk');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(recorder.body, 'abc');
  assert.equal(recorder.completed, false);
  recorder.pauseOnData = false;
  recorder.resume!();
  await recorder.done;
  assert.equal(recorder.body, 'abcdef');
});

// Envoy's per_connection_buffer_limit_bytes of the cluster as the upstream write watermark.
// Limits on either side of Node's own 16 KiB socket watermark, which must not decide it.
for (const limit of [8 * 1024, 64 * 1024]) {
  test(`a ${limit / 1024} KiB buffer limit: the request body pauses (the downstream read with it) once the connection queues that much, and resumes when it flushes`, async () => {
    // A slow upstream: reads nothing until told to, then answers once the chunked body ended.
    const accepted: net.Socket[] = [];
    let received = '';
    const server = net.createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.pause();
      socket.on('data', (data: Buffer) => {
        received = (received + data.toString('latin1')).slice(-16);
        if (received.endsWith('\r\n0\r\n\r\n'))
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
      });
    });
    const port = await listenOnLoopback(server);
    teardown.add(() => closeServer(server, accepted));
    const target = new Http1Pool({
      host: '127.0.0.1',
      port,
      connectTimeoutMs: 2000,
      maxConnections: 1,
      maxRequestsPerConnection: 0,
      idleTimeoutMs: 0,
      bufferLimitBytes: limit,
    });
    teardown.add(() => target.destroy());
    const body = new PassThrough();
    const recorder = new Recorder();
    target.dispatch({ path: '/upload', method: 'POST', headers: ['host', 'a'], body }, recorder);
    await eventually(() => recorder.connected, 'the request on a connection');
    const connection = (recorder.request as PendingRequest).connection!;

    // The bytes queued on the connection each time it pauses the body.
    const queuedAtPause: number[] = [];
    body.on('pause', () => queuedAtPause.push(connection.bufferedBytes));
    const chunk = Buffer.alloc(4096, 'x');
    await writeUntilBackedUp(body, chunk);
    // Each pause comes from the chunk that took the queued bytes to the limit: at least the
    // limit is queued, and no more than that chunk (with its chunked framing) past it.
    assert.ok(queuedAtPause.length > 0);
    for (const queued of queuedAtPause) {
      assert.ok(queued >= limit, `${queued} bytes queued, the limit is ${limit}`);
      assert.ok(queued < limit + chunk.length + 16, `${queued} bytes queued past ${limit}`);
    }

    let drained = false;
    body.once('drain', () => (drained = true));
    for (const socket of accepted) socket.resume();
    await eventually(() => drained, 'the body flowing again once the upstream reads');
    body.end();
    await recorder.done;
    assert.equal(recorder.error, undefined);
    assert.equal(recorder.status, 200);
  });
}

test('body chunks handed on and bytes held while paused stay intact while other connections read', async () => {
  // Cleartext connections read into one shared buffer: what outlives a read must be a copy.
  const server = await rawServer();
  const target = pool(server);
  const kept: Buffer[] = [];
  const first = new Recorder();
  first.onData = (chunk: Buffer): boolean => {
    kept.push(chunk);
    return false;
  };
  server.onRequest = (request) => {
    if (request.head.startsWith('GET /first'))
      request.socket.write(
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n',
      );
    else request.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 4000\r\n\r\n${'z'.repeat(4000)}`);
  };
  target.dispatch({ path: '/first', method: 'GET', headers: ['host', 'a'], body: null }, first);
  await eventually(() => kept.length === 1, 'the first chunk');
  // Another connection reads (over the shared buffer) while the first one holds its input.
  const second = get(target, '/second');
  await second.done;
  assert.equal(second.body, 'z'.repeat(4000));
  first.onData = (chunk: Buffer): boolean => {
    kept.push(chunk);
    return true;
  };
  first.resume!();
  await first.done;
  assert.deepEqual(
    kept.map((chunk) => chunk.toString('latin1')),
    ['abc', 'def'],
  );
});

test('close() lets in-flight requests finish; destroy() fails them; dispatch after close fails', async () => {
  const server = await rawServer();
  const target = pool(server);
  const inFlight = get(target);
  await eventually(() => server.requests.length === 1, 'the request');
  const closed = target.close();
  const late = get(target);
  await late.done;
  assert.equal(late.error?.code, 'UND_ERR_CLOSED');
  server.requests[0]!.socket.write(OK);
  await inFlight.done;
  assert.equal(inFlight.body, 'ok');
  await closed;
  await target.close();

  const other = pool(server);
  const doomed = get(other);
  await eventually(() => server.requests.length === 2, 'the second request');
  await other.destroy();
  await doomed.done;
  assert.equal(doomed.error?.code, 'UND_ERR_DESTROYED');
  await other.destroy();
});

test('idle timeout closes an unused connection', async () => {
  const server = await rawServer();
  server.onRequest = answer(OK);
  const target = pool(server, { idleTimeoutMs: 50 });
  let disconnects = 0;
  target.on('disconnect', () => disconnects++);
  await get(target).done;
  await eventually(() => disconnects === 1, 'the idle close');
});
