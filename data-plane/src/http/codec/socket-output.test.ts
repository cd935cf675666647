/**
 * socket-output.ts on real loopback sockets: output queued in one event-loop pass is written in
 * the check phase, one write per socket, in order; ending writes what is queued first; the
 * buffer accounting counts what is queued; a destroyed socket's output is dropped quietly.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { until } from '../../test-support/until.js';
import { SocketOutput } from './socket-output.js';

let server: net.Server;
const accepted: net.Socket[] = [];

before(async () => {
  server = net.createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Pair {
  readonly client: net.Socket;
  /** What the accepting side has read so far, and whether it saw the FIN. */
  readonly received: { text: string; ended: boolean };
  /** Every socket.write call on the client, as the bytes or text it was given. */
  readonly writes: string[];
}

async function connectPair(): Promise<Pair> {
  const count = accepted.length;
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  await until(() => accepted.length > count, 'the connection accepted');
  const peer = accepted[count]!;
  const received = { text: '', ended: false };
  peer.on('data', (data: Buffer) => (received.text += data.toString('latin1')));
  peer.on('end', () => (received.ended = true));
  const writes: string[] = [];
  const write = client.write.bind(client) as (...args: unknown[]) => boolean;
  // A recording wrapper around the real write: the bytes still go to the kernel.
  client.write = (chunk: string | Buffer, ...rest: unknown[]) => {
    writes.push(typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    return write(chunk, ...rest);
  };
  return { client, received, writes };
}

function checkPhase(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test('what is queued in one pass is written in the check phase, one write per socket, in order', async () => {
  const a = await connectPair();
  const b = await connectPair();
  const outA = new SocketOutput(a.client);
  const outB = new SocketOutput(b.client);
  outA.writeText('HTTP/1.1 200 OK\r\n\r\n');
  outB.writeText('GET / HTTP/1.1\r\n\r\n');
  outA.write(Buffer.from('body'));
  outA.writeText('\r\n');
  assert.deepEqual(a.writes, [], 'nothing is written while the pass goes on');
  assert.deepEqual(b.writes, []);
  assert.equal(outA.bufferedBytes, 25, 'queued bytes count as buffered');
  await checkPhase();
  assert.deepEqual(a.writes, ['HTTP/1.1 200 OK\r\n\r\nbody\r\n']);
  assert.deepEqual(b.writes, ['GET / HTTP/1.1\r\n\r\n']);
  await until(() => a.received.text === 'HTTP/1.1 200 OK\r\n\r\nbody\r\n', 'a received');
  await until(() => b.received.text === 'GET / HTTP/1.1\r\n\r\n', 'b received');
  assert.equal(outA.bufferedBytes, 0);
  a.client.destroy();
  b.client.destroy();
});

test('bytes over the coalescing size are written at once with what is queued before them', async () => {
  const pair = await connectPair();
  const output = new SocketOutput(pair.client);
  const big = Buffer.alloc(20_000, 'y');
  let written = false;
  output.writeText('4e20\r\n');
  output.write(big, () => (written = true));
  assert.deepEqual(
    pair.writes.map((piece) => piece.length),
    [6, 20_000],
    'corked together at once, not copied',
  );
  output.writeText('\r\n');
  assert.equal(pair.writes.length, 2, 'what follows waits for the check phase');
  await checkPhase();
  assert.equal(pair.writes.length, 3);
  await until(() => written, 'the write callback after the bytes were written');
  await until(() => pair.received.text.length === 20_008, 'everything received');
  assert.equal(pair.received.text, `4e20\r\n${big.toString('latin1')}\r\n`);
  pair.client.destroy();
});

test('end() writes what is queued, then the final text, then the FIN', async () => {
  const pair = await connectPair();
  const output = new SocketOutput(pair.client);
  output.writeText('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  output.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  assert.ok(pair.client.writableEnded, 'ended at once, not at the check phase');
  await until(() => pair.received.ended, 'the FIN');
  assert.equal(
    pair.received.text,
    'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 400 Bad Request\r\n\r\n',
  );
});

test('flush() writes at once; a socket destroyed with output queued drops it without an error', async () => {
  const pair = await connectPair();
  const output = new SocketOutput(pair.client);
  output.writeText('now');
  output.flush();
  assert.deepEqual(pair.writes, ['now']);
  const errors: Error[] = [];
  pair.client.on('error', (err) => errors.push(err));
  output.writeText('never');
  const closed = new Promise((resolve) => pair.client.once('close', resolve));
  pair.client.destroy();
  await checkPhase();
  assert.deepEqual(pair.writes, ['now'], 'nothing written to the destroyed socket');
  await closed;
  assert.deepEqual(errors, []);
});
