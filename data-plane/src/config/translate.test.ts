import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildProxyConfig, decodeResourceBinary, type XdsResources } from './translate.js';
import { OTHER_KEY, TEST_CERT, TEST_KEY, pemYaml, resources } from './translate-test-fixtures.js';
import type { ForwardActionModel, ProxyConfig } from './model.js';
import { jsonToBinary } from '@ferry/proto';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${T}envoy.extensions.filters.http.router.v3.Router`;

function build(input: XdsResources, previous?: ProxyConfig): ProxyConfig {
  const r = buildProxyConfig(input, previous);
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.value;
}

function errorsOf(input: XdsResources): string[] {
  const r = buildProxyConfig(input);
  assert.equal(r.ok, false, 'expected translation to fail');
  return r.ok ? [] : r.errors;
}

// Envoy's "Configuration: Static" quick-start (docs/root/start/quick-start/configuration-static),
// without its access_log, which ferry-proxy does not support yet.
const QUICK_START = `
"@type": envoy.config.listener.v3.Listener
name: listener_0
address:
  socket_address: { address: 0.0.0.0, port_value: 10000 }
filter_chains:
- filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": ${HCM}
      stat_prefix: ingress_http
      http_filters:
      - name: envoy.filters.http.router
        typed_config:
          "@type": ${ROUTER}
      route_config:
        name: local_route
        virtual_hosts:
        - name: local_service
          domains: ["*"]
          routes:
          - match: { prefix: "/" }
            route:
              host_rewrite_literal: www.envoyproxy.io
              cluster: service_envoyproxy_io
---
"@type": envoy.config.cluster.v3.Cluster
name: service_envoyproxy_io
type: LOGICAL_DNS
dns_lookup_family: V4_ONLY
load_assignment:
  cluster_name: service_envoyproxy_io
  endpoints:
  - lb_endpoints:
    - endpoint:
        address:
          socket_address: { address: www.envoyproxy.io, port_value: 443 }
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": ${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: www.envoyproxy.io
`;

// A dynamic set as a control plane sends it: RDS route config, EDS cluster and its endpoints.
const DYNAMIC = `
"@type": envoy.config.listener.v3.Listener
name: http
address: { socket_address: { address: 127.0.0.1, port_value: 8080 } }
per_connection_buffer_limit_bytes: 32768
filter_chains:
- filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": ${HCM}
      stat_prefix: http
      codec_type: AUTO
      use_remote_address: true
      xff_num_trusted_hops: 1
      stream_idle_timeout: 30s
      common_http_protocol_options: { idle_timeout: 300s, max_headers_count: 50 }
      http2_protocol_options: { max_concurrent_streams: 64 }
      upgrade_configs: [{ upgrade_type: WebSocket }]
      rds:
        route_config_name: main
        config_source: { ads: {}, resource_api_version: V3 }
      http_filters:
      - name: envoy.filters.http.router
        typed_config: { "@type": ${ROUTER} }
---
"@type": envoy.config.route.v3.RouteConfiguration
name: main
ignore_port_in_host_matching: true
response_headers_to_add:
- header: { key: X-Served-By, value: ferry }
  append_action: OVERWRITE_IF_EXISTS_OR_ADD
- header: { key: X-Empty, value: "" }
  keep_empty_value: true
virtual_hosts:
- name: shop
  domains: [shop.example.com, "*.shop.example.com"]
  retry_policy: { retry_on: "5xx,connect-failure", num_retries: 2, per_try_timeout: 0.5s }
  routes:
  - match:
      prefix: /api
      headers: [{ name: X-Canary, string_match: { exact: "yes" } }]
    route:
      weighted_clusters:
        clusters: [{ name: web, weight: 90 }, { name: web-canary, weight: 10 }]
      timeout: 3s
      prefix_rewrite: /
      hash_policy: [{ header: { header_name: X-User } }, { connection_properties: { source_ip: true }, terminal: true }]
  - match: { path: /old }
    redirect: { path_redirect: /new, response_code: PERMANENT_REDIRECT }
  - match: { safe_regex: { regex: "^/health/?$" } }
    direct_response: { status: 200, body: { inline_string: ok } }
  - match: { prefix: / , case_sensitive: false }
    route:
      cluster: web
      retry_policy:
        retry_on: retriable-status-codes
        retriable_status_codes: [503]
        retry_back_off: { base_interval: 0.1s }
        retry_host_predicate: [{ name: envoy.retry_host_predicates.previous_hosts }]
