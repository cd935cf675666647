import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalBytes, contentVersion } from './canonical.js';
import { binaryToJson, decodeJson, decodeJsonWith, jsonToBinary } from './json.js';
import { requireMessageSchema } from './registry.js';
import { parseResourceJson, resourceToJson } from './resource.js';
import { TYPE_URL_PREFIX } from './resource-types.js';
import { parseDocuments, toYaml } from './yaml.js';

type Doc = Record<string, unknown>;

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const LISTENER = 'envoy.config.listener.v3.Listener';
const INT64_RANGE = 'envoy.type.v3.Int64Range';
const SOCKET_ADDRESS = 'envoy.config.core.v3.SocketAddress';
const HCM = `${TYPE_URL_PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${TYPE_URL_PREFIX}envoy.extensions.filters.http.router.v3.Router`;

function cluster(extra: Doc = {}): Doc {
  return { name: 'web', type: 'STATIC', connect_timeout: '1s', ...extra };
}

/** A listener whose HCM carries an inline route configuration (so paths run through an Any). */
function listenerWithRoutes(routes: Doc[]): Doc {
  return {
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'in',
              route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes }] },
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } },
              ],
            },
          },
        ],
      },
    ],
  };
}

const route = (prefix: string): Doc => ({ match: { prefix }, route: { cluster: 'web' } });

function errors(typeName: string, json: unknown, path = ''): string[] {
  const decoded = decodeJson(typeName, json, path);
  return decoded.ok ? [] : decoded.errors;
}

function bytesOf(typeName: string, json: unknown): Uint8Array {
  const encoded = jsonToBinary(typeName, json);
  if (!encoded.ok) assert.fail(encoded.errors.join('\n'));
  return encoded.value;
}

