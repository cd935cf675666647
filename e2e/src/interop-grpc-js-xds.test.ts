/**
 * Interop: @grpc/grpc-js-xds as a proxyless client resolves `xds:///echo` through config applied
 * with ferryctl to a real control plane, then follows an endpoint change and a weighted split.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { eventually, ferryctl, startControlPlane, stopAll, type ControlPlane } from './harness.js';

const ECHO_SERVICE: grpc.ServiceDefinition = {
  Call: {
    path: '/ferry.test.Echo/Call',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
    originalName: 'call',
  },
};

interface Backend {
  name: string;
  port: number;
  server: grpc.Server;
}

async function startBackend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Call: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, Buffer.from(name)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { name, port, server };
}

function config(opts: { aPort: number; bPort: number; route: string }): string {
  return `
"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: echo
api_listener:
  api_listener:
    "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
    stat_prefix: echo
    rds:
      route_config_name: echo-routes
      config_source: { ads: {}, resource_api_version: V3 }
    http_filters:
      - name: envoy.filters.http.router
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
---
"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
name: echo-routes
virtual_hosts:
  - name: echo
    domains: ["*"]
    routes:
      - match: { prefix: "" }
        route: ${opts.route}
---
"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
name: echo-a
type: EDS
eds_cluster_config: { eds_config: { ads: {}, resource_api_version: V3 } }
lb_policy: ROUND_ROBIN
---
"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
name: echo-b
type: EDS
eds_cluster_config: { eds_config: { ads: {}, resource_api_version: V3 } }
---
"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: echo-a
endpoints:
  # grpc-js-xds requires a locality with a weight on every LocalityLbEndpoints.
  - locality: { region: local }
    load_balancing_weight: 1
    lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${opts.aPort} } } }
---
"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: echo-b
endpoints:
  # grpc-js-xds requires a locality with a weight on every LocalityLbEndpoints.
  - locality: { region: local }
    load_balancing_weight: 1
    lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${opts.bPort} } } }
`;
}

let cp: ControlPlane;
let one: Backend;
let two: Backend;
let three: Backend;
let client: grpc.Client;

before(async () => {
  cp = await startControlPlane();
  [one, two, three] = await Promise.all([
    startBackend('one'),
    startBackend('two'),
    startBackend('three'),
  ]);
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [
      {
        server_uri: cp.xdsAddress,
        channel_creds: [{ type: 'insecure' }],
        server_features: ['xds_v3'],
      },
    ],
    node: { id: 'interop-client-1', cluster: 'default', locality: {} },
  });
  grpcXds.register();
});

after(async () => {
  client?.close();
  for (const b of [one, two, three]) b?.server.forceShutdown();
  await stopAll();
});

function call(): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      ECHO_SERVICE.Call!.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (err, value) => (err ? reject(err) : resolve(value!.toString())),
    );
  });
}

async function callMany(n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = await call();
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return seen;
}

test('grpc-js-xds resolves xds:///echo through config applied with ferryctl', async () => {
  const applied = await ferryctl(
    cp.apiUrl,
    ['apply', '-f', '-'],
    config({ aPort: one.port, bPort: two.port, route: '{ cluster: echo-a }' }),
  );
  assert.equal(applied.code, 0, applied.stderr);
  client = new grpc.Client('xds:///echo', grpc.credentials.createInsecure());
  assert.equal(await call(), 'one');

  const status = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
  assert.equal(status.code, 0, status.stderr);
  const nodes = (
    JSON.parse(status.stdout) as { nodes: Array<{ nodeId?: string; node_id?: string }> }
  ).nodes;
  assert.ok(
    nodes.some((n) => (n.nodeId ?? n.node_id) === 'interop-client-1'),
    status.stdout,
  );
});

test('the client follows an endpoint change', async () => {
  const applied = await ferryctl(
    cp.apiUrl,
    ['apply', '-f', '-'],
    config({ aPort: three.port, bPort: two.port, route: '{ cluster: echo-a }' }),
  );
  assert.equal(applied.code, 0, applied.stderr);
  await eventually(
    async () => ((await call()) === 'three' ? true : undefined),
    'calls to reach backend three',
  );
  const seen = await callMany(20);
  assert.deepEqual([...seen.keys()], ['three']);
});

test('the client follows a weighted split', async () => {
  const route =
    '{ weighted_clusters: { clusters: [ { name: echo-a, weight: 50 }, { name: echo-b, weight: 50 } ] } }';
  const applied = await ferryctl(
    cp.apiUrl,
    ['apply', '-f', '-'],
    config({ aPort: three.port, bPort: two.port, route }),
  );
  assert.equal(applied.code, 0, applied.stderr);
  // 50/50 over 200 calls: both backends appear unless the split is not applied (p < 2^-190).
  await eventually(async () => {
    const seen = await callMany(200);
    return seen.has('three') && seen.has('two') && seen.size === 2 ? seen : undefined;
  }, 'a 50/50 split between backends three and two');
});
