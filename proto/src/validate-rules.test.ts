import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fromJson,
  getOption,
  hasOption,
  toBinary,
  toJson,
  type DescMessage,
  type Message,
} from '@bufbuild/protobuf';
import { parseResourceBinary, parseResourceJson } from './resource.js';
import { protoRegistry, requireMessageSchema } from './registry.js';
import { TYPE_URL_PREFIX } from './resource-types.js';
import { compileRe2 } from './re2.js';
import { validateRules } from './validate-rules.js';
import { compileFieldRules } from './validate-rules-compile.js';

type Doc = Record<string, unknown>;

const HCM_TYPE = `${TYPE_URL_PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER_TYPE = `${TYPE_URL_PREFIX}envoy.extensions.filters.http.router.v3.Router`;

// Fixture builders after the examples in Envoy's docs (configuration/overview/examples,
// start/quick-start/dynamic-control-plane); each returns a fresh object tests may mutate.
function listener(): Doc {
  return {
    '@type': `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`,
    name: 'listener_0',
    address: { socket_address: { address: '0.0.0.0', port_value: 10000 } },
    per_connection_buffer_limit_bytes: 32768,
    listener_filters: [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: {
          '@type': `${TYPE_URL_PREFIX}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
        },
      },
    ],
    filter_chains: [
      {
        filter_chain_match: { server_names: ['www.example.com'] },
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: 'ingress_http',
              codec_type: 'AUTO',
              use_remote_address: true,
              common_http_protocol_options: {
                idle_timeout: '3600s',
                headers_with_underscores_action: 'REJECT_REQUEST',
              },
              http2_protocol_options: {
                max_concurrent_streams: 100,
                initial_stream_window_size: 65536,
              },
              stream_idle_timeout: '300s',
              request_timeout: '300s',
              rds: {
                route_config_name: 'local_route',
                config_source: { ads: {}, resource_api_version: 'V3' },
              },
              access_log: [
                {
                  name: 'envoy.access_loggers.stdout',
                  typed_config: {
                    '@type': `${TYPE_URL_PREFIX}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
                  },
                },
              ],
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
              ],
            },
          },
        ],
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': `${TYPE_URL_PREFIX}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
            common_tls_context: {
              tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
              tls_certificate_sds_secret_configs: [
                { name: 'server_cert', sds_config: { ads: {}, resource_api_version: 'V3' } },
              ],
            },
          },
        },
      },
    ],
  };
}