void describe('proto3 JSON: accepted and rejected values', () => {
  const cases: { name: string; type: string; json: unknown; errors: string[] }[] = [
    { name: 'duration "1s"', type: CLUSTER, json: cluster({ connect_timeout: '1s' }), errors: [] },
    {
      name: 'duration "0.5s"',
      type: CLUSTER,
      json: cluster({ connect_timeout: '0.5s' }),
      errors: [],
    },
    {
      name: 'duration as a number',
      type: CLUSTER,
      json: cluster({ connect_timeout: 5 }),
      errors: [
        'clusters[0].connect_timeout: expected a duration such as "1s" or "0.250s", got number 5',
      ],
    },
    {
      name: 'bare wrapper values',
      type: CLUSTER,
      json: cluster({ per_connection_buffer_limit_bytes: 32768, max_requests_per_connection: 100 }),
      errors: [],
    },
    { name: 'enum by name', type: CLUSTER, json: cluster({ lb_policy: 'RING_HASH' }), errors: [] },
    { name: 'enum by number', type: CLUSTER, json: cluster({ lb_policy: 2 }), errors: [] },
    {
      name: 'unknown enum name',
      type: CLUSTER,
      json: cluster({ lb_policy: 'ROUND_ROBINN' }),
      errors: [
        'clusters[0].lb_policy: unknown value "ROUND_ROBINN" for enum envoy.config.cluster.v3.Cluster.LbPolicy (one of ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG)',
      ],
    },
    {
      name: 'enum number beyond int32 (regression: error had no path)',
      type: CLUSTER,
      json: cluster({ lb_policy: 99999999999 }),
      errors: [
        'clusters[0].lb_policy: 99999999999 is out of range for enum envoy.config.cluster.v3.Cluster.LbPolicy (int32)',
      ],
    },
    {
      name: 'int64 as a string',
      type: INT64_RANGE,
      json: { start: '-5', end: '9223372036854775807' },
      errors: [],
    },
    { name: 'int64 as a number', type: INT64_RANGE, json: { start: -5, end: 10 }, errors: [] },
    {
      name: 'int64 out of range',
      type: INT64_RANGE,
      json: { end: '9223372036854775808' },
      errors: ['clusters[0].end: 9223372036854775808 is out of range for int64'],
    },
    {
      name: 'int64 number beyond 2^53 loses precision',
      type: INT64_RANGE,
      json: { end: 2 ** 60 },
      errors: [
        'clusters[0].end: 1152921504606847000 is beyond 2^53 and loses precision as a JSON number; write int64 values as strings',
      ],
    },
    {
      name: 'int64 string with a fraction (regression: error had no path)',
      type: INT64_RANGE,
      json: { end: '1.0' },
      errors: ['clusters[0].end: expected a decimal integer string (int64), got string "1.0"'],
    },
    {
      name: 'uint32 out of range',
      type: SOCKET_ADDRESS,
      json: { address: 'a', port_value: 4294967296 },
      errors: ['clusters[0].port_value: 4294967296 is out of range for uint32 (0..4294967295)'],
    },
    {
      name: 'uint32 with spaces (regression: error had no path)',
      type: SOCKET_ADDRESS,
      json: { address: 'a', port_value: ' 5' },
      errors: ['clusters[0].port_value: expected an integer (uint32), got string " 5"'],
    },
    {
      name: 'port 70000 is a valid uint32 (range is a PGV rule)',
      type: SOCKET_ADDRESS,
      json: { address: 'a', port_value: 70000 },
      errors: ['clusters[0].port_value: must be <= 65535 (validate.rules)'],
    },
    {
      name: 'base64 of impossible length (regression: error had no path)',
      type: 'google.protobuf.BytesValue',
      json: 'abcde',
      errors: ['clusters[0]: expected base64 bytes, got string "abcde"'],
    },
    {
      name: 'timestamp with month 13 (regression: error had no path)',
      type: 'google.protobuf.Timestamp',
      json: '2024-13-01T00:00:00Z',
      errors: [
        'clusters[0]: expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got string "2024-13-01T00:00:00Z"',
      ],
    },
    {
      name: 'field given as snake_case and camelCase',
      type: CLUSTER,
      json: cluster({ connect_timeout: '1s', connectTimeout: '2s' }),
      errors: [
        'clusters[0].connectTimeout: field given twice (as "connect_timeout" and "connectTimeout")',
      ],
    },
    {
      name: 'two members of a oneof',
      type: CLUSTER,
      json: cluster({ cluster_type: { name: 'envoy.clusters.aggregate' } }),
      errors: [
        'clusters[0].cluster_type: only one of the oneof "cluster_discovery_type" may be set (also set: "type")',
      ],
    },
    {
      name: 'a null oneof member still counts (regression: error had no path)',
      type: CLUSTER,
      json: cluster({ cluster_type: null }),
      errors: [
        'clusters[0].cluster_type: only one of the oneof "cluster_discovery_type" may be set (also set: "type")',
      ],
    },
    {
      name: 'unknown fields deep inside Anys, all listed',
      type: LISTENER,
      json: (() => {
        const doc = listenerWithRoutes([
          route('/a'),
          { match: { prefx: '/b' }, route: { cluster: 'web' } },
        ]);
        (doc.address as Doc).sockt_address = {};
        return doc;
      })(),
      errors: [
        'clusters[0].address.sockt_address: unknown field (did you mean "socket_address"?) in envoy.config.core.v3.Address',
        'clusters[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].match.prefx: unknown field (did you mean "prefix"?) in envoy.config.route.v3.RouteMatch',
      ],
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      assert.deepEqual(errors(c.type, c.json, 'clusters[0]'), c.errors);
    });
  }

  void test('decodeJsonWith can skip the PGV rules', () => {
    const desc = requireMessageSchema(SOCKET_ADDRESS);
    assert.equal(
      decodeJsonWith(desc, { address: 'a', port_value: 70000 }, '', { validateRules: false }).ok,
      true,
    );
  });
});

void describe('proto3 JSON: equivalent spellings give identical bytes', () => {
  const pairs: { name: string; type: string; a: unknown; b: unknown }[] = [
    {
      name: 'enum name and number',
      type: CLUSTER,
      a: cluster({ lb_policy: 'RING_HASH' }),
      b: cluster({ lb_policy: 2 }),
    },
    {
      name: 'int64 string and number',
      type: INT64_RANGE,
      a: { start: '7', end: '9' },
      b: { start: 7, end: 9 },
    },
    {
      name: 'snake_case and camelCase',
      type: CLUSTER,
      a: cluster({
        per_connection_buffer_limit_bytes: 32768,
        common_lb_config: { healthy_panic_threshold: { value: 40 } },
      }),
      b: {
        name: 'web',
        type: 'STATIC',
        connectTimeout: '1s',
        perConnectionBufferLimitBytes: 32768,
        commonLbConfig: { healthyPanicThreshold: { value: 40 } },
      },
    },
    {
      name: 'duration "0.5s" and "0.500s"',
      type: CLUSTER,
      a: cluster({ connect_timeout: '0.5s' }),
      b: cluster({ connect_timeout: '0.500s' }),
    },
  ];
  for (const p of pairs) {
    void test(p.name, () => {
      assert.deepEqual(bytesOf(p.type, p.a), bytesOf(p.type, p.b));
    });
  }
});

