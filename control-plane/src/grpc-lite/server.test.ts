import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startTcpRelay, type TcpRelay } from '@ferry/shared/testing/tcp-relay';
import { frameMessage } from './framing.js';
import { GrpcLiteServer, type GrpcLiteServerOptions } from './server.js';
import type { LiteCallGate, LiteServerCall, LiteUnaryCallback } from './server-call.js';
import {
  newTestClient,
  next,
  TEST_SERVICE,
  waitFor,
  type Json,
  type TestClientApi,
} from './test-service.js';

/** Server-side calls, in arrival order, for checks on what the server saw. */
let calls: LiteServerCall[] = [];
/** What a Chat call in consumer mode (`x-consume` metadata) was handed, in order. */
let consumed: unknown[] = [];

/** Chat through `consume`: echoes each message, OK on the half-close. */
function consumeChat(call: LiteServerCall): void {
  call.consume({
    onCallMessage(message) {
      consumed.push((message as Json).echo);
      call.write({ echo: (message as Json).echo });
    },
    onCallEnd() {
      consumed.push('end');
      call.end();
    },
    onCallOver() {
      consumed.push('over');
    },
  });
}

const implementation = {
  Unary(call: LiteServerCall, callback: LiteUnaryCallback): void {
    calls.push(call);
    const request = call.request as Json;
    if (request.fail !== undefined) {
      const metadata = new grpc.Metadata();
      metadata.set('x-why', 'asked');
      callback({ ...(request.fail as { code: number; details: string }), metadata });
      return;
    }
    const trailer = new grpc.Metadata();
    trailer.set('x-trailer', 'unary');
    callback(
      null,
      {
        echo: request.echo,
        auth: call.metadata.get('authorization')[0] ?? null,
        keys: Object.keys(call.metadata.getMap()).sort(),
        peer: call.getPeer(),
        tls: call.getAuthContext().transportSecurityType ?? null,
        cn: call.getAuthContext().sslPeerCertificate?.subject?.CN ?? null,
      },
      trailer,
    );
  },
  ServerStream(call: LiteServerCall): void {
    calls.push(call);
    const { n, size, hold } = call.request as { n: number; size?: number; hold?: boolean };
    if (hold === true) {
      call.write({ i: 0 });
      return;
    }
    const trailer = new grpc.Metadata();
    trailer.set('x-count', String(n));
    let i = 0;
    let pauses = 0;
    const pump = (): void => {
      while (i < n) {
        const flushed = call.write({ i: i++, pad: 'p'.repeat(size ?? 0) });
        if (!flushed) {
          pauses++;
          call.once('drain', pump);
          return;
        }
      }
      trailer.set('x-pauses', String(pauses));
      call.end(trailer);
    };
    pump();
  },
  ClientStream(call: LiteServerCall, callback: LiteUnaryCallback): void {
    calls.push(call);
    let sum = 0;
    call.on('data', (m: { v: number }) => (sum += m.v));
    call.on('end', () => callback(null, { sum }));
  },
  Chat(call: LiteServerCall): void {
    calls.push(call);
    if (call.metadata.get('x-consume').length > 0) {
      consumeChat(call);
      return;
    }
    call.on('data', (m: Json) => {
      if (m.status !== undefined) call.emit('error', m.status);
      else if (m.end === true) call.end();
      else if (m.reset === true) {
        // More than the HTTP/2 window: some are still queued when the call is reset.
        for (let i = 0; i < 8; i++) call.write({ pad: 'p'.repeat(64 * 1024) });
        call.reset();
      } else if (typeof m.frames === 'number') {
        // Pre-framed messages, as xDS streams write them.
        for (let i = 0; i < m.frames; i++) {
          call.writeFrame(
            frameMessage(Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(Number(m.size)) }))),
          );
        }
      } else call.write({ echo: m.echo });
    });
    call.on('end', () => call.end());
  },
};