function routeConfiguration(): Doc {
  return {
    '@type': `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`,
    name: 'local_route',
    virtual_hosts: [
      {
        name: 'backend',
        domains: ['www.example.com', '*.example.com'],
        request_headers_to_add: [
          { header: { key: 'x-ferry', value: 'yes' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        ],
        routes: [
          {
            match: {
              prefix: '/api',
              headers: [{ name: ':method', string_match: { exact: 'GET' } }],
            },
            route: {
              weighted_clusters: {
                clusters: [
                  { name: 'api_v1', weight: 90 },
                  { name: 'api_v2', weight: 10 },
                ],
              },
              timeout: '15s',
              retry_policy: { retry_on: '5xx,reset', num_retries: 3, per_try_timeout: '2s' },
            },
          },
          {
            match: { safe_regex: { regex: '^/static/.*\\.css$' } },
            route: { cluster: 'static', prefix_rewrite: '/' },
          },
          {
            match: { path: '/old' },
            redirect: { path_redirect: '/new', response_code: 'PERMANENT_REDIRECT' },
          },
          {
            match: { prefix: '/health' },
            direct_response: { status: 200, body: { inline_string: 'ok' } },
          },
          {
            match: { prefix: '/' },
            route: { cluster: 'web', hash_policy: [{ header: { header_name: 'x-user' } }] },
          },
        ],
      },
    ],
  };
}

function edsCluster(): Doc {
  return {
    '@type': `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`,
    name: 'web',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: '0.25s',
    lb_policy: 'LEAST_REQUEST',
    per_connection_buffer_limit_bytes: 32768,
    circuit_breakers: {
      thresholds: [
        {
          priority: 'DEFAULT',
          max_connections: 1000,
          max_pending_requests: 1000,
          max_requests: 1000,
          max_retries: 3,
        },
        { priority: 'HIGH', max_connections: 2000, max_requests: 2000 },
      ],
    },
    health_checks: [
      {
        timeout: '1s',
        interval: '5s',
        unhealthy_threshold: 3,
        healthy_threshold: 2,
        http_health_check: { path: '/healthz', expected_statuses: [{ start: 200, end: 300 }] },
      },
    ],
    outlier_detection: {
      consecutive_5xx: 5,
      interval: '10s',
      base_ejection_time: '30s',
      max_ejection_percent: 50,
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': `${TYPE_URL_PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    metadata: { filter_metadata: { 'envoy.lb': { canary: false, tier: 'web' } } },
  };
}

function loadAssignment(): Doc {
  const endpoint = (address: string, port: number, weight: number): Doc => ({
    endpoint: { address: { socket_address: { address, port_value: port } } },
    load_balancing_weight: weight,
    health_status: 'HEALTHY',
  });
  return {
    '@type': `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
    cluster_name: 'web',
    endpoints: [
      {
        locality: { region: 'eu-west', zone: 'a' },
        priority: 0,
        load_balancing_weight: 80,
        lb_endpoints: [endpoint('10.0.0.1', 8080, 10), endpoint('10.0.0.2', 8080, 20)],
      },
      {
        locality: { region: 'eu-west', zone: 'b' },
        priority: 1,
        load_balancing_weight: 20,
        lb_endpoints: [endpoint('10.0.1.1', 8080, 1)],
      },
    ],
    policy: { overprovisioning_factor: 140 },
  };
}

function secret(): Doc {
  return {
    '@type': `${TYPE_URL_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`,
    name: 'server_cert',
    tls_certificate: {
      certificate_chain: {
        inline_string: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      },
      private_key: {
        inline_string: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
      },
    },
  };
}

function errorsOf(doc: Doc, path = ''): string[] {
  const parsed = parseResourceJson(doc, path);
  return parsed.ok ? [] : parsed.errors;
}

/** Sets `value` at a dotted path with [i] indices, returning the doc. */
function set(doc: Doc, path: string, value: unknown): Doc {
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '');
  let target = doc as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return doc;
}

void describe('validateRules: real Envoy configs pass', () => {
  for (const [label, build] of [
    ['listener with HCM, router, RDS and TLS', listener],
    [
      'route configuration with weighted clusters, regex, redirect, direct response',
      routeConfiguration,
    ],
    ['EDS cluster with circuit breakers and health checks', edsCluster],
    ['load assignment with priorities and weights', loadAssignment],
    ['secret with an inline certificate', secret],
  ] as const) {
    void test(label, () => {
      assert.deepEqual(errorsOf(build()), []);
    });
  }
});

void describe('validateRules: violations are reported with paths', () => {
  const cases: { name: string; doc: () => Doc; expect: string[]; path?: string }[] = [
    {
      name: 'port 70000 (uint32 lte 65535)',
      doc: () => set(listener(), 'address.socket_address.port_value', 70000),
      expect: ['address.socket_address.port_value: must be <= 65535 (validate.rules)'],
    },
    {
      name: 'empty cluster name, with a path prefix',
      doc: () => set(edsCluster(), 'name', ''),
      path: 'clusters[0]',
      expect: ['clusters[0].name: must be at least 1 character (validate.rules)'],
    },
    {
      name: 'negative connect_timeout (duration gt 0s)',
      doc: () => set(edsCluster(), 'connect_timeout', '-1s'),
      expect: ['connect_timeout: must be > 0s (validate.rules)'],
    },
    {
      name: 'route without an action (oneof required)',
      doc: () => set(routeConfiguration(), 'virtual_hosts[0].routes[1].route', undefined),
      expect: [
        'virtual_hosts[0].routes[1].action: one of "route", "redirect", "direct_response", "filter_action", "non_forwarding_action" must be set (validate.required)',
      ],
    },
    {
      name: 'undefined lb_policy number (enum defined_only)',
      doc: () => set(edsCluster(), 'lb_policy', 42),
      expect: [
        'lb_policy: 42 is not a defined value of envoy.config.cluster.v3.Cluster.LbPolicy (ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG) (validate.rules)',
      ],
    },
    {
      name: 'virtual host without domains (repeated min_items)',
      doc: () => set(routeConfiguration(), 'virtual_hosts[0].domains', []),
      expect: ['virtual_hosts[0].domains: must have at least 1 item (validate.rules)'],
    },
    {
      name: 'header name with a newline (well_known_regex HTTP_HEADER_NAME, strict false)',
      doc: () =>
        set(
          routeConfiguration(),
          'virtual_hosts[0].request_headers_to_add[0].header.key',
          'x-a\nb',
        ),
      expect: [
        'virtual_hosts[0].request_headers_to_add[0].header.key: must be a valid HTTP header name (validate.rules)',
      ],
    },
    {
      name: 'zero endpoint weight (wrapped uint32 gte 1)',
      doc: () => set(loadAssignment(), 'endpoints[0].lb_endpoints[1].load_balancing_weight', 0),
      expect: ['endpoints[0].lb_endpoints[1].load_balancing_weight: must be >= 1 (validate.rules)'],
    },
    {
      name: 'overprovisioning factor 0 (wrapped uint32 gt 0)',
      doc: () => set(loadAssignment(), 'policy.overprovisioning_factor', 0),
      expect: ['policy.overprovisioning_factor: must be > 0 (validate.rules)'],
    },
    {
      name: 'health check without timeout (duration required) and without a checker (oneof required)',
      doc: () =>
        set(
          set(edsCluster(), 'health_checks[0].timeout', undefined),
          'health_checks[0].http_health_check',
          undefined,
        ),
      expect: [
        'health_checks[0].health_checker: one of "http_health_check", "tcp_health_check", "grpc_health_check", "custom_health_check" must be set (validate.required)',
        'health_checks[0].timeout: is required (validate.rules)',
      ],
    },
    {
      name: 'empty filter_metadata key (map keys min_len)',
      doc: () => set(edsCluster(), 'metadata.filter_metadata', { '': { a: 1 } }),
      expect: ['metadata.filter_metadata[""]: must be at least 1 character (validate.rules)'],
    },
    {
      name: 'inside Anys: HCM stat_prefix and the router list in a listener filter',
      doc: () =>
        set(
          set(listener(), 'filter_chains[0].filters[0].typed_config.stat_prefix', ''),
          'filter_chains[0].filters[0].typed_config.http_filters[0].name',
          '',
        ),
      expect: [
        'filter_chains[0].filters[0].typed_config.http_filters[0].name: must be at least 1 character (validate.rules)',
        'filter_chains[0].filters[0].typed_config.stat_prefix: must be at least 1 character (validate.rules)',
      ],
    },
    {
      name: 'inside a map of Anys (typed_extension_protocol_options)',
      doc: () =>
        set(edsCluster(), 'typed_extension_protocol_options', {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': `${TYPE_URL_PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
            explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 0 } },
          },
        }),
      expect: [
        'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.max_concurrent_streams: must be >= 1 and <= 2147483647 (validate.rules)',
      ],
    },
    {
      name: 'several violations are all listed',
      doc: () =>
        set(
          set(set(edsCluster(), 'name', ''), 'connect_timeout', '0s'),
          'health_checks[0].interval',
          '0s',
        ),
      expect: [
        'name: must be at least 1 character (validate.rules)',
        'connect_timeout: must be > 0s (validate.rules)',
        'health_checks[0].interval: must be > 0s (validate.rules)',
      ],
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      assert.deepEqual(errorsOf(c.doc(), c.path).sort(), [...c.expect].sort());
    });
  }
});

