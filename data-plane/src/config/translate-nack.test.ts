/**
 * One NACK per category: each case changes a valid base config in one place and expects exactly
 * the error the proxy sends back in error_detail.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resourcesOf } from './translate-test-fixtures.js';

const T = 'type.googleapis.com/';
type Doc = Record<string, unknown>;

interface Parts {
  hcm: Doc;
  listener: Doc;
  vhost: Doc;
  route: Doc;
  cluster: Doc;
  cla: Doc;
}

/** A valid base: listener with an inline route to a STATIC cluster, plus an EDS cluster. */
function base(): Parts {
  const route: Doc = { match: { prefix: '/' }, route: { cluster: 'web' } };
  const vhost: Doc = { name: 'all', domains: ['*'], routes: [route] };
  const hcm: Doc = {
    '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    stat_prefix: 'http',
    route_config: { name: 'inline', virtual_hosts: [vhost] },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
      },
    ],
  };
  const listener: Doc = {
    '@type': 'envoy.config.listener.v3.Listener',
    name: 'http',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] },
    ],
  };
  const cluster: Doc = {
    '@type': 'envoy.config.cluster.v3.Cluster',
    name: 'web',
    type: 'STATIC',
    load_assignment: {
      cluster_name: 'web',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } },
          ],
        },
      ],
    },
  };
  const cla: Doc = {
    '@type': 'envoy.config.endpoint.v3.ClusterLoadAssignment',
    cluster_name: 'api',
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.9', port_value: 80 } } } },
        ],
      },
    ],
  };
  return { hcm, listener, vhost, route, cluster, cla };
}

function run(mutate: (p: Parts) => Doc[] | void): string[] {
  const parts = base();
  const extra = mutate(parts) ?? [];
  const eds: Doc = {
    '@type': 'envoy.config.cluster.v3.Cluster',
    name: 'api',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
  };
  const r = buildProxyConfig(
    resourcesOf([parts.listener, parts.cluster, eds, parts.cla, ...extra]),
  );
  return r.ok ? [] : r.errors;
}

const L = 'Listener "http": filter_chains[0].filters[0].typed_config';
const R = `${L}.route_config.virtual_hosts[0].routes[0]`;

