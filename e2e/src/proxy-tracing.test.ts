/**
 * Proxy tracing, with real processes: a control plane, an OTLP receiver, and
 * client → proxy A → proxy B → backend, where A's cluster points at B's listener. Tracing is
 * configured on both HCMs through the control plane (A exports over OTLP/gRPC, B over OTLP/HTTP).
 * One request gives ONE trace: A server (root) → A client → B server → B client; a retried request
 * shows two client spans; random_sampling 0 applied live stops new traces (100 starts them again);
 * an incoming traceparent with flags 00 produces no spans while the backend still receives the
 * same trace id.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import {
  apiApply,
  eventually,
  freePort,
  hcmFilter,
  tempDir,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const SERVER = 2;
const CLIENT = 3;
const OTEL_CONFIG = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';

interface SeenRequest {
  path: string;
  traceparent: string;
  requestId: string;
}

/** A backend recording each request's traceparent; /flaky answers 503 to every other request. */
async function startTracingBackend(): Promise<{
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}> {
  const seen: SeenRequest[] = [];
  let flaky = 0;
  const server = http.createServer((req, res) => {
    seen.push({
      path: req.url ?? '',
      traceparent: String(req.headers.traceparent ?? ''),
      requestId: String(req.headers['x-request-id'] ?? ''),
    });
    req.resume();
    const fail = req.url === '/flaky' && flaky++ % 2 === 0;
    res.writeHead(fail ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(fail ? 'try again' : 'ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function tracing(provider: Json, randomPercent: number): Json {
  return {
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: { '@type': OTEL_CONFIG, ...provider },
    },
    random_sampling: { value: randomPercent },
    spawn_upstream_span: true,
    custom_tags: [{ tag: 'hop', literal: { value: 'set-by-config' } }],
  };
}

function proxyResources(opts: {
  listenerPort: number;
  upstreamPort: number;
  otelCluster: Json;
  provider: Json;
  randomPercent: number;
  /** An access log file with `%TRACE_ID% %REQ(:PATH)%` lines. */
  accessLogPath?: string;
}): Json[] {
  const routeConfig = {
    name: 'main',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            name: 'flaky',
            match: { path: '/flaky' },
            route: {
              cluster: 'next',
              retry_policy: { retry_on: '5xx', num_retries: 1 },
            },
          },
          { name: 'default', match: { prefix: '/' }, route: { cluster: 'next' } },
        ],
      },
    ],
  };
  return [
    staticClusterResource('next', [opts.upstreamPort]),
    opts.otelCluster,
    listenerResource('ingress', opts.listenerPort, [
      {
        filters: [
          hcmFilter(
            { routeConfig },
            {
              tracing: tracing(opts.provider, opts.randomPercent),
              ...(opts.accessLogPath !== undefined
                ? {
                    access_log: [
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: opts.accessLogPath,
                          log_format: {
                            text_format_source: { inline_string: '%TRACE_ID% %REQ(:PATH)%\n' },
                          },
                        },
                      },
                    ],
                  }
                : {}),
            },
          ),
        ],
      },
    ]),
  ];
}

function traceOf(spans: readonly ReceivedSpan[], traceId: string): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === traceId);
}

function traceIdOf(traceparent: string): string {
  return traceparent.split('-')[1] ?? '';
}

