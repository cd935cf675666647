/**
 * Per-resource acceptance with the real translation (docs/architecture.md, "Per-resource
 * acceptance"): a response applies its good resources, rejects the bad ones by name, and each
 * rejected resource keeps its last accepted version (or stays absent if it is new).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from '../config/translate.js';
import type { ProxyConfig } from '../config/model.js';
import { ConfigSource, type AppliedConfig } from './config-source.js';
import { CDS, LDS, RDS, type JsonObject } from './resource-set.js';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
};

/** An HTTP listener on `port` whose inline routes send everything to `cluster`. */
function listener(name: string, port: number, cluster: string, extra: JsonObject = {}): JsonObject {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              route_config: {
                name: `${name}-routes`,
                virtual_hosts: [{ name: 'all', domains: ['*'], routes: [routeTo(cluster)] }],
              },
              http_filters: [ROUTER],
            },
          },
        ],
      },
    ],
    ...extra,
  };
}

/** An HTTP listener on `port` whose routes come over RDS as `routes`. */
function rdsListener(name: string, port: number, routes: string): JsonObject {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              rds: { route_config_name: routes, config_source: { ads: {} } },
              http_filters: [ROUTER],
            },
          },
        ],
      },
    ],
  };
}

const routeTo = (cluster: string): JsonObject => ({
  match: { prefix: '/' },
  route: { cluster },
});

function routeConfig(name: string, cluster: string, extra: JsonObject = {}): JsonObject {
  return {
    name,
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [routeTo(cluster)] }],
    ...extra,
  };
}

function cluster(name: string, port: number, extra: JsonObject = {}): JsonObject {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: {
                address: { socket_address: { address: '127.0.0.1', port_value: port } },
              },
            },
          ],
        },
      ],
    },
    ...extra,
  };
}

function source(applied: AppliedConfig[] = []): ConfigSource {
  return new ConfigSource({
    staticListeners: [],
    staticClusters: [],
    build: (input, previous?: ProxyConfig) =>
      buildProxyConfig(input as Parameters<typeof buildProxyConfig>[0], previous),
    onConfig: (a) => applied.push(a),
  });
}

/** The cluster the inline routes of listener `name` send to. */
function listenerTarget(config: ProxyConfig | undefined, name: string): string | undefined {
  const l = config?.listeners.find((x) => x.name === name);
  return l === undefined ? undefined : JSON.stringify(l).match(/"cluster":"([^"]+)"/)?.[1];
}

const BAD_FIELD = { use_original_dst: true };

