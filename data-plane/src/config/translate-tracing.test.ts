/**
 * HttpConnectionManager.tracing and Route.tracing translation: accepted configs with their
 * defaults, and one NACK per unsupported field/value with its exact path.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resourcesOf } from './translate-test-fixtures.js';
import type { ProxyConfig } from './model.js';

const T = 'type.googleapis.com/';
type Doc = Record<string, unknown>;

const OTEL = `${T}envoy.config.trace.v3.OpenTelemetryConfig`;

function grpcProvider(extra: Doc = {}): Doc {
  return {
    name: 'envoy.tracers.opentelemetry',
    typed_config: {
      '@type': OTEL,
      grpc_service: { envoy_grpc: { cluster_name: 'otel' } },
      ...extra,
    },
  };
}

function build(tracing: Doc | undefined, routeTracing?: Doc): ReturnType<typeof buildProxyConfig> {
  const route: Doc = {
    name: 'r',
    match: { prefix: '/' },
    route: { cluster: 'web' },
    ...(routeTracing ? { tracing: routeTracing } : {}),
  };
  const hcm: Doc = {
    '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    stat_prefix: 'http',
    route_config: {
      name: 'inline',
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [route] }],
    },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
      },
    ],
    ...(tracing ? { tracing } : {}),
  };
  const cluster = (name: string, port: number): Doc => ({
    '@type': 'envoy.config.cluster.v3.Cluster',
    name,
    type: 'STATIC',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
            },
          ],
        },
      ],
    },
  });
  const listener: Doc = {
    '@type': 'envoy.config.listener.v3.Listener',
    name: 'http',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] },
    ],
  };
  return buildProxyConfig(resourcesOf([listener, cluster('web', 80), cluster('otel', 4317)]));
}

function hcmOf(config: ProxyConfig) {
  return config.listeners[0]!.filterChains[0]!.http!;
}

const L = 'Listener "http": filter_chains[0].filters[0].typed_config.tracing';

describe('HttpConnectionManager.tracing', () => {
  test('no tracing: the model has no tracing field', () => {
    const r = build(undefined);
    assert.ok(r.ok);
    assert.equal(hcmOf(r.value).tracing, undefined);
  });

  test('OTLP/gRPC provider with Envoy defaults', () => {
    const r = build({ provider: grpcProvider() });
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(hcmOf(r.value).tracing, {
      clientSamplingPercent: 100,
      randomSamplingPercent: 100,
      overallSamplingPercent: 100,
      spawnUpstreamSpan: false,
      maxPathTagLength: 256,
      customTags: [],
      provider: {
        transport: 'grpc',
        clusterName: 'otel',
        timeoutMs: 10_000,
        serviceName: '',
        headers: [],
      },
    });
  });

  test('OTLP/HTTP provider, sampling, tags and limits', () => {
    process.env.FERRY_TRACING_TEST_ZONE = 'zone-a';
    const r = build({
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typed_config: {
          '@type': OTEL,
          service_name: 'edge',
          http_service: {
            http_uri: { uri: 'http://collector:4318/v1/traces', cluster: 'otel', timeout: '2s' },
            request_headers_to_add: [{ header: { key: 'Authorization', value: 'Bearer x' } }],
          },
        },
      },
      random_sampling: { value: 1.5 },
      client_sampling: { value: 50 },
      overall_sampling: { value: 0 },
      spawn_upstream_span: true,
      max_path_tag_length: 64,
      verbose: true,
      custom_tags: [
        { tag: 'team', literal: { value: 'payments' } },
        { tag: 'zone', environment: { name: 'FERRY_TRACING_TEST_ZONE' } },
        { tag: 'unset', environment: { name: 'FERRY_TRACING_TEST_UNSET' } },
        { tag: 'tenant', request_header: { name: 'X-Tenant', default_value: 'none' } },
      ],
    });
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(hcmOf(r.value).tracing, {
      clientSamplingPercent: 50,
      randomSamplingPercent: 1.5,
      overallSamplingPercent: 0,
      spawnUpstreamSpan: true,
      maxPathTagLength: 64,
      customTags: [
        { kind: 'literal', tag: 'team', value: 'payments' },
        { kind: 'literal', tag: 'zone', value: 'zone-a' },
        { kind: 'request_header', tag: 'tenant', name: 'x-tenant', defaultValue: 'none' },
      ],
      provider: {
        transport: 'http',
        clusterName: 'otel',
        httpPath: '/v1/traces',
        timeoutMs: 2000,
        serviceName: 'edge',
        headers: [{ key: 'authorization', value: 'Bearer x' }],
      },
    });
  });

  test('Route.tracing overrides (FractionalPercent denominators) and custom tags', () => {
    const r = build(
      { provider: grpcProvider() },
      {
        random_sampling: { numerator: 25, denominator: 'TEN_THOUSAND' },
        overall_sampling: { numerator: 50 },
        custom_tags: [{ tag: 'route', literal: { value: 'r' } }],
      },
    );
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    const route = hcmOf(r.value).routeConfig!.virtualHosts[0]!.routes[0]!;
    assert.deepEqual(route.tracing, {
      randomSamplingPercent: 0.25,
      overallSamplingPercent: 50,
      customTags: [{ kind: 'literal', tag: 'route', value: 'r' }],
    });
  });

  const NACKS: Array<{ name: string; tracing: Doc; route?: Doc; errors: string[] }> = [
    {
      name: 'another tracer (typed_config)',
      tracing: {
        provider: {
          name: 'envoy.tracers.zipkin',
          typed_config: {
            '@type': `${T}envoy.config.trace.v3.ZipkinConfig`,
            collector_cluster: 'otel',
            collector_endpoint: '/api/v2/spans',
            collector_endpoint_version: 'HTTP_JSON',
          },
        },
      },
      errors: [
        `${L}.provider.typed_config: tracer envoy.config.trace.v3.ZipkinConfig is not supported by ferry-proxy (envoy.tracers.opentelemetry: OpenTelemetryConfig is)`,
      ],
    },
    {
      name: 'a provider name without typed_config',
      tracing: { provider: { name: 'envoy.tracers.datadog' } },
      errors: [
        `${L}.provider.name: tracer "envoy.tracers.datadog" is not supported by ferry-proxy (envoy.tracers.opentelemetry is)`,
      ],
    },
    {
      name: 'google_grpc',
      tracing: {
        provider: {
          name: 'envoy.tracers.opentelemetry',
          typed_config: {
            '@type': OTEL,
            grpc_service: { google_grpc: { target_uri: 'collector:4317', stat_prefix: 'otel' } },
          },
        },
      },
      errors: [
        `${L}.provider.typed_config.grpc_service.google_grpc: not supported by ferry-proxy (use envoy_grpc with a cluster)`,
      ],
    },
    {
      name: 'unknown collector cluster',
      tracing: {
        provider: {
          name: 'envoy.tracers.opentelemetry',
          typed_config: { '@type': OTEL, grpc_service: { envoy_grpc: { cluster_name: 'nope' } } },
        },
      },
      errors: [
        `${L}.provider.typed_config.grpc_service.envoy_grpc.cluster_name: unknown cluster "nope"`,
      ],
    },
    {
      name: 'sampler extension',
      tracing: {
        provider: grpcProvider({
          sampler: {
            name: 'envoy.tracers.opentelemetry.samplers.always_on',
            typed_config: {
              '@type': `${T}envoy.extensions.tracers.opentelemetry.samplers.v3.AlwaysOnSamplerConfig`,
            },
          },
        }),
      },
      errors: [
        `${L}.provider.typed_config.sampler: not supported by ferry-proxy (sampling is the HCM's client/random/overall_sampling)`,
      ],
    },
    {
      name: 'no exporter',
      tracing: {
        provider: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': OTEL } },
      },
      errors: [
        `${L}.provider.typed_config: one of grpc_service or http_service is required (ferry-proxy exports every sampled span)`,
      ],
    },
    {
      name: 'metadata custom tag',
      tracing: {
        provider: grpcProvider(),
        custom_tags: [
          {
            tag: 'm',
            metadata: { kind: { request: {} }, metadata_key: { key: 'k', path: [{ key: 'a' }] } },
          },
        ],
      },
      errors: [
        `${L}.custom_tags[0].metadata: not supported by ferry-proxy (literal, environment and request_header tags are)`,
      ],
    },
    {
      name: 'retry_policy on envoy_grpc',
      tracing: {
        provider: {
          name: 'envoy.tracers.opentelemetry',
          typed_config: {
            '@type': OTEL,
            grpc_service: { envoy_grpc: { cluster_name: 'otel', skip_envoy_headers: true } },
          },
        },
      },
      errors: [
        `${L}.provider.typed_config.grpc_service.envoy_grpc.skip_envoy_headers: not supported by ferry-proxy`,
      ],
    },
  ];

  for (const c of NACKS) {
    test(`NACK: ${c.name}`, () => {
      const r = build(c.tracing, c.route);
      assert.deepEqual(r.ok ? [] : r.errors, c.errors);
    });
  }
});
