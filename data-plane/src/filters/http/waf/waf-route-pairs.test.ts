/**
 * A route's extra WAF directives are compiled with the filter's at translation (the proxy NACKs,
 * the control plane's pre-flight refuses) and in the workers at config apply, never on a request.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import { buildProxyConfig } from '../../../config/translate.js';
import { resourcesOf } from '../../../config/translate-test-fixtures.js';
import type { ProxyConfig } from '../../../config/model.js';
import { checkResources } from '../../../translator.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { Issues } from '../../../config/translate-common.js';
import { wafFilter } from './config.js';
import type { WafPerRouteModel } from './model.js';
import type { WafFilter } from './waf-filter.js';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const WAF = {
  name: 'waf',
  typed_config: {
    '@type': `${T}ferry.v1.Waf`,
    directives: ['SecRuleEngine On', 'SecRule ARGS "@contains attack" "id:100,phase:1,deny"'],
  },
};
const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
};
const CLUSTER = {
  '@type': 'envoy.config.cluster.v3.Cluster',
  name: 'a',
  type: 'STATIC',
  load_assignment: {
    cluster_name: 'a',
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } },
        ],
      },
    ],
  },
};
/** Compiles alone; with the filter's directives rule id 100 is used twice. */
const CLASHING = ['SecRule ARGS "@contains other" "id:100,phase:1,deny"'];
const FINE = ['SecRuleRemoveById 100'];

function routeConfig(routeDirectives: string[]): Record<string, unknown> {
  return {
    name: 'r',
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          { match: { prefix: '/plain' }, route: { cluster: 'a' } },
          {
            match: { prefix: '/' },
            route: { cluster: 'a' },
            typed_per_filter_config: {
              waf: { '@type': `${T}ferry.v1.WafPerRoute`, directives: routeDirectives },
            },
          },
        ],
      },
    ],
  };
}

function listener(route: Record<string, unknown>): Record<string, unknown> {
  return {
    '@type': 'envoy.config.listener.v3.Listener',
    name: 'web',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'web',
              ...route,
              http_filters: [WAF, ROUTER],
            },
          },
        ],
      },
    ],
  };
}

const inline = (d: string[]): unknown[] => [listener({ route_config: routeConfig(d) }), CLUSTER];
const overRds = (d: string[]): unknown[] => [
  listener({ rds: { route_config_name: 'r', config_source: { ads: {} } } }),
  { '@type': 'envoy.config.route.v3.RouteConfiguration', ...routeConfig(d) },
  CLUSTER,
];

const DUPLICATE =
  'typed_per_filter_config["waf"].directives: with the filter’s directives: directives:3: rule 100: the id 100 is used twice';

describe('WAF per-route directives compiled with the filter’s at translation', () => {
  test('an inline route configuration whose pair does not compile is a NACK with its path', () => {
    const r = buildProxyConfig(resourcesOf(inline(CLASHING)));
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.errors, [
      `Listener "web": filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].${DUPLICATE}`,
    ]);
    assert.equal(buildProxyConfig(resourcesOf(inline(FINE))).ok, true);
  });

  test('over RDS both the listener and the route configuration are rejected', () => {
    const r = buildProxyConfig(resourcesOf(overRds(CLASHING)));
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.rejected.map((x) => [x.kind, x.name, x.errors]), [
      [
        'RouteConfiguration',
        'r',
        [`RouteConfiguration "r": virtual_hosts[0].routes[1].${DUPLICATE} (with Listener "web")`],
      ],
      [
        'Listener',
        'web',
        [
          `Listener "web": filter_chains[0].filters[0].typed_config.rds: RouteConfiguration "r" virtual_hosts[0].routes[1].${DUPLICATE}`,
        ],
      ],
    ]);
    assert.equal(buildProxyConfig(resourcesOf(overRds(FINE))).ok, true);
  });

  test('the control plane’s pre-flight (no host access) finds the same error', () => {
    const res = resourcesOf(overRds(CLASHING));
    const findings = checkResources({ ...res, secrets: [] });
    const errors = findings.filter((f) => f.errors.length > 0).map((f) => [f.kind, f.errors]);
    assert.deepEqual(errors, [
      ['RouteConfiguration', [`virtual_hosts[0].routes[1].${DUPLICATE} (with Listener "web")`]],
      [
        'Listener',
        [
          `filter_chains[0].filters[0].typed_config.rds: RouteConfiguration "r" virtual_hosts[0].routes[1].${DUPLICATE}`,
        ],
      ],
    ]);
  });

  test('workers compile a route’s rule set at config apply (prepareRoute)', () => {
    const r = buildProxyConfig(resourcesOf(inline(FINE)));
    assert.ok(r.ok);
    const config: ProxyConfig = r.value;
    const hcm = config.listeners[0]!.filterChains[0]!.http!;
    const perRoute = hcm.routeConfig!.virtualHosts[0]!.routes[1]!.typedPerFilterConfig!.waf!
      .config as WafPerRouteModel;
    const filter = wafFilter.createFilterFactory(hcm.httpFilters[0]!.config as never, {
      stats: new MemoryStatsSink(),
      logger: createLogger('test', 'silent'),
      statPrefix: 'web',
      listenerName: 'web',
      serverHealth: { failing: false },
    }) as WafFilter;
    filter.prepareRoute(perRoute);
    const prepared = filter.routeRuleSet(perRoute);
    assert.ok(!(prepared instanceof Error));
    // Rule 100 is removed on this route only.
    assert.notEqual(prepared, filter.ruleSet);
    assert.equal(prepared.ruleCount, filter.ruleSet.ruleCount - 1);
  });

  test('checkPerRoute ignores a route that only sets a mode', () => {
    const issues = new Issues('');
    const r = buildProxyConfig(resourcesOf(inline(FINE)));
    assert.ok(r.ok);
    const base = r.value.listeners[0]!.filterChains[0]!.http!.httpFilters[0]!.config;
    wafFilter.checkPerRoute!(
      base as never,
      { disabled: false, mode: 'DETECTION_ONLY', sources: undefined },
      'p',
      issues,
    );
    assert.deepEqual(issues.errors, []);
  });
});
