/**
 * Mutation fuzzing of the HTTP/1.1 server codec over real sockets: valid requests get byte
 * flips, insertions of delimiter bytes, deletions and duplicated lines, and are written in
 * random pieces. Bounded by an iteration count and a deadline. Checked after every case: the
 * process did not throw, every stream that exists was well-formed and either completed (and was
 * answered) or reset, a refused request became no stream, and the server still serves.
 * FUZZ_SEED=<n> replays a run.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { isHopByHop } from '../header-map.js';
import {
  parseResponses,
  RawClient,
  startHttp1Server,
  type CodecServer,
} from './codec-test-fixtures.js';

const ITERATIONS = 400;
const DEADLINE_MS = 30_000;

const SEEDS = [
  'GET /index.html?q=1 HTTP/1.1\r\nHost: a.example\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world',
  'PUT /c HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET http://b.example:81/abs HTTP/1.1\r\nHost: b.example:81\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n',
  'POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
];
const INTERESTING = [
  0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x2c, 0x3b, 0x30, 0x31, 0x66, 0x7f, 0xff, 0x22, 0x2d,
];

/** xorshift32: reproducible from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

function mutate(input: Buffer, next: () => number): Buffer {
  let bytes = [...input];
  const count = 1 + Math.floor(next() * 3);
  for (let m = 0; m < count; m++) {
    const at = Math.floor(next() * bytes.length);
    switch (Math.floor(next() * 5)) {
      case 0:
        bytes[at] = Math.floor(next() * 256);
        break;
      case 1:
        bytes.splice(at, 0, INTERESTING[Math.floor(next() * INTERESTING.length)]!);
        break;
      case 2:
        bytes.splice(at, 1 + Math.floor(next() * 4));
        break;
      case 3: {
        // Duplicate the line around `at` (repeated framing fields).
        const text = Buffer.from(bytes).toString('latin1');
        const start = text.lastIndexOf('\r\n', at) + 2;
        const end = text.indexOf('\r\n', at);
        if (start > 1 && end > start)
          bytes = [
            ...Buffer.from(
              text.slice(0, end + 2) + text.slice(start, end + 2) + text.slice(end + 2),
              'latin1',
            ),
          ];
        break;
      }
      default:
        bytes[at] = INTERESTING[Math.floor(next() * INTERESTING.length)]!;
    }
  }
  return Buffer.from(bytes);
}

let srv: CodecServer;
after(async () => {
  await srv.close();
});

test('fuzz: mutated requests never crash the codec, and refused requests never become streams', async () => {
  srv = await startHttp1Server({ maxRequestHeadersBytes: 8192, maxHeadersCount: 50 });
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 0xffffffff);
  const next = random(seed);
  const deadline = Date.now() + DEADLINE_MS;
  let iterations = 0;
  let refused = 0;
  for (; iterations < ITERATIONS && Date.now() < deadline; iterations++) {
    const input = mutate(Buffer.from(SEEDS[Math.floor(next() * SEEDS.length)]!, 'latin1'), next);
    const client = await RawClient.connect(srv.port);
    const clientPort = client.socket.localPort!;
    // Written in random pieces, then half-closed so that every case ends.
    let at = 0;
    while (at < input.length) {
      const size = 1 + Math.floor(next() * input.length);
      client.write(input.subarray(at, at + size));
      at += size;
      if (next() < 0.3) await new Promise((resolve) => setImmediate(resolve));
    }
    client.socket.end();
    const context = `seed ${seed} iteration ${iterations} input ${JSON.stringify(input.toString('latin1'))}`;
    await client.untilClosed(5000).catch((error: unknown) => {
      throw new Error(`${context}: ${String(error)}`);
    });
    const connectionId = srv.connectionIdByClientPort.get(clientPort);
    const streams = srv.streams.filter((s) => s.connectionId === connectionId);
    const responses = parseResponses(client.text);
    const protocolError = srv.protocolErrorsByConnection.get(connectionId!);
    for (const stream of streams) {
      const head = stream.head;
      assert.match(head.method, /^[A-Z]+$/, context);
      assert.ok(head.path.startsWith('/') || head.path === '*', context);
      for (let i = 0; i < head.names.length; i++) {
        assert.ok(!isHopByHop(head.names[i]!), `${context}: ${head.names[i]} forwarded`);
        assert.doesNotMatch(head.values[i]!, /[\0\r\n]/, context);
      }
      assert.ok(
        stream.ended || stream.reset !== undefined,
        `${context}: a stream neither ended nor reset`,
      );
    }
    const completed = streams.filter((s) => s.ended).length;
    const answered = responses.filter((r) => r.status === 200).length;
    assert.equal(
      answered,
      completed,
      `${context}: every completed stream is answered, no refused one`,
    );
    if (protocolError !== undefined) {
      refused++;
      assert.equal(
        responses.at(-1)?.status,
        protocolError,
        `${context}: the refusal is the last response`,
      );
    }
  }
  assert.ok(iterations > 0);
  assert.ok(refused > 0, 'the mutations produced refusals (the fuzzer is not a no-op)');
  // Still serving.
  const check = await RawClient.connect(srv.port);
  check.write('GET /alive HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await check.untilClosed();
  assert.equal(parseResponses(check.text)[0]?.body, 'GET a /alive 0');
});