describe('grpc-lite server with grpc-js clients', () => {
  let server: GrpcLiteServer | undefined;
  let clients: grpc.Client[] = [];
  let sessions: http2.ClientHttp2Session[] = [];
  let relay: TcpRelay | undefined;

  afterEach(async () => {
    for (const client of clients) client.close();
    for (const session of sessions) session.destroy();
    await relay?.close();
    server?.forceClose();
    await server?.close();
    server = undefined;
    relay = undefined;
    clients = [];
    sessions = [];
    calls = [];
    consumed = [];
  });

  async function start(options: GrpcLiteServerOptions = {}): Promise<number> {
    server = new GrpcLiteServer(options);
    server.addService(TEST_SERVICE, implementation);
    return server.listen(0);
  }

  function client(port: number): TestClientApi {
    const c = newTestClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  }

  function unary(
    c: TestClientApi,
    request: Json,
    metadata = new grpc.Metadata(),
  ): Promise<{ error: grpc.ServiceError | null; value: Json; trailers: grpc.Metadata }> {
    return new Promise((resolve) => {
      let value: Json = {};
      let error: grpc.ServiceError | null = null;
      const call = c.unary(request, metadata, {}, (e, v) => {
        error = e;
        value = v;
      });
      call.on('status', (s: grpc.StatusObject) =>
        setImmediate(() => resolve({ error, value, trailers: s.metadata })),
      );
    });
  }

  test('unary: request metadata in, response and trailing metadata out', async () => {
    const port = await start();
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer t0ken');
    const { error, value, trailers } = await unary(client(port), { echo: 'hi' }, metadata);
    assert.equal(error, null);
    assert.equal(value.echo, 'hi');
    assert.equal(value.auth, 'Bearer t0ken');
    metadata.set('x-ferry-node', 'n1');
    const second = await unary(client(port), { echo: 'again' }, metadata);
    assert.deepEqual(value.keys, ['authorization'], 'transport headers are not metadata');
    assert.deepEqual(second.value.keys, ['authorization', 'x-ferry-node']);
    assert.match(String(value.peer), /^127\.0\.0\.1:\d+$/);
    assert.equal(value.tls, null);
    assert.deepEqual(trailers.get('x-trailer'), ['unary']);
  });

  test('unary: an error status reaches the client with its code, message and metadata', async () => {
    const port = await start();
    const { error } = await unary(client(port), {
      fail: { code: grpc.status.NOT_FOUND, details: 'no such thing: é 100%' },
    });
    assert.equal(error?.code, grpc.status.NOT_FOUND);
    assert.equal(error?.details, 'no such thing: é 100%');
    assert.deepEqual(error?.metadata.get('x-why'), ['asked']);
  });

  test('server streaming: every message in order, then OK with trailers', async () => {
    const port = await start();
    const call: grpc.ClientReadableStream<Json> = client(port).serverStream({ n: 5 });
    const got: unknown[] = [];
    call.on('data', (m: Json) => got.push(m.i));
    const final = await next<grpc.StatusObject>(call, 'status');
    assert.equal(final.code, grpc.status.OK);
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    assert.deepEqual(final.metadata.get('x-count'), ['5']);
  });

  test("backpressure: write() returns false on a full stream and 'drain' resumes it", async () => {
    const port = await start();
    const call: grpc.ClientReadableStream<Json> = client(port).serverStream({
      n: 40,
      size: 64 * 1024,
    });
    const got: unknown[] = [];
    call.on('data', (m: Json) => got.push(m.i));
    const final = await next<grpc.StatusObject>(call, 'status', 30_000);
    assert.equal(final.code, grpc.status.OK);
    assert.equal(got.length, 40);
    assert.ok(Number(final.metadata.get('x-pauses')[0]) > 0, 'the server had to wait for drain');
  });

  test('client streaming: the handler sees every message and answers at the end', async () => {
    const port = await start();
    const result = new Promise<Json>((resolve, reject) => {
      const call = client(port).clientStream((e, v) => (e ? reject(e) : resolve(v)));
      for (const v of [1, 2, 3, 4]) call.write({ v });
      call.end();
    });
    assert.deepEqual(await result, { sum: 10 });
  });

  test('bidi: echoes, then OK when the client half-closes', async () => {
    const port = await start();
    const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat();
    const got: unknown[] = [];
    call.on('data', (m: Json) => got.push(m.echo));
    call.write({ echo: 'a' });
    call.write({ echo: 'b' });
    await waitFor(() => got.length === 2, 'two echoes');
    call.end();
    const final = await next<grpc.StatusObject>(call, 'status');
    assert.equal(final.code, grpc.status.OK);
    assert.deepEqual(got, ['a', 'b']);
  });

  describe('consume(): a consumer in place of events', () => {
    const consuming = (): grpc.Metadata => {
      const metadata = new grpc.Metadata();
      metadata.set('x-consume', '1');
      return metadata;
    };

    test('messages, then the half-close, then over, once each and in order', async () => {
      const port = await start();
      const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat(consuming());
      const got: unknown[] = [];
      call.on('data', (m: Json) => got.push(m.echo));
      call.write({ echo: 'a' });
      call.write({ echo: 'b' });
      await waitFor(() => got.length === 2, 'two echoes');
      call.end();
      const final = await next<grpc.StatusObject>(call, 'status');
      assert.equal(final.code, grpc.status.OK);
      await waitFor(() => calls[0]!.stream.closed && consumed.includes('over'), 'the call over');
      assert.deepEqual(consumed, ['a', 'b', 'end', 'over']);
    });

    test('a client cancel is over', async () => {
      const port = await start();
      const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat(consuming());
      call.on('error', () => undefined);
      call.write({ echo: 'a' });
      await next(call, 'data');
      call.cancel();
      await waitFor(() => calls[0]!.stream.closed && consumed.includes('over'), 'the call over');
      // Whether node:http2 saw the client's side end before the reset is up to the client.
      assert.deepEqual(
        consumed.filter((c) => c !== 'end'),
        ['a', 'over'],
      );
    });

    test('a deadline is over once, although the stream closes after it', async () => {
      const port = await start();
      const session = await rawSession(port);
      const call = rawCall(session, TEST_SERVICE.Chat.path, {
        'grpc-timeout': '200m',
        'x-consume': '1',
      });
      call.stream.write(frameMessage(Buffer.from('{"echo":"wait"}')));
      assert.equal((await call.outcome).status, String(grpc.status.DEADLINE_EXCEEDED));
      await waitFor(() => calls[0]!.stream.closed, 'the server stream closed');
      assert.deepEqual(consumed, ['wait', 'over']);
    });

    test('a malformed request stream is over', async () => {
      const port = await start();
      const session = await rawSession(port);
      const call = rawCall(session, TEST_SERVICE.Chat.path, { 'x-consume': '1' });
      const flagged = frameMessage(Buffer.from('{"echo":"x"}'));
      flagged[0] = 9;
      call.stream.write(flagged);
      assert.equal((await call.outcome).status, String(grpc.status.INTERNAL));
      await waitFor(() => calls[0]!.stream.closed, 'the server stream closed');
      assert.deepEqual(consumed, ['over']);
    });
  });

  test("bidi: emit('error', { code, details }) ends the call with that status", async () => {
    const port = await start();
    const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat();
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.write({ echo: 'first' });
    call.write({ status: { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many' } });
    const final = await next<grpc.StatusObject>(call, 'status');
    assert.equal(final.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(final.details, 'too many');
  });

  test('an oversize request message is RESOURCE_EXHAUSTED; other calls go on', async () => {
    const port = await start({ maxReceiveMessageLength: 1024 });
    const c = client(port);
    const big: grpc.ClientDuplexStream<Json, Json> = c.chat();
    big.on('error', () => undefined);
    big.write({ echo: 'x'.repeat(2000) });
    const final = await next<grpc.StatusObject>(big, 'status');
    assert.equal(final.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(final.details, /larger than max/);
    const { error, value } = await unary(c, { echo: 'small' });
    assert.equal(error, null);
    assert.equal(value.echo, 'small');
  });

  test('an unknown method is UNIMPLEMENTED', async () => {
    const port = await start();
    const c = client(port);
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      c.makeUnaryRequest(
        '/ferry.test.Lite/Nope',
        (v: Buffer) => v,
        (v: Buffer) => v,
        Buffer.from('{}'),
        (e) => resolve(e!),
      );
    });
    assert.equal(error.code, grpc.status.UNIMPLEMENTED);
    assert.match(error.details, /\/ferry\.test\.Lite\/Nope/);
  });

  test('a client cancel reaches the handler as cancelled, then close', async () => {
    const port = await start();
    const call: grpc.ClientReadableStream<Json> = client(port).serverStream({ hold: true });
    call.on('error', () => undefined);
    await next(call, 'data');
    const serverCall = calls[0]!;
    const cancelled = next(serverCall, 'cancelled');
    const closed = next(serverCall, 'close');
    call.cancel();
    await cancelled;
    await closed;
    assert.equal(serverCall.cancelled, true);
    assert.equal(serverCall.write({ i: 1 }), false, 'writes after a cancel are refused');
  });

  test('reset(): a call whose writes are stuck ends now, RESOURCE_EXHAUSTED at the client', async () => {
    const port = await start();
    const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat();
    call.on('error', () => undefined);
    call.write({ reset: true });
    const final = await next<grpc.StatusObject>(call, 'status');
    assert.equal(final.code, grpc.status.RESOURCE_EXHAUSTED, final.details);
    const serverCall = calls[0]!;
    await waitFor(() => serverCall.stream.closed, 'the server stream closed');
    assert.equal(serverCall.write({ late: true }), false, 'writes after a reset are refused');
  });

  describe('a gate in front of the handlers', () => {
    const events: string[] = [];
    const gate: LiteCallGate = {
      open(call) {
        events.push(`open ${call.getPath()}`);
        if (call.metadata.get('x-refuse').length > 0) {
          call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: 'refused at open' });
        }
      },
      message(call, message) {
        events.push(`message ${JSON.stringify(message)}`);
        if ((message as Json).drop !== true) return true;
        call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: 'refused message' });
        return false;
      },
      ended(call) {
        events.push(`ended ${call.getPath()}`);
      },
    };

    afterEach(() => {
      events.length = 0;
    });

    test('a call refused at open never reaches its handler', async () => {
      const port = await start({ gate });
      const metadata = new grpc.Metadata();
      metadata.set('x-refuse', '1');
      const { error } = await unary(client(port), { echo: 'x' }, metadata);
      assert.equal(error?.code, grpc.status.PERMISSION_DENIED);
      assert.equal(error?.details, 'refused at open');
      const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat(metadata);
      call.on('error', () => undefined);
      const final = await next<grpc.StatusObject>(call, 'status');
      assert.equal(final.code, grpc.status.PERMISSION_DENIED);
      assert.equal(calls.length, 0, 'no handler ran');
      assert.deepEqual(events, [
        'open /ferry.test.Lite/Unary',
        'ended /ferry.test.Lite/Unary',
        'open /ferry.test.Lite/Chat',
        'ended /ferry.test.Lite/Chat',
      ]);
    });

    test('each message passes the gate before the handler; a refused one ends the call', async () => {
      const port = await start({ gate });
      const call: grpc.ClientDuplexStream<Json, Json> = client(port).chat();
      const got: unknown[] = [];
      call.on('data', (m: Json) => got.push(m.echo));
      call.on('error', () => undefined);
      call.write({ echo: 'a' });
      await waitFor(() => got.length === 1, 'the first echo');
      call.write({ echo: 'b', drop: true });
      const final = await next<grpc.StatusObject>(call, 'status');
      assert.equal(final.code, grpc.status.PERMISSION_DENIED);
      assert.equal(final.details, 'refused message');
      assert.deepEqual(got, ['a'], 'the refused message never reached the handler');
      assert.deepEqual(events, [
        'open /ferry.test.Lite/Chat',
        'message {"echo":"a"}',
        'message {"echo":"b","drop":true}',
        'ended /ferry.test.Lite/Chat',
      ]);
      const { value } = await unary(client(port), { echo: 'c' });
      assert.equal(value.echo, 'c', 'a unary request passes the gate before its handler');
      await waitFor(() => events.length === 7, 'the unary call ended');
      assert.deepEqual(events.slice(4), [
        'open /ferry.test.Lite/Unary',
        'message {"echo":"c"}',
        'ended /ferry.test.Lite/Unary',
      ]);
    });

    test('a client cancel ends the call at the gate', async () => {
      const port = await start({ gate });
      const call: grpc.ClientReadableStream<Json> = client(port).serverStream({ hold: true });
      call.on('error', () => undefined);
      await next(call, 'data');
      call.cancel();
      await waitFor(() => events.includes('ended /ferry.test.Lite/ServerStream'), 'ended');
      assert.equal(calls[0]!.cancelled, true);
    });
  });

  // Raw HTTP/2 requests for what a grpc-js client never sends.
  async function rawSession(port: number): Promise<http2.ClientHttp2Session> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    sessions.push(session);
    session.on('error', () => undefined);
    await next(session, 'connect');
    return session;
  }

  function rawCall(
    session: http2.ClientHttp2Session,
    path: string,
    extra: http2.OutgoingHttpHeaders = {},
  ): {
    stream: http2.ClientHttp2Stream;
    outcome: Promise<{ status: string | undefined; message: string | undefined; data: Buffer }>;
  } {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const outcome = new Promise<{
      status: string | undefined;
      message: string | undefined;
      data: Buffer;
    }>((resolve) => {
      let final: http2.IncomingHttpHeaders = {};
      // The status ends the call: the client closes its side then.
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) {
          final = h;
          stream.close();
        }
      });
      stream.on('trailers', (h: http2.IncomingHttpHeaders) => {
        final = h;
        stream.close();
      });
      stream.on('close', () =>
        resolve({
          status: final['grpc-status'] as string | undefined,
          message: final['grpc-message'] as string | undefined,
          data: Buffer.concat(chunks),
        }),
      );
    });
    return { stream, outcome };
  }

  test('malformed frames are INTERNAL on their stream; the session and its other streams go on', async () => {
    const port = await start();
    const session = await rawSession(port);
    const good = rawCall(session, TEST_SERVICE.Chat.path);
    const badFlag = rawCall(session, TEST_SERVICE.Chat.path);
    const truncated = rawCall(session, TEST_SERVICE.Chat.path);
    const frame = frameMessage(Buffer.from('{"echo":"ok"}'));
    const flagged = Buffer.from(frame);
    flagged[0] = 9;
    badFlag.stream.write(flagged);
    truncated.stream.end(frame.subarray(0, frame.length - 3));
    const bad = await badFlag.outcome;
    assert.equal(bad.status, String(grpc.status.INTERNAL));
    assert.match(decodeURIComponent(bad.message ?? ''), /compressed flag 9/);
    const cut = await truncated.outcome;
    assert.equal(cut.status, String(grpc.status.INTERNAL));
    assert.match(decodeURIComponent(cut.message ?? ''), /ended inside a message/);
    good.stream.end(frame);
    const ok = await good.outcome;
    assert.equal(ok.status, '0');
    assert.deepEqual(ok.data, frameMessage(Buffer.from('{"echo":"ok"}')));
    assert.equal(session.destroyed, false);
  });

  test('writeFrame: frames go out as written; pendingBytes counts what the client has not taken', async () => {
    const port = await start();
    // A client that never reads (no data listener), on a session of its own so that it fills
    // only its own connection's window.
    const silent = (await rawSession(port)).request({
      ':method': 'POST',
      ':path': TEST_SERVICE.Chat.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    silent.on('error', () => undefined);
    silent.write(frameMessage(Buffer.from('{"frames":8,"size":65536}')));
    // 8 × 64 KiB against a 64 KiB HTTP/2 window: most of it stays with the server.
    await waitFor(() => (calls[0]?.pendingBytes ?? 0) > 4 * 65536, 'unread frames counted');
    const reader = rawCall(await rawSession(port), TEST_SERVICE.Chat.path);
    reader.stream.end(frameMessage(Buffer.from('{"frames":2,"size":3}')));
    const out = await reader.outcome;
    assert.equal(out.status, '0');
    assert.deepEqual(
      out.data,
      Buffer.concat(
        [0, 1].map((i) => frameMessage(Buffer.from(JSON.stringify({ i, pad: 'ppp' })))),
      ),
    );
    assert.equal(calls[1]!.pendingBytes, 0, 'a client that read everything has nothing pending');
    silent.close();
  });

  test('a request message that does not parse is INTERNAL', async () => {
    const port = await start();
    const session = await rawSession(port);
    const call = rawCall(session, TEST_SERVICE.Unary.path);
    call.stream.end(frameMessage(Buffer.from('not json')));
    const outcome = await call.outcome;
    assert.equal(outcome.status, String(grpc.status.INTERNAL));
    assert.match(decodeURIComponent(outcome.message ?? ''), /could not parse the request/);
  });

  test('a compressed request (grpc-encoding gzip) is UNIMPLEMENTED, identity accepted', async () => {
    const port = await start();
    const session = await rawSession(port);
    const gzip = rawCall(session, TEST_SERVICE.Unary.path, { 'grpc-encoding': 'gzip' });
    gzip.stream.end(frameMessage(Buffer.from('{"echo":"x"}')));
    const refused = await gzip.outcome;
    assert.equal(refused.status, String(grpc.status.UNIMPLEMENTED));
    assert.match(
      decodeURIComponent(refused.message ?? ''),
      /grpc-encoding "gzip" is not supported/,
    );
    const identity = rawCall(session, TEST_SERVICE.Unary.path, { 'grpc-encoding': 'identity' });
    identity.stream.end(frameMessage(Buffer.from('{"echo":"ok"}')));
    assert.equal((await identity.outcome).status, '0');
  });

  test('a request that is not gRPC gets HTTP 415', async () => {
    const port = await start();
    const session = await rawSession(port);
    const stream = session.request({
      ':method': 'POST',
      ':path': TEST_SERVICE.Unary.path,
      'content-type': 'application/json',
    });
    stream.end('{}');
    const headers = await next<http2.IncomingHttpHeaders>(stream, 'response');
    assert.equal(headers[':status'], 415);
  });

  test('grpc-timeout: the call ends DEADLINE_EXCEEDED and the handler sees it cancelled', async () => {
    const port = await start();
    const session = await rawSession(port);
    const call = rawCall(session, TEST_SERVICE.Chat.path, { 'grpc-timeout': '200m' });
    call.stream.write(frameMessage(Buffer.from('{"echo":"wait"}')));
    const outcome = await call.outcome;
    assert.equal(outcome.status, String(grpc.status.DEADLINE_EXCEEDED));
    assert.equal(calls[0]?.cancelled, true);
    // Beyond a timer's range: no deadline in practice (not a timer that fires at once).
    const far = rawCall(session, TEST_SERVICE.Chat.path, { 'grpc-timeout': '99999999H' });
    far.stream.write(frameMessage(Buffer.from('{"echo":"far"}')));
    await next(far.stream, 'data');
    far.stream.end();
    assert.equal((await far.outcome).status, '0');
    const malformed = rawCall(session, TEST_SERVICE.Chat.path, { 'grpc-timeout': 'soon' });
    assert.equal((await malformed.outcome).status, String(grpc.status.INTERNAL));
  });

  test('injected connections: served, and close() resolves only once their sessions are gone', async () => {
    server = new GrpcLiteServer();
    server.addService(TEST_SERVICE, implementation);
    const lite = server;
    const acceptor = net.createServer((socket) => lite.injectConnection(socket));
    await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
    try {
      const port = (acceptor.address() as AddressInfo).port;
      const c = client(port);
      const held: grpc.ClientReadableStream<Json> = c.serverStream({ hold: true });
      held.on('error', () => undefined);
      await next(held, 'data');
      const { value } = await unary(c, { echo: 'injected' });
      assert.equal(value.echo, 'injected');
      assert.equal(lite.sessionCount, 1);
      const closing = lite.close();
      // The held stream keeps its session open until it ends.
      calls.find((call) => call.getPath().endsWith('/ServerStream'))!.end();
      await closing;
      assert.equal(lite.sessionCount, 0, 'close() resolved with a session still open');
    } finally {
      acceptor.close();
    }
  });

  test('an error of the listening socket after listen() goes to onError; serving goes on', async () => {
    const errors: Error[] = [];
    const port = await start({ onError: (e) => errors.push(e) });
    // What node's net server does when accept() fails (EMFILE): an 'error' on the server.
    const listening = (server as unknown as { server: net.Server }).server;
    listening.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    assert.deepEqual(
      errors.map((e) => e.message),
      ['accept EMFILE'],
    );
    const { value } = await unary(client(port), { echo: 'still serving' });
    assert.equal(value.echo, 'still serving');
  });

  test('keepalive: the server PINGs each connection and drops one that stops answering', async () => {
    const port = await start({ keepalive: { intervalMs: 100, timeoutMs: 500 } });
    const session = await rawSession(port);
    let pings = 0;
    session.on('ping', () => pings++);
    await waitFor(() => pings >= 3, 'three PINGs from the server');

    relay = await startTcpRelay(port);
    const call: grpc.ClientDuplexStream<Json, Json> = client(relay.port).chat();
    call.on('error', () => undefined);
    call.write({ echo: 'x' });
    await next(call, 'data');
    const serverCall = calls[0]!;
    const closed = next(serverCall, 'close');
    relay.freeze();
    await closed;
    assert.equal(serverCall.cancelled, true);
    assert.equal(session.destroyed, false, 'the answering connection stays');
  });
});
