import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../config/translate-common.js';
import { translateRouteConfig } from '../config/translate-route.js';
import { RequestHeaderMap } from '../http/header-map.js';
import { compileRouteConfig } from './route-table.js';
import type { DescriptorOptions, RateLimitDescriptor } from './rate-limit-descriptors.js';
import { descriptorKey } from './rate-limit-descriptors.js';

/** Translates a RouteConfiguration (Envoy JSON); returns the model or the errors. */
function translate(config: JsonObject): { errors: string[]; table?: ReturnType<typeof compile> } {
  const issues = new Issues('RouteConfiguration "rc"');
  const model = translateRouteConfig(config, '', issues, { validateClustersDefault: false });
  if (!issues.ok) return { errors: issues.errors };
  return { errors: [], table: compile(model) };
}

function compile(model: Parameters<typeof compileRouteConfig>[0]) {
  return compileRouteConfig(model);
}

function config(routeAction: JsonObject, vhost: JsonObject = {}): JsonObject {
  return {
    name: 'rc',
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          { match: { prefix: '/redirect' }, redirect: { path_redirect: '/' } },
          { match: { prefix: '/' }, route: { cluster: 'web', ...routeAction } },
        ],
        ...vhost,
      },
    ],
  };
}

const OPTIONS: DescriptorOptions = {
  stage: 0,
  vhRateLimits: 'OVERRIDE',
  skipEntriesWithDisableKey: true,
};

function descriptors(
  cfg: JsonObject,
  init: {
    path?: string;
    headers?: Record<string, string | string[]>;
    ip?: string;
    options?: Partial<DescriptorOptions>;
  } = {},
): readonly RateLimitDescriptor[] {
  const { table, errors } = translate(cfg);
  assert.deepEqual(errors, []);
  const headers = new RequestHeaderMap('GET', init.path ?? '/x', 'example.com', 'http', 'HTTP/1.1');
  for (const [name, value] of Object.entries(init.headers ?? {}))
    for (const v of typeof value === 'string' ? [value] : value) headers.append(name, v);
  const selection = table!.match({
    authority: 'example.com',
    path: headers.path,
    method: 'GET',
    headers,
  });
  assert.ok(selection);
  return selection.rateLimits.descriptors(
    {
      headers,
      downstreamRemoteIp: init.ip ?? '10.1.2.3',
      clusterName: selection.clusterName ?? '',
      localServiceCluster: 'edge',
    },
    { ...OPTIONS, ...init.options },
  );
}

function entries(...pairs: [string, string][]): RateLimitDescriptor {
  return pairs.map(([key, value]) => ({ key, value }));
}

