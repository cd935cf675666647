/**
 * The simulated proxies' transports against node:http2's server on loopback: both send and
 * receive every byte in order through small flow-control windows (the raw client queues what
 * the server's windows do not allow yet), answer the server's PINGs, and report the stream's
 * end (trailers, reset, GOAWAY) once; destroy() reports nothing. A scripted TCP server checks
 * the raw client's reading of padded DATA and of frames split across reads.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { http2Frame } from '@ferry/shared/http2-frame';
import { openGrpcStream, type GrpcStream, type H2ClientKind } from './h2-stream.js';

const PATH = '/test.Service/Call';
const servers: (http2.Http2Server | net.Server)[] = [];
const opened: GrpcStream[] = [];
after(() => {
  // A failed test leaves its stream open: close it, so that the servers can close.
  for (const stream of opened) stream.destroy();
  for (const s of servers) s.close();
});

/**
 * An HTTP/2 server whose sessions and streams may see the client's connection reset (a client
 * that destroys its socket with unread data): expected here, not an uncaught error.
 */
function h2Server(options: http2.ServerOptions = {}): http2.Http2Server {
  const server = http2.createServer(options);
  server.on('session', (session) => session.on('error', () => undefined));
  server.on('stream', (stream) => stream.on('error', () => undefined));
  return server;
}

async function listen(server: http2.Http2Server | net.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A stream whose received bytes and failure are collected. */
function open(
  kind: H2ClientKind,
  address: string,
): { stream: GrpcStream; received: Buffer[]; failed: Promise<Error> } {
  const received: Buffer[] = [];
  let fail: (err: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const stream = openGrpcStream(kind, address, PATH, {
    onData: (chunk) => received.push(Buffer.from(chunk)),
    onFailed: (err) => fail(err),
  });
  opened.push(stream);
  return { stream, received, failed };
}

/** A message of `length` bytes after the stream's headroom, filled with `fill`. */
function message(stream: GrpcStream, length: number, fill: number): Buffer {
  return Buffer.alloc(stream.headroom + length, fill);
}

function waitFor(check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > 10_000) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

for (const kind of ['raw', 'node'] as const) {
  describe(`${kind} HTTP/2 client`, () => {
    test('carries every byte both ways through small windows, in order', async () => {
      // 1 KiB stream windows on the server's side once the client has ACKed its SETTINGS: the
      // client must wait for WINDOW_UPDATEs (the server resets a stream that sends more).
      const server = h2Server({ settings: { initialWindowSize: 1024 } });
      let seenHeaders: http2.IncomingHttpHeaders | undefined;
      let settingsAcked = false;
      const serverReceived: Buffer[] = [];
      server.on('session', (session) => session.on('localSettings', () => (settingsAcked = true)));
      server.on('stream', (s, headers) => {
        seenHeaders = headers;
        s.respond({ ':status': 200, 'content-type': 'application/grpc' });
        s.on('data', (chunk: Buffer) => {
          serverReceived.push(chunk);
          s.write(chunk);
        });
      });
      const address = await listen(server);
      const { stream, received } = open(kind, address);
      const count = 100;
      stream.write(message(stream, 700, 0));
      await waitFor(() => settingsAcked && serverReceived.length > 0, 'the SETTINGS ACK');
      for (let i = 1; i < count; i++) stream.write(message(stream, 700, i));
      const total = (chunks: Buffer[]): number => chunks.reduce((n, c) => n + c.length, 0);
      await waitFor(() => total(received) === count * 700, 'the echo of every byte');
      const expected = Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.alloc(700, i)));
      assert.deepEqual(Buffer.concat(serverReceived), expected);
      assert.deepEqual(Buffer.concat(received), expected);
      assert.equal(seenHeaders?.[':path'], PATH);
      assert.equal(seenHeaders?.[':method'], 'POST');
      assert.equal(seenHeaders?.['content-type'], 'application/grpc');
      assert.equal(seenHeaders?.te, 'trailers');
      assert.equal(seenHeaders?.[':authority'], address);
      stream.destroy();
    });

    test("answers the server's PING", async () => {
      const server = h2Server();
      let session: http2.Http2Session | undefined;
      server.on('stream', (s) => {
        session = s.session;
        s.respond({ ':status': 200 });
      });
      const { stream } = open(kind, await listen(server));
      stream.write(message(stream, 5, 0));
      await waitFor(() => session !== undefined, 'the stream');
      const acked = new Promise<void>((resolve, reject) =>
        session!.ping((err) => (err ? reject(err) : resolve())),
      );
      let answered = false;
      void acked.then(() => (answered = true));
      await waitFor(() => answered, 'the PING ACK');
      stream.destroy();
    });

    for (const [ending, end] of [
      ['trailers', (s: http2.ServerHttp2Stream) => s.end()],
      ['a reset', (s: http2.ServerHttp2Stream) => s.close(http2.constants.NGHTTP2_CANCEL)],
      ['GOAWAY', (s: http2.ServerHttp2Stream) => s.session?.close()],
    ] as const)
      test(`reports the stream's end by ${ending} once`, async () => {
        const server = h2Server();
        server.on('stream', (s) => {
          s.respond(
            { ':status': 200, 'content-type': 'application/grpc' },
            { waitForTrailers: true },
          );
          s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
          s.write(Buffer.from('x'), () => end(s));
        });
        const { stream, failed } = open(kind, await listen(server));
        stream.write(message(stream, 5, 0));
        const err = await failed;
        assert.ok(err instanceof Error);
        stream.destroy();
      });

    test('reports nothing after destroy()', async () => {
      const server = h2Server();
      const closed: Promise<void>[] = [];
      server.on('stream', (s) => {
        closed.push(new Promise((resolve) => s.on('close', resolve)));
        s.respond({ ':status': 200 });
      });
      let failures = 0;
      const stream = openGrpcStream(kind, await listen(server), PATH, {
        onData: () => undefined,
        onFailed: () => failures++,
      });
      stream.write(message(stream, 5, 0));
      await waitFor(() => closed.length === 1, 'the stream');
      stream.destroy();
      await closed[0];
      assert.equal(failures, 0);
    });
  });
}

test('raw client: reads padded DATA and frames split across reads', async () => {
  const frame = http2Frame;
  const bytes = Buffer.concat([
    frame(0x4, 0, 0, Buffer.alloc(0)), // SETTINGS
    frame(0x0, 0x8, 1, Buffer.concat([Buffer.from([3]), Buffer.from('hello'), Buffer.alloc(3)])),
    frame(0x2, 0, 1, Buffer.alloc(5)), // PRIORITY: ignored
    frame(0x0, 0, 1, Buffer.from(' world')),
  ]);
  const received: Buffer[] = [];
  let settingsAcked = false;
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let fromClient = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      // The client's SETTINGS ACK: type 4, flags 1, stream 0, no payload.
      settingsAcked ||= fromClient.includes(Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]));
    });
    // One byte per write, each after the previous one was flushed.
    let i = 0;
    const next = (): void => {
      if (i < bytes.length) socket.write(bytes.subarray(i, ++i), () => setImmediate(next));
    };
    next();
  });
  const stream = openGrpcStream('raw', await listen(server), PATH, {
    onData: (chunk) => received.push(Buffer.from(chunk)),
    onFailed: (err) => assert.fail(err),
  });
  await waitFor(() => Buffer.concat(received).toString() === 'hello world', 'the DATA');
  await waitFor(() => settingsAcked, 'the SETTINGS ACK');
  stream.destroy();
});
