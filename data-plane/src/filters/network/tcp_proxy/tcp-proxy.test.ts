/**
 * envoy.filters.network.tcp_proxy in a ProxyRuntime on loopback, configured from Envoy
 * resources: bytes both ways with half-close, weighted clusters, connect retries and failure
 * flags (UF, UH, NC, UO), idle_timeout, flow control both ways with small buffer limits, TLS
 * origination to the upstream, and the session's access log entry and stats.
 */
import { after, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import type { JsonObject } from '../../../config/translate.js';
import type { AccessLogRecord } from '../../../access-log/access-log-record.js';
import { ProxyRuntime } from '../../../http/proxy-runtime.js';
import {
  cluster,
  local,
  proxyConfig,
  silentLogger,
  until,
} from '../../../http/proxy-test-fixtures.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import {
  bounded,
  connect,
  next,
  echoServer,
  exchangeOn,
  tcpListener,
  tcpProxy,
  type EchoServer,
} from '../../../listener/tcp-test-fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Proxy {
  readonly port: number;
  readonly stats: MemoryStatsSink;
  readonly log: AccessLogRecord[];
}

/** A ProxyRuntime serving `docs`; the listener "tcp" is bound to a free port. */
async function startProxy(docs: JsonObject[]): Promise<Proxy> {
  const stats = new MemoryStatsSink();
  const log: AccessLogRecord[] = [];
  const runtime = new ProxyRuntime({
    logger: silentLogger,
    workerId: 0,
    stats,
    accessLog: (entry) => log.push(entry),
  });
  cleanups.push(() => runtime.close(100));
  await runtime.apply(proxyConfig(docs));
  return { port: runtime.listenerPort('tcp')!, stats, log };
}

