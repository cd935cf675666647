/**
 * ferry-proxy over delta xDS (bootstrap ads_config.api_type DELTA_GRPC) with HCM file access
 * logs, real processes on loopback: control plane ← ferryctl apply → DeltaAggregatedResources →
 * ferry-proxy → HTTP/1.1 backends. Steps run in order, each building on the previous one.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  edsClusterResource,
  endpointsResource,
  eventually,
  ferryctl,
  freePort,
  httpListener,
  httpRequest,
  routeConfigResource,
  staticClusterResource,
  tempDir,
  yamlDocs,
  type Json,
  type Proxy,
} from './harness.js';
import { useFleet } from './fixtures.js';

interface Ports {
  listener: number;
  extra: number;
  web: number;
  closed: number;
}

const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

function fileLog(file: string, format?: Json): Json {
  return {
    name: 'envoy.access_loggers.file',
    typed_config: { '@type': FILE_LOG, path: file, ...(format ? { log_format: format } : {}) },
  };
}

/**
 * Listener "http" (RDS "main", three file access logs: a text format, Envoy's default format
 * and a JSON format), listener "extra" (an inline direct response), and the clusters the routes
 * of "main" name: web (EDS on `p.web`), down (nothing listens on `p.closed`), empty (EDS, no
 * endpoint).
 */
function config(p: Ports, logs: { text: string; envoyDefault: string; json: string }): string {
  const route = (name: string, prefix: string, cluster: string): Json => ({
    name,
    match: { prefix },
    route: { cluster },
  });
  return yamlDocs([
    httpListener(
      'http',
      p.listener,
      { rds: 'main' },
      {
        hcm: {
          access_log: [
            fileLog(logs.text, {
              text_format_source: {
                inline_string:
                  '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER% %REQ(:PATH)% %ROUTE_NAME%\n',
              },
            }),
            fileLog(logs.envoyDefault),
            fileLog(logs.json, {
              json_format: {
                code: '%RESPONSE_CODE%',
                flags: '%RESPONSE_FLAGS%',
                path: '%REQ(:PATH)%',
              },
            }),
          ],
        },
      },
    ),
    httpListener(
      'extra',
      p.extra,
      {
        routeConfig: {
          name: 'extra',
          virtual_hosts: [
            {
              name: 'all',
              domains: ['*'],
              routes: [
                {
                  match: { prefix: '/' },
                  direct_response: { status: 200, body: { inline_string: 'extra' } },
                },
              ],
            },
          ],
        },
      },
      { hcm: { stat_prefix: 'extra' } },
    ),
    routeConfigResource('main', [
      {
        name: 'web',
        domains: ['*'],
        routes: [
          route('ok', '/ok', 'web'),
          route('down', '/down', 'down'),
          route('empty', '/empty', 'empty'),
        ],
      },
    ]),
    edsClusterResource('web'),
    endpointsResource('web', [p.web]),
    edsClusterResource('empty'),
    { ...endpointsResource('empty', []), endpoints: [] },
    staticClusterResource('down', [p.closed]),
  ]);
}

describe('ferry-proxy over delta xDS, with Envoy access logs', () => {
  const fleet = useFleet({ backends: ['a', 'b'], proxy: { apiType: 'DELTA_GRPC' } });
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
    ports = {
      listener: fleet.port,
      extra: await freePort(),
      web: fleet.backend('a').port,
      closed: await freePort(),
    };
  });

  const get = (
    pathname: string,
    port = ports.listener,
  ): Promise<{ status: number; body: string }> =>
    httpRequest(`http://127.0.0.1:${port}${pathname}`);

  const apply = async (text: string): Promise<void> => void (await fleet.apply(text));

  const lines = (file: string): string[] =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

  test('an apply reaches a DELTA_GRPC proxy, which routes to the backend', async () => {
    await apply(config(ports, logs));
    proxy = await fleet.startProxy(nodeId);
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
      const s = await ferryctl(fleet.cp.apiUrl, ['status', '-o', 'json']);
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
    await apply(config({ ...ports, web: fleet.backend('b').port }, logs));
    await eventually(
      async () => ((await get('/ok')).body === 'b /ok' ? true : undefined),
      'traffic to move to b',
    );
  });

  test('a deletion propagates (listener removed → its port closes)', async () => {
    const deleted = await ferryctl(fleet.cp.apiUrl, ['delete', 'listener', 'extra']);
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
