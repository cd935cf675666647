import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './config/translate.js';
import { resources } from './config/translate-test-fixtures.js';
import { checkResources, subscribedResources, type GroupResources } from './translator.js';

const MISSING = '/nonexistent/ferry-translator-test/cert.pem';

/** A TLS listener whose certificate, key and CA are host files that do not exist here. */
const HOST_FILES = `
'@type': envoy.config.listener.v3.Listener
name: tls
address: { socket_address: { address: 127.0.0.1, port_value: 8443 } }
filter_chains:
  - transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        '@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
        require_client_certificate: true
        common_tls_context:
          tls_certificates:
            - certificate_chain: { filename: ${MISSING} }
              private_key: { filename: ${MISSING} }
          validation_context: { trusted_ca: { filename: ${MISSING} } }
    filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          '@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: web
---
'@type': envoy.config.cluster.v3.Cluster
name: web
type: STATIC
load_assignment:
  cluster_name: web
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 80 } } } }] }]
`;

function group(yaml: string): GroupResources {
  const r = resources(yaml);
  return { ...r, secrets: r.secrets ?? [] };
}

describe('translator entry', () => {
  test('host files are not read: unchecked, where the proxy itself reads them and fails', () => {
    const findings = checkResources(group(HOST_FILES));
    const tls = findings.find((f) => f.kind === 'Listener');
    assert.deepEqual(tls?.errors, []);
    const base = 'filter_chains[0].transport_socket.typed_config.common_tls_context';
    assert.deepEqual(tls?.unchecked, [
      `${base}.tls_certificates[0].certificate_chain.filename`,
      `${base}.tls_certificates[0].private_key.filename`,
      `${base}.validation_context.trusted_ca.filename`,
    ]);
    // ferry-proxy's own build (the defaults) reads them: its NACK is unchanged.
    const built = buildProxyConfig(resources(HOST_FILES));
    assert.equal(built.ok, false);
    assert.match(
      built.ok ? '' : built.errors.join('\n'),
      /certificate_chain\.filename: cannot read "\/nonexistent\/ferry-translator-test\/cert\.pem": ENOENT/,
    );
  });

  test('findings are per resource, without the resource label', () => {
    const findings = checkResources(
      group(`
'@type': envoy.config.cluster.v3.Cluster
name: bad
type: STATIC
lb_policy: CLUSTER_PROVIDED
---
'@type': envoy.config.cluster.v3.Cluster
name: good
type: STATIC
`),
    );
    assert.deepEqual(
      findings.map((f) => [f.kind, f.name, f.errors.length]),
      [
        ['Cluster', 'bad', 1],
        ['Cluster', 'good', 0],
      ],
    );
    assert.match(findings[0]!.errors[0]!, /^lb_policy: CLUSTER_PROVIDED is not supported/);
  });

  test('subscribedResources keeps what ferry-proxy asks for by name', () => {
    const all = group(`
'@type': envoy.config.listener.v3.Listener
name: http
address: { socket_address: { address: 127.0.0.1, port_value: 8080 } }
filter_chains:
  - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: http
          rds: { route_config_name: used, config_source: { ads: {} } }
          http_filters:
            - name: envoy.filters.http.router
              typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
---
'@type': envoy.config.route.v3.RouteConfiguration
name: used
---
'@type': envoy.config.route.v3.RouteConfiguration
name: unused
---
'@type': envoy.config.cluster.v3.Cluster
name: api
type: EDS
eds_cluster_config: { eds_config: { ads: {} }, service_name: api-svc }
---
'@type': envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: api-svc
---
'@type': envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: api
---
'@type': envoy.extensions.transport_sockets.tls.v3.Secret
name: unreferenced
`);
    const sent = subscribedResources(all);
    assert.equal(sent.listeners.length, 1);
    assert.equal(sent.clusters.length, 1);
    assert.deepEqual(
      sent.routeConfigs.map((r) => r.name),
      ['used'],
    );
    assert.deepEqual(
      sent.endpoints.map((e) => e.cluster_name),
      ['api-svc'],
    );
    assert.deepEqual(sent.secrets, []);
  });
});
