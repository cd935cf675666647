/**
 * Engine test of a request body's flow control through the proxy, as in Envoy: once the cluster's
 * per_connection_buffer_limit_bytes of request bytes wait on a slow upstream connection, the
 * proxy stops reading the client; it reads again when the upstream catches up.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { ProxyRuntime } from './proxy-runtime.js';
import {
  anyHost,
  cluster,
  freePort,
  listener,
  local,
  prefixRoute,
  proxyConfig,
  silentLogger,
  until,
} from './proxy-test-fixtures.js';

describe('request body flow control', () => {
  const stats = new MemoryStatsSink();
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0, stats });
  const labels = { listener: 'main', stat_prefix: 'main' };
  const paused = (): number =>
    stats.counterValue('downstream_flow_control_paused_reading_total', labels);
  const resumed = (): number =>
    stats.counterValue('downstream_flow_control_resumed_reading_total', labels);
  /** The upstream's accepted sockets: paused (read nothing) until the test resumes them. */
  const accepted: net.Socket[] = [];
  let upstream: net.Server;
  let port = 0;

  before(async () => {
    // Answers once the proxy's chunked request body has ended.
    upstream = net.createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.pause();
      let tail = '';
      socket.on('data', (data: Buffer) => {
        tail = (tail + data.toString('latin1')).slice(-16);
        if (tail.endsWith('\r\n0\r\n\r\n'))
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    port = await freePort();
    await runtime.apply(
      proxyConfig([
        listener('main', port, [anyHost([prefixRoute('/', { cluster: 'slow', timeout: '0s' })])]),
        cluster('slow', local(upstreamPort), { per_connection_buffer_limit_bytes: 16384 }),
      ]),
    );
  });

  after(async () => {
    await runtime.close(1000);
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => upstream.close(resolve));
  });

  test('a slow upstream pauses reading the client; reading resumes when it catches up', async () => {
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    let response = '';
    client.setEncoding('latin1');
    client.on('data', (text: string) => (response += text));
    client.write('POST /upload HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n');
    const chunk = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
    client.write(chunk);
    // The body waits (reading paused) until the upstream connection is up; from then on only
    // the upstream's backlog pauses it.
    await until(
      () => accepted.length === 1 && resumed() === paused(),
      'the upstream connection, taking the body',
    );
    // Bounded: kernel buffers on loopback hold a few MiB each way; without flow control the
    // proxy would read (and hold) all of it.
    const maxBytes = 64 * 1024 * 1024;
    let written = 0;
    while (paused() === resumed()) {
      assert.ok(written < maxBytes, `the proxy read ${written} bytes without pausing`);
      written += 0x10000;
      if (!client.write(chunk))
        await until(
          () => client.writableLength === 0 || paused() > resumed(),
          'a drain or a pause',
        );
    }
    // Reading the client is disabled now (it may have paused and resumed before, while the
    // kernel buffers towards the upstream still took bytes).

    accepted[0]!.resume();
    client.write('0\r\n\r\n');
    await until(() => response.includes('\r\n\r\nok'), 'the response once the body went through');
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.equal(resumed(), paused(), 'reading the client resumed');
    client.destroy();
  });
});
