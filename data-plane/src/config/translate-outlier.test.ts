import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resources } from './translate-test-fixtures.js';
import { OUTLIER_DEFAULTS } from './translate-outlier.js';

function clusterYaml(outlier: string): string {
  return `
"@type": envoy.config.cluster.v3.Cluster
name: web
type: STATIC
load_assignment:
  cluster_name: web
  endpoints:
  - lb_endpoints:
    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
outlier_detection:
${outlier}`;
}

describe('translate outlier_detection', () => {
  test('an empty message gets every Envoy default', () => {
    const r = buildProxyConfig(resources(clusterYaml('  {}')));
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(r.value.clusters.web?.outlier, OUTLIER_DEFAULTS);
    assert.equal(OUTLIER_DEFAULTS.enforcingConsecutiveGatewayFailure, 0);
  });

  test('set fields override the defaults', () => {
    const r = buildProxyConfig(
      resources(
        clusterYaml(`
  consecutive_5xx: 3
  interval: 0.5s
  base_ejection_time: 1s
  max_ejection_time: 20s
  max_ejection_percent: 50
  enforcing_consecutive_gateway_failure: 100
  success_rate_stdev_factor: 1000
  split_external_local_origin_errors: true
  successful_active_health_check_uneject_host: false
  always_eject_one_host: true
`),
      ),
    );
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(r.value.clusters.web?.outlier, {
      ...OUTLIER_DEFAULTS,
      consecutive5xx: 3,
      intervalMs: 500,
      baseEjectionTimeMs: 1000,
      maxEjectionTimeMs: 20_000,
      maxEjectionPercent: 50,
      enforcingConsecutiveGatewayFailure: 100,
      successRateStdevFactor: 1000,
      splitExternalLocalOriginErrors: true,
      successfulActiveHealthCheckUnejectHost: false,
      alwaysEjectOneHost: true,
    });
  });

  test('no outlier_detection: no detector', () => {
    const r = buildProxyConfig(
      resources(clusterYaml('  {}').replace(/outlier_detection:\n {2}\{\}/, '')),
    );
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.equal(r.value.clusters.web?.outlier, undefined);
  });

  test('custom monitors are NACKed with their path', () => {
    const r = buildProxyConfig(
      resources(
        clusterYaml(`
  monitors:
  - name: custom
    typed_config: { "@type": type.googleapis.com/google.protobuf.Empty }
`),
      ),
    );
    assert.ok(!r.ok);
    assert.match(r.errors.join('\n'), /Cluster "web": outlier_detection\.monitors: custom outlier/);
  });
});
