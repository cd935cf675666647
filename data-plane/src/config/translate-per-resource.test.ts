/**
 * buildProxyConfig's failures list the rejected resources one by one (kind, name, their errors),
 * which is what lets the config source apply the others (xds/config-source.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resources } from './translate-test-fixtures.js';

const YAML = `
'@type': envoy.config.listener.v3.Listener
name: good
address: { socket_address: { address: 127.0.0.1, port_value: 8001 } }
filter_chains:
- filters:
  - name: tcp
    typed_config:
      '@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
      stat_prefix: good
      cluster: web
---
'@type': envoy.config.listener.v3.Listener
name: bad
use_original_dst: true
address: { socket_address: { address: 127.0.0.1, port_value: 8002 } }
filter_chains:
- filters:
  - name: tcp
    typed_config:
      '@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
      stat_prefix: bad
      cluster: web
      hash_policy: [{ source_ip: {} }]
---
'@type': envoy.config.cluster.v3.Cluster
name: web
type: STATIC
load_assignment:
  cluster_name: web
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } } }] }]
---
'@type': envoy.config.cluster.v3.Cluster
name: odd
type: STATIC
lb_policy: CLUSTER_PROVIDED
---
'@type': envoy.config.route.v3.RouteConfiguration
name: routes
vhds: { config_source: { ads: {} } }
`;

test('a failed build lists each rejected resource with its own errors', () => {
  const r = buildProxyConfig(resources(YAML));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.rejected.map((x) => [x.kind, x.name, x.errors.length]),
    [
      ['Cluster', 'odd', 1],
      ['RouteConfiguration', 'routes', 1],
      ['Listener', 'bad', 2],
    ],
  );
  for (const x of r.rejected)
    for (const e of x.errors) assert.ok(e.startsWith(`${x.kind} "${x.name}": `), e);
  assert.match(
    r.rejected[2]!.errors.join('\n'),
    /^Listener "bad": use_original_dst: not supported/m,
  );
  assert.deepEqual(
    r.errors,
    r.rejected.flatMap((x) => x.errors),
    'every error belongs to one rejection, in order',
  );
});

test('a static secret with errors is marked static', () => {
  const r = buildProxyConfig({
    listeners: [],
    routeConfigs: [],
    clusters: [],
    endpoints: [],
    staticSecrets: [{ name: 's', tls_certificate: { certificate_chain: { inline_string: 'x' } } }],
    secrets: [{ name: 'd', tls_certificate: { certificate_chain: { inline_string: 'x' } } }],
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.rejected.map((x) => [x.kind, x.name, x.static ?? false]),
    [
      ['Secret', 's', true],
      ['Secret', 'd', false],
    ],
  );
});
