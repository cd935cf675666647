/**
 * Upstream TLS with real processes on loopback: a ferry-proxy (static bootstrap) in front of
 * TLS backends signed by a throwaway CA (openssl).
 *
 * - a cluster whose SAN matcher does not match the backend's certificate answers 503 UF with
 *   Envoy's TLS verification details; the matching one answers 200;
 * - auto_sni + auto_san_validation: two Host names to one backend that serves a certificate per
 *   SNI and answers 421 when a request's Host differs from its connection's SNI (so a connection
 *   reused across names fails); a name the backend has no certificate for fails verification;
 * - active health checks (HTTP and TCP) against a backend that only speaks TLS become healthy,
 *   which a plaintext check cannot; a cluster trusting another CA stays unhealthy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCa } from '@ferry/shared/testing/test-pki';
import {
  eventually,
  freePort,
  hcmFilter,
  healthFlags,
  httpRequest,
  listenerResource,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  tempDir,
  type Json,
  type Proxy,
} from './harness.js';

const T = 'type.googleapis.com/';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const STDOUT_LOG = `${T}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`;

interface Pem {
  readonly cert: string;
  readonly key: string;
}

function upstreamTls(caPem: string, validation: Json = {}): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
      common_tls_context: {
        validation_context: { trusted_ca: { inline_string: caPem }, ...validation },
      },
    },
  };
}

const dnsSan = (exact: string): Json => ({
  match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact } }],
});

/**
 * An HTTPS backend. `certs` by SNI (the first is the default for an unknown or absent SNI).
 * Answers `<sni> <host> <path>`, or 421 when the Host differs from the connection's SNI. Records
 * every request as `sni|host|path|httpVersion`.
 */
