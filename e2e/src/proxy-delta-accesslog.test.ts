/**
 * ferry-proxy over delta xDS (bootstrap ads_config.api_type DELTA_GRPC) with HCM file access
 * logs, real processes on loopback: control plane ← ferryctl apply → DeltaAggregatedResources →
 * ferry-proxy → HTTP/1.1 backends. Steps run in order, each building on the previous one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  eventually,
  ferryctl,
  freePort,
  httpRequest,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type Backend,
  type ControlPlane,
  type Proxy,
} from './harness.js';

interface Ports {
  listener: number;
  extra: number;
  web: number;
  closed: number;
}

const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

function config(p: Ports, logs: { text: string; envoyDefault: string; json: string }): string {
  return `
'@type': type.googleapis.com/envoy.config.listener.v3.Listener
name: http
address: { socket_address: { address: 127.0.0.1, port_value: ${p.listener} } }
filter_chains:
  - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          '@type': ${HCM}
          stat_prefix: http
          rds: { route_config_name: main, config_source: { ads: {}, resource_api_version: V3 } }
          http_filters:
            - name: envoy.filters.http.router
              typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          access_log:
            - name: envoy.access_loggers.file
              typed_config:
                '@type': ${FILE_LOG}
                path: ${JSON.stringify(logs.text)}
                log_format:
                  text_format_source:
                    inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER% %REQ(:PATH)% %ROUTE_NAME%\\n"
            - name: envoy.access_loggers.file
              typed_config: { '@type': ${FILE_LOG}, path: ${JSON.stringify(logs.envoyDefault)} }
            - name: envoy.access_loggers.file
              typed_config:
                '@type': ${FILE_LOG}
                path: ${JSON.stringify(logs.json)}
                log_format:
                  json_format: { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', path: '%REQ(:PATH)%' }
---
'@type': type.googleapis.com/envoy.config.listener.v3.Listener
name: extra
address: { socket_address: { address: 127.0.0.1, port_value: ${p.extra} } }
filter_chains:
  - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          '@type': ${HCM}
          stat_prefix: extra
          route_config:
            name: extra
            virtual_hosts:
              - name: all
                domains: ['*']
                routes: [{ match: { prefix: / }, direct_response: { status: 200, body: { inline_string: extra } } }]
          http_filters:
            - name: envoy.filters.http.router
              typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
---
'@type': type.googleapis.com/envoy.config.route.v3.RouteConfiguration
name: main
virtual_hosts:
  - name: web
    domains: ['*']
    routes:
      - { name: ok, match: { prefix: /ok }, route: { cluster: web } }
      - { name: down, match: { prefix: /down }, route: { cluster: down } }
      - { name: empty, match: { prefix: /empty }, route: { cluster: empty } }
---
'@type': type.googleapis.com/envoy.config.cluster.v3.Cluster
name: web
type: EDS
connect_timeout: 1s
eds_cluster_config: { eds_config: { ads: {}, resource_api_version: V3 } }
---
'@type': type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: web
endpoints:
  - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p.web} } } }
---
'@type': type.googleapis.com/envoy.config.cluster.v3.Cluster
name: empty
type: EDS
connect_timeout: 1s
eds_cluster_config: { eds_config: { ads: {}, resource_api_version: V3 } }
---
'@type': type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: empty
endpoints: []
---
'@type': type.googleapis.com/envoy.config.cluster.v3.Cluster
name: down
type: STATIC
connect_timeout: 1s
load_assignment:
  cluster_name: down
  endpoints:
    - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p.closed} } } }
`;
}

describe('ferry-proxy over delta xDS, with Envoy access logs', () => {
  let cp: ControlPlane;
  let a: Backend;
  let b: Backend;
  let proxy: Proxy;
  let ports: Ports;
  const dir = tempDir('delta-accesslog');
  const logs = {
    text: path.join(dir, 'access.log'),
    envoyDefault: path.join(dir, 'default.log'),
    json: path.join(dir, 'json.log'),
  };
  const nodeId = 'proxy-delta-1';

  before(async () => {
    cp = await startControlPlane();
    a = await startBackend('a');
    b = await startBackend('b');
    ports = {
      listener: await freePort(),
      extra: await freePort(),
      web: a.port,
      closed: await freePort(),
    };
  });
  after(async () => {
    await stopAll();
    await Promise.all([a?.close(), b?.close()]);
  });

  const get = (
    pathname: string,
    port = ports.listener,
  ): Promise<{ status: number; body: string }> =>
    httpRequest(`http://127.0.0.1:${port}${pathname}`);

  async function apply(text: string): Promise<void> {
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], text);
    assert.equal(applied.code, 0, applied.stderr);
  }

  const lines = (file: string): string[] =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

  test('an apply reaches a DELTA_GRPC proxy, which routes to the backend', async () => {
    await apply(config(ports, logs));
    const bootstrap = proxyBootstrap({ nodeId, xdsAddress: cp.xdsAddress });
    (bootstrap.dynamic_resources as { ads_config: { api_type: string } }).ads_config.api_type =
      'DELTA_GRPC';
    proxy = await startProxy({ bootstrap });
    const res = await eventually(async () => {
      const r = await get('/ok');
      return r.status === 200 ? r : undefined;
    }, 'the proxy to route /ok');
    assert.equal(res.body, 'a /ok');
    assert.equal((await get('/', ports.extra)).body, 'extra');
    assert.ok(!proxy.logs.some((l) => l.includes('only state-of-the-world')), 'no SotW fallback');
  });

  test('ferryctl status shows the node on a delta ADS stream', async () => {
    const status = await eventually(async () => {
      const s = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
      return s.code === 0 && s.stdout.includes(nodeId) ? s.stdout : undefined;
    }, 'the node in ferryctl status');
    const parsed = JSON.parse(status) as unknown;
    const nodes: { node_id?: string; streams?: string[] }[] = Array.isArray(parsed)
      ? (parsed as never)
      : ((parsed as { nodes: never }).nodes ?? []);
    const node = nodes.find((n) => n.node_id === nodeId);
    assert.ok(node, status);
    assert.deepEqual(node.streams, ['ads-delta']);
  });

  test('an update propagates (EDS moves to another backend)', async () => {
    await apply(config({ ...ports, web: b.port }, logs));
    await eventually(
      async () => ((await get('/ok')).body === 'b /ok' ? true : undefined),
      'traffic to move to b',
    );
  });

  test('a deletion propagates (listener removed → its port closes)', async () => {
    const deleted = await ferryctl(cp.apiUrl, ['delete', 'listener', 'extra']);
    assert.equal(deleted.code, 0, deleted.stderr);
    await eventually(async () => {
      try {
        await get('/', ports.extra);
        return undefined;
      } catch {
        return true;
      }
    }, 'the extra listener to close');
    assert.equal((await get('/ok')).status, 200, 'the other listener keeps serving');
  });

  test('access logs carry Envoy response flags: 200, 404 NR, 503 UF, 503 UH', async () => {
    assert.equal((await get('/ok?log=1')).status, 200);
    assert.equal((await get('/nothing')).status, 404);
    assert.equal((await get('/down')).status, 503);
    assert.equal((await get('/empty')).status, 503);
    const text = await eventually(() => {
      const l = lines(logs.text);
      return l.some((x) => x.includes('/empty')) ? l : undefined;
    }, 'the access log lines');
    assert.ok(text.includes('200 - web /ok?log=1 ok'), text.join('\n'));
    assert.ok(text.includes('404 NR - /nothing -'), text.join('\n'));
    assert.ok(text.includes('503 UF down /down down'), text.join('\n'));
    assert.ok(text.includes('503 UH empty /empty empty'), text.join('\n'));

    const envoyDefault = await eventually(() => {
      const l = lines(logs.envoyDefault);
      return l.some((x) => x.includes('/empty')) ? l : undefined;
    }, 'the default-format lines');
    const nr = envoyDefault.find((l) => l.includes('/nothing'));
    assert.match(
      nr ?? '',
      /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET \/nothing HTTP\/1\.1" 404 NR \d+ \d+ \d+ \S+ "[^"]*" "[^"]*" "[^"]+" "127\.0\.0\.1:\d+" "-"$/,
    );

    const json = await eventually(() => {
      const l = lines(logs.json);
      return l.some((x) => x.includes('/empty'))
        ? l.map((x) => JSON.parse(x) as unknown)
        : undefined;
    }, 'the JSON lines');
    assert.deepEqual(
      json.filter((j) => (j as { path: string }).path !== '/ok'),
      [
        { code: 200, flags: '-', path: '/ok?log=1' },
        { code: 404, flags: 'NR', path: '/nothing' },
        { code: 503, flags: 'UF', path: '/down' },
        { code: 503, flags: 'UH', path: '/empty' },
      ],
    );
  });
});
