/**
 * The listener path in a ProxyRuntime on loopback, from Envoy resources: tls_inspector reads
 * SNI without consuming the ClientHello (TLS passed through untouched to the backend the SNI
 * selects), TLS terminated by a chain in front of tcp_proxy, listener_filters_timeout (closing
 * or continuing), oversized ClientHellos, and what happens when no chain matches.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import type { JsonObject } from '../config/translate.js';
import type { AccessLogRecord } from '../access-log/access-log-record.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { ProxyRuntime } from './proxy-runtime.js';
import { cluster, local, proxyConfig, silentLogger, until } from './proxy-test-fixtures.js';
import {
  TLS_INSPECTOR,
  bounded,
  connect,
  next,
  downstreamTls,
  echoServer,
  exchangeOn,
  tcpListener,
  tcpProxy,
  type EchoServer,
  type KeyPair,
} from '../listener/tcp-test-fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let dir: string;
let certA: KeyPair;
let certB: KeyPair;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-listener-'));
  certA = selfSigned(dir, 'a.test');
  certB = selfSigned(dir, 'b.test');
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Proxy {
  readonly port: number;
  readonly stats: MemoryStatsSink;
  readonly log: AccessLogRecord[];
}

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

async function backend(prefix = '', pair?: KeyPair): Promise<EchoServer> {
  const server = await echoServer(prefix, pair);
  cleanups.push(() => server.close());
  return server;
}

/** A TLS client exchange: the server certificate's CN and what came back for `payload`. */
function tlsExchange(
  port: number,
  servername: string,
  ca: string,
  payload: string,
): Promise<{ cn: string; data: string }> {
  const exchange = new Promise<{ cn: string; data: string }>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => {
      const cn = String(socket.getPeerCertificate().subject.CN);
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve({ cn, data }));
      socket.end(payload);
    });
    socket.on('error', reject);
  });
  return bounded(exchange, `a TLS exchange with ${servername}`);
}

const listenerLabels = { listener: 'tcp' };

describe('listener: TLS passthrough by SNI (tls_inspector + tcp_proxy)', () => {
  test('each server name reaches its own TLS backend, which terminates the TLS itself', async () => {
    const [a, b] = [await backend('', certA), await backend('', certB)];
    const proxy = await startProxy([
      tcpListener(
        'tcp',
        [
          {
            filter_chain_match: { server_names: ['a.test'] },
            filters: [tcpProxy({ cluster: 'a' })],
          },
          {
            filter_chain_match: { server_names: ['b.test'] },
            filters: [tcpProxy({ cluster: 'b' })],
          },
        ],
        { listener_filters: [TLS_INSPECTOR] },
      ),
      cluster('a', local(a.port)),
      cluster('b', local(b.port)),
    ]);
    assert.deepEqual(await tlsExchange(proxy.port, 'a.test', certA.cert, 'to a'), {
      cn: 'a.test',
      data: 'to a',
    });
    assert.deepEqual(await tlsExchange(proxy.port, 'b.test', certB.cert, 'to b'), {
      cn: 'b.test',
      data: 'to b',
    });
    // The backends saw the client's own ClientHello (its SNI), replayed byte for byte.
    assert.deepEqual([a.servernames, b.servernames], [['a.test'], ['b.test']]);
    await until(() => proxy.log.length === 2);
    assert.deepEqual(
      proxy.log.map((e) => [e.requestedServerName, e.cluster]),
      [
        ['a.test', 'a'],
        ['b.test', 'b'],
      ],
    );
    assert.equal(proxy.stats.counterValue('tls_inspector_sni_found', listenerLabels), 2);
  });

  test('plain TCP on the same listener is raw_buffer: its bytes reach the raw chain intact', async () => {
    const [tlsBackend, plain] = [await backend('', certA), await backend()];
    const proxy = await startProxy([
      tcpListener(
        'tcp',
        [
          {
            filter_chain_match: { transport_protocol: 'tls' },
            filters: [tcpProxy({ cluster: 'tls' })],
          },
          {
            filter_chain_match: { transport_protocol: 'raw_buffer' },
            filters: [tcpProxy({ cluster: 'plain' })],
          },
        ],
        { listener_filters: [TLS_INSPECTOR] },
      ),
      cluster('tls', local(tlsBackend.port)),
      cluster('plain', local(plain.port)),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(data.toString(), 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(plain.received[0], 18);
    assert.equal(tlsBackend.accepted, 0);
    assert.equal(proxy.stats.counterValue('tls_inspector_tls_not_found', listenerLabels), 1);
  });

  test('a ClientHello announcing more than 64 KiB closes the connection', async () => {
    const plain = await backend();
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'plain' })] }], {
        listener_filters: [TLS_INSPECTOR],
      }),
      cluster('plain', local(plain.port)),
    ]);
    const huge = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x10, 0x00]);
    const { data } = await exchangeOn(await connect(proxy.port), huge);
    assert.equal(data.length, 0);
    assert.equal(plain.accepted, 0);
    assert.equal(
      proxy.stats.counterValue('tls_inspector_client_hello_too_large', listenerLabels),
      1,
    );
  });
});