async function tlsBackend(certs: Record<string, Pem>): Promise<{
  port: number;
  seen: string[];
  /** SNI of each TLS connection accepted, in order. */
  connections: string[];
  close(): Promise<void>;
}> {
  const tls = await import('node:tls');
  const contexts = new Map(
    Object.entries(certs).map(([name, pem]) => [name, tls.createSecureContext(pem)]),
  );
  const [first] = Object.values(certs);
  const seen: string[] = [];
  const connections: string[] = [];
  // HTTP/1.1 and HTTP/2 (ALPN) on one port.
  const server = http2.createSecureServer(
    {
      ...first!,
      allowHTTP1: true,
      SNICallback: (name, cb) => cb(null, contexts.get(name) ?? contexts.values().next().value),
    },
    (req, res) => {
      const sni = (req.socket as TLSSocket).servername || '';
      const host = (req.headers.host ?? req.authority ?? '').replace(/:\d+$/, '');
      seen.push(`${sni}|${host}|${req.url}|${req.httpVersion}`);
      req.resume();
      res.writeHead(sni !== '' && host !== sni && req.url !== '/healthz' ? 421 : 200);
      res.end(`${sni} ${host} ${req.url}`);
    },
  );
  server.on('tlsClientError', () => undefined);
  const sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    connections.push(socket.servername || '');
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe('upstream TLS: certificate checks, auto_sni, health checks over TLS', () => {
  let dir: string;
  let proxy: Proxy;
  let listenerPort: number;
  let named: Awaited<ReturnType<typeof tlsBackend>>;
  let sni: Awaited<ReturnType<typeof tlsBackend>>;

  before(async () => {
    dir = tempDir('upstream-tls');
    const ca = createCa(dir, 'ca');
    const otherCa = createCa(dir, 'other-ca');
    named = await tlsBackend({
      'api.backend.test': ca.issue('api', { sans: ['DNS:api.backend.test'] }),
    });
    sni = await tlsBackend({
      'one.test': ca.issue('one', { sans: ['DNS:one.test'] }),
      'two.test': ca.issue('two', { sans: ['DNS:two.test'] }),
    });
    listenerPort = await freePort();
    const httpOptions = (upstream: Json): Json => ({
      typed_extension_protocol_options: {
        [HTTP_OPTIONS]: {
          '@type': `${T}${HTTP_OPTIONS}`,
          explicit_http_config: { http_protocol_options: {} },
          ...upstream,
        },
      },
    });
    const healthChecked = (name: string, caPem: string, check: Json): Json =>
      staticClusterResource(name, [named.port], {
        transport_socket: upstreamTls(caPem),
        health_checks: [
          {
            timeout: '1s',
            interval: '0.2s',
            no_traffic_interval: '0.2s',
            unhealthy_threshold: 1,
            healthy_threshold: 1,
            ...check,
          },
        ],
      });
    const route = (prefix: string, cluster: string): Json => ({
      match: { prefix },
      route: { cluster },
    });
    proxy = await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'upstream-tls',
        listeners: [
          listenerResource('http', listenerPort, [
            {
              filters: [
                hcmFilter(
                  {
                    routeConfig: {
                      name: 'r',
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [
                            route('/right', 'right-san'),
                            route('/wrong', 'wrong-san'),
                            route('/auto-h2', 'auto-h2'),
                            route('/auto', 'auto'),
                          ],
                        },
                      ],
                    },
                  },
                  {
                    access_log: [
                      {
                        name: 'envoy.access_loggers.stdout',
                        typed_config: {
                          '@type': STDOUT_LOG,
                          log_format: {
                            text_format_source: {
                              inline_string:
                                'ACCESS %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n',
                            },
                          },
                        },
                      },
                    ],
                  },
                ),
              ],
            },
          ]),
        ],
        clusters: [
          staticClusterResource('right-san', [named.port], {
            transport_socket: upstreamTls(ca.cert, dnsSan('api.backend.test')),
          }),
          staticClusterResource('wrong-san', [named.port], {
            transport_socket: upstreamTls(ca.cert, dnsSan('other.backend.test')),
          }),
          staticClusterResource('auto', [sni.port], {
            transport_socket: upstreamTls(ca.cert),
            ...httpOptions({
              upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
            }),
          }),
          staticClusterResource('auto-h2', [sni.port], {
            transport_socket: upstreamTls(ca.cert),
            typed_extension_protocol_options: {
              [HTTP_OPTIONS]: {
                '@type': `${T}${HTTP_OPTIONS}`,
                explicit_http_config: { http2_protocol_options: {} },
                upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
              },
            },
          }),
          healthChecked('hc-http', ca.cert, { http_health_check: { path: '/healthz' } }),
          healthChecked('hc-tcp', ca.cert, { tcp_health_check: {} }),
          healthChecked('hc-other-ca', otherCa.cert, { http_health_check: { path: '/healthz' } }),
        ],
      }),
    });
  });

  after(async () => {
    await stopAll();
    await named.close();
    await sni.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const url = (p: string): string => `http://127.0.0.1:${listenerPort}${p}`;

  /** The access log line of `p` (stdout is written in batches: wait for it). */
  const accessLine = (p: string): Promise<string> =>
    eventually(
      () =>
        proxy.logs
          .flatMap((chunk) => chunk.split('\n'))
          .find((line) => line.startsWith(`ACCESS ${p} `)),
      `access log line for ${p}`,
    );

  test('SAN matching: the right name reaches the backend, a wrong one is a 503 UF', async () => {
    const right = await httpRequest(url('/right'));
    assert.equal(right.status, 200);
    assert.match(right.body, / \/right$/);

    const wrong = await httpRequest(url('/wrong'));
    assert.equal(wrong.status, 503);
    assert.deepEqual(
      named.seen.filter((s) => s.includes('|/wrong|')),
      [],
      'the request never reached the backend',
    );
    assert.equal(
      await accessLine('/wrong'),
      'ACCESS /wrong 503 UF upstream_reset_before_response_started{connection_failure,TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end}',
    );
  });

  test('auto_sni + auto_san_validation: one pool per name, verified against that name', async () => {
    // Alternating names: a connection opened for one name must never carry the other (the
    // backend answers 421 when Host and SNI differ).
    const connectionsBefore = sni.connections.length;
    for (const host of ['one.test', 'two.test', 'one.test', 'two.test']) {
      const res = await httpRequest(url('/auto'), { host });
      assert.equal(res.status, 200, `${host}: ${res.body}`);
      assert.equal(res.body, `${host} ${host} /auto`);
    }
    assert.deepEqual(
      sni.seen.filter((s) => s.includes('|/auto|')),
      [
        'one.test|one.test|/auto|1.1',
        'two.test|two.test|/auto|1.1',
        'one.test|one.test|/auto|1.1',
        'two.test|two.test|/auto|1.1',
      ],
    );
    // Keep-alive pools per name: one connection for each name, reused by its second request.
    assert.deepEqual(sni.connections.slice(connectionsBefore), ['one.test', 'two.test']);
    // A name the backend has no certificate for: it serves one.test's, which does not carry it.
    const unknown = await httpRequest(url('/auto-unknown'), { host: 'three.test' });
    assert.equal(unknown.status, 503);
    assert.deepEqual(
      sni.seen.filter((s) => s.includes('|/auto-unknown|')),
      [],
    );
    assert.match(await accessLine('/auto-unknown'), /^ACCESS \/auto-unknown 503 UF /);
  });

  test('auto_sni over HTTP/2 (ALPN h2): names verified, no connection shared across names', async () => {
    for (const host of ['two.test', 'one.test', 'two.test']) {
      const res = await httpRequest(url('/auto-h2'), { host });
      assert.equal(res.status, 200, `${host}: ${res.body}`);
      assert.equal(res.body, `${host} ${host} /auto-h2`);
    }
    assert.deepEqual(
      sni.seen.filter((s) => s.includes('|/auto-h2|')),
      [
        'two.test|two.test|/auto-h2|2.0',
        'one.test|one.test|/auto-h2|2.0',
        'two.test|two.test|/auto-h2|2.0',
      ],
    );
    const unknown = await httpRequest(url('/auto-h2-unknown'), { host: 'three.test' });
    assert.equal(unknown.status, 503);
    assert.match(
      await accessLine('/auto-h2-unknown'),
      /^ACCESS \/auto-h2-unknown 503 UF .*CERTIFICATE_VERIFY_FAILED/,
    );
  });

  test('health checks use the cluster’s TLS: healthy only over TLS, failing with the wrong CA', async () => {
    for (const cluster of ['hc-http', 'hc-tcp'])
      await eventually(
        async () =>
          (await healthFlags(proxy, cluster, named.port)) === 'healthy' ? true : undefined,
        `${cluster} becomes healthy over TLS`,
      );
    assert.ok(
      named.seen.some((s) => s === '|hc-http|/healthz|1.1'),
      `the HTTP check reached the TLS backend: ${named.seen.join(', ')}`,
    );
    const flags = await eventually(async () => {
      const f = await healthFlags(proxy, 'hc-other-ca', named.port);
      return f?.includes('/failed_active_hc') ? f : undefined;
    }, 'hc-other-ca fails its checks (certificate not signed by its trusted_ca)');
    assert.match(flags, /failed_active_hc/);
  });
});
