import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { Http2Pool, type Http2PoolOptions } from './upstream-http2-pool.js';
import type { HostDispatchOptions } from './host-dispatch.js';
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
import type { Http2PendingStream } from './upstream-http2-connection.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** A real node:http2 server on loopback that hands every stream to the test. */
class Server {
  readonly sessions: http2.ServerHttp2Session[] = [];
  readonly streams: { stream: http2.ServerHttp2Stream; headers: http2.IncomingHttpHeaders }[] = [];
  port = 0;
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void = () =>
    undefined;
  readonly server: http2.Http2Server | http2.Http2SecureServer;

  constructor(options: { secure?: boolean; settings?: http2.Settings } = {}) {
    this.server = options.secure
      ? http2.createSecureServer({
          cert: TEST_CERT,
          key: TEST_KEY,
          ...(options.settings ? { settings: options.settings } : {}),
        })
      : http2.createServer(options.settings ? { settings: options.settings } : {});
    this.server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.push(session);
      session.on('error', () => undefined);
    });
    this.server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      this.streams.push({ stream, headers });
      this.onStream(stream, headers);
    });
  }

  async listen(): Promise<this> {
    this.port = await listenOnLoopback(this.server);
    teardown.add(() => this.close());
    return this;
  }

  close(): Promise<void> {
    return closeServer(this.server, this.sessions);
  }
}

const teardown = new Teardown();
after(() => teardown.run());

function pool(port: number, extra: Partial<Http2PoolOptions> = {}): Http2Pool {
  const p = new Http2Pool({
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 5000,
    maxConnections: 1024,
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 0,
    ...extra,
  });
  teardown.add(() => p.destroy());
  return p;
}

function request(extra: Partial<HostDispatchOptions> = {}): HostDispatchOptions {
  return {
    path: '/p',
    method: 'GET',
    headers: ['host', 'upstream.example', 'x-test', 'a'],
    body: null,
    ...extra,
  };
}

/** Answers every stream of `server` once `count` streams are open, each with 200 "ok". */
function answerWhenOpen(server: Server, count: number): void {
  const held: http2.ServerHttp2Stream[] = [];
  server.onStream = (stream) => {
    held.push(stream);
    if (held.length < count) return;
    for (const s of held.splice(0)) {
      s.respond({ ':status': 200 });
      s.end('ok');
    }
  };
}

