/**
 * The HTTP/2 rapid-reset defence with Envoy's thresholds, from a raw HTTP/2 client (node:http2's
 * client does not send a stream it resets before the HEADERS left): a connection is closed with
 * GOAWAY ENHANCE_YOUR_CALM once half of its closed streams were reset before any response,
 * counted from 250 premature resets or from the 500th stream on, and not before, so a client
 * that cancels some of its requests keeps its connection.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { ProxyRuntime } from './proxy-runtime.js';
import {
  anyHost,
  backend,
  cluster,
  listener,
  local,
  proxyConfig,
  silentLogger,
  until,
  type Backend,
} from './proxy-test-fixtures.js';
import { http2Frame } from '@ferry/shared/http2-frame';

const HEADERS = 0x1;
const DATA = 0x0;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const CANCEL = 0x8;
const ENHANCE_YOUR_CALM = 0xb;

const frame = http2Frame;

/** HPACK: GET, http, a literal :path, :authority "h" (literals without indexing). */
function requestBlock(path: string): Buffer {
  return Buffer.from([0x82, 0x86, 0x04, path.length, ...Buffer.from(path), 0x01, 1, 0x68]);
}

/** A raw HTTP/2 (prior knowledge) client that tracks which streams the server ended. */
class RawH2Client {
  readonly socket: net.Socket;
  readonly ended = new Set<number>();
  goaway: number | undefined;
  closed = false;
  #nextId = 1;
  #buffer = Buffer.alloc(0);

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('data', (chunk: Buffer) => this.#read(chunk));
    this.socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
        frame(SETTINGS, 0, 0, Buffer.alloc(0)),
      ]),
    );
  }

  #read(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) return;
      const type = this.#buffer[3]!;
      const flags = this.#buffer[4]!;
      const id = this.#buffer.readUInt32BE(5) & 0x7fffffff;
      if ((type === HEADERS || type === DATA) && (flags & END_STREAM) !== 0) this.ended.add(id);
      if (type === RST_STREAM) this.ended.add(id);
      if (type === GOAWAY) this.goaway = this.#buffer.readUInt32BE(9 + 4);
      this.#buffer = this.#buffer.subarray(9 + length);
    }
  }

  /** Opens a stream to `path` and resets it at once (CANCEL): HEADERS then RST_STREAM. */
  cancel(path: string): void {
    const id = this.#nextId;
    this.#nextId += 2;
    const code = Buffer.alloc(4);
    code.writeUInt32BE(CANCEL);
    this.socket.write(
      Buffer.concat([
        frame(HEADERS, END_STREAM | END_HEADERS, id, requestBlock(path)),
        frame(RST_STREAM, 0, id, code),
      ]),
    );
  }

  /** Sends a request to `path` and waits until the server has ended its response. */
  async complete(path: string): Promise<void> {
    const id = this.#nextId;
    this.#nextId += 2;
    this.socket.write(frame(HEADERS, END_STREAM | END_HEADERS, id, requestBlock(path)));
    await until(() => this.ended.has(id) || this.closed, `stream ${id} answered`);
    assert.ok(this.ended.has(id), `stream ${id} answered before the connection closed`);
  }
}

describe('HTTP/2 premature resets', () => {
  let app: Backend;
  /** Never answers: a stream to it ends only by a reset. */
  let hold: Backend;
  const stats = new MemoryStatsSink();
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0, stats });
  const labels = { listener: 'h2', stat_prefix: 'h2' };
  let port = 0;

  before(async () => {
    app = await backend('app');
    hold = await backend('hold', () => undefined);
    const routes = [
      anyHost([
        { match: { prefix: '/hold' }, route: { cluster: 'hold' } },
        { match: { prefix: '/' }, route: { cluster: 'app' } },
      ]),
    ];
    await runtime.apply(
      proxyConfig([
        listener('h2', 0, routes),
        cluster('app', local(app.port)),
        cluster('hold', local(hold.port)),
      ]),
    );
    port = runtime.listenerPort('h2')!;
  });

  after(async () => {
    runtime.destroy();
    await app.close();
    await hold.close();
  });

  test('cancelling under half of the streams keeps the connection; half closes it', async () => {
    const client = new RawH2Client(port);
    try {
      // 200 premature of 500 closed: under the 250 that decide early, and 40%.
      for (let i = 0; i < 200; i++) client.cancel('/hold');
      for (let i = 0; i < 300; i++) await client.complete('/ok');
      // 260 of 560: past 250, but under half once 500 streams have closed.
      for (let i = 0; i < 60; i++) client.cancel('/hold');
      await client.complete('/ok');
      assert.equal(client.closed, false, 'still open');
      assert.equal(client.goaway, undefined);
      assert.equal(stats.counterValue('downstream_rq_too_many_premature_resets', labels), 0);
      // 301 of 602: the 41st more reaches half.
      for (let i = 0; i < 60 && !client.closed; i++) client.cancel('/hold');
      await until(() => client.closed, 'the connection closed');
      assert.equal(client.goaway, ENHANCE_YOUR_CALM);
      assert.equal(stats.counterValue('downstream_rq_too_many_premature_resets', labels), 1);
    } finally {
      client.socket.destroy();
    }
  });
});