---
"@type": envoy.config.cluster.v3.Cluster
name: web
type: EDS
eds_cluster_config: { eds_config: { ads: {}, resource_api_version: V3 }, service_name: web-svc }
lb_policy: RING_HASH
ring_hash_lb_config: { minimum_ring_size: 2048 }
circuit_breakers:
  thresholds: [{ max_connections: 10, max_pending_requests: 20 }, { priority: HIGH, max_connections: 99 }]
typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": ${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions
    explicit_http_config:
      http2_protocol_options:
        max_concurrent_streams: 50
        initial_connection_window_size: 1048576
        connection_keepalive: { interval: 30s, timeout: 5s, interval_jitter: { value: 10 } }
    common_http_protocol_options: { idle_timeout: 60s, max_requests_per_connection: 1000 }
health_checks:
- timeout: 1s
  interval: 5s
  unhealthy_threshold: 2
  healthy_threshold: 1
  http_health_check: { path: /healthz }
---
"@type": envoy.config.cluster.v3.Cluster
name: web-canary
type: EDS
eds_cluster_config: { eds_config: { ads: {} } }
lb_policy: LEAST_REQUEST
least_request_lb_config: { active_request_bias: { default_value: 0.5, runtime_key: bias } }
---
"@type": envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: web-svc
policy: { overprovisioning_factor: 200 }
endpoints:
- locality: { zone: a }
  lb_endpoints:
  - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } }, hostname: web-1 }
    load_balancing_weight: 3
  - endpoint: { address: { socket_address: { address: 10.0.0.2, port_value: 80 } } }
    health_status: DRAINING
