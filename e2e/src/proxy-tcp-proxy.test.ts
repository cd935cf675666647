/**
 * envoy.filters.network.tcp_proxy and filter chain matching through a real ferry-proxy (two
 * workers) configured by `ferryctl apply` on a real control plane:
 * - plain TCP to echo backends over weighted clusters, with a file access log line per session;
 * - TLS passthrough: tls_inspector reads the SNI and each name is spliced, TLS untouched, to its
 *   own TLS backend (certificates made with openssl for the test);
 * - source_prefix_ranges: the chain for 127.0.0.1/32 serves loopback clients, the chain for
 *   another range is never chosen for them;
 * - idle_timeout: a session that goes quiet is closed by the proxy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import {
  eventually,
  ferryctl,
  freePort,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  tempDir,
  type ControlPlane,
  type Json,
  type KeyPair,
  type Proxy,
} from './harness.js';

const T = 'type.googleapis.com/';

interface EchoBackend {
  readonly port: number;
  /** SNI of each TLS connection it accepted. */
  readonly servernames: (string | false)[];
  close(): void;
}

/** Echoes every byte after `prefix`; ends when the client ends. TLS with `pair`. */
async function echoBackend(prefix: string, pair?: KeyPair): Promise<EchoBackend> {
  const sockets = new Set<net.Socket>();
  const servernames: (string | false)[] = [];
  const onSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    servernames.push((socket as tls.TLSSocket).servername ?? false);
    socket.write(prefix);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  };
  const server =
    pair === undefined
      ? net.createServer({ allowHalfOpen: true }, onSocket)
      : tls.createServer({ cert: pair.cert, key: pair.key }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    servernames,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** `promise`, failed when it has not settled in 10 s (a liveness bound, not a timing check). */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sends `payload`, half-closes, and returns what came back before the proxy closed. */
function exchange(port: number, payload: string): Promise<string> {
  return bounded(exchangeUnbounded(port, payload), `an exchange on port ${port}`);
}

function exchangeUnbounded(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.end();
      resolve(data);
    });
    socket.end(payload);
  });
}

/** A TLS exchange through the proxy: the certificate's CN and the echo. */
function tlsExchange(port: number, servername: string, ca: string, payload: string) {
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

function tcpProxy(fields: Json): Json {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
      ...fields,
    },
  };
}

