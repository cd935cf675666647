import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../config/translate-common.js';
import { DEFAULT_HDS_INTERVAL_MS, translateHdsSpecifier } from './hds-specifier.js';

const TCP_CHECK: JsonObject = {
  timeout: '1s',
  interval: '5s',
  unhealthy_threshold: 3,
  healthy_threshold: 2,
  tcp_health_check: {},
};

function without(obj: JsonObject, key: string): JsonObject {
  const { [key]: _removed, ...rest } = obj;
  return rest;
}

function socket(address: string, port: number): JsonObject {
  return { address: { socket_address: { address, port_value: port } } };
}

function cluster(name: string, extra: JsonObject = {}): JsonObject {
  return {
    cluster_name: name,
    health_checks: [TCP_CHECK],
    locality_endpoints: [{ endpoints: [socket('10.0.0.1', 80)] }],
    ...extra,
  };
}

describe('translateHdsSpecifier', () => {
  test('clusters with their checks, localities and endpoints; interval', () => {
    const result = translateHdsSpecifier({
      interval: '0.25s',
      cluster_health_checks: [
        {
          cluster_name: 'web',
          health_checks: [
            { ...without(TCP_CHECK, 'tcp_health_check'), http_health_check: { path: '/healthz' } },
          ],
          locality_endpoints: [
            {
              locality: { region: 'eu', zone: 'eu-1' },
              endpoints: [socket('10.0.0.1', 80), socket('::1', 81)],
            },
            { endpoints: [socket('10.0.0.2', 80)] },
          ],
        },
      ],
    });
    assert.deepEqual(result.warnings, []);
    assert.equal(result.intervalMs, 250);
    assert.equal(result.clusters.length, 1);
    const web = result.clusters[0]!;
    assert.equal(web.name, 'web');
    assert.equal(web.checks.length, 1);
    assert.equal(web.checks[0]?.checker.kind, 'http');
    assert.equal(web.checks[0]?.unhealthyThreshold, 3);
    assert.deepEqual(web.localities, [
      {
        locality: { region: 'eu', zone: 'eu-1' },
        endpoints: [
          { host: '10.0.0.1', port: 80 },
          { host: '::1', port: 81 },
        ],
      },
      { endpoints: [{ host: '10.0.0.2', port: 80 }] },
    ]);
  });

  test('an empty specifier assigns nothing; interval defaults to 1 s', () => {
    assert.deepEqual(translateHdsSpecifier({}), {
      intervalMs: DEFAULT_HDS_INTERVAL_MS,
      clusters: [],
      warnings: [],
    });
  });

  // What cannot run as asked is left out with a warning naming the field; the rest runs.
  const skipped: {
    name: string;
    cluster: JsonObject;
    runs: boolean;
    warnings: readonly RegExp[];
  }[] = [
    {
      name: 'transport_socket_matches skip the cluster',
      cluster: cluster('tls', {
        transport_socket_matches: [{ name: 'tls', transport_socket: { name: 'x' } }],
      }),
      runs: false,
      warnings: [/cluster_health_checks\[0\]: cluster "tls" not checked: transport_socket_matches/],
    },
    {
      name: 'an upstream_bind_config that binds skips the cluster',
      cluster: cluster('bound', {
        upstream_bind_config: { source_address: { address: '10.1.1.1', port_value: 0 } },
      }),
      runs: false,
      warnings: [/cluster "bound" not checked: upstream_bind_config/],
    },
    {
      name: 'an empty upstream_bind_config binds nothing',
      cluster: cluster('unbound', { upstream_bind_config: { source_address: {} } }),
      runs: true,
      warnings: [],
    },
    {
      name: 'an untranslatable check is skipped, the cluster with no check left too',
      cluster: cluster('odd', {
        health_checks: [{ ...TCP_CHECK, event_log_path: '/tmp/x' }],
      }),
      runs: false,
      warnings: [
        /health check skipped: cluster_health_checks\[0\]\.health_checks\[0\]\.event_log_path: not supported/,
        /cluster "odd" not checked: no health check ferry-proxy can run/,
      ],
    },
    {
      name: 'a check without timeout is skipped, the other one runs',
      cluster: cluster('half', {
        health_checks: [without(TCP_CHECK, 'timeout'), TCP_CHECK],
      }),
      runs: true,
      warnings: [/health_checks\[0\]\.timeout: is required/],
    },
  ];
  for (const row of skipped) {
    test(row.name, () => {
      const result = translateHdsSpecifier({ cluster_health_checks: [row.cluster] });
      assert.equal(result.clusters.length, row.runs ? 1 : 0);
      assert.equal(result.warnings.length, row.warnings.length, result.warnings.join('\n'));
      row.warnings.forEach((pattern, i) => assert.match(result.warnings[i]!, pattern));
    });
  }

  test('endpoints: IP only, health_check_config port honoured, disabled ones left out', () => {
    const result = translateHdsSpecifier({
      cluster_health_checks: [
        cluster('web', {
          locality_endpoints: [
            {
              endpoints: [
                socket('backend.local', 80),
                { ...socket('10.0.0.1', 80), health_check_config: { port_value: 8081 } },
                { ...socket('10.0.0.2', 80), health_check_config: { hostname: 'x' } },
                {
                  ...socket('10.0.0.3', 80),
                  health_check_config: { disable_active_health_check: true },
                },
                { address: { pipe: { path: '/tmp/s' } } },
                socket('10.0.0.4', 0),
              ],
            },
          ],
        }),
      ],
    });
    assert.deepEqual(result.clusters[0]?.localities[0]?.endpoints, [
      { host: '10.0.0.1', port: 80, healthCheckPort: 8081 },
    ]);
    const warnings = result.warnings.join('\n');
    assert.equal(result.warnings.length, 4, warnings);
    assert.match(
      warnings,
      /endpoints\[0\]\.address\.socket_address\.address: "backend.local" is not an IP/,
    );
    assert.match(warnings, /endpoints\[2\]\.health_check_config: hostname not supported/);
    assert.match(warnings, /endpoints\[4\]\.address\.pipe: not supported/);
    assert.match(warnings, /endpoints\[5\]\.address\.socket_address\.port_value: 0 is not a port/);
  });

  test('a second cluster of the same name is ignored', () => {
    const result = translateHdsSpecifier({
      cluster_health_checks: [cluster('web'), cluster('web', { health_checks: [] })],
    });
    assert.equal(result.clusters.length, 1);
    assert.equal(result.clusters[0]?.checks.length, 1);
    assert.match(
      result.warnings.join('\n'),
      /cluster_health_checks\[1\]: cluster "web" is already assigned/,
    );
  });
});