describe('listener: TLS terminated in front of tcp_proxy', () => {
  test('the chain’s certificate is presented and the upstream gets plaintext', async () => {
    const plain = await backend();
    const proxy = await startProxy([
      tcpListener('tcp', [
        { transport_socket: downstreamTls(certA), filters: [tcpProxy({ cluster: 'plain' })] },
      ]),
      cluster('plain', local(plain.port)),
    ]);
    assert.deepEqual(await tlsExchange(proxy.port, 'a.test', certA.cert, 'decrypted'), {
      cn: 'a.test',
      data: 'decrypted',
    });
    assert.equal(plain.received[0], 'decrypted'.length);
  });
});

describe('listener: listener_filters_timeout', () => {
  test('a client that sends nothing is closed when the timeout passes', async () => {
    const serverFirst = await backend('greeting');
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'first' })] }], {
        listener_filters: [TLS_INSPECTOR],
        listener_filters_timeout: '0.2s',
      }),
      cluster('first', local(serverFirst.port)),
    ]);
    const client = await connect(proxy.port);
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await next(client, 'end', 'the proxy to close the silent connection');
    client.destroy();
    assert.equal(Buffer.concat(chunks).length, 0);
    assert.equal(serverFirst.accepted, 0);
    assert.equal(proxy.stats.counterValue('downstream_pre_cx_timeout', listenerLabels), 1);
  });

  test('with continue_on_listener_filters_timeout the chain runs with what is known', async () => {
    const serverFirst = await backend('greeting');
    const proxy = await startProxy([
      tcpListener('tcp', [{ filters: [tcpProxy({ cluster: 'first' })] }], {
        listener_filters: [TLS_INSPECTOR],
        listener_filters_timeout: '0.2s',
        continue_on_listener_filters_timeout: true,
      }),
      cluster('first', local(serverFirst.port)),
    ]);
    const client = await connect(proxy.port);
    const greeting = await next<Buffer>(client, 'data', 'the server-first greeting');
    assert.equal(greeting.toString(), 'greeting');
    const { data } = await exchangeOn(client, 'then me');
    assert.equal(data.toString(), 'then me');
  });
});

describe('listener: no matching chain', () => {
  const onlyOffice = {
    filter_chain_match: { source_prefix_ranges: [{ address_prefix: '192.0.2.0', prefix_len: 24 }] },
    filters: [tcpProxy({ cluster: 'office' })],
  };

  test('without a default chain the connection is closed', async () => {
    const office = await backend('office');
    const proxy = await startProxy([
      tcpListener('tcp', [onlyOffice]),
      cluster('office', local(office.port)),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), 'x');
    assert.equal(data.length, 0);
    assert.equal(office.accepted, 0);
    assert.equal(proxy.stats.counterValue('no_filter_chain_match', listenerLabels), 1);
  });

  test('the default chain takes it otherwise', async () => {
    const [office, fallback] = [await backend('office'), await backend('default')];
    const proxy = await startProxy([
      tcpListener('tcp', [onlyOffice], {
        default_filter_chain: { filters: [tcpProxy({ cluster: 'fallback' })] },
      }),
      cluster('office', local(office.port)),
      cluster('fallback', local(fallback.port)),
    ]);
    const { data } = await exchangeOn(await connect(proxy.port), '');
    assert.equal(data.toString(), 'default');
  });

  test('a chain without filters closes its connections', async () => {
    const proxy = await startProxy([tcpListener('tcp', [{}])]);
    const { data } = await exchangeOn(await connect(proxy.port), 'x');
    assert.equal(data.length, 0);
    assert.equal(proxy.stats.counterValue('no_filter_chain_match', listenerLabels), 0);
  });

  test('a plain client on a TLS-only chain fails its handshake and is closed', async () => {
    const plain = await backend();
    const proxy = await startProxy([
      tcpListener('tcp', [
        { transport_socket: downstreamTls(certA), filters: [tcpProxy({ cluster: 'plain' })] },
      ]),
      cluster('plain', local(plain.port)),
    ]);
    const socket = await connect(proxy.port);
    await exchangeOn(socket, 'not tls\r\n');
    assert.equal(plain.accepted, 0);
  });
});
