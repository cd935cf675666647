import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResourceJson } from '@ferry/proto';
import type { FleetNodeView } from './fleet.js';
import { wafStatus } from './waf-status.js';

const T = 'type.googleapis.com/';
const LDS = `${T}envoy.config.listener.v3.Listener`;
const RDS = `${T}envoy.config.route.v3.RouteConfiguration`;

function listener(name: string, hcm: Record<string, unknown>): Record<string, unknown> {
  return {
    '@type': LDS,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
              stat_prefix: name,
              ...hcm,
              http_filters: [
                {
                  name: 'waf',
                  typed_config: {
                    '@type': `${T}ferry.v1.Waf`,
                    directives: ['SecRuleEngine DetectionOnly', 'Include @crs/rules/*.conf'],
                  },
                },
                {
                  name: 'envoy.filters.http.router',
                  typed_config: {
                    '@type': `${T}envoy.extensions.filters.http.router.v3.Router`,
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

const ROUTES = {
  '@type': RDS,
  name: 'main',
  virtual_hosts: [
    {
      name: 'vh',
      domains: ['*'],
      routes: [
        {
          match: { prefix: '/a' },
          route: { cluster: 'c' },
          typed_per_filter_config: {
            waf: {
              '@type': `${T}ferry.v1.WafPerRoute`,
              mode: 'ON',
              directives: ['SecRuleRemoveById 942100'],
            },
          },
        },
        {
          match: { prefix: '/b' },
          route: { cluster: 'c' },
          typed_per_filter_config: {
            waf: { '@type': `${T}envoy.config.route.v3.FilterConfig`, disabled: true },
          },
        },
        { match: { prefix: '/' }, route: { cluster: 'c' } },
      ],
    },
  ],
};

function applied(docs: Array<Record<string, unknown>>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const doc of docs) {
    const parsed = parseResourceJson(doc);
    assert.ok(parsed.ok, JSON.stringify(parsed));
    out.set(parsed.value.name, {
      name: parsed.value.name,
      version: parsed.value.version,
      resource: { type_url: doc['@type'], value: Buffer.from(parsed.value.bytes) },
    });
  }
  return out;
}

function view(
  id: string,
  group: string,
  listeners: Array<Record<string, unknown>>,
  rejected: string[] = [],
): FleetNodeView {
  const type = (docs: Array<Record<string, unknown>>, rej: string[]) => ({
    versionSent: 'v1',
    versionAcked: 'v1',
    versionApplied: 'v1',
    resources: docs.length,
    snapshotApplied: applied(docs),
    rejected: rej.length === 0 ? undefined : new Map(rej.map((n) => [n, {}])),
  });
  return {
    node: { id },
    group,
    connected: true,
    types: new Map([
      [LDS, type(listeners, rejected)],
      [RDS, type([ROUTES], [])],
    ]),
  } as unknown as FleetNodeView;
}

const RDS_HCM = { rds: { route_config_name: 'main', config_source: { ads: {} } } };

describe('wafStatus', () => {
  test('per node and listener: mode, rule set, CRS, routes overriding', () => {
    const status = wafStatus([view('p1', 'edge', [listener('web', RDS_HCM)])], () => true);
    assert.equal(status.filters.length, 1);
    const f = status.filters[0]!;
    assert.equal(f.node_id, 'p1');
    assert.equal(f.group, 'edge');
    assert.equal(f.listener, 'web');
    assert.equal(f.filter, 'waf');
    // No mode in the config: the directives' SecRuleEngine.
    assert.equal(f.mode, 'DETECTION_ONLY');
    assert.equal(f.crs, true);
    assert.match(f.rule_set, /^[0-9a-f]{16}$/);
    assert.equal(f.routes_overriding.length, 2);
    const [a, b] = f.routes_overriding;
    assert.equal(a!.route_config, 'main');
    assert.equal(a!.path, 'virtual_hosts[0].routes[0]');
    assert.equal(a!.mode, 'ON');
    assert.equal(a!.disabled, false);
    assert.match(a!.rule_set ?? '', /^[0-9a-f]{16}$/);
    assert.notEqual(a!.rule_set, f.rule_set);
    assert.deepEqual(b, {
      route_config: 'main',
      path: 'virtual_hosts[0].routes[1]',
      disabled: true,
    });
  });

  test('groups the caller cannot read, other groups and rejected listeners are left out', () => {
    const views = [
      view('p1', 'edge', [listener('web', RDS_HCM)]),
      view('p2', 'mesh', [listener('web', RDS_HCM)]),
      view('p3', 'edge', [listener('web', RDS_HCM)], ['web']),
    ];
    assert.deepEqual(
      wafStatus(views, (g) => g === 'edge').filters.map((f) => f.node_id),
      ['p1'],
    );
    assert.deepEqual(
      wafStatus(views, () => true, 'mesh').filters.map((f) => f.node_id),
      ['p2'],
    );
  });

  test('an inline route configuration is read from the listener', () => {
    const { ['@type']: _type, ...routeConfig } = ROUTES;
    const v = view('p1', 'edge', [listener('web', { route_config: routeConfig })]);
    // No RouteConfiguration over RDS: only the inline one can give the overrides.
    (v.types as Map<string, unknown>).delete(RDS);
    const status = wafStatus([v], () => true);
    assert.equal(status.filters[0]!.routes_overriding.length, 2);
  });
});
