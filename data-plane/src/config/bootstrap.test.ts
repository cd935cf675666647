import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBootstrap } from './bootstrap.js';
import { buildProxyConfig } from './translate.js';
import { TEST_CERT } from './translate-test-fixtures.js';

// What an Envoy user points at a control plane: admin, a static listener and the xds cluster
// (HTTP/2 via the deprecated cluster field, as many bootstraps still have it), ADS for LDS/CDS.
const TYPICAL = `
node:
  id: edge-1
  cluster: edge
  metadata: { team: web }
admin:
  access_log_path: /dev/null
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services:
    - envoy_grpc: { cluster_name: xds_cluster }
  lds_config: { ads: {}, resource_api_version: V3 }
  cds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
  - name: xds_cluster
    connect_timeout: 1s
    type: STRICT_DNS
    http2_protocol_options: {}
    load_assignment:
      cluster_name: xds_cluster
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: control-plane.internal, port_value: 18000 }
  - name: local
    type: STATIC
    load_assignment:
      cluster_name: local
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 3000 } } }
  listeners:
  - name: local_http
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: local
          route_config:
            virtual_hosts:
            - name: local
              domains: ["*"]
              routes: [{ match: { prefix: / }, route: { cluster: local } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
layered_runtime:
  layers:
  - name: admin
    admin_layer: {}
`;

function errors(text: string): string[] {
  const r = loadBootstrap(text, 'bootstrap.yaml');
  assert.equal(r.ok, false, 'expected the bootstrap to be rejected');
  return r.ok ? [] : r.errors;
}