describe('Http2Pool', () => {
  test('concurrent streaming requests are multiplexed on one connection', async () => {
    // Nothing is answered until all N streams are open: requests queued one after another on
    // the connection never complete.
    const N = 6;
    const server = await new Server().listen();
    answerWhenOpen(server, N);
    const p = pool(server.port);
    const bodies: PassThrough[] = [];
    const recorders = Array.from({ length: N }, () => {
      const body = new PassThrough();
      bodies.push(body);
      const r = new Recorder();
      p.dispatch(request({ method: 'POST', body }), r);
      return r;
    });
    for (const body of bodies) body.write('chunk'); // bodies stay open while waiting
    await Promise.all(recorders.map((r) => r.done));
    for (const r of recorders) {
      assert.equal(r.error, undefined);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'ok');
    }
    assert.equal(server.sessions.length, 1);
    assert.equal(server.streams[0]!.headers[':authority'], 'upstream.example');
    assert.equal(server.streams[0]!.headers['x-test'], 'a');
    assert.equal(server.streams[0]!.headers['host'], undefined);
  });

  test('a request body is streamed with its end; the response with trailers', async () => {
    const server = await new Server().listen();
    server.onStream = (stream) => {
      let received = '';
      stream.on('data', (chunk: Buffer) => (received += chunk.toString()));
      stream.on('end', () => {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc' },
          {
            waitForTrailers: true,
          },
        );
        stream.on('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }),
        );
        stream.end(`got ${received}`);
      });
    };
    const p = pool(server.port);
    const body = new PassThrough();
    const r = new Recorder();
    p.dispatch(request({ method: 'POST', body }), r);
    body.write('one ');
    body.end('two');
    await r.done;
    assert.equal(r.error, undefined);
    assert.equal(r.body, 'got one two');
    assert.deepEqual(r.headers.slice(0, 2), ['content-type', 'application/grpc']);
    assert.ok(!r.headers.includes(':status'));
    assert.deepEqual(r.trailers, ['grpc-status', '0', 'grpc-message', 'fine']);
  });

  test('an IPv6-literal upstream without a host header gets a bracketed :authority', async () => {
    // `::1:port` is not an authority (RFC 3986 §3.2.2): an IPv6 literal goes in brackets.
    const server = new Server();
    server.onStream = (stream) => {
      stream.respond({ ':status': 200 });
      stream.end();
    };
    await new Promise<void>((resolve) => server.server.listen(0, '::1', resolve));
    server.port = (server.server.address() as AddressInfo).port;
    teardown.add(() => server.close());
    const p = pool(server.port, { host: '::1' });
    const r = new Recorder();
    p.dispatch(request({ headers: ['x-test', 'a'] }), r);
    await r.done;
    assert.equal(r.error, undefined);
    assert.equal(server.streams[0]?.headers[':authority'], `[::1]:${server.port}`);
  });

  // Envoy's per_connection_buffer_limit_bytes of the cluster as each stream's write watermark.
  // Limits on either side of Node's own 16 KiB stream watermark, which must not decide it.
  for (const limit of [8 * 1024, 64 * 1024]) {
    test(`a ${limit / 1024} KiB buffer limit: the request body pauses (the downstream read with it) once the stream queues that much, and resumes when it flushes`, async () => {
      // A slow upstream: reads nothing (so grants no window) until told to.
      const server = await new Server().listen();
      server.onStream = (stream) => {
        stream.pause();
        stream.on('data', () => undefined);
        stream.on('end', () => {
          stream.respond({ ':status': 200 });
          stream.end();
        });
      };
      const p = pool(server.port, { bufferLimitBytes: limit });
      const body = new PassThrough();
      const r = new Recorder();
      p.dispatch(request({ method: 'POST', body }), r);
      await eventually(() => r.connected, 'the request on a connection');
      const stream = (r.request as Http2PendingStream).stream!;

      // The bytes queued on the stream each time it pauses the body.
      const queuedAtPause: number[] = [];
      body.on('pause', () => queuedAtPause.push(stream.writableLength));
      const chunk = Buffer.alloc(4096, 'x');
      await writeUntilBackedUp(body, chunk);
      // Each pause comes from the chunk that took the queued bytes to the limit: at least the
      // limit is queued, and no more than that chunk past it.
      assert.ok(queuedAtPause.length > 0);
      for (const queued of queuedAtPause) {
        assert.ok(queued >= limit, `${queued} bytes queued, the limit is ${limit}`);
        assert.ok(queued < limit + chunk.length, `${queued} bytes queued past ${limit}`);
      }

      let drained = false;
      body.once('drain', () => (drained = true));
      for (const { stream: serverStream } of server.streams) serverStream.resume();
      await eventually(() => drained, 'the body flowing again once the upstream reads');
      body.end();
      await r.done;
      assert.equal(r.error, undefined);
      assert.equal(r.status, 200);
    });
  }

  test('max_concurrent_streams: a saturated connection opens another', async () => {
    const server = await new Server().listen();
    answerWhenOpen(server, 3);
    const p = pool(server.port, { maxConcurrentStreams: 2 });
    const recorders = [new Recorder(), new Recorder(), new Recorder()];
    for (const r of recorders) p.dispatch(request(), r);
    await Promise.all(recorders.map((r) => r.done));
    for (const r of recorders) assert.equal(r.status, 200);
    assert.equal(server.sessions.length, 2);
  });

  test("the peer's SETTINGS_MAX_CONCURRENT_STREAMS caps a connection likewise", async () => {
    const server = await new Server({ settings: { maxConcurrentStreams: 1 } }).listen();
    // Learn the peer's settings on a first exchange.
    server.onStream = (stream) => {
      stream.respond({ ':status': 200 });
      stream.end();
    };
    const p = pool(server.port);
    const first = new Recorder();
    p.dispatch(request(), first);
    await first.done;
    answerWhenOpen(server, 2);
    const recorders = [new Recorder(), new Recorder()];
    for (const r of recorders) p.dispatch(request(), r);
    await Promise.all(recorders.map((r) => r.done));
    for (const r of recorders) assert.equal(r.status, 200);
    assert.equal(server.sessions.length, 2);
  });

  test('max_connections bounds the connections: requests wait for a slot', async () => {
    const server = await new Server().listen();
    server.onStream = (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    };
    const p = pool(server.port, { maxConcurrentStreams: 1, maxConnections: 1 });
    const recorders = [new Recorder(), new Recorder(), new Recorder()];
    for (const r of recorders) p.dispatch(request(), r);
    await Promise.all(recorders.map((r) => r.done));
    for (const r of recorders) assert.equal(r.status, 200);
    assert.equal(server.sessions.length, 1);
    assert.equal(p.connectionCount, 1);
  });

  test('GOAWAY: streams above the last stream id are refused; new requests use a new connection', async () => {
    const server = await new Server().listen();
    const held: http2.ServerHttp2Stream[] = [];
    server.onStream = (stream) => {
      held.push(stream);
      if (server.sessions.length === 1 && held.length === 2) {
        // Stream 1 will be processed, stream 3 not.
        server.sessions[0]!.goaway(NGHTTP2_NO_ERROR, 1);
        held[0]!.respond({ ':status': 200 });
        held[0]!.end('first');
      }
      if (server.sessions.length === 2) {
        stream.respond({ ':status': 200 });
        stream.end('after goaway');
      }
    };
    const p = pool(server.port);
    const first = new Recorder();
    const second = new Recorder();
    p.dispatch(request(), first);
    p.dispatch(request(), second);
    await Promise.all([first.done, second.done]);
    assert.equal(first.body, 'first');
    assert.equal(second.error?.code, 'UPSTREAM_REFUSED_STREAM');
    assert.equal(second.connected, true);
    const third = new Recorder();
    p.dispatch(request(), third);
    await third.done;
    assert.equal(third.body, 'after goaway');
    assert.equal(server.sessions.length, 2);
  });

  test('idle timeout closes a connection without streams', async () => {
    const server = await new Server().listen();
    server.onStream = (stream) => {
      stream.respond({ ':status': 204 });
      stream.end();
    };
    const p = pool(server.port, { idleTimeoutMs: 50 });
    let disconnects = 0;
    p.on('disconnect', () => disconnects++);
    const r = new Recorder();
    p.dispatch(request(), r);
    await r.done;
    assert.equal(r.status, 204);
    await eventually(() => disconnects === 1, 'the idle connection to close');
    assert.equal(p.connectionCount, 0);
  });

  test('a connect failure fails every waiting request without onConnect', async () => {
    const p = pool(await refusedPort());
    const recorders = [new Recorder(), new Recorder(), new Recorder()];
    for (const r of recorders) p.dispatch(request(), r);
    await Promise.all(recorders.map((r) => r.done));
    for (const r of recorders) {
      assert.equal(r.error?.code, 'ECONNREFUSED');
      assert.equal(r.connected, false);
    }
  });

  test('a connect timeout fails waiting requests with UND_ERR_CONNECT_TIMEOUT', async () => {
    // Accepts TCP but never answers the TLS handshake.
    const p = pool(await silentServer(teardown), {
      connectTimeoutMs: 100,
      tls: upstreamTlsTarget(plainTlsModel(), 'localhost'),
    });
    const r = new Recorder();
    p.dispatch(request(), r);
    await r.done;
    assert.equal(r.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
    assert.equal(r.connected, false);
  });

  test('stream resets map to stable codes', async () => {
    const server = await new Server().listen();
    server.onStream = (stream, headers) => {
      const mode = headers[':path'];
      if (mode === '/refuse') stream.close(NGHTTP2_REFUSED_STREAM);
      else if (mode === '/cancel') stream.close(NGHTTP2_CANCEL);
      else if (mode === '/mid-body') {
        stream.respond({ ':status': 200 });
        stream.write('part', () => stream.destroy(new Error('upstream failed mid-body')));
      } else if (mode === '/drop') stream.session!.destroy(); // the whole connection goes
    };
    const outcomes: Record<string, Recorder> = {};
    for (const path of ['/refuse', '/cancel', '/mid-body', '/drop']) {
      // One pool each: /drop takes its connection down.
      outcomes[path] = new Recorder();
      pool(server.port).dispatch(request({ path }), outcomes[path]);
    }
    await Promise.all(Object.values(outcomes).map((r) => r.done));
    assert.equal(outcomes['/refuse']!.error?.code, 'UPSTREAM_REFUSED_STREAM');
    assert.equal(outcomes['/cancel']!.error?.code, 'UPSTREAM_STREAM_RESET');
    assert.match(outcomes['/cancel']!.error?.message ?? '', /CANCEL/);
    assert.equal(outcomes['/mid-body']!.status, 200);
    assert.equal(outcomes['/mid-body']!.error?.code, 'UPSTREAM_STREAM_RESET');
    assert.match(outcomes['/mid-body']!.error?.message ?? '', /INTERNAL_ERROR/);
    assert.equal(outcomes['/mid-body']!.completed, false);
    assert.ok(outcomes['/drop']!.error !== undefined);
    for (const r of Object.values(outcomes)) assert.equal(r.connected, true);
  });

  test('a paused response resumes where it stopped', async () => {
    const server = await new Server().listen();
    const big = 'x'.repeat(256 * 1024);
    server.onStream = (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(big);
    };
    const p = pool(server.port);
    const r = new Recorder();
    r.pauseOnData = true;
    p.dispatch(request(), r);
    await eventually(() => r.body.length > 0, 'the first body chunk');
    const seen = r.body.length;
    assert.ok(seen < big.length);
    r.pauseOnData = false;
    r.resume!();
    await r.done;
    assert.equal(r.body.length, big.length);
  });

  test('TLS with ALPN h2, the same pool semantics', async () => {
    const server = await new Server({ secure: true }).listen();
    answerWhenOpen(server, 2);
    const p = pool(server.port, { tls: upstreamTlsTarget(plainTlsModel(), 'localhost') });
    const recorders = [new Recorder(), new Recorder()];
    for (const r of recorders) p.dispatch(request(), r);
    await Promise.all(recorders.map((r) => r.done));
    for (const r of recorders) assert.equal(r.body, 'ok');
    assert.equal(server.sessions.length, 1);
    assert.equal(server.streams[0]!.headers[':scheme'], 'https');
  });

  test('keepalive sends PINGs on an idle connection', async () => {
    const server = await new Server().listen();
    server.onStream = (stream) => {
      stream.respond({ ':status': 200 });
      stream.end();
    };
    const p = pool(server.port, { keepalive: { intervalMs: 20, timeoutMs: 1000, jitter: 0 } });
    const r = new Recorder();
    p.dispatch(request(), r);
    await r.done;
    let pings = 0;
    server.sessions[0]!.on('ping', () => pings++);
    await eventually(() => pings >= 2, 'two keepalive PINGs');
  });

  test('close() lets open streams finish; destroy() fails them', async () => {
    const server = await new Server().listen();
    const held: http2.ServerHttp2Stream[] = [];
    server.onStream = (stream) => held.push(stream);
    const p = pool(server.port);
    const open = new Recorder();
    p.dispatch(request(), open);
    await eventually(() => held.length === 1, 'the stream on the server');
    const closed = p.close();
    const late = new Recorder();
    p.dispatch(request(), late);
    assert.equal(late.error?.code, 'UND_ERR_CLOSED');
    held[0]!.respond({ ':status': 200 });
    held[0]!.end('done');
    await open.done;
    assert.equal(open.body, 'done');
    await closed;
    assert.equal(p.connectionCount, 0);

    const q = pool(server.port);
    const doomed = new Recorder();
    q.dispatch(request(), doomed);
    await eventually(() => held.length === 2, 'the second stream on the server');
    await q.destroy();
    await doomed.done;
    assert.equal(doomed.error?.code, 'UND_ERR_DESTROYED');
  });
});
