/**
 * The example configs the README points to stay valid: examples/demo.yaml, then
 * examples/tracing.yaml, are applied with ferryctl to a real control plane, and a real
 * ferry-proxy ACKs every resource type (no NACK) and runs the combined config.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  ROOT,
  eventually,
  ferryctl,
  httpRequest,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  waitForPublished,
} from './harness.js';

const T = 'type.googleapis.com/envoy.config.';
const CDS = `${T}cluster.v3.Cluster`;
const TYPES = [
  `${T}cluster.v3.Cluster`,
  `${T}endpoint.v3.ClusterLoadAssignment`,
  `${T}listener.v3.Listener`,
  `${T}route.v3.RouteConfiguration`,
];

interface NodeStatus {
  node_id: string;
  types: { type_url: string; version_sent: string; version_acked: string; last_nack?: unknown }[];
}

after(stopAll);

test('examples/demo.yaml + examples/tracing.yaml apply and a proxy ACKs them', async () => {
  const cp = await startControlPlane();
  // As the README and docs/tracing.md say: the demo, then tracing on top as its own apply.
  for (const file of ['demo.yaml', 'tracing.yaml']) {
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', path.join(ROOT, 'examples', file)]);
    assert.equal(applied.code, 0, `${file}: ${applied.stderr}`);
  }
  // Start from the combined config (tracing.yaml's cluster "jaeger" published), not the demo's.
  await waitForPublished(cp, CDS, ['web', 'jaeger']);
  // The proxy's listener ports are shifted so the test never collides with a running demo.
  const proxy = await startProxy({
    bootstrap: proxyBootstrap({ nodeId: 'examples', xdsAddress: cp.xdsAddress }),
    args: ['--listener-port-offset', '31000'],
  });
  // Every type ACKed, or a NACK (which fails below with its error rather than as a timeout).
  const node = await eventually(async () => {
    const status = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
    const found = (JSON.parse(status.stdout) as { nodes: NodeStatus[] }).nodes.find(
      (n) => n.node_id === 'examples',
    );
    if (found === undefined) return undefined;
    const nacked = found.types.some((t) => t.last_nack !== undefined);
    const acked =
      found.types.length === TYPES.length &&
      found.types.every((t) => t.version_sent !== '' && t.version_sent === t.version_acked);
    return nacked || acked ? found : undefined;
  }, 'the proxy ACKs LDS, RDS, CDS and EDS of the examples');
  assert.deepEqual(
    node.types.filter((t) => t.last_nack !== undefined).map((t) => [t.type_url, t.last_nack]),
    [],
  );
  assert.deepEqual(node.types.map((t) => t.type_url).sort(), TYPES);

  // What the proxy ACKed is the combined config, and it never rejected a response.
  interface Dumped {
    readonly '@type': string;
    readonly dynamic_active_clusters?: { readonly cluster: { readonly name: string } }[];
    readonly dynamic_listeners?: {
      readonly name: string;
      readonly active_state: {
        readonly listener: {
          readonly filter_chains: {
            readonly filters: {
              readonly typed_config: {
                readonly tracing?: { readonly provider: { readonly name: string } };
              };
            }[];
          }[];
        };
      };
    }[];
  }
  const dump = JSON.parse((await httpRequest(`${proxy.adminUrl}/config_dump`)).body) as {
    configs: Dumped[];
  };
  const ofType = (suffix: string): Dumped | undefined =>
    dump.configs.find((c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${suffix}`);
  assert.deepEqual(
    (ofType('ClustersConfigDump')?.dynamic_active_clusters ?? []).map((c) => c.cluster.name).sort(),
    ['api-v1', 'api-v2', 'jaeger', 'web'],
  );
  const listener = ofType('ListenersConfigDump')?.dynamic_listeners?.find((l) => l.name === 'http');
  assert.ok(listener, 'the http listener is in the config dump');
  const hcm = listener.active_state.listener.filter_chains[0]!.filters[0]!.typed_config;
  assert.equal(hcm.tracing?.provider.name, 'envoy.tracers.opentelemetry');
  const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
  assert.doesNotMatch(prom, /^ferry_xds_update_rejected_total\{.*\} [1-9]/m);
  assert.match(prom, /^ferry_xds_update_success_total\{/m);
});