const TLS_INSPECTOR: Json = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` },
};

describe('ferry-proxy tcp_proxy and filter chain matching', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let dir: string;
  let logPath: string;
  const ports = { weighted: 0, sni: 0, source: 0, idle: 0 };
  const backends: EchoBackend[] = [];
  let echoA: EchoBackend;
  let echoB: EchoBackend;
  let tlsA: EchoBackend;
  let tlsB: EchoBackend;
  let certA: KeyPair;
  let certB: KeyPair;

  before(async () => {
    dir = tempDir('tcp-proxy');
    logPath = path.join(dir, 'tcp.log');
    certA = selfSigned(dir, 'a.test');
    certB = selfSigned(dir, 'b.test');
    [cp, echoA, echoB, tlsA, tlsB] = await Promise.all([
      startControlPlane(),
      echoBackend('a:'),
      echoBackend('b:'),
      echoBackend('', certA),
      echoBackend('', certB),
    ]);
    backends.push(echoA, echoB, tlsA, tlsB);
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    const resources: Json[] = [
      listenerResource('weighted', ports.weighted, [
        {
          filters: [
            tcpProxy({
              stat_prefix: 'weighted',
              weighted_clusters: {
                clusters: [
                  { name: 'echo-a', weight: 1 },
                  { name: 'echo-b', weight: 1 },
                ],
              },
              access_log: [
                {
                  name: 'envoy.access_loggers.file',
                  typed_config: {
                    '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
                    path: logPath,
                    log_format: {
                      text_format:
                        '%UPSTREAM_CLUSTER% %UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS% %RESPONSE_CODE% %PROTOCOL%\n',
                    },
                  },
                },
              ],
            }),
          ],
        },
      ]),
      {
        ...listenerResource('sni', ports.sni, [
          {
            filter_chain_match: { server_names: ['a.test'] },
            filters: [tcpProxy({ stat_prefix: 'sni-a', cluster: 'tls-a' })],
          },
          {
            filter_chain_match: { server_names: ['b.test'] },
            filters: [tcpProxy({ stat_prefix: 'sni-b', cluster: 'tls-b' })],
          },
        ]),
        listener_filters: [TLS_INSPECTOR],
      },
      listenerResource('source', ports.source, [
        {
          filter_chain_match: {
            source_prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }],
          },
          filters: [tcpProxy({ stat_prefix: 'loopback', cluster: 'echo-a' })],
        },
        {
          filter_chain_match: {
            source_prefix_ranges: [{ address_prefix: '192.0.2.0', prefix_len: 24 }],
          },
          filters: [tcpProxy({ stat_prefix: 'elsewhere', cluster: 'echo-b' })],
        },
      ]),
      listenerResource('idle', ports.idle, [
        {
          filters: [tcpProxy({ stat_prefix: 'idle', cluster: 'echo-a', idle_timeout: '0.5s' })],
        },
      ]),
      staticClusterResource('echo-a', [echoA.port]),
      staticClusterResource('echo-b', [echoB.port]),
      staticClusterResource('tls-a', [tlsA.port]),
      staticClusterResource('tls-b', [tlsB.port]),
    ];
    const applied = await ferryctl(
      cp.apiUrl,
      ['apply', '-f', '-'],
      resources.map((r) => JSON.stringify(r)).join('\n---\n'),
    );
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'tcp-proxy-1', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    // Every listener is bound and routes once the config has arrived.
    await eventually(
      async () => ((await exchange(ports.idle, 'x')).endsWith('x') ? true : undefined),
      'the proxy to splice',
    );
  });

  after(async () => {
    await stopAll();
    for (const backend of backends) backend.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('weighted clusters: sessions reach both echo backends, each logged with its bytes', async () => {
    const seen = new Set<string>();
    // Random choice at 1:1: 100 sessions all on one cluster has probability 2^-99.
    for (let i = 0; i < 100 && seen.size < 2; i++) {
      const answer = await exchange(ports.weighted, `ping-${i}`);
      assert.match(answer, /^[ab]:ping-\d+$/);
      seen.add(answer.slice(0, 2));
    }
    assert.deepEqual([...seen].sort(), ['a:', 'b:']);
    const lines = await eventually(() => {
      const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
      const all = text.split('\n').filter((l) => l !== '');
      return all.some((l) => l.startsWith('echo-a ')) && all.some((l) => l.startsWith('echo-b '))
        ? all
        : undefined;
    }, 'access log lines for both clusters');
    const a = lines.find((l) => l.startsWith('echo-a '))!.split(' ');
    // cluster, upstream host, bytes received ("ping-N"), bytes sent ("a:ping-N"), no flags,
    // response code 0 and no protocol for a TCP session (Envoy's values).
    assert.equal(a[1], `127.0.0.1:${echoA.port}`);
    assert.equal(Number(a[3]), Number(a[2]) + 2);
    assert.deepEqual(a.slice(4), ['-', '0', '-']);
  });

  test('TLS passthrough: the SNI selects the backend, which terminates the TLS itself', async () => {
    assert.deepEqual(await tlsExchange(ports.sni, 'a.test', certA.cert, 'secret-a'), {
      cn: 'a.test',
      data: 'secret-a',
    });
    assert.deepEqual(await tlsExchange(ports.sni, 'b.test', certB.cert, 'secret-b'), {
      cn: 'b.test',
      data: 'secret-b',
    });
    assert.deepEqual(tlsA.servernames, ['a.test']);
    assert.deepEqual(tlsB.servernames, ['b.test']);
  });

  test('source_prefix_ranges: 127.0.0.1/32 is served by its chain, never by the other range’s', async () => {
    for (let i = 0; i < 5; i++) assert.equal(await exchange(ports.source, `s${i}`), `a:s${i}`);
  });

  test('idle_timeout: a quiet session is closed by the proxy', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: ports.idle, allowHalfOpen: true });
    socket.on('error', () => undefined);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.write('hello');
    // The proxy's FIN arrives once the session has been quiet for 0.5 s; the wait is bounded.
    await eventually(() => (socket.readableEnded ? true : undefined), 'the idle session to close');
    socket.destroy();
    assert.equal(data, 'a:hello');
  });

  test('tcp_proxy stats are exported', async () => {
    const metrics = await httpRequest(`${proxy.adminUrl}/stats/prometheus`);
    assert.match(metrics.body, /ferry_tcp_downstream_cx_total\{stat_prefix="weighted"\} [1-9]/);
    assert.match(metrics.body, /ferry_tcp_idle_timeout\{stat_prefix="idle"\} [1-9]/);
    assert.match(metrics.body, /ferry_tls_inspector_sni_found\{listener="sni"\} [1-9]/);
    assert.doesNotMatch(
      metrics.body,
      /ferry_tcp_downstream_cx_total\{stat_prefix="elsewhere"\} [1-9]/,
    );
  });
});