describe('proxy tracing: A → B → backend', () => {
  let cp: ControlPlane;
  let receiver: OtlpReceiver;
  let backend: Awaited<ReturnType<typeof startTracingBackend>>;
  let portA: number;
  let portB: number;
  const accessLogPath = path.join(tempDir('tracing-log'), 'a.log');

  const applyA = (randomPercent: number): Promise<void> =>
    apiApply(
      cp.apiUrl,
      proxyResources({
        listenerPort: portA,
        upstreamPort: portB,
        otelCluster: staticClusterResource('otel', [receiver.grpcPort], {
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        }),
        provider: {
          grpc_service: { envoy_grpc: { cluster_name: 'otel' } },
          service_name: 'proxy-a',
        },
        randomPercent,
        accessLogPath,
      }),
      'trace-a',
    );

  before(async () => {
    [cp, receiver, backend] = await Promise.all([
      startControlPlane(),
      startOtlpReceiver(),
      startTracingBackend(),
    ]);
    portA = await freePort();
    portB = await freePort();
    await applyA(100);
    await apiApply(
      cp.apiUrl,
      proxyResources({
        listenerPort: portB,
        upstreamPort: backend.port,
        otelCluster: staticClusterResource('otel', [receiver.httpPort]),
        provider: {
          http_service: {
            http_uri: { uri: `${receiver.httpUrl}/v1/traces`, cluster: 'otel', timeout: '5s' },
          },
        },
        randomPercent: 100,
      }),
      'trace-b',
    );
    await Promise.all([
      startProxy({
        bootstrap: proxyBootstrap({
          nodeId: 'tracing-a',
          nodeCluster: 'trace-a',
          xdsAddress: cp.xdsAddress,
        }),
      }),
      startProxy({
        bootstrap: proxyBootstrap({
          nodeId: 'tracing-b',
          nodeCluster: 'trace-b',
          xdsAddress: cp.xdsAddress,
        }),
      }),
    ]);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${portA}/warmup`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, 'A → B → backend serving');
  });

  after(async () => {
    await stopAll();
    await Promise.all([receiver?.close(), backend?.close()]);
  });

  test('one request gives one trace: A server → A client → B server → B client', async () => {
    const res = await httpRequest(`http://127.0.0.1:${portA}/hello?x=1`, {
      headers: { 'user-agent': 'tracing-e2e' },
    });
    assert.equal(res.status, 200);
    const seen = backend.seen.filter((s) => s.path === '/hello?x=1').at(-1)!;
    const traceId = traceIdOf(seen.traceparent);
    assert.match(seen.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // A's access log names the same trace (%TRACE_ID%), though the request came without one.
    const logged = await eventually(() => {
      const lines = fs.existsSync(accessLogPath) ? fs.readFileSync(accessLogPath, 'utf8') : '';
      return lines.split('\n').find((l) => l.endsWith(' /hello?x=1'));
    }, 'the access log line of /hello?x=1');
    assert.equal(logged, `${traceId} /hello?x=1`);
    const spans = traceOf(
      await receiver.waitForSpans((all) => traceOf(all, traceId).length >= 4),
      traceId,
    );
    assert.equal(
      spans.length,
      4,
      JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    );
    const aServer = spans.find((s) => s.serviceName === 'proxy-a' && s.kind === SERVER)!;
    const aClient = spans.find((s) => s.serviceName === 'proxy-a' && s.kind === CLIENT)!;
    const bServer = spans.find((s) => s.serviceName === 'trace-b' && s.kind === SERVER)!;
    const bClient = spans.find((s) => s.serviceName === 'trace-b' && s.kind === CLIENT)!;
    assert.ok(aServer && aClient && bServer && bClient, 'one server and one client span per proxy');
    assert.equal(aServer.parentSpanId, '');
    assert.equal(aClient.parentSpanId, aServer.spanId);
    assert.equal(bServer.parentSpanId, aClient.spanId);
    assert.equal(bClient.parentSpanId, bServer.spanId);
    // The backend's parent is B's client span.
    assert.equal(seen.traceparent, `00-${traceId}-${bClient.spanId}-01`);
    assert.equal(aServer.transport, 'grpc');
    assert.equal(bServer.transport, 'http');
    assert.equal(aServer.resource['service.instance.id'], 'tracing-a');
    assert.equal(bServer.resource['service.instance.id'], 'tracing-b');

    assert.equal(aServer.attributes['http.request.method'], 'GET');
    assert.equal(aServer.attributes['url.path'], '/hello');
    assert.equal(aServer.attributes['url.query'], 'x=1');
    assert.equal(aServer.attributes['url.scheme'], 'http');
    assert.equal(aServer.attributes['http.response.status_code'], 200);
    assert.equal(aServer.attributes['user_agent.original'], 'tracing-e2e');
    assert.equal(aServer.attributes['network.peer.address'], '127.0.0.1');
    assert.equal(aServer.attributes.upstream_cluster, 'next');
    assert.equal(aServer.attributes.hop, 'set-by-config');
    assert.equal(aServer.attributes['guid:x-request-id'], seen.requestId);
    assert.equal(bServer.attributes['guid:x-request-id'], seen.requestId);
    assert.equal(aClient.attributes['server.port'], portB);
    assert.equal(aClient.attributes['server.address'], '127.0.0.1');
    assert.equal(aClient.attributes.upstream_cluster, 'next');
    assert.equal(aClient.attributes['http.response.status_code'], 200);
    assert.equal(bClient.attributes['server.port'], backend.port);
    for (const span of spans) assert.equal(span.status.code, 0, `${span.name} status unset`);
  });

  test('a retried request shows two client spans on B, the first an error', async () => {
    const res = await httpRequest(`http://127.0.0.1:${portA}/flaky`);
    assert.equal(res.status, 200);
    const seen = backend.seen.filter((s) => s.path === '/flaky');
    assert.equal(seen.length, 2, 'the backend saw the attempt and its retry');
    const traceId = traceIdOf(seen[0]!.traceparent);
    assert.equal(traceIdOf(seen[1]!.traceparent), traceId);
    const spans = traceOf(
      await receiver.waitForSpans((all) => traceOf(all, traceId).length >= 5),
      traceId,
    );
    const bServer = spans.find((s) => s.serviceName === 'trace-b' && s.kind === SERVER)!;
    const bClients = spans
      .filter((s) => s.serviceName === 'trace-b' && s.kind === CLIENT)
      .sort((x, y) => (x.startTimeUnixNano < y.startTimeUnixNano ? -1 : 1));
    assert.equal(bClients.length, 2);
    for (const c of bClients) assert.equal(c.parentSpanId, bServer.spanId);
    assert.equal(bClients[0]!.attributes['http.response.status_code'], 503);
    assert.equal(bClients[0]!.status.code, 2);
    assert.equal(bClients[0]!.attributes['error.type'], '503');
    assert.equal(bClients[1]!.attributes['http.response.status_code'], 200);
    assert.equal(bClients[1]!.attributes['http.request.resend_count'], 1);
    // Each attempt carried its own client span as the backend's parent.
    assert.equal(seen[0]!.traceparent, `00-${traceId}-${bClients[0]!.spanId}-01`);
    assert.equal(seen[1]!.traceparent, `00-${traceId}-${bClients[1]!.spanId}-01`);
  });

  test('an incoming traceparent with flags 00: no spans, the same trace id reaches the backend', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await httpRequest(`http://127.0.0.1:${portA}/unsampled`, {
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-00` },
    });
    assert.equal(res.status, 200);
    const seen = backend.seen.filter((s) => s.path === '/unsampled').at(-1)!;
    assert.match(seen.traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    // A sampled request afterwards: once its spans are in, earlier ones would be too (one
    // exporter per proxy worker, exporting in order).
    await httpRequest(`http://127.0.0.1:${portA}/after-unsampled`);
    const marker = traceIdOf(
      backend.seen.filter((s) => s.path === '/after-unsampled').at(-1)!.traceparent,
    );
    const all = await receiver.waitForSpans((spans) => traceOf(spans, marker).length >= 4);
    assert.deepEqual(traceOf(all, traceId), []);
  });

  test('random_sampling 0 applied live stops new traces; 100 starts them again', async () => {
    await applyA(0);
    const unsampled = await eventually(async () => {
      await httpRequest(`http://127.0.0.1:${portA}/sampling-off`);
      const last = backend.seen.filter((s) => s.path === '/sampling-off').at(-1)!;
      return last.traceparent.endsWith('-00') ? last.traceparent : undefined;
    }, 'A applies random_sampling 0');
    await applyA(100);
    const sampled = await eventually(async () => {
      await httpRequest(`http://127.0.0.1:${portA}/sampling-on`);
      const last = backend.seen.filter((s) => s.path === '/sampling-on').at(-1)!;
      return last.traceparent.endsWith('-01') ? last.traceparent : undefined;
    }, 'A applies random_sampling 100');
    const all = await receiver.waitForSpans(
      (spans) => traceOf(spans, traceIdOf(sampled)).length >= 4,
    );
    assert.deepEqual(traceOf(all, traceIdOf(unsampled)), [], 'no span of the unsampled request');
  });
});

