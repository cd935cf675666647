import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resources } from './translate-test-fixtures.js';

function clusterYaml(healthChecks: string): string {
  return `
"@type": envoy.config.cluster.v3.Cluster
name: web
type: STATIC
load_assignment:
  cluster_name: web
  endpoints:
  - lb_endpoints:
    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
health_checks:
${healthChecks}`;
}

describe('translate health_checks', () => {
  test('HTTP check with defaults applied', () => {
    const r = buildProxyConfig(
      resources(
        clusterYaml(`
- timeout: 1s
  interval: 0.2s
  unhealthy_threshold: 2
  healthy_threshold: 3
  interval_jitter: 0.1s
  http_health_check:
    path: /healthz
    request_headers_to_add:
    - header: { key: X-Probe, value: "1" }
      append: false
`),
      ),
    );
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(r.value.clusters.web?.activeHealthChecks, [
      {
        timeoutMs: 1000,
        intervalMs: 200,
        initialJitterMs: 0,
        intervalJitterMs: 100,
        intervalJitterPercent: 0,
        unhealthyThreshold: 2,
        healthyThreshold: 3,
        noTrafficIntervalMs: 60000,
        noTrafficHealthyIntervalMs: 60000,
        unhealthyIntervalMs: 200,
        unhealthyEdgeIntervalMs: 200,
        healthyEdgeIntervalMs: 200,
        checker: {
          kind: 'http',
          path: '/healthz',
          host: '',
          expectedStatuses: [{ start: 200, end: 201 }],
          retriableStatuses: [],
          requestHeadersToAdd: [
            { key: 'x-probe', value: '1', action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          ],
          requestHeadersToRemove: [],
          protocol: 'HTTP1',
        },
      },
    ]);
  });

  test('TCP and gRPC checks, edge intervals', () => {
    const r = buildProxyConfig(
      resources(
        clusterYaml(`
- timeout: 1s
  interval: 5s
  unhealthy_interval: 2s
  healthy_edge_interval: 1s
  unhealthy_threshold: 1
  healthy_threshold: 1
  tcp_health_check:
    send: { text: "50494E47" }
    receive: [{ text: "504f4e47" }]
- timeout: 1s
  interval: 5s
  unhealthy_threshold: 1
  healthy_threshold: 1
  grpc_health_check: { service_name: web.v1 }
`),
      ),
    );
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    const [tcp, grpc] = r.value.clusters.web?.activeHealthChecks ?? [];
    assert.deepEqual(tcp?.checker, { kind: 'tcp', sendHex: '50494e47', receiveHex: ['504f4e47'] });
    assert.equal(tcp?.unhealthyIntervalMs, 2000);
    assert.equal(tcp?.unhealthyEdgeIntervalMs, 2000);
    assert.equal(tcp?.healthyEdgeIntervalMs, 1000);
    assert.deepEqual(grpc?.checker, { kind: 'grpc', serviceName: 'web.v1', authority: '' });
  });

  test('unsupported fields and bad values are NACKed with their paths', () => {
    const r = buildProxyConfig(
      resources(
        clusterYaml(`
- timeout: 1s
  interval: 1s
  unhealthy_threshold: 1
  healthy_threshold: 1
  event_log_path: /tmp/hc.log
  http_health_check: { path: /h, codec_client_type: HTTP3 }
- timeout: 1s
  interval: 1s
  unhealthy_threshold: 1
  healthy_threshold: 1
  tcp_health_check: { send: { text: "not hex" } }
`),
      ),
    );
    assert.ok(!r.ok);
    assert.deepEqual(r.errors, [
      'Cluster "web": health_checks[0].event_log_path: not supported by ferry-proxy',
      'Cluster "web": health_checks[0].http_health_check.codec_client_type: HTTP3 is not supported by ferry-proxy (supported: HTTP1, HTTP2)',
      'Cluster "web": health_checks[1].tcp_health_check.send.text: must be hex',
    ]);
  });
});