describe('ConfigSource: per-resource acceptance', () => {
  test('LDS: the good listener is applied, the bad one keeps its accepted version', () => {
    const applied: AppliedConfig[] = [];
    const s = source(applied);
    assert.deepEqual(s.onResponse(CDS, 'c1', [cluster('a', 81), cluster('b', 82)]).errors, []);
    const first = s.onResponse(LDS, 'v1', [listener('web', 8001, 'a'), listener('api', 8002, 'a')]);
    assert.deepEqual(first, { errors: [], rejected: [] });

    const verdict = s.onResponse(LDS, 'v2', [
      listener('web', 8001, 'b'),
      listener('api', 8002, 'b', BAD_FIELD),
    ]);
    assert.deepEqual(verdict.rejected, [
      { name: 'api', errors: ['Listener "api": use_original_dst: not supported by ferry-proxy'] },
    ]);
    assert.deepEqual(verdict.errors, [
      'Listener "api": use_original_dst: not supported by ferry-proxy',
    ]);
    const config = s.applied?.config;
    assert.equal(listenerTarget(config, 'web'), 'b', 'the good change is in force');
    assert.equal(listenerTarget(config, 'api'), 'a', 'the bad listener keeps its version');
    const lds = s.resources.get(LDS)!;
    assert.equal(lds.version, 'v1', 'the type version stays the last one accepted as a whole');
    assert.equal(lds.resources.get('web')?.version, 'v2');
    assert.equal(lds.resources.get('api')?.version, 'v1');
    assert.equal(s.counters.rejections.get(LDS), 1);
    const rejected = s.counters.rejectedResources.get(LDS)?.get('api');
    assert.equal(rejected?.version, 'v2');
    assert.deepEqual(rejected?.json, listener('api', 8002, 'b', BAD_FIELD));

    // The same response again changes nothing: the config in force is the same object.
    const before = applied.at(-1)!.config;
    s.onResponse(LDS, 'v2', [listener('web', 8001, 'b'), listener('api', 8002, 'b', BAD_FIELD)]);
    assert.equal(applied.at(-1)!.config, before, 'an unchanged push costs the workers nothing');

    // Fixed: accepted as a whole, the rejection is settled.
    assert.deepEqual(
      s.onResponse(LDS, 'v3', [listener('web', 8001, 'b'), listener('api', 8002, 'b')]).errors,
      [],
    );
    assert.equal(listenerTarget(s.applied?.config, 'api'), 'b');
    assert.equal(s.resources.get(LDS)?.version, 'v3');
    assert.equal(s.counters.rejectedResources.has(LDS), false);
  });

  test('a rejected new listener is absent; a listener that conflicts with a kept one is rejected', () => {
    const s = source();
    s.onResponse(CDS, 'c1', [cluster('a', 81)]);
    s.onResponse(LDS, 'v1', [listener('web', 8001, 'a')]);
    const verdict = s.onResponse(LDS, 'v2', [
      listener('web', 8001, 'a'),
      listener('new', 8003, 'a', BAD_FIELD),
    ]);
    assert.deepEqual(
      verdict.rejected.map((r) => r.name),
      ['new'],
    );
    assert.deepEqual(
      s.applied?.config.listeners.map((l) => l.name),
      ['web'],
    );
    assert.equal(s.resources.get(LDS)?.resources.has('new'), false);

    // "web" is rejected (bad) and keeps port 8001: "other" asking for 8001 is rejected too.
    const clash = s.onResponse(LDS, 'v3', [
      listener('web', 8005, 'a', BAD_FIELD),
      listener('other', 8001, 'a'),
    ]);
    assert.deepEqual(clash.rejected.map((r) => r.name).sort(), ['other', 'web']);
    assert.match(
      clash.errors.join('\n'),
      /Listener "other": address: 127\.0\.0\.1:8001 is already used/,
    );
    assert.deepEqual(
      s.applied?.config.listeners.map((l) => [l.name, l.address.port]),
      [['web', 8001]],
    );
  });

  test('CDS: a rejected new cluster is absent, so a listener routing to it is rejected', () => {
    const s = source();
    s.onResponse(CDS, 'c1', [cluster('a', 81)]);
    s.onResponse(LDS, 'v1', [listener('web', 8001, 'a')]);
    const cds = s.onResponse(CDS, 'c2', [
      cluster('a', 91),
      cluster('b', 82, { lb_policy: 'CLUSTER_PROVIDED' }),
    ]);
    assert.deepEqual(
      cds.rejected.map((r) => r.name),
      ['b'],
    );
    assert.match(cds.errors[0] ?? '', /^Cluster "b": lb_policy/);
    const clusters = s.applied?.config.clusters ?? {};
    assert.deepEqual(Object.keys(clusters), ['a']);
    assert.match(JSON.stringify(clusters.a), /91/, 'the good cluster change is in force');

    // Inline routes validate their clusters (as Envoy's do): "b" is unknown.
    const lds = s.onResponse(LDS, 'v2', [listener('web', 8001, 'b')]);
    assert.deepEqual(
      lds.rejected.map((r) => r.name),
      ['web'],
    );
    assert.equal(listenerTarget(s.applied?.config, 'web'), 'a');
  });

  test('an update that breaks an accepted resource of another type is rejected as a whole', () => {
    const s = source();
    s.onResponse(CDS, 'c1', [cluster('a', 81), cluster('b', 82)]);
    s.onResponse(LDS, 'v1', [listener('web', 8001, 'a')]);
    const before = s.applied;
    // Removing "a" would break the accepted listener "web" (its inline routes need "a").
    const verdict = s.onResponse(CDS, 'c2', [cluster('b', 83)]);
    assert.deepEqual(verdict.rejected, [], 'not attributable to the response resources');
    assert.match(verdict.errors.join('\n'), /Listener "web".*"a"/);
    assert.equal(s.applied, before, 'nothing of the response was applied');
    assert.equal(s.resources.get(CDS)?.version, 'c1');
  });

  test('RDS: a rejected route configuration keeps serving its accepted version', () => {
    const s = source();
    s.onResponse(CDS, 'c1', [cluster('a', 81), cluster('b', 82)]);
    s.onResponse(LDS, 'v1', [rdsListener('web', 8001, 'r1'), rdsListener('api', 8002, 'r2')]);
    assert.deepEqual(s.subscribedNames(RDS), ['r1', 'r2']);
    s.onResponse(RDS, 'r-1', [routeConfig('r1', 'a'), routeConfig('r2', 'a')]);
    const verdict = s.onResponse(RDS, 'r-2', [
      routeConfig('r1', 'b'),
      routeConfig('r2', 'b', { vhds: { config_source: { ads: {} } } }),
    ]);
    assert.deepEqual(
      verdict.rejected.map((r) => r.name),
      ['r2'],
    );
    const routes = s.applied?.config.routeConfigs ?? {};
    assert.match(JSON.stringify(routes.r1), /"b"/);
    assert.match(JSON.stringify(routes.r2), /"a"/);
    assert.doesNotMatch(JSON.stringify(routes.r2), /"b"/);
  });

  test('delta: a rejection holds until the resource itself is updated or removed', () => {
    const s = source();
    s.onDeltaResponse(CDS, 's1', [{ name: 'a', version: 'a1', json: cluster('a', 81) }], []);
    const bad = s.onDeltaResponse(
      CDS,
      's2',
      [{ name: 'b', version: 'b1', json: cluster('b', 82, { lb_policy: 'CLUSTER_PROVIDED' }) }],
      [],
    );
    assert.deepEqual(
      bad.rejected.map((r) => r.name),
      ['b'],
    );
    assert.deepEqual(s.resourceVersions(CDS), { a: 'a1' }, 'the rejected new cluster is absent');
    // Another cluster's update is ACKed; "b" stays rejected.
    const other = s.onDeltaResponse(
      CDS,
      's3',
      [{ name: 'a', version: 'a2', json: cluster('a', 91) }],
      [],
    );
    assert.deepEqual(other, { errors: [], rejected: [] });
    assert.deepEqual([...(s.counters.rejectedResources.get(CDS)?.keys() ?? [])], ['b']);
    s.onDeltaResponse(CDS, 's4', [], ['b']);
    assert.equal(s.counters.rejectedResources.has(CDS), false);
  });

  test('a resource that did not decode is rejected alone and keeps its accepted version', () => {
    const s = source();
    s.onResponse(CDS, 'c1', [cluster('a', 81), cluster('b', 82)]);
    const verdict = s.onResponse(
      CDS,
      'c2',
      [cluster('a', 91)],
      [{ name: 'b', errors: ['Cluster "b": resources[1]: connect_timeout: must be > 0'] }],
    );
    assert.deepEqual(verdict.rejected, [
      { name: 'b', errors: ['Cluster "b": resources[1]: connect_timeout: must be > 0'] },
    ]);
    assert.deepEqual(Object.keys(s.applied?.config.clusters ?? {}).sort(), ['a', 'b']);
    assert.equal(s.resources.get(CDS)?.resources.get('b')?.version, 'c1');
  });
});