void describe('round trips', () => {
  void test('Struct metadata with nested values', () => {
    const metadata = {
      filter_metadata: {
        'envoy.lb': {
          canary: true,
          weight: 1.5,
          tags: ['a', 'b', null],
          nested: { deep: { x: 'y' } },
        },
      },
    };
    const json = binaryToJson(
      'envoy.config.core.v3.Metadata',
      bytesOf('envoy.config.core.v3.Metadata', metadata),
    );
    assert.deepEqual(json, metadata);
  });

  void test('bare wrappers come back bare', () => {
    const json = binaryToJson(
      CLUSTER,
      bytesOf(
        CLUSTER,
        cluster({ per_connection_buffer_limit_bytes: 32768, max_requests_per_connection: 100 }),
      ),
    );
    assert.equal((json as Doc).per_connection_buffer_limit_bytes, 32768);
    assert.equal((json as Doc).max_requests_per_connection, 100);
  });

  void test('nested Anys: HCM in a listener filter, Router in http_filters', () => {
    const doc = listenerWithRoutes([route('/')]);
    const json = binaryToJson(LISTENER, bytesOf(LISTENER, doc)) as Doc;
    const hcm = ((json.filter_chains as Doc[])[0]!.filters as Doc[])[0]!.typed_config as Doc;
    assert.equal(hcm['@type'], HCM);
    assert.equal(((hcm.http_filters as Doc[])[0]!.typed_config as Doc)['@type'], ROUTER);
    assert.deepEqual(json, doc);
  });

  void test('a well-known type in an Any uses "value", also an Any in an Any (regression: rejected)', () => {
    const any = { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1.500s' };
    assert.deepEqual(binaryToJson('google.protobuf.Any', bytesOf('google.protobuf.Any', any)), any);
    const anyInAny = {
      '@type': 'type.googleapis.com/google.protobuf.Any',
      value: { '@type': 'type.googleapis.com/google.protobuf.UInt32Value', value: 7 },
    };
    assert.deepEqual(
      binaryToJson('google.protobuf.Any', bytesOf('google.protobuf.Any', anyInAny)),
      anyInAny,
    );
    assert.deepEqual(
      errors('google.protobuf.Any', {
        '@type': 'type.googleapis.com/google.protobuf.Duration',
        value: 1,
      }),
      ['value: expected a duration such as "1s" or "0.250s", got number 1'],
    );
  });

  void test('binary → JSON → binary is stable', () => {
    const first = bytesOf(LISTENER, listenerWithRoutes([route('/a'), route('/b')]));
    const again = bytesOf(LISTENER, binaryToJson(LISTENER, first));
    assert.deepEqual(again, first);
    assert.deepEqual(bytesOf(LISTENER, binaryToJson(LISTENER, again)), first);
  });
});

function versionOf(doc: unknown): string {
  const parsed = parseResourceJson(doc);
  if (!parsed.ok) assert.fail(parsed.errors.join('\n'));
  return parsed.value.version;
}

const CLUSTER_URL = `${TYPE_URL_PREFIX}${CLUSTER}`;

void describe('canonical versions', () => {
  const ordered = {
    '@type': CLUSTER_URL,
    name: 'web',
    type: 'STATIC',
    connect_timeout: '1s',
    metadata: { filter_metadata: { a: { x: 1, y: { p: 1, q: 2 } }, b: { z: 'z' } } },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': `${TYPE_URL_PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
        explicit_http_config: { http2_protocol_options: {} },
      },
      'envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions': {
        '@type': `${TYPE_URL_PREFIX}envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions`,
        idle_timeout: '60s',
      },
    },
  };

  function reverseKeys(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(reverseKeys);
    if (typeof value !== 'object' || value === null) return value;
    const out: Doc = {};
    for (const k of Object.keys(value).reverse()) out[k] = reverseKeys((value as Doc)[k]);
    return out;
  }

  void test('independent of key order, including map keys', () => {
    const reversed = reverseKeys(ordered) as Doc;
    assert.notDeepEqual(
      Object.keys((reversed.metadata as { filter_metadata: Doc }).filter_metadata),
      ['a', 'b'],
    );
    assert.equal(versionOf(reversed), versionOf(ordered));
  });

  void test('identical for camelCase input', () => {
    const camel = {
      '@type': CLUSTER_URL,
      name: 'web',
      type: 'STATIC',
      connectTimeout: '1s',
      metadata: { filterMetadata: ordered.metadata.filter_metadata },
      typedExtensionProtocolOptions: ordered.typed_extension_protocol_options,
    };
    assert.equal(versionOf(camel), versionOf(ordered));
  });

  void test('identical for YAML and JSON input', () => {
    const yaml = parseDocuments(toYaml(reverseKeys(ordered)), 'c.yaml');
    assert.ok(yaml.ok);
    assert.equal(versionOf(yaml.value[0]), versionOf(JSON.parse(JSON.stringify(ordered))));
  });

  void test('changes when content changes', () => {
    assert.notEqual(versionOf({ ...ordered, connect_timeout: '2s' }), versionOf(ordered));
  });

  void test('canonicalBytes equals the bytes stored by parseResourceJson', () => {
    const parsed = parseResourceJson(ordered);
    assert.ok(parsed.ok);
    const desc = requireMessageSchema(CLUSTER);
    const decoded = decodeJsonWith(desc, parsed.value.json);
    assert.ok(decoded.ok);
    assert.deepEqual(canonicalBytes(desc, decoded.value), parsed.value.bytes);
    assert.equal(contentVersion(parsed.value.bytes), parsed.value.version);
    assert.deepEqual(resourceToJson(parsed.value.type, parsed.value.bytes), {
      '@type': CLUSTER_URL,
      ...parsed.value.json,
    });
  });
});