`;

describe('buildProxyConfig: Envoy examples', () => {
  test('the quick-start static config translates with Envoy defaults', () => {
    const config = build(resources(QUICK_START));
    const [listener] = config.listeners;
    assert.ok(listener);
    assert.deepEqual(listener.address, { host: '0.0.0.0', port: 10000 });
    assert.equal(listener.perConnectionBufferLimitBytes, 1024 * 1024);
    const http = listener.filterChains[0]!.http!;
    assert.equal(http.codecType, 'AUTO');
    assert.equal(http.useRemoteAddress, false);
    assert.equal(http.xffNumTrustedHops, 0);
    assert.equal(http.generateRequestId, true);
    assert.equal(http.streamIdleTimeoutMs, 300_000);
    assert.equal(http.requestTimeoutMs, 0);
    assert.equal(http.requestHeadersTimeoutMs, 0);
    assert.equal(http.maxRequestHeadersKb, 60);
    assert.equal(http.maxHeadersCount, 100);
    assert.equal(http.http2MaxConcurrentStreams, 100);
    assert.deepEqual(http.httpFilters, [
      { name: 'envoy.filters.http.router', typeUrl: ROUTER, config: {}, disabled: false },
    ]);
    const route = http.routeConfig!.virtualHosts[0]!.routes[0]!;
    assert.deepEqual(route.match, {
      kind: 'prefix',
      value: '/',
      caseSensitive: true,
      headers: [],
      queryParameters: [],
      grpc: false,
    });
    const action = route.action as ForwardActionModel;
    assert.equal(action.cluster, 'service_envoyproxy_io');
    assert.equal(action.hostRewriteLiteral, 'www.envoyproxy.io');
    assert.equal(action.timeoutMs, 15_000);

    const cluster = config.clusters.service_envoyproxy_io!;
    assert.equal(cluster.type, 'LOGICAL_DNS');
    assert.equal(cluster.dnsLookupFamily, 'V4_ONLY');
    assert.equal(cluster.connectTimeoutMs, 5_000);
    assert.equal(cluster.lbPolicy, 'ROUND_ROBIN');
    assert.deepEqual(cluster.circuitBreakers, {
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    });
    assert.equal(cluster.ringHashMinSize, 1024);
    assert.equal(cluster.ringHashMaxSize, 8 * 1024 * 1024);
    assert.equal(cluster.maglevTableSize, 65537);
    assert.equal(cluster.leastRequestChoiceCount, 2);
    assert.equal(cluster.overprovisioningFactor, 140);
    assert.equal(cluster.healthyPanicThresholdPercent, 50);
    assert.equal(cluster.upstreamProtocol, 'HTTP1');
    assert.equal(cluster.localities[0]!.endpoints[0]!.host, 'www.envoyproxy.io');
    assert.deepEqual(cluster.tls, {
      sni: 'www.envoyproxy.io',
      alpnProtocols: [],
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      cipherSuites: [],
      sanMatchers: [],
      certificateHashes: [],
      spkiHashes: [],
    });
  });

  test('a dynamic set: RDS routes, EDS endpoints by service name, protocol options', () => {
    const config = build(resources(DYNAMIC));
    const http = config.listeners[0]!.filterChains[0]!.http!;
    assert.equal(config.listeners[0]!.perConnectionBufferLimitBytes, 32768);
    assert.equal(http.rdsRouteConfigName, 'main');
    assert.equal(http.routeConfig, undefined);
    assert.equal(http.useRemoteAddress, true);
    assert.equal(http.xffNumTrustedHops, 1);
    assert.equal(http.streamIdleTimeoutMs, 30_000);
    assert.equal(http.idleTimeoutMs, 300_000);
    assert.equal(http.maxHeadersCount, 50);
    assert.equal(http.http2MaxConcurrentStreams, 64);
    assert.deepEqual(http.upgradeTypes, ['websocket']);

    const main = config.routeConfigs.main!;
    assert.deepEqual(main.responseHeadersToAdd, [
      { key: 'x-served-by', value: 'ferry', action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { key: 'x-empty', value: '', action: 'APPEND_IF_EXISTS_OR_ADD', keepEmptyValue: true },
    ]);
    assert.equal(main.ignorePortInHostMatching, true);
    assert.equal(main.mostSpecificHeaderMutationsWins, undefined);
    const vh = main.virtualHosts[0]!;
    assert.deepEqual(vh.domains, ['shop.example.com', '*.shop.example.com']);
    assert.deepEqual(vh.retryPolicy, {
      retryOn: ['5xx', 'connect-failure'],
      numRetries: 2,
      perTryTimeoutMs: 500,
      retriableStatusCodes: [],
      backoffBaseMs: 25,
      backoffMaxMs: 250,
      previousHostsPredicate: false,
      hostSelectionRetryMaxAttempts: 1,
    });
    const [api, old, health, rest] = vh.routes;
    const apiAction = api!.action as ForwardActionModel;
    assert.deepEqual(
      apiAction.weightedClusters?.map((c) => [c.name, c.weight]),
      [
        ['web', 90],
        ['web-canary', 10],
      ],
    );
    assert.equal(apiAction.timeoutMs, 3_000);
    assert.equal(apiAction.prefixRewrite, '/');
    assert.deepEqual(apiAction.hashPolicy, [
      { kind: 'header', name: 'x-user', terminal: false },
      { kind: 'source_ip', terminal: true },
    ]);
    assert.deepEqual(api!.match.headers, [
      {
        name: 'x-canary',
        kind: 'string',
        string: { kind: 'exact', value: 'yes', ignoreCase: false },
        invert: false,
        treatMissingAsEmpty: false,
      },
    ]);
    assert.deepEqual(old!.action, {
      kind: 'redirect',
      httpsRedirect: false,
      pathRedirect: '/new',
      responseCode: 308,
      stripQuery: false,
    });
    assert.equal(health!.match.kind, 'safe_regex');
    assert.deepEqual(health!.action, { kind: 'direct_response', status: 200, body: 'ok' });
    assert.equal(rest!.match.caseSensitive, false);
    const retry = (rest!.action as ForwardActionModel).retryPolicy!;
    assert.deepEqual(retry.retriableStatusCodes, [503]);
    assert.equal(retry.backoffBaseMs, 100);
    assert.equal(retry.backoffMaxMs, 1000);
    assert.equal(retry.previousHostsPredicate, true);

    const web = config.clusters.web!;
    assert.equal(web.edsServiceName, 'web-svc');
    assert.equal(web.lbPolicy, 'RING_HASH');
    assert.equal(web.ringHashMinSize, 2048);
    assert.equal(web.overprovisioningFactor, 200);
    assert.equal(web.upstreamProtocol, 'HTTP2');
    assert.equal(web.upstreamIdleTimeoutMs, 60_000);
    assert.deepEqual(web.upstreamHttp2, {
      maxConcurrentStreams: 50,
      initialStreamWindowSize: 65_535,
      initialConnectionWindowSize: 1_048_576,
      keepalive: { intervalMs: 30_000, timeoutMs: 5000, jitter: 0.1 },
    });
    assert.equal(web.maxRequestsPerConnection, 1000);
    assert.deepEqual(web.circuitBreakers, {
      maxConnections: 10,
      maxPendingRequests: 20,
      maxRequests: 1024,
      maxRetries: 3,
    });
    assert.equal(web.healthChecks.length, 1);
    assert.deepEqual(web.localities[0]!.locality, { region: '', zone: 'a', subZone: '' });
    assert.deepEqual(web.localities[0]!.endpoints, [
      { host: '10.0.0.1', port: 80, weight: 3, healthStatus: 'UNKNOWN', hostname: 'web-1' },
      { host: '10.0.0.2', port: 80, weight: 1, healthStatus: 'DRAINING', hostname: '' },
    ]);
    // No ClusterLoadAssignment yet: no endpoints, not an error (Envoy warms the cluster).
    assert.equal(config.clusters['web-canary']!.edsServiceName, 'web-canary');
    assert.deepEqual(config.clusters['web-canary']!.localities, []);
    assert.equal(config.clusters['web-canary']!.leastRequestActiveRequestBias, 0.5);
  });

  test('version is a content hash: stable, order-independent for clusters, changes with content', () => {
    const input = resources(DYNAMIC);
    const first = build(input);
    assert.match(first.version, /^[0-9a-f]{16}$/);
    assert.equal(build(input).version, first.version);
    assert.equal(build(input, first), first, 'an identical config returns the previous object');
    const reordered = { ...input, clusters: [...input.clusters].reverse() };
    assert.equal(build(reordered).version, first.version);
    const changed = resources(DYNAMIC.replace('max_connections: 10', 'max_connections: 11'));
    assert.notEqual(build(changed).version, first.version);
  });

  test('a received binary resource decodes to the same JSON as the document', () => {
    const input = resources(QUICK_START);
    const cluster = input.clusters[0]!;
    const bytes = jsonToBinary('envoy.config.cluster.v3.Cluster', cluster);
    assert.ok(bytes.ok);
    const decoded = decodeResourceBinary(`${T}envoy.config.cluster.v3.Cluster`, bytes.value);
    assert.ok(decoded.ok);
    assert.equal(decoded.value.name, 'service_envoyproxy_io');
    assert.deepEqual(decoded.value.json, cluster);
  });
});

describe('buildProxyConfig: TLS', () => {
  function tlsListener(certYaml: string, extra = ''): string {
    return `
