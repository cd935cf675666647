/**
 * typed_per_filter_config at every route level, and HCM http_filters with `disabled`, through
 * the same translation the proxy runs (strict decoding first, as received over xDS).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resourcesOf } from './translate-test-fixtures.js';
import type { ForwardActionModel, ProxyConfig } from './model.js';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
};
const FILTER_CONFIG = `${T}envoy.config.route.v3.FilterConfig`;
const BUFFER_PER_ROUTE = `${T}envoy.extensions.filters.http.buffer.v3.BufferPerRoute`;
const FAULT = `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`;
const CORS_POLICY = `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`;

type Doc = Record<string, unknown>;

const CLUSTERS: Doc[] = ['a', 'b'].map((name) => ({
  '@type': 'envoy.config.cluster.v3.Cluster',
  name,
  type: 'STATIC',
  load_assignment: {
    cluster_name: name,
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } },
        ],
      },
    ],
  },
}));

function listener(routeConfig: Doc, httpFilters: Doc[] = [ROUTER]): Doc {
  return {
    '@type': 'envoy.config.listener.v3.Listener',
    name: 'http',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'http',
              route_config: routeConfig,
              http_filters: httpFilters,
            },
          },
        ],
      },
    ],
  };
}

function routeConfig(levels: { config?: Doc; vhost?: Doc; route?: Doc; weighted?: Doc }): Doc {
  return {
    name: 'r',
    ...(levels.config ? { typed_per_filter_config: levels.config } : {}),
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        ...(levels.vhost ? { typed_per_filter_config: levels.vhost } : {}),
        routes: [
          {
            match: { prefix: '/' },
            ...(levels.route ? { typed_per_filter_config: levels.route } : {}),
            route: {
              weighted_clusters: {
                clusters: [
                  {
                    name: 'a',
                    weight: 1,
                    ...(levels.weighted ? { typed_per_filter_config: levels.weighted } : {}),
                  },
                  { name: 'b', weight: 1 },
                ],
              },
            },
          },
        ],
      },
    ],
  };
}

function run(docs: Doc[]): { config?: ProxyConfig; errors: string[] } {
  const r = buildProxyConfig(resourcesOf([...docs, ...CLUSTERS]));
  return r.ok ? { config: r.value, errors: [] } : { errors: r.errors };
}

const L = 'Listener "http": filter_chains[0].filters[0].typed_config';

describe('typed_per_filter_config translation', () => {
  test('every level: filter messages and FilterConfig wrappers become the model', () => {
    const { config, errors } = run([
      listener(
        routeConfig({
          config: { 'envoy.filters.http.buffer': { '@type': BUFFER_PER_ROUTE, disabled: true } },
          vhost: {
            'envoy.filters.http.cors': {
              '@type': FILTER_CONFIG,
              config: { '@type': CORS_POLICY, allow_methods: 'GET' },
            },
          },
          route: {
            'envoy.filters.http.fault': { '@type': FILTER_CONFIG, disabled: true },
            optional: {
              '@type': FILTER_CONFIG,
              is_optional: true,
              config: {
                '@type': `${T}envoy.extensions.filters.http.csrf.v3.CsrfPolicy`,
                filter_enabled: { default_value: {} },
              },
            },
            enabled: { '@type': FILTER_CONFIG, config: {} },
          },
          weighted: {
            'envoy.filters.http.fault': {
              '@type': FAULT,
              abort: { http_status: 503, percentage: { numerator: 100 } },
            },
          },
        }),
      ),
    ]);
    assert.deepEqual(errors, []);
    const rc = config!.listeners[0]!.filterChains[0]!.http!.routeConfig!;
    assert.deepEqual(rc.typedPerFilterConfig, {
      'envoy.filters.http.buffer': { config: { disabled: true }, disabled: false },
    });
    const vh = rc.virtualHosts[0]!;
    assert.deepEqual(vh.typedPerFilterConfig, {
      'envoy.filters.http.cors': {
        config: {
          allowOriginStringMatch: [],
          allowMethods: 'GET',
          allowHeaders: '',
          exposeHeaders: '',
          maxAge: '',
        },
        disabled: false,
      },
    });
    const route = vh.routes[0]!;
    assert.deepEqual(route.typedPerFilterConfig, {
      'envoy.filters.http.fault': { config: undefined, disabled: true },
      optional: { config: undefined, disabled: false },
      enabled: { config: undefined, disabled: false },
    });
    const weighted = (route.action as ForwardActionModel).weightedClusters!;
    assert.deepEqual(weighted[0]!.typedPerFilterConfig, {
      'envoy.filters.http.fault': {
        config: {
          abort: {
            kind: 'http',
            httpStatus: 503,
            percentage: { numerator: 100, denominator: 100 },
          },
          upstreamCluster: '',
          headers: [],
          downstreamNodes: [],
        },
        disabled: false,
      },
    });
    assert.equal(weighted[1]!.typedPerFilterConfig, undefined);
  });

  test('NACKs with field paths', () => {
    const csrf = {
      '@type': `${T}envoy.extensions.filters.http.csrf.v3.CsrfPolicy`,
      filter_enabled: { default_value: {} },
    };
    const { errors } = run([
      listener(
        routeConfig({
          config: { x: csrf },
          vhost: { y: { '@type': FILTER_CONFIG, is_optional: false } },
          route: {
            z: {
              '@type': `${T}envoy.extensions.filters.http.buffer.v3.Buffer`,
              max_request_bytes: 1,
            },
            r: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
          },
          weighted: { w: { '@type': FAULT, response_rate_limit: { header_limit: {} } } },
        }),
      ),
    ]);
    const rc = `${L}.route_config.virtual_hosts[0]`;
    assert.deepEqual(errors, [
      `${rc}.routes[0].route.weighted_clusters.clusters[0].typed_per_filter_config["w"].response_rate_limit: response_rate_limit (response throughput faults) is not supported by ferry-proxy`,
      `${rc}.routes[0].typed_per_filter_config["z"]: envoy.extensions.filters.http.buffer.v3.Buffer is not a per-route config of envoy.filters.http.buffer (accepted: envoy.extensions.filters.http.buffer.v3.BufferPerRoute)`,
      `${rc}.routes[0].typed_per_filter_config["r"]: envoy.extensions.filters.http.router.v3.Router is not a per-route config of envoy.filters.http.router (accepted: none)`,
      `${rc}.typed_per_filter_config["y"].config: is required unless disabled is true`,
      `${L}.route_config.typed_per_filter_config["x"]: per-route config envoy.extensions.filters.http.csrf.v3.CsrfPolicy is not supported by ferry-proxy (no HTTP filter takes it; wrap it in a FilterConfig with is_optional to skip it)`,
    ]);
  });
});

describe('HCM http_filters with disabled', () => {
  test('a disabled filter stays in the model, marked', () => {
    const fault = {
      name: 'envoy.filters.http.fault',
      disabled: true,
      typed_config: { '@type': FAULT, abort: { http_status: 500, percentage: { numerator: 100 } } },
    };
    const { config, errors } = run([listener(routeConfig({}), [fault, ROUTER])]);
    assert.deepEqual(errors, []);
    const filters = config!.listeners[0]!.filterChains[0]!.http!.httpFilters;
    assert.deepEqual(
      filters.map((f) => [f.name, f.disabled]),
      [
        ['envoy.filters.http.fault', true],
        ['envoy.filters.http.router', false],
      ],
    );
  });

  test('the router cannot be disabled', () => {
    const { errors } = run([listener(routeConfig({}), [{ ...ROUTER, disabled: true }])]);
    assert.deepEqual(errors, [
      `${L}.http_filters[0].disabled: the terminal filter cannot be disabled`,
    ]);
  });
});