void describe('YAML', () => {
  void test('keeps int64 precision', () => {
    const parsed = parseDocuments('start: 9007199254740993\nend: 12\n');
    assert.deepEqual(parsed, { ok: true, value: [{ start: '9007199254740993', end: 12 }] });
    assert.deepEqual(
      binaryToJson(INT64_RANGE, bytesOf(INT64_RANGE, (parsed as { value: unknown[] }).value[0])),
      { start: '9007199254740993', end: '12' },
    );
  });

  void test('multiple documents, empty ones skipped', () => {
    const parsed = parseDocuments('a: 1\n---\n---\nb: [x, y]\n...\n');
    assert.deepEqual(parsed, { ok: true, value: [{ a: 1 }, { b: ['x', 'y'] }] });
  });

  void test('syntax errors name the line (regression: no line numbers)', () => {
    const parsed = parseDocuments('a: 1\n---\nname: web\nname: again\n', 'c.yaml');
    assert.deepEqual(parsed, {
      ok: false,
      errors: ['c.yaml:4:1: document 2: Map keys must be unique'],
    });
    const unclosed = parseDocuments('a: 1\nb: [1, 2\n', 'c.yaml');
    assert.equal(unclosed.ok, false);
    assert.match((unclosed as { errors: string[] }).errors[0]!, /^c\.yaml:\d+:\d+: document 1: /);
  });

  void test('nesting past the limit is an error naming where, flow or block, however deep', () => {
    const flow = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    assert.equal(parseDocuments(flow(100)).ok, true);
    assert.deepEqual(parseDocuments(`a: 1\n---\n${flow(101)}`, 'd.yaml'), {
      ok: false,
      errors: ['d.yaml:3:101: document 2: nested deeper than 100 levels; flatten it'],
    });
    assert.deepEqual(parseDocuments('- - - x\n', 'd.yaml', { maxDepth: 2 }), {
      ok: false,
      errors: ['d.yaml:1:5: document 1: nested deeper than 2 levels; flatten it'],
    });
    // 100,000 levels: refused without overflowing the stack.
    const deep = parseDocuments(flow(100_000), 'd.yaml');
    assert.equal(deep.ok, false);
  });

  void test('aliases that expand exponentially are an error; plain reuse is fine', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 6; i++) {
      const name = String.fromCharCode(97 + i);
      lines.push(
        `${name}: &${name} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    }
    const bomb = parseDocuments(lines.join('\n'), 'b.yaml');
    assert.equal(bomb.ok, false);
    assert.match(
      (bomb as { errors: string[] }).errors[0]!,
      /^b\.yaml: document 1: aliases expand past 100 uses/,
    );
    const reuse = parseDocuments('t: &t {port: 80}\nl: [*t, *t, *t]\n');
    assert.deepEqual(reuse, {
      ok: true,
      value: [{ t: { port: 80 }, l: [{ port: 80 }, { port: 80 }, { port: 80 }] }],
    });
  });
});