function decode(doc: Doc): { desc: DescMessage; message: Message } {
  const { ['@type']: typeUrl, ...fields } = doc;
  const desc = requireMessageSchema(String(typeUrl).slice(TYPE_URL_PREFIX.length));
  return { desc, message: fromJson(desc, fields as never, { registry: protoRegistry() }) };
}

void describe('validateRules on binary input', () => {
  void test('parseResourceBinary reports PGV violations', () => {
    const { desc, message } = decode(set(listener(), 'address.socket_address.port_value', 70000));
    const parsed = parseResourceBinary(
      `${TYPE_URL_PREFIX}${desc.typeName}`,
      toBinary(desc, message),
      'listeners[3]',
    );
    assert.deepEqual(parsed.ok ? [] : parsed.errors, [
      'listeners[3].address.socket_address.port_value: must be <= 65535 (validate.rules)',
    ]);
  });

  void test('an Any of a type the registry does not know is an error with its path, not a throw', () => {
    const { desc, message } = decode(listener());
    const shape = message as unknown as {
      filterChains: { filters: { configType: { value: { typeUrl: string } } }[] }[];
    };
    shape.filterChains[0]!.filters[0]!.configType.value.typeUrl =
      'type.googleapis.com/example.Unknown';
    const parsed = parseResourceBinary(
      `${TYPE_URL_PREFIX}${desc.typeName}`,
      toBinary(desc, message),
    );
    assert.deepEqual(parsed.ok ? [] : parsed.errors, [
      'filter_chains[0].filters[0].typed_config.@type: unknown message type "example.Unknown": not an Envoy v3 or Ferry message known to this control plane',
    ]);
  });

  void test('an Any whose payload does not decode is reported', () => {
    const { desc, message } = decode(listener());
    const shape = message as unknown as {
      filterChains: { filters: { configType: { value: { value: Uint8Array } } }[] }[];
    };
    shape.filterChains[0]!.filters[0]!.configType.value.value = new Uint8Array([0x0a, 0x05, 0x61]);
    const errors = validateRules(desc, message);
    assert.equal(errors.length, 1);
    assert.match(
      errors[0]!,
      /^filter_chains\[0\]\.filters\[0\]\.typed_config: cannot decode envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager: /,
    );
  });

  void test('a scalar rule on an unselected oneof member does not apply', () => {
    // RouteMatch.safe_regex has message.required but belongs to the path_specifier oneof.
    const { desc, message } = decode(routeConfiguration());
    assert.deepEqual(validateRules(desc, message), []);
  });
});