const CASES: Array<{ name: string; mutate: (p: Parts) => Doc[] | void; errors: string[] }> = [
  { name: 'the base config is valid', mutate: () => {}, errors: [] },
  {
    name: 'listener field',
    mutate: (p) => void (p.listener.use_original_dst = true),
    errors: ['Listener "http": use_original_dst: not supported by ferry-proxy'],
  },
  {
    name: 'listener filter',
    mutate: (p) =>
      void (p.listener.listener_filters = [
        {
          name: 'envoy.filters.listener.http_inspector',
          typed_config: {
            '@type': `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
          },
        },
      ]),
    errors: [
      'Listener "http": listener_filters[0]: listener filter type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector is not supported by ferry-proxy',
    ],
  },
  {
    name: 'network filter',
    mutate: (p) =>
      void ((p.listener.filter_chains as Doc[])[0]!.filters = [
        {
          name: 'echo',
          typed_config: { '@type': `${T}envoy.extensions.filters.network.echo.v3.Echo` },
        },
      ]),
    errors: [
      'Listener "http": filter_chains[0].filters[0].typed_config: network filter envoy.extensions.filters.network.echo.v3.Echo is not supported by ferry-proxy (supported: envoy.filters.network.http_connection_manager, envoy.filters.network.local_ratelimit, envoy.filters.network.rbac, envoy.filters.network.tcp_proxy)',
    ],
  },
  {
    name: 'HCM field',
    mutate: (p) => void (p.hcm.add_user_agent = true),
    errors: [`${L}.add_user_agent: not supported by ferry-proxy`],
  },
  {
    name: 'path hardening fields are accepted',
    mutate: (p) =>
      void Object.assign(p.hcm, {
        normalize_path: true,
        merge_slashes: true,
        path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT',
        common_http_protocol_options: { headers_with_underscores_action: 'DROP_HEADER' },
      }),
    errors: [],
  },
  {
    name: 'path_normalization_options (not implemented by Envoy)',
    mutate: (p) =>
      void (p.hcm.path_normalization_options = {
        forwarding_transformation: { operations: [{ normalize_path_rfc_3986: {} }] },
      }),
    errors: [
      `${L}.path_normalization_options: not implemented by Envoy either (hidden in its API): use normalize_path and merge_slashes`,
    ],
  },
  {
    name: 'HTTP filter',
    mutate: (p) =>
      void (p.hcm.http_filters as Doc[]).unshift({
        name: 'csrf',
        typed_config: {
          '@type': `${T}envoy.extensions.filters.http.csrf.v3.CsrfPolicy`,
          filter_enabled: { default_value: { numerator: 100 } },
        },
      }),
    errors: [
      `${L}.http_filters[0].typed_config: HTTP filter envoy.extensions.filters.http.csrf.v3.CsrfPolicy is not supported by ferry-proxy`,
    ],
  },
  {
    name: 'optional HTTP filter is skipped (Envoy semantics)',
    mutate: (p) =>
      void (p.hcm.http_filters as Doc[]).unshift({
        name: 'csrf',
        is_optional: true,
        typed_config: {
          '@type': `${T}envoy.extensions.filters.http.csrf.v3.CsrfPolicy`,
          filter_enabled: { default_value: { numerator: 100 } },
        },
      }),
    errors: [],
  },
  {
    name: 'HTTP filter config field',
    mutate: (p) =>
      void (p.hcm.http_filters as Doc[]).unshift({
        name: 'envoy.filters.http.fault',
        typed_config: {
          '@type': `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`,
          response_rate_limit: { fixed_limit: { limit_kbps: 10 } },
        },
      }),
    errors: [
      `${L}.http_filters[0].typed_config.response_rate_limit: response_rate_limit (response throughput faults) is not supported by ferry-proxy`,
    ],
  },
  {
    name: 'per-route config of an unknown filter',
    mutate: (p) =>
      void (p.route.typed_per_filter_config = {
        'envoy.filters.http.csrf': {
          '@type': `${T}envoy.extensions.filters.http.csrf.v3.CsrfPolicy`,
          filter_enabled: { default_value: { numerator: 100 } },
        },
      }),
    errors: [
      `${R}.typed_per_filter_config["envoy.filters.http.csrf"]: per-route config envoy.extensions.filters.http.csrf.v3.CsrfPolicy is not supported by ferry-proxy (no HTTP filter takes it; wrap it in a FilterConfig with is_optional to skip it)`,
    ],
  },
  {
    name: 'router not last',
    mutate: (p) => void (p.hcm.http_filters = []),
    errors: [`${L}.http_filters: the last HTTP filter must be envoy.filters.http.router`],
  },
  {
    name: 'route match field',
    mutate: (p) =>
      void ((p.route.match as Doc).runtime_fraction = {
        default_value: { numerator: 50 },
        runtime_key: 'k',
      }),
    errors: [`${R}.match.runtime_fraction: not supported by ferry-proxy`],
  },
  {
    name: 'route action field',
    mutate: (p) => void ((p.route.route as Doc).cluster_not_found_response_code = 'NOT_FOUND'),
    errors: [`${R}.route.cluster_not_found_response_code: not supported by ferry-proxy`],
  },
  {
    name: 'retry_on value',
    mutate: (p) => void ((p.route.route as Doc).retry_policy = { retry_on: '5xx,retriable-4xx' }),
    errors: [
      `${R}.route.retry_policy.retry_on: retriable-4xx is not supported by ferry-proxy (supported: 5xx, gateway-error, connect-failure, reset, retriable-status-codes, refused-stream)`,
    ],
  },
  {
    name: 'regex that does not compile',
    mutate: (p) => void (p.route.match = { safe_regex: { regex: '(unclosed' } }),
    errors: [`${R}.match.safe_regex.regex: "(unclosed": missing closing ) at offset 0`],
  },
  {
    name: 'header value formatter',
    mutate: (p) =>
      void (p.route.request_headers_to_add = [
        { header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS%' } },
        { header: { key: 'x-meta', value: '%UPSTREAM_METADATA(["ns", "key"])%' } },
      ]),
    errors: [
      `${R}.request_headers_to_add[1].header.value: unsupported header formatter %UPSTREAM_METADATA(["ns", "key"])% (supported: %DOWNSTREAM_REMOTE_ADDRESS%, %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_REMOTE_PORT%, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_LOCAL_ADDRESS%, %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_LOCAL_PORT%, %UPSTREAM_REMOTE_ADDRESS%, %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %HOSTNAME%, %PROTOCOL%, %START_TIME(format)%, %REQ(name)%)`,
    ],
  },
  {
    name: 'route headers may not touch pseudo-headers or host',
    mutate: (p) => {
      p.route.request_headers_to_add = [{ header: { key: ':path', value: '/x' } }];
      p.route.response_headers_to_remove = ['host'];
    },
    errors: [
      `${R}.request_headers_to_add[0].header.key: :path: pseudo-headers and host may not be modified`,
      `${R}.response_headers_to_remove[0]: host: pseudo-headers and host may not be removed`,
    ],
  },
  {
    name: 'validate_clusters (inline default true)',
    mutate: (p) => void ((p.route.route as Doc).cluster = 'nope'),
    errors: [
      `${R}.route.cluster: unknown cluster "nope" (validate_clusters is on; set it to false to allow clusters that arrive later)`,
    ],
  },
  {
    name: 'duplicate domains',
    mutate: (p) =>
      void ((p.hcm.route_config as Doc).virtual_hosts = [p.vhost, { ...p.vhost, name: 'again' }]),
    errors: [
      `${L}.route_config.virtual_hosts[1].domains[0]: "*" is already used by virtual host "all"`,
    ],
  },
  {
    name: 'lb_policy',
    mutate: (p) => void (p.cluster.lb_policy = 'CLUSTER_PROVIDED'),
    errors: [
      'Cluster "web": lb_policy: CLUSTER_PROVIDED is not supported by ferry-proxy (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV)',
    ],
  },
  {
    name: 'cluster type',
    mutate: (p) => {
      p.cluster.type = 'ORIGINAL_DST';
      p.cluster.lb_policy = 'CLUSTER_PROVIDED';
      delete p.cluster.load_assignment;
    },
    errors: [
      'Cluster "web": type: ORIGINAL_DST is not supported by ferry-proxy (supported: STATIC, STRICT_DNS, LOGICAL_DNS, EDS)',
      'Cluster "web": lb_policy: CLUSTER_PROVIDED is not supported by ferry-proxy (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV)',
    ],
  },
  {
    name: 'protocol options extension field',
    mutate: (p) =>
      void (p.cluster.typed_extension_protocol_options = {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
          auto_config: {},
        },
      }),
    errors: [
      'Cluster "web": typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.auto_config: not supported by ferry-proxy',
    ],
  },
  {
    name: 'upstream Http2ProtocolOptions out of range or unsupported',
    mutate: (p) =>
      void (p.cluster.typed_extension_protocol_options = {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
          explicit_http_config: {
            http2_protocol_options: {
              max_concurrent_streams: 8,
              connection_keepalive: {
                interval: '10s',
                timeout: '1s',
                connection_idle_interval: '1s',
              },
              hpack_table_size: 0,
            },
          },
        },
      }),
    errors: [
      'Cluster "web": typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.explicit_http_config.http2_protocol_options.hpack_table_size: not supported by ferry-proxy',
      'Cluster "web": typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.explicit_http_config.http2_protocol_options.connection_keepalive.connection_idle_interval: not supported by ferry-proxy: PINGs are sent every interval whether or not the connection is idle',
    ],
  },
  {
    name: 'STATIC endpoint with a DNS name',
    mutate: (p) =>
      void (((p.cluster.load_assignment as Doc).endpoints as Doc[])[0]!.lb_endpoints = [
        { endpoint: { address: { socket_address: { address: 'web.internal', port_value: 80 } } } },
      ]),
    errors: [
      'Cluster "web": load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: "web.internal" is not an IP address (DNS names need a STRICT_DNS or LOGICAL_DNS cluster)',
    ],
  },
  {
    name: 'endpoint assignment field',
    mutate: (p) =>
      void (p.cla.policy = {
        drop_overloads: [{ category: 'x', drop_percentage: { numerator: 1 } }],
      }),
    errors: ['ClusterLoadAssignment "api": policy.drop_overloads: not supported by ferry-proxy'],
  },
  {
    name: 'circuit breaker field',
    mutate: (p) => void (p.cluster.circuit_breakers = { thresholds: [{ retry_budget: {} }] }),
    errors: [
      'Cluster "web": circuit_breakers.thresholds[0].retry_budget: not supported by ferry-proxy',
    ],
  },
  {
    name: 'upstream TLS version below 1.2',
    mutate: (p) =>
      void (p.cluster.transport_socket = {
        name: 'tls',
        typed_config: {
          '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
          common_tls_context: { tls_params: { tls_minimum_protocol_version: 'TLSv1_0' } },
        },
      }),
    errors: [
      'Cluster "web": transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version: TLSv1_0 is not supported by ferry-proxy (supported: TLS_AUTO, TLSv1_2, TLSv1_3)',
    ],
  },
  {
    name: 'upstream TLS: OTHER_NAME SAN matcher, bad pins, unknown and TLS 1.3 cipher names',
    mutate: (p) =>
      void (p.cluster.transport_socket = {
        name: 'tls',
        typed_config: {
          '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
          common_tls_context: {
            tls_params: {
              cipher_suites: ['[ECDHE-RSA-AES128-GCM-SHA256|NOPE]', 'TLS_AES_128_GCM_SHA256'],
            },
            validation_context: {
              match_typed_subject_alt_names: [
                { san_type: 'OTHER_NAME', oid: '1.2.3', matcher: { exact: 'x' } },
                { san_type: 'DNS', matcher: { safe_regex: { regex: '(' } } },
              ],
              verify_certificate_hash: ['z'.repeat(64)],
              verify_certificate_spki: ['A'.repeat(44)],
            },
          },
        },
      }),
    errors: [
      'Cluster "web": transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names[0].oid: not supported by ferry-proxy',
      'Cluster "web": transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names[0].san_type: OTHER_NAME SANs are not supported by ferry-proxy (use DNS, URI, EMAIL or IP_ADDRESS)',
      'Cluster "web": transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names[1].matcher.safe_regex.regex: "(": missing closing ) at offset 0',
      'Cluster "web": transport_socket.typed_config.common_tls_context.validation_context.verify_certificate_hash[0]: not a hex-encoded SHA-256 (64 hex digits, optionally colon-separated)',
      'Cluster "web": transport_socket.typed_config.common_tls_context.validation_context.verify_certificate_spki[0]: not a base64-encoded SHA-256 (32 bytes)',
      'Cluster "web": transport_socket.typed_config.common_tls_context.tls_params.cipher_suites[0]: "NOPE" is not a TLS 1.2 cipher suite OpenSSL knows (e.g. ECDHE-RSA-AES128-GCM-SHA256)',
      'Cluster "web": transport_socket.typed_config.common_tls_context.tls_params.cipher_suites[1]: TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite: TLS 1.3 suites are not configurable (all are AEAD)',
    ],
  },
  {
    name: 'SAN matching on a downstream TLS context',
    mutate: (p) =>
      void ((p.listener.filter_chains as Doc[])[0]!.transport_socket = {
        name: 'tls',
        typed_config: {
          '@type': `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
          common_tls_context: {
            validation_context: {
              match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'a' } }],
            },
          },
        },
      }),
    errors: [
      'Listener "http": filter_chains[0].transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names: client certificate SAN matching is not supported by ferry-proxy (upstream TLS only)',
      'Listener "http": filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates: a TLS listener needs at least one certificate',
    ],
  },
  {
    name: 'transport_socket_matches and health check match criteria',
    mutate: (p) => {
      p.cluster.transport_socket_matches = [
        { name: 'tls', match: {}, transport_socket: { name: 'raw' } },
      ];
      p.cluster.health_checks = [
        {
          timeout: '1s',
          interval: '1s',
          unhealthy_threshold: 1,
          healthy_threshold: 1,
          tcp_health_check: {},
          transport_socket_match_criteria: { tls: true },
        },
      ];
    },
    errors: [
      'Cluster "web": transport_socket_matches: not supported by ferry-proxy: every endpoint uses the cluster’s transport_socket (set TLS there)',
      'Cluster "web": health_checks[0].transport_socket_match_criteria: not supported by ferry-proxy (neither is Cluster.transport_socket_matches): checks use the cluster’s transport_socket',
    ],
  },
  {
    name: 'auto_sni without TLS, auto_san_validation without verification',
    mutate: (p) => {
      p.cluster.typed_extension_protocol_options = {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
          explicit_http_config: { http_protocol_options: {} },
          upstream_http_protocol_options: { auto_sni: true },
        },
      };
      const tlsCluster = {
        ...p.cluster,
        name: 'tls',
        transport_socket: {
          name: 'tls',
          typed_config: {
            '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
          },
        },
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
            explicit_http_config: { http_protocol_options: {} },
            upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
          },
        },
      };
      return [tlsCluster];
    },
    errors: [
      'Cluster "web": typed_extension_protocol_options.upstream_http_protocol_options: auto_sni and auto_san_validation need an UpstreamTlsContext transport_socket',
      'Cluster "tls": typed_extension_protocol_options.upstream_http_protocol_options.auto_san_validation: needs transport_socket common_tls_context.validation_context.trusted_ca: without a validation context the upstream certificate is not verified at all',
    ],
  },
  {
    name: 'RDS from a non-ADS source',
    mutate: (p) => {
      delete p.hcm.route_config;
      p.hcm.rds = {
        route_config_name: 'r',
        config_source: { path_config_source: { path: '/etc/r.yaml' } },
      };
    },
    errors: [`${L}.rds.config_source.path_config_source: not supported by ferry-proxy`],
  },
  {
    name: 'duplicate listener address',
    mutate: (p) => [{ ...p.listener, name: 'other' }],
    errors: ['Listener "other": address: 127.0.0.1:8080 is already used by listener "http"'],
  },
];

describe('buildProxyConfig: NACK messages', () => {
  for (const c of CASES) {
    test(c.name, () => {
      assert.deepEqual(run(c.mutate), c.errors);
    });
  }
});