describe('rate_limits actions (Envoy router_ratelimit.cc)', () => {
  test('every supported action yields its entry, in order', () => {
    const cfg = config({
      rate_limits: [
        {
          actions: [
            { source_cluster: {} },
            { destination_cluster: {} },
            { request_headers: { header_name: 'X-User', descriptor_key: 'user' } },
            { remote_address: {} },
            { masked_remote_address: { v4_prefix_mask_len: 24 } },
            { generic_key: { descriptor_value: 'v' } },
            { generic_key: { descriptor_key: 'k', descriptor_value: 'v2' } },
            {
              header_value_match: {
                descriptor_value: 'post',
                headers: [{ name: ':method', string_match: { exact: 'GET' } }],
              },
            },
            {
              query_parameter_value_match: {
                descriptor_value: 'debug',
                query_parameters: [{ name: 'debug', string_match: { exact: '1' } }],
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual(
      descriptors(cfg, { path: '/x?debug=1', headers: { 'x-user': ['alice', 'bob'] } }),
      [
        entries(
          ['source_cluster', 'edge'],
          ['destination_cluster', 'web'],
          ['user', 'alice'],
          ['remote_address', '10.1.2.3'],
          ['masked_remote_address', '10.1.2.0/24'],
          ['generic_key', 'v'],
          ['k', 'v2'],
          ['header_match', 'post'],
          ['query_match', 'debug'],
        ),
      ],
    );
  });

  test('an action that cannot produce its entry drops the whole descriptor, not the others', () => {
    const cfg = config({
      rate_limits: [
        {
          actions: [
            { generic_key: { descriptor_value: 'a' } },
            { request_headers: { header_name: 'x-user', descriptor_key: 'user' } },
          ],
        },
        {
          actions: [
            { generic_key: { descriptor_value: 'b' } },
            {
              request_headers: {
                header_name: 'x-user',
                descriptor_key: 'user',
                skip_if_absent: true,
              },
            },
          ],
        },
        {
          actions: [
            {
              header_value_match: {
                descriptor_value: 'no-auth',
                expect_match: false,
                headers: [{ name: 'authorization', present_match: true }],
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual(descriptors(cfg), [
      entries(['generic_key', 'b']),
      entries(['header_match', 'no-auth']),
    ]);
    assert.deepEqual(descriptors(cfg, { headers: { 'x-user': 'u', authorization: 'x' } }), [
      entries(['generic_key', 'a'], ['user', 'u']),
      entries(['generic_key', 'b'], ['user', 'u']),
    ]);
  });

  test('masked_remote_address masks IPv6 with its own length; remote_address needs an IP', () => {
    const cfg = config({
      rate_limits: [
        { actions: [{ masked_remote_address: { v6_prefix_mask_len: 64 } }] },
        { actions: [{ remote_address: {} }] },
      ],
    });
    assert.deepEqual(descriptors(cfg, { ip: '2001:db8:1:2:3:4:5:6' }), [
      entries(['masked_remote_address', '2001:db8:1:2::/64']),
      entries(['remote_address', '2001:db8:1:2:3:4:5:6']),
    ]);
    assert.deepEqual(descriptors(cfg, { ip: '' }), []);
  });

  test('stage selects entries; disable_key entries are skipped only when asked', () => {
    const cfg = config({
      rate_limits: [
        { stage: 1, actions: [{ generic_key: { descriptor_value: 'one' } }] },
        { actions: [{ generic_key: { descriptor_value: 'zero' } }] },
        { disable_key: 'off', actions: [{ generic_key: { descriptor_value: 'keyed' } }] },
      ],
    });
    assert.deepEqual(descriptors(cfg), [entries(['generic_key', 'zero'])]);
    assert.deepEqual(descriptors(cfg, { options: { stage: 1 } }), [
      entries(['generic_key', 'one']),
    ]);
    assert.deepEqual(descriptors(cfg, { options: { skipEntriesWithDisableKey: false } }), [
      entries(['generic_key', 'zero']),
      entries(['generic_key', 'keyed']),
    ]);
  });

  test('virtual host rate_limits: OVERRIDE, INCLUDE, IGNORE and include_vh_rate_limits', () => {
    const vh = { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'vh' } }] }] };
    const routeLimits = {
      rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'route' } }] }],
    };
    const none = config({}, vh);
    const both = config(routeLimits, vh);
    assert.deepEqual(descriptors(none), [entries(['generic_key', 'vh'])]);
    assert.deepEqual(descriptors(both), [entries(['generic_key', 'route'])]);
    assert.deepEqual(descriptors(both, { options: { vhRateLimits: 'INCLUDE' } }), [
      entries(['generic_key', 'route']),
      entries(['generic_key', 'vh']),
    ]);
    assert.deepEqual(descriptors(none, { options: { vhRateLimits: 'IGNORE' } }), []);
    const included = config({ ...routeLimits, include_vh_rate_limits: true }, vh);
    assert.deepEqual(descriptors(included, { options: { vhRateLimits: 'IGNORE' } }), [
      entries(['generic_key', 'route']),
      entries(['generic_key', 'vh']),
    ]);
  });

  test('redirect routes have no descriptors, not even the virtual host ones', () => {
    const cfg = config(
      {},
      { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'vh' } }] }] },
    );
    assert.deepEqual(descriptors(cfg, { path: '/redirect' }), []);
  });

  test('descriptorKey separates entries unambiguously', () => {
    assert.notEqual(
      descriptorKey(entries(['a', 'b'], ['c', 'd'])),
      descriptorKey(entries(['a', 'b\u0001c\u0000d'])),
    );
    assert.equal(descriptorKey(entries(['a', 'b'])), descriptorKey(entries(['a', 'b'])));
  });
});

describe('rate_limits translation NACKs with field paths', () => {
  const cases: [string, JsonObject, string][] = [
    [
      'limit override',
      { rate_limits: [{ actions: [{ remote_address: {} }], limit: { dynamic_metadata: {} } }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].limit: the dynamic_metadata limit override is not supported',
    ],
    [
      'metadata action',
      { rate_limits: [{ actions: [{ metadata: { descriptor_key: 'k' } }] }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].actions[0].metadata: the metadata action is not supported',
    ],
    [
      'extension action',
      { rate_limits: [{ actions: [{ extension: { name: 'x' } }] }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].actions[0].extension: descriptor extensions are not supported',
    ],
    [
      'no actions',
      { rate_limits: [{ stage: 1 }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].actions: at least one action is required',
    ],
    [
      'stage out of range',
      { rate_limits: [{ stage: 11, actions: [{ remote_address: {} }] }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].stage: 11 is out of range',
    ],
    [
      'missing descriptor_key',
      { rate_limits: [{ actions: [{ request_headers: { header_name: 'x' } }] }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].actions[0].request_headers.descriptor_key: is required',
    ],
    [
      'generic_key without value',
      { rate_limits: [{ actions: [{ generic_key: {} }] }] },
      'virtual_hosts[0].routes[1].route.rate_limits[0].actions[0].generic_key.descriptor_value: is required',
    ],
    [
      'mask too long',
      { rate_limits: [{ actions: [{ masked_remote_address: { v4_prefix_mask_len: 33 } }] }] },
      'actions[0].masked_remote_address.v4_prefix_mask_len: 33 is out of range',
    ],
  ];
  for (const [name, action, expected] of cases) {
    test(name, () => {
      const { errors } = translate(config(action));
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.ok(errors[0]!.includes(expected), errors[0]);
    });
  }

  test('virtual host rate_limits are translated with their path', () => {
    const { errors } = translate(config({}, { rate_limits: [{ actions: [] }] }));
    assert.deepEqual(errors, [
      'RouteConfiguration "rc": virtual_hosts[0].rate_limits[0].actions: at least one action is required',
    ]);
  });
});