void describe('rule compilation', () => {
  void test('every (validate.rules) in the descriptor set compiles with nothing unsupported', () => {
    const registry = protoRegistry();
    const ext = registry.getExtension('validate.rules');
    assert.ok(ext && ext.fieldKind === 'message');
    const unsupported: string[] = [];
    let fields = 0;
    const walk = (messages: readonly DescMessage[]): void => {
      for (const m of messages) {
        for (const f of m.fields) {
          if (!hasOption(f, ext)) continue;
          fields++;
          const json = toJson(ext.message, getOption(f, ext) as Message, {
            registry,
            useProtoFieldName: true,
          });
          const compiled = compileFieldRules(json as Record<string, unknown>, f.enum);
          unsupported.push(...compiled.unsupported.map((u) => `${m.typeName}.${f.name}: ${u}`));
        }
        walk(m.nestedMessages);
      }
    };
    for (const file of registry.files) walk(file.messages);
    assert.ok(fields > 900, `only ${fields} fields with rules`);
    assert.deepEqual(unsupported, []);
  });

  void test('numeric ranges: inside, outside (upper below lower), in, not_in, const', () => {
    const inside = compileFieldRules({ uint32: { gt: 1, lt: 10 } }).value!;
    assert.equal(inside(5), undefined);
    assert.equal(inside(1), 'must be > 1 and < 10');
    const outside = compileFieldRules({ int32: { gte: 10, lte: 1 } }).value!;
    assert.equal(outside(0), undefined);
    assert.equal(outside(11), undefined);
    assert.equal(outside(5), 'must be >= 10 or <= 1');
    const big = compileFieldRules({ uint64: { lte: '18446744073709551614' } }).value!;
    assert.equal(big(18446744073709551615n), 'must be <= 18446744073709551614');
    assert.equal(
      compileFieldRules({ int64: { in: ['1', '2'] } }).value!(3n),
      'must be one of 1, 2',
    );
    assert.equal(
      compileFieldRules({ double: { not_in: [0.5] } }).value!(0.5),
      'must not be one of 0.5',
    );
    assert.equal(compileFieldRules({ float: { const: 2 } }).value!(2), undefined);
  });

  void test('string rules count code points and UTF-8 bytes', () => {
    const len = compileFieldRules({ string: { min_len: '2', max_len: '3' } }).value!;
    assert.equal(len('😀😀'), undefined); // 4 UTF-16 units, 2 code points
    assert.equal(len('😀'), 'must be at least 2 characters');
    assert.equal(len('abcd'), 'must be at most 3 characters');
    const bytes = compileFieldRules({ string: { max_bytes: '3' } }).value!;
    assert.equal(bytes('é€'), 'must be at most 3 bytes');
    const affix = compileFieldRules({ string: { prefix: 'a', suffix: 'z', contains: 'm' } }).value!;
    assert.equal(affix('amz'), undefined);
    assert.equal(affix('mz'), 'must start with "a"');
    assert.equal(
      compileFieldRules({ string: { in: ['http', 'https'] } }).value!('ftp'),
      'must be one of "http", "https"',
    );
    assert.equal(
      compileFieldRules({ string: { ignore_empty: true, min_len: '3' } }).value!(''),
      undefined,
    );
    assert.equal(
      compileFieldRules({ string: { ipv4: true } }).value!('10.0.0.300'),
      'must be a valid IPv4 address',
    );
  });

  void test('well-known header regexes: strict by default, loose with strict false', () => {
    const strict = compileFieldRules({ string: { well_known_regex: 'HTTP_HEADER_NAME' } }).value!;
    assert.equal(strict(':authority'), undefined);
    assert.equal(strict('x y'), 'must be a valid HTTP header name');
    const loose = compileFieldRules({
      string: { well_known_regex: 'HTTP_HEADER_NAME', strict: false },
    }).value!;
    assert.equal(loose('x y'), undefined);
    assert.equal(loose('x\r\ny'), 'must be a valid HTTP header name');
    const value = compileFieldRules({ string: { well_known_regex: 'HTTP_HEADER_VALUE' } }).value!;
    assert.equal(value('a\tb'), undefined);
    assert.equal(value('a\u0001b'), 'must be a valid HTTP header value');
  });

  void test('duration, any, enum and repeated rules', () => {
    const duration = compileFieldRules({ duration: { required: true, gte: '0.001s', lt: '1s' } });
    assert.equal(duration.required, true);
    const d = (seconds: bigint, nanos: number): Message =>
      ({ seconds, nanos }) as unknown as Message;
    assert.equal(duration.message!(d(0n, 1_000_000)), undefined);
    assert.equal(duration.message!(d(0n, 999_999)), 'must be >= 0.001s and < 1s');
    assert.equal(duration.message!(d(1n, 0)), 'must be >= 0.001s and < 1s');
    const any = compileFieldRules({ any: { in: ['type.googleapis.com/a.B'] } });
    assert.equal(
      any.message!({ typeUrl: 'type.googleapis.com/c.D' } as unknown as Message),
      'must be one of "type.googleapis.com/a.B"',
    );
    const repeated = compileFieldRules({
      repeated: {
        min_items: '1',
        max_items: '2',
        unique: true,
        items: { string: { min_len: '1' } },
      },
    }).repeated!;
    assert.equal(repeated.check([]), 'must have at least 1 item');
    assert.equal(repeated.check(['a', 'b', 'c']), 'must have at most 2 items');
    assert.equal(repeated.check(['a', 'a']), 'must not contain duplicates (a repeats)');
    assert.equal(repeated.items!.value!(''), 'must be at least 1 character');
  });

  void test('RE2 patterns translate to JavaScript', () => {
    assert.ok(compileRe2('^[0-9a-zA-Z_\\-\\.~:]+$').test('a-b.c~d:e'));
    assert.ok(compileRe2('(?i)^abc$').test('ABC'));
    assert.ok(compileRe2('\\Aab\\z').test('ab'));
    assert.ok(!compileRe2('\\Aab\\z').test('ab\n'));
    assert.ok(compileRe2('^[[:digit:]]+$').test('123'));
    assert.equal(compileRe2('(?P<x>a)').exec('a')?.groups?.x, 'a');
    assert.ok(compileRe2('\\Qa.b\\E').test('a.b'));
    assert.ok(!compileRe2('^\\Qa.b\\E$').test('axb'));
  });
});

void describe('validateRules performance shape', () => {
  void test('a listener with 50 filter chains x 100 routes validates without errors', () => {
    const doc = listener();
    const chain = (doc.filter_chains as Doc[])[0]!;
    const hcm = (chain.filters as Doc[])[0]!.typed_config as Doc;
    delete hcm.rds;
    hcm.route_config = {
      name: 'inline',
      virtual_hosts: routeConfiguration().virtual_hosts as Doc[],
    };
    doc.filter_chains = Array.from({ length: 50 }, (_, i) => ({
      ...structuredClone(chain),
      filter_chain_match: { server_names: [`h${i}.example.com`] },
    }));
    const { desc, message } = decode(doc);
    assert.deepEqual(validateRules(desc, message), []);
  });
});