async function echo(prefix = ''): Promise<EchoServer> {
  const server = await echoServer(prefix);
  cleanups.push(() => server.close());
  return server;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const tcp = { stat_prefix: 'tcp' };

describe('tcp_proxy: bytes, half-close and the session log', () => {
  test('bytes flow both ways; the client’s FIN reaches the upstream, the upstream’s comes back', async () => {
    const backend = await echo('hello:');
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'echo' })] }]),
      cluster('echo', local(backend.port)),
    ]);
    const client = await connect(proxy.port);
    const { data, ended } = await exchangeOn(client, 'ping');
    assert.equal(data.toString(), 'hello:ping');
    assert.equal(ended, true, 'the upstream’s FIN came through as a clean end');
    await until(() => proxy.log.length === 1);
    const entry = proxy.log[0]!;
    assert.equal(entry.tcp, true);
    assert.equal(entry.listener, 'tcp');
    assert.equal(entry.statPrefix, 'tcp');
    assert.equal(entry.cluster, 'echo');
    assert.equal(entry.upstreamHost, `127.0.0.1:${backend.port}`);
    assert.equal(entry.responseFlags, '-');
    assert.equal(entry.bytesReceived, 4);
    assert.equal(entry.bytesSent, 10);
    assert.equal(entry.attempts, 1);
    assert.equal(entry.status, 0);
    const s = proxy.stats;
    assert.equal(s.counterValue('tcp_downstream_cx_total', tcp), 1);
    assert.equal(s.counterValue('tcp_downstream_cx_rx_bytes_total', tcp), 4);
    assert.equal(s.counterValue('tcp_downstream_cx_tx_bytes_total', tcp), 10);
    assert.equal(s.counterValue('upstream_cx_total', { cluster: 'echo' }), 1);
    assert.equal(s.counterValue('upstream_cx_tx_bytes_total', { cluster: 'echo' }), 4);
    assert.equal(s.counterValue('upstream_cx_rx_bytes_total', { cluster: 'echo' }), 10);
    await until(() => s.gaugeValue('upstream_cx_active', { cluster: 'echo' }) === 0);
  });

  test('after the client’s FIN, the upstream can still send (half-close)', async () => {
    // The backend answers only after the client has finished sending.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      let total = 0;
      socket.on('data', (chunk: Buffer) => (total += chunk.length));
      socket.on('end', () => socket.end(`got ${total}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'late' })] }]),
      cluster('late', local((server.address() as net.AddressInfo).port)),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), Buffer.alloc(100_000, 7));
    assert.equal(data.toString(), 'got 100000');
  });

  test('weighted clusters: connections go to both, by weight', async () => {
    const [a, b] = [await echo('a'), await echo('b')];
    const proxy = await startProxy([
      tcpListener('tcp', [
        {
          filters: [
            tcpProxy({
              weighted_clusters: {
                clusters: [
                  { name: 'a', weight: 1 },
                  { name: 'b', weight: 3 },
                ],
              },
            }),
          ],
        },
      ]),
      cluster('a', local(a.port)),
      cluster('b', local(b.port)),
    ]);
    const counts = { a: 0, b: 0 };
    // Random choice: 200 connections miss "a" (weight 1 of 4) with probability 0.75^200.
    for (let i = 0; i < 200 && (counts.a === 0 || counts.b === 0); i++) {
      const { data } = await exchangeOn(await connect(proxy.port), '');
      counts[data.toString() as 'a' | 'b']++;
    }
    assert.ok(counts.a > 0 && counts.b > 0, JSON.stringify(counts));
  });
});

describe('tcp_proxy: connecting', () => {
  test('a failed attempt is retried on another host up to max_connect_attempts', async () => {
    const live = await echo('live');
    const dead = await deadPort();
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'pair', max_connect_attempts: 2 })] }]),
      cluster('pair', local(dead, live.port)),
    ]);
    for (let i = 0; i < 4; i++) {
      const { data } = await exchangeOn(await connect(proxy.port), '');
      assert.equal(data.toString(), 'live');
    }
    const fails = proxy.stats.counterValue('upstream_cx_connect_fail', { cluster: 'pair' });
    assert.ok(fails >= 1, `round robin put some first attempts on the dead host (${fails})`);
    await until(() => proxy.log.length === 4);
    assert.ok(proxy.log.every((e) => e.responseFlags === '-'));
    assert.ok(proxy.log.some((e) => e.attempts === 2));
  });

  test('when every attempt fails: UF, the failure reason, and the client is closed', async () => {
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'down', max_connect_attempts: 2 })] }]),
      cluster('down', local(await deadPort())),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), 'lost');
    assert.equal(data.length, 0);
    await until(() => proxy.log.length === 1);
    const entry = proxy.log[0]!;
    assert.equal(entry.responseFlags, 'UF');
    assert.equal(entry.attempts, 2);
    assert.equal(entry.upstreamTransportFailureReason, 'ECONNREFUSED');
    const labels = { cluster: 'down' };
    assert.equal(proxy.stats.counterValue('upstream_cx_connect_fail', labels), 2);
    assert.equal(proxy.stats.counterValue('upstream_cx_connect_attempts_exceeded', labels), 1);
  });

  test('an unknown cluster is NC, a cluster without hosts UH', async () => {
    const proxy = await startProxy([
      tcpListener('tcp', [
        { filter_chain_match: { source_ports: [] }, filters: [tcpProxy({ cluster: 'nowhere' })] },
      ]),
    ]);
    await exchangeOn(await connect(proxy.port), 'x');
    await until(() => proxy.log.length === 1);
    assert.equal(proxy.log[0]!.responseFlags, 'NC');
    assert.equal(proxy.stats.counterValue('tcp_downstream_cx_no_route', tcp), 1);

    const empty = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'empty' })] }]),
      cluster('empty', []),
    ]);
    await exchangeOn(await connect(empty.port), 'x');
    await until(() => empty.log.length === 1);
    assert.equal(empty.log[0]!.responseFlags, 'UH');
    assert.equal(empty.stats.counterValue('upstream_cx_none_healthy', { cluster: 'empty' }), 1);
  });

  test('max_connections is the cluster’s limit on open tcp_proxy connections (UO)', async () => {
    const backend = await echo();
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'one' })] }]),
      cluster('one', local(backend.port), {
        circuit_breakers: { thresholds: [{ max_connections: 1 }] },
      }),
    ]);
    const first = await connect(proxy.port);
    first.write('hold');
    await until(() => backend.received[0] === 4);
    const second = await exchangeOn(await connect(proxy.port), 'refused');
    assert.equal(second.data.length, 0);
    await until(() => proxy.log.length === 1);
    assert.equal(proxy.log[0]!.responseFlags, 'UO');
    assert.equal(proxy.stats.counterValue('upstream_cx_overflow', { cluster: 'one' }), 1);
    // Once the first session ends, the limit admits a new one.
    await exchangeOn(first, '');
    const third = await exchangeOn(await connect(proxy.port), 'ok');
    assert.equal(third.data.toString(), 'ok');
  });

  test('the cluster’s connect_timeout bounds an attempt, TLS handshake included', async () => {
    // TCP connects, but the "TLS server" never answers the ClientHello.
    const silent = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      silent.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of silent) socket.destroy();
          server.close(() => resolve());
        }),
    );
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'slow' })] }]),
      cluster('slow', local((server.address() as net.AddressInfo).port), {
        connect_timeout: '0.2s',
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type':
              'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            sni: 'slow.test',
          },
        },
      }),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), '');
    assert.equal(data.length, 0);
    await until(() => proxy.log.length === 1);
    assert.equal(proxy.log[0]!.responseFlags, 'UF');
    assert.equal(proxy.log[0]!.upstreamTransportFailureReason, 'connect timeout');
    assert.equal(proxy.stats.counterValue('upstream_cx_connect_timeout', { cluster: 'slow' }), 1);
  });
});

describe('tcp_proxy: idle timeout', () => {
  test('a session without a byte either way for idle_timeout is closed', async () => {
    const backend = await echo();
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'echo', idle_timeout: '0.2s' })] }]),
      cluster('echo', local(backend.port)),
    ]);
    const client = await connect(proxy.port);
    client.on('error', () => undefined);
    client.write('once');
    client.resume();
    // The proxy closes its side: the client sees the FIN ('end') after the echo.
    await next(client, 'end', 'the proxy to close the idle session');
    client.destroy();
    assert.equal(proxy.stats.counterValue('tcp_idle_timeout', tcp), 1);
    await until(() => proxy.log.length === 1);
    assert.equal(proxy.log[0]!.bytesReceived, 4);
  });
});

/** Deterministic chunks and the running digest of what was produced. */
class Producer {
  readonly #hash = createHash('sha256');
  bytes = 0;
  #seed = 1;

  next(size = 64 * 1024): Buffer {
    const chunk = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4)
      chunk.writeUInt32LE((this.#seed = (this.#seed * 1103515245 + 12345) >>> 0), i);
    this.#hash.update(chunk);
    this.bytes += size;
    return chunk;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Writes chunks to `socket` (waiting for 'drain') until `stop()`, then ends it. */
function writeUntilStopped(socket: net.Socket, producer: Producer): { stop(): Promise<void> } {
  let stopping = false;
  const done = (async () => {
    while (!stopping) {
      if (!socket.write(producer.next())) await next(socket, 'drain');
    }
    socket.end();
  })();
  return {
    stop: () => {
      stopping = true;
      return done;
    },
  };
}

describe('tcp_proxy: flow control', () => {
  const limits = { per_connection_buffer_limit_bytes: 16384 };

  test('a slow upstream pauses reading from downstream; every byte arrives, in order', async () => {
    let received = 0;
    const digest = createHash('sha256');
    let upstream: net.Socket | undefined;
    const sink = net.createServer({ allowHalfOpen: true }, (socket) => {
      upstream = socket;
      socket.pause();
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        digest.update(chunk);
      });
      socket.on('end', () => socket.end(digest.digest('hex')));
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'sink' })] }], limits),
      cluster('sink', local((sink.address() as net.AddressInfo).port), limits),
    ]);
    const client = await connect(proxy.port);
    const answer = new Promise<string>((resolve) => {
      let text = '';
      client.on('data', (chunk: Buffer) => (text += chunk.toString()));
      client.on('end', () => resolve(text));
    });
    const producer = new Producer();
    const writer = writeUntilStopped(client, producer);
    await until(
      () => proxy.stats.counterValue('tcp_downstream_flow_control_paused_reading_total', tcp) > 0,
    );
    await bounded(writer.stop(), 'the client to stop writing');
    upstream!.resume();
    assert.equal(await bounded(answer, 'the sink’s digest'), producer.digest());
    assert.equal(received, producer.bytes);
    assert.ok(
      proxy.stats.counterValue('tcp_downstream_flow_control_resumed_reading_total', tcp) > 0,
    );
  });

  // With Envoy's default 1 MiB limit, reads go on while writes to the client queue below it:
  // each queued chunk must keep its own buffer.
  test('a slow client pauses reading from upstream; every byte arrives, in order', async () => {
    const producer = new Producer();
    let writer: { stop(): Promise<void> } | undefined;
    const source = net.createServer((socket) => {
      socket.on('error', () => undefined);
      writer = writeUntilStopped(socket, producer);
    });
    await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => source.close(() => resolve())));
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'source' })] }]),
      cluster('source', local((source.address() as net.AddressInfo).port)),
    ]);
    const client = await connect(proxy.port);
    client.pause();
    const labels = { cluster: 'source' };
    await until(
      () => proxy.stats.counterValue('upstream_flow_control_paused_reading_total', labels) > 0,
    );
    const stopped = writer!.stop();
    const digest = createHash('sha256');
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
      digest.update(chunk);
    });
    client.resume();
    await next(client, 'end', 'the source’s last byte');
    await bounded(stopped, 'the source to finish writing');
    client.end();
    assert.equal(received, producer.bytes);
    assert.equal(digest.digest('hex'), producer.digest());
    assert.ok(proxy.stats.counterValue('upstream_flow_control_resumed_reading_total', labels) > 0);
  });
});

describe('tcp_proxy: TLS to the upstream', () => {
  let dir: string;
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a cluster with an UpstreamTlsContext gets TLS with its SNI; the client speaks plain TCP', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-tcp-tls-'));
    const pair = selfSigned(dir, 'echo.test');
    const backend = await echoServer('', pair);
    cleanups.push(() => backend.close());
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'secure' })] }]),
      cluster('secure', local(backend.port), {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type':
              'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            sni: 'echo.test',
            common_tls_context: {
              validation_context: { trusted_ca: { inline_string: pair.cert } },
            },
          },
        },
      }),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), 'over tls');
    assert.equal(data.toString(), 'over tls');
    assert.equal(backend.servernames[0], 'echo.test');
  });

  test('an upstream whose certificate fails the SAN matcher is never spliced (UF)', async () => {
    dir ??= mkdtempSync(join(tmpdir(), 'ferry-tcp-tls-'));
    const pair = selfSigned(dir, 'echo.test');
    const backend = await echoServer('', pair);
    cleanups.push(() => backend.close());
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'pinned' })] }]),
      cluster('pinned', local(backend.port), {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type':
              'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            common_tls_context: {
              validation_context: {
                trusted_ca: { inline_string: pair.cert },
                match_typed_subject_alt_names: [
                  { san_type: 'DNS', matcher: { exact: 'other.test' } },
                ],
              },
            },
          },
        },
      }),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), 'secret');
    assert.equal(data.length, 0);
    await until(() => proxy.log.length === 1);
    assert.equal(proxy.log[0]!.responseFlags, 'UF');
    assert.equal(proxy.log[0]!.upstreamTransportFailureReason, 'ERR_SSL_CERTIFICATE_VERIFY_FAILED');
    assert.deepEqual(backend.received, [0], 'no byte reached the upstream');
  });
});