"@type": envoy.config.listener.v3.Listener
name: https
address: { socket_address: { address: 127.0.0.1, port_value: 8443 } }
listener_filters:
- name: envoy.filters.listener.tls_inspector
  typed_config: { "@type": ${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
filter_chains:
- filter_chain_match: { server_names: [Shop.Example.com] }
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": ${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
      common_tls_context:
        alpn_protocols: [h2, http/1.1]
        tls_params: { tls_minimum_protocol_version: TLSv1_3 }
${certYaml}
${extra}
  filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": ${HCM}
      stat_prefix: https
      rds: { route_config_name: main, config_source: { ads: {} } }
      http_filters: [{ name: envoy.filters.http.router }]
`;
  }

  test('inline and file certificates become PEM in the model', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-tls-'));
    try {
      fs.writeFileSync(path.join(dir, 'key.pem'), TEST_KEY);
      const certs = `        tls_certificates:
        - certificate_chain:
            inline_string: |
${pemYaml(TEST_CERT, 14)}
          private_key: { filename: ${JSON.stringify(path.join(dir, 'key.pem'))} }`;
      const config = build(resources(tlsListener(certs)));
      const chain = config.listeners[0]!.filterChains[0]!;
      assert.deepEqual(chain.serverNames, ['shop.example.com']);
      assert.deepEqual(chain.tls, {
        certificates: [{ certificateChainPem: TEST_CERT, privateKeyPem: TEST_KEY }],
        alpnProtocols: ['h2', 'http/1.1'],
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        cipherSuites: [],
        requireClientCertificate: false,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad material and SDS from other sources are NACKed with field paths, without key material', () => {
    const mismatched = `        tls_certificates:
        - certificate_chain: { inline_string: ${JSON.stringify(TEST_CERT)} }
          private_key: { inline_string: ${JSON.stringify(OTHER_KEY)} }`;
    const sds = `        tls_certificate_sds_secret_configs:
        - name: shop-cert
          sds_config: { path_config_source: { path: /etc/sds.yaml } }`;
    const prefix =
      'Listener "https": filter_chains[0].transport_socket.typed_config.common_tls_context';
    assert.deepEqual(errorsOf(resources(tlsListener(mismatched))), [
      `${prefix}.tls_certificates[0].private_key: does not match the certificate`,
    ]);
    assert.deepEqual(errorsOf(resources(tlsListener(sds))), [
      `${prefix}.tls_certificate_sds_secret_configs[0].sds_config.path_config_source: not supported by ferry-proxy`,
    ]);
    const missingFile = `        tls_certificates:
        - certificate_chain: { filename: /nonexistent/ferry/cert.pem }
          private_key: { inline_string: x }`;
    assert.deepEqual(errorsOf(resources(tlsListener(missingFile))), [
      `${prefix}.tls_certificates[0].certificate_chain.filename: cannot read "/nonexistent/ferry/cert.pem": ENOENT`,
    ]);
  });
});