describe('loadBootstrap', () => {
  test('a typical Envoy bootstrap: admin, static resources, ADS to the control plane cluster', () => {
    const r = loadBootstrap(TYPICAL, 'bootstrap.yaml');
    if (!r.ok) assert.fail(r.errors.join('\n'));
    const b = r.value;
    assert.deepEqual(b.node, { id: 'edge-1', cluster: 'edge', metadata: { team: 'web' } });
    assert.deepEqual(b.admin, { host: '127.0.0.1', port: 9901 });
    assert.equal(b.lds, true);
    assert.equal(b.cds, true);
    assert.ok(b.ads);
    assert.equal(b.ads.clusterName, 'xds_cluster');
    assert.equal(b.ads.apiType, 'GRPC');
    assert.equal(b.ads.authority, 'xds_cluster');
    assert.equal(b.ads.setNodeOnFirstMessageOnly, true);
    assert.equal(b.ads.cluster.upstreamProtocol, 'HTTP2');
    assert.equal(b.ads.cluster.connectTimeoutMs, 1000);
    assert.deepEqual(
      b.ads.cluster.localities[0]!.endpoints.map((e) => [e.host, e.port]),
      [['control-plane.internal', 18000]],
    );
    // The static resources are ready for buildProxyConfig alongside xDS resources.
    const built = buildProxyConfig({
      listeners: b.staticListeners,
      clusters: b.staticClusters,
      routeConfigs: [],
      endpoints: [],
    });
    assert.ok(built.ok);
    assert.deepEqual(
      built.value.listeners.map((l) => l.name),
      ['local_http'],
    );
  });

  test('JSON works too, and a standalone bootstrap needs no ADS', () => {
    const r = loadBootstrap(
      JSON.stringify({
        node: { id: 'n' },
        static_resources: { clusters: [{ name: 'c', type: 'STATIC' }] },
      }),
      'b.json',
    );
    if (!r.ok) assert.fail(r.errors.join('\n'));
    assert.equal(r.value.ads, undefined);
    assert.equal(r.value.lds, false);
    assert.equal(r.value.staticClusters.length, 1);
  });

  test('static secrets: what SdsSecretConfigs with only a name refer to', () => {
    const text = TYPICAL.replace(
      '    http2_protocol_options: {}\n',
      `    http2_protocol_options: {}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          validation_context_sds_secret_config: { name: xds-ca }
`,
    ).replace(
      'static_resources:\n',
      `static_resources:
  secrets:
  - name: xds-ca
    validation_context:
      trusted_ca:
        inline_string: |
${TEST_CERT.trimEnd()
  .split('\n')
  .map((l) => '          ' + l)
  .join('\n')}
`,
    );
    const r = loadBootstrap(text, 'bootstrap.yaml');
    if (!r.ok) assert.fail(r.errors.join('\n'));
    assert.deepEqual(
      r.value.staticSecrets.map((s) => s.name),
      ['xds-ca'],
    );
    // The xDS connection's TLS, from the static secret, and the data path's: the same.
    assert.equal(r.value.ads?.tls?.trustedCaPem, TEST_CERT);
    assert.equal(r.value.ads?.cluster.tls?.trustedCaPem, TEST_CERT);
  });

  test("the xDS cluster's HTTP/2 connection_keepalive, typed or deprecated, is the xDS connection's", () => {
    const typed = TYPICAL.replace(
      '    http2_protocol_options: {}\n',
      `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options:
            connection_keepalive: { interval: 2s, timeout: 1.5s, interval_jitter: { value: 10 } }
`,
    );
    const t = loadBootstrap(typed, 'bootstrap.yaml');
    if (!t.ok) assert.fail(t.errors.join('\n'));
    assert.deepEqual(t.value.ads?.keepalive, { intervalMs: 2000, timeoutMs: 1500, jitter: 0.1 });
    const deprecated = TYPICAL.replace(
      '    http2_protocol_options: {}\n',
      '    http2_protocol_options: { connection_keepalive: { interval: 5s, timeout: 3s } }\n',
    );
    const d = loadBootstrap(deprecated, 'bootstrap.yaml');
    if (!d.ok) assert.fail(d.errors.join('\n'));
    assert.deepEqual(
      d.value.ads?.keepalive,
      { intervalMs: 5000, timeoutMs: 3000, jitter: 0.15 },
      "interval_jitter defaults to Envoy's 15%",
    );
    const none = loadBootstrap(TYPICAL, 'bootstrap.yaml');
    assert.ok(none.ok);
    assert.equal(none.value.ads?.keepalive, undefined, "no PINGs unless asked (Envoy's default)");
  });

  const CASES: Array<{ name: string; edit: (t: string) => string; errors: string[] }> = [
    {
      name: 'keepalive PINGs before new streams on an idle xDS connection',
      edit: (t) =>
        t.replace(
          '    http2_protocol_options: {}\n',
          '    http2_protocol_options: { connection_keepalive: { interval: 5s, timeout: 3s, connection_idle_interval: 60s } }\n',
        ),
      errors: [
        'bootstrap.yaml: static_resources: Cluster "xds_cluster": http2_protocol_options.connection_keepalive.connection_idle_interval: not supported by ferry-proxy: PINGs are sent every interval whether or not the connection is idle',
      ],
    },
    {
      name: 'xDS connection keepalive without its timeout',
      edit: (t) =>
        t.replace(
          '    http2_protocol_options: {}\n',
          '    http2_protocol_options: { connection_keepalive: { interval: 5s } }\n',
        ),
      errors: [
        'bootstrap.yaml: static_resources.clusters[0].http2_protocol_options.connection_keepalive.timeout: is required (validate.rules)',
      ],
    },
    {
      name: 'xDS connection keepalive without its interval',
      edit: (t) =>
        t.replace(
          '    http2_protocol_options: {}\n',
          '    http2_protocol_options: { connection_keepalive: { timeout: 3s } }\n',
        ),
      errors: [
        'bootstrap.yaml: static_resources: Cluster "xds_cluster": http2_protocol_options.connection_keepalive.interval: required: a positive duration',
      ],
    },
    {
      name: 'an ADS cluster that waits for a secret only ADS could deliver',
      edit: (t) =>
        t.replace(
          '    http2_protocol_options: {}\n',
          `    http2_protocol_options: {}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          tls_certificate_sds_secret_configs: [{ name: client, sds_config: { ads: {} } }]
`,
        ),
      errors: [
        'bootstrap.yaml: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: "xds_cluster" waits for SDS secrets (client) that only ADS itself could deliver; give the ADS cluster inline certificates or static secrets',
      ],
    },
    {
      name: 'strict decoding: unknown field with its path',
      edit: (t) => t.replace('  cluster: edge\n', '  cluster: edge\n  clustr: x\n'),
      errors: [
        'bootstrap.yaml: node.clustr: unknown field (did you mean "cluster"?) in envoy.config.core.v3.Node',
      ],
    },
    {
      name: 'unsupported bootstrap field',
      edit: (t) => t + 'cluster_manager:\n  local_cluster_name: local\n',
      errors: ['bootstrap.yaml: cluster_manager: not supported by ferry-proxy'],
    },
    {
      name: 'runtime values',
      edit: (t) =>
        t +
        '  - name: static\n    static_layer: { overload: { global_downstream_max_connections: 100 } }\n',
      errors: [
        'bootstrap.yaml: layered_runtime.layers[1].static_layer: runtime values (overload) are not supported by ferry-proxy',
      ],
    },
    {
      name: 'ADS cluster that is not static',
      edit: (t) => t.replace('cluster_name: xds_cluster }', 'cluster_name: elsewhere }'),
      errors: [
        'bootstrap.yaml: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: "elsewhere" is not a static cluster',
      ],
    },
    {
      name: 'google_grpc',
      edit: (t) =>
        t.replace(
          '- envoy_grpc: { cluster_name: xds_cluster }',
          '- google_grpc: { target_uri: "cp:18000", stat_prefix: x }',
        ),
      errors: [
        'bootstrap.yaml: dynamic_resources.ads_config.grpc_services[0].google_grpc: not supported by ferry-proxy',
      ],
    },
    {
      name: 'LDS from a file',
      edit: (t) =>
        t.replace(
          'lds_config: { ads: {}, resource_api_version: V3 }',
          'lds_config: { path_config_source: { path: /etc/lds.yaml } }',
        ),
      errors: [
        'bootstrap.yaml: dynamic_resources.lds_config.path_config_source: not supported by ferry-proxy',
      ],
    },
    {
      name: 'static secrets of a kind ferry-proxy does not use',
      edit: (t) =>
        t.replace(
          'static_resources:\n',
          'static_resources:\n  secrets: [{ name: s, generic_secret: { secret: { inline_string: x } } }]\n',
        ),
      errors: [
        'bootstrap.yaml: static_resources: static Secret "s": generic_secret: not supported by ferry-proxy',
      ],
    },
    {
      name: 'static resource errors carry the resource label',
      edit: (t) =>
        t.replace(
          'connect_timeout: 1s\n',
          'connect_timeout: 1s\n    lb_policy: CLUSTER_PROVIDED\n',
        ),
      errors: [
        'bootstrap.yaml: static_resources: Cluster "xds_cluster": lb_policy: CLUSTER_PROVIDED is not supported by ferry-proxy (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV)',
      ],
    },
    {
      name: 'YAML syntax error with a position',
      edit: () => 'node: [unclosed\n',
      errors: [
        'bootstrap.yaml:2:1: document 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
    },
  ];
  for (const c of CASES) {
    test(`rejects: ${c.name}`, () => {
      assert.deepEqual(errors(c.edit(TYPICAL)), c.errors);
    });
  }
});