describe('proxy tracing to a collector behind TLS', () => {
  let receiver: OtlpReceiver;
  let backend: Awaited<ReturnType<typeof startTracingBackend>>;
  let proxy: Proxy;
  const ports = { grpc: 0, http: 0, wrongCa: 0 };

  /** A collector cluster with an UpstreamTlsContext trusting `ca` (HTTP/2 for OTLP/gRPC). */
  const collectorCluster = (name: string, port: number, ca: string, h2: boolean): Json =>
    staticClusterResource(name, [port], {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type':
            'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          sni: 'collector.test',
          common_tls_context: { validation_context: { trusted_ca: { inline_string: ca } } },
        },
      },
      ...(h2
        ? {
            typed_extension_protocol_options: {
              'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                '@type':
                  'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                explicit_http_config: { http2_protocol_options: {} },
              },
            },
          }
        : {}),
    });

  const listener = (name: string, port: number, provider: Json, serviceName: string): Json =>
    listenerResource(name, port, [
      {
        filters: [
          hcmFilter(
            {
              routeConfig: {
                name,
                virtual_hosts: [
                  {
                    name: 'all',
                    domains: ['*'],
                    routes: [{ match: { prefix: '/' }, route: { cluster: 'next' } }],
                  },
                ],
              },
            },
            { tracing: tracing({ ...provider, service_name: serviceName }, 100) },
          ),
        ],
      },
    ]);

  before(async () => {
    const dir = tempDir('otlp-tls');
    const pair = selfSigned(dir, 'collector.test');
    const other = selfSigned(dir, 'someone-else.test');
    [receiver, backend] = await Promise.all([
      startOtlpReceiver({ tls: pair }),
      startTracingBackend(),
    ]);
    [ports.grpc, ports.http, ports.wrongCa] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    proxy = await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'tracing-tls',
        listeners: [
          listener(
            'via-grpc',
            ports.grpc,
            { grpc_service: { envoy_grpc: { cluster_name: 'otel-grpc' } } },
            'tls-grpc',
          ),
          listener(
            'via-http',
            ports.http,
            {
              http_service: {
                http_uri: {
                  uri: 'https://collector.test/v1/traces',
                  cluster: 'otel-http',
                  timeout: '5s',
                },
              },
            },
            'tls-http',
          ),
          listener(
            'wrong-ca',
            ports.wrongCa,
            {
              http_service: {
                http_uri: {
                  uri: 'https://collector.test/v1/traces',
                  cluster: 'otel-wrong-ca',
                  timeout: '5s',
                },
              },
            },
            'tls-wrong-ca',
          ),
        ],
        clusters: [
          staticClusterResource('next', [backend.port]),
          collectorCluster('otel-grpc', receiver.grpcPort, pair.cert, true),
          collectorCluster('otel-http', receiver.httpPort, pair.cert, false),
          collectorCluster('otel-wrong-ca', receiver.httpPort, other.cert, false),
        ],
      }),
    });
  });

  after(async () => {
    await stopAll();
    await Promise.all([receiver?.close(), backend?.close()]);
  });

  test('spans arrive over OTLP/gRPC and OTLP/HTTPS, verified against trusted_ca', async () => {
    for (const port of [ports.grpc, ports.http]) {
      const res = await httpRequest(`http://127.0.0.1:${port}/traced`);
      assert.equal(res.status, 200);
    }
    const spans = await receiver.waitForSpans((all) =>
      ['tls-grpc', 'tls-http'].every((name) => all.some((s) => s.serviceName === name)),
    );
    assert.deepEqual([...new Set(spans.map((s) => `${s.serviceName} ${s.transport}`))].sort(), [
      'tls-grpc grpc',
      'tls-http http',
    ]);
  });

  test('a collector whose certificate is not signed by trusted_ca gets nothing: spans dropped', async () => {
    const res = await httpRequest(`http://127.0.0.1:${ports.wrongCa}/untrusted`);
    assert.equal(res.status, 200);
    await eventually(async () => {
      const text = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
      const dropped = /^ferry_tracing_spans_dropped_total(?:\{[^}]*\})? (\d+)/m.exec(text);
      return dropped !== null && Number(dropped[1]) > 0 ? true : undefined;
    }, 'the untrusted export counted as dropped');
    assert.equal(
      receiver.spans.some((s) => s.serviceName === 'tls-wrong-ca'),
      false,
      'nothing reached the collector through the untrusted connection',
    );
  });
});
