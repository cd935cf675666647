import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BENCH_CASES,
  BROWSER_HEADERS,
  DEFAULT_BENCH_CASES,
  FORM_BODY,
  FORM_BODY_BYTES,
  casePath,
  benchAllowList,
  ferryBootstrap,
  proxyNginxConf,
} from './proxy-configs.js';

const INPUT = { listenPort: 10000, backendPort: 10001, workers: 1, dir: '/tmp', adminPort: 10002 };

/** The HCM's typed_config and its only route, out of a bench bootstrap. */
function hcmOf(bootstrap: object): {
  hcm: Record<string, unknown>;
  route: Record<string, unknown>;
} {
  const listener = (bootstrap as { static_resources: { listeners: unknown[] } }).static_resources
    .listeners[0] as { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] };
  const hcm = listener.filter_chains[0]!.filters[0]!.typed_config;
  const routeConfig = hcm.route_config as { virtual_hosts: { routes: object[] }[] };
  return { hcm, route: routeConfig.virtual_hosts[0]!.routes[0] as Record<string, unknown> };
}

function filterTypes(hcm: Record<string, unknown>): string[] {
  return (hcm.http_filters as { typed_config: { '@type': string } }[]).map(
    (f) => f.typed_config['@type'],
  );
}

test('plain ferry: the router only, no per-route filter config', () => {
  const { hcm, route } = hcmOf(ferryBootstrap(INPUT));
  assert.deepEqual(filterTypes(hcm), [
    'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  ]);
  assert.equal(route.typed_per_filter_config, undefined);
});

test('idle filters: compressor, buffer and CORS before the router, a CORS policy on the route', () => {
  const { hcm, route } = hcmOf(ferryBootstrap(INPUT, { idleFilters: true }));
  assert.deepEqual(filterTypes(hcm), [
    'type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor',
    'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer',
    'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors',
    'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  ]);
  const [compressor, buffer] = hcm.http_filters as { typed_config: Record<string, unknown> }[];
  assert.deepEqual(compressor!.typed_config.compressor_library, {
    name: 'text_optimized',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip',
    },
  });
  assert.equal(buffer!.typed_config.max_request_bytes, 1048576);
  assert.deepEqual(route.typed_per_filter_config, {
    'envoy.filters.http.cors': {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
      allow_origin_string_match: [{ exact: 'https://example.com' }],
    },
  });
});

test('rbac: a 1,000-CIDR remote_ip allow list before the router; the client is the last entry', () => {
  const { hcm } = hcmOf(ferryBootstrap(INPUT, { rbacAllowListSize: 1000 }));
  assert.deepEqual(filterTypes(hcm), [
    'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
    'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  ]);
  const list = benchAllowList(1000);
  assert.equal(list.length, 1000);
  assert.equal(new Set(list.map((r) => r.address_prefix)).size, 1000);
  assert.deepEqual(list.at(-1), { address_prefix: '127.0.0.1', prefix_len: 32 });
});

test('local rate limit: the limiter before the router, enabled and enforced on every request', () => {
  const { hcm } = hcmOf(ferryBootstrap(INPUT, { localRateLimit: true }));
  assert.deepEqual(filterTypes(hcm), [
    'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
    'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  ]);
});

test('waf: the WAF filter first, with the given directives', () => {
  const { hcm } = hcmOf(ferryBootstrap(INPUT, { wafDirectives: 'SecRuleEngine On\n' }));
  assert.deepEqual(filterTypes(hcm), [
    'type.googleapis.com/ferry.v1.Waf',
    'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  ]);
  const [waf] = hcm.http_filters as { name: string; typed_config: Record<string, unknown> }[];
  assert.equal(waf!.name, 'ferry.filters.http.waf');
  assert.deepEqual(waf!.typed_config.directives, ['SecRuleEngine On\n']);
  assert.equal(waf!.typed_config.mode, 'ON');
});

test('form case: a 4 KiB urlencoded body', () => {
  assert.equal(Buffer.byteLength(FORM_BODY), FORM_BODY_BYTES);
  assert.match(FORM_BODY, /^[A-Za-z0-9%+&=._*-]+$/);
  const fields = new URLSearchParams(FORM_BODY);
  assert.equal(fields.get('name'), "Siobhan O'Brien");
  assert.ok((fields.get('message') ?? '').length > 3000);
});

test('browser case: the small body with a query string and header values wrk can send', () => {
  assert.equal(casePath('browser'), '/small?page=2&sort=price');
  assert.equal(casePath('small'), '/small');
  for (const [name, value] of Object.entries(BROWSER_HEADERS)) {
    assert.match(name, /^[A-Za-z-]+$/);
    assert.match(value, /^[\x20-\x7e]+$/, name);
  }
  assert.ok(BENCH_CASES.includes('browser'));
  assert.ok(!DEFAULT_BENCH_CASES.includes('browser'));
});

test('nginx-modsec: the module loaded first, ModSecurity on with the rules file', () => {
  const plain = proxyNginxConf(INPUT);
  assert.doesNotMatch(plain, /modsecurity/);
  const conf = proxyNginxConf(INPUT, { module: '/m.so', rulesFile: '/tmp/crs.conf' });
  assert.match(conf, /^load_module \/m\.so;\n/);
  assert.match(conf, /\n {2}modsecurity on;\n {2}modsecurity_rules_file \/tmp\/crs\.conf;\n/);
});
