/**
 * ferry-proxy end to end, with real processes on loopback: control plane ← ferryctl apply →
 * ADS → ferry-proxy (primary + workers) → real HTTP/1.1 backends. One scenario in order, each
 * step building on the previous one (the proxy's persisted state in particular).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  eventually,
  ferryctl,
  httpRequest,
  startProxy,
  waitForPublished,
  webConfig,
  type Proxy,
} from './harness.js';
import { useFleet } from './fixtures.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

// The admin endpoints' JSON (Envoy's admin API: envoy.admin.v3.ServerInfo, ConfigDump, Clusters;
// ferry-proxy adds `xds` to /server_info): the fields these tests read.
interface ServerInfoJson {
  readonly state: string;
  readonly version: string;
  readonly node: { readonly id: string; readonly cluster: string };
  readonly xds: { readonly last_rejection: { readonly errors: readonly string[] } | null } | null;
}

/** One entry of /config_dump's `configs`, by its "@type". */
interface ConfigDumpEntry {
  readonly '@type': string;
  readonly static_clusters?: readonly { readonly cluster: { readonly name: string } }[];
  readonly dynamic_active_clusters?: readonly { readonly cluster: { readonly name: string } }[];
  readonly dynamic_listeners?: readonly {
    readonly name: string;
    readonly active_state: { readonly listener: { readonly '@type': string } };
  }[];
  readonly dynamic_route_configs?: readonly { readonly route_config: { readonly name: string } }[];
}

interface ClustersJson {
  readonly cluster_statuses: readonly {
    readonly name: string;
    readonly added_via_api: boolean;
    readonly host_statuses: readonly {
      readonly address: { readonly socket_address: { readonly port_value: number } };
    }[];
  }[];
}

async function adminJson<T>(proxy: Proxy, pathname: string): Promise<T> {
  return JSON.parse((await httpRequest(`${proxy.adminUrl}${pathname}`)).body) as T;
}

interface ConfigDump {
  readonly configs: readonly ConfigDumpEntry[];
}

/** The `envoy.admin.v3.<suffix>` entry of a /config_dump, which must be there. */
function dumpEntry(dump: ConfigDump, suffix: string): ConfigDumpEntry {
  const entry = dump.configs.find(
    (c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${suffix}`,
  );
  assert.ok(entry, `${suffix} in /config_dump`);
  return entry;
}

const RUNTIME_FRACTION = {
  runtime_fraction: { default_value: { numerator: 50 }, runtime_key: 'r' },
};

describe('ferry-proxy driven by the control plane', () => {
  const fleet = useFleet({ backends: ['a', 'b'] });
  let proxy: Proxy;
  let stateDir: string;
  let bootstrap: Record<string, unknown>;
  const nodeId = 'proxy-e2e-1';

  const get = (pathname: string): Promise<{ status: number; body: string }> => fleet.get(pathname);

  test('an apply reaches the proxy, which routes real HTTP/1.1 to the backend', async () => {
    await fleet.apply(webConfig(fleet.port, fleet.backend('a').port));
    // The proxy's ready line names the listeners of its first config: start it once the apply is
    // published (~100 ms after it), or it may start from the empty one.
    await waitForPublished(fleet.cp, LDS, ['http']);
    bootstrap = fleet.bootstrap(nodeId);
    proxy = await fleet.startProxy(nodeId, { concurrency: 2 });
    stateDir = proxy.stateDir;
    const listeners = proxy.ready.listeners as { name: string; address: string }[];
    assert.deepEqual(listeners, [{ name: 'http', address: `127.0.0.1:${fleet.port}` }]);
    const res = await eventually(async () => {
      const r = await get('/hello?x=1');
      return r.status === 200 ? r : undefined;
    }, 'the proxy to route /hello');
    assert.equal(res.body, 'a /hello?x=1');
    assert.ok(fleet.backend('a').requests.includes('GET /hello?x=1'));
  });

  test('a second apply moves the traffic', async () => {
    await fleet.apply(webConfig(fleet.port, fleet.backend('b').port));
    await eventually(
      async () => ((await get('/moved')).body === 'b /moved' ? true : undefined),
      'traffic to move to b',
    );
    for (let i = 0; i < 10; i++) assert.equal((await get(`/n${i}`)).body, `b /n${i}`);
  });

  test('admin endpoints answer', async () => {
    const ready = await httpRequest(`${proxy.adminUrl}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.trim(), 'LIVE');

    const info = await adminJson<ServerInfoJson>(proxy, '/server_info');
    assert.equal(info.state, 'LIVE');
    assert.equal(info.node.id, nodeId);
    assert.equal(info.node.cluster, 'default');
    assert.match(String(info.version), /^ferry-proxy\//);

    const dump = await adminJson<ConfigDump>(proxy, '/config_dump');
    const listener = dumpEntry(dump, 'ListenersConfigDump').dynamic_listeners?.[0];
    assert.equal(listener?.name, 'http');
    assert.equal(
      listener?.active_state.listener['@type'],
      'type.googleapis.com/envoy.config.listener.v3.Listener',
    );
    const clusters = dumpEntry(dump, 'ClustersConfigDump');
    assert.deepEqual(
      clusters.static_clusters?.map((c) => c.cluster.name),
      ['xds_cluster'],
    );
    assert.deepEqual(
      clusters.dynamic_active_clusters?.map((c) => c.cluster.name),
      ['web'],
    );

    const text = (await httpRequest(`${proxy.adminUrl}/clusters`)).body;
    assert.ok(
      text.includes(`web::127.0.0.1:${fleet.backend('b').port}::health_flags::healthy`),
      text,
    );
    const json = await adminJson<ClustersJson>(proxy, '/clusters?format=json');
    const web = json.cluster_statuses.find((c) => c.name === 'web');
    assert.equal(web?.added_via_api, true);
    assert.equal(web?.host_statuses[0]?.address.socket_address.port_value, fleet.backend('b').port);

    const prom = await httpRequest(`${proxy.adminUrl}/stats/prometheus`);
    assert.equal(prom.status, 200);
    assert.match(
      prom.body,
      /^ferry_xds_update_success_total\{type_url="type\.googleapis\.com\/envoy\.config\.listener\.v3\.Listener"\} [1-9]/m,
    );
    assert.match(prom.body, /^ferry_workers_live 2$/m);

    assert.equal(
      (await httpRequest(`${proxy.adminUrl}/healthcheck/fail`)).status,
      405,
      'GET is refused',
    );
    assert.equal(
      (await httpRequest(`${proxy.adminUrl}/healthcheck/fail`, { method: 'POST' })).status,
      200,
    );
    assert.equal((await httpRequest(`${proxy.adminUrl}/ready`)).status, 503);
    assert.equal(
      (await httpRequest(`${proxy.adminUrl}/healthcheck/ok`, { method: 'POST' })).status,
      200,
    );
    assert.equal((await httpRequest(`${proxy.adminUrl}/ready`)).status, 200);

    const logging = await httpRequest(`${proxy.adminUrl}/logging?level=debug`, { method: 'POST' });
    assert.equal(logging.status, 200);
    assert.match(logging.body, /ferry-proxy: debug/);
    await httpRequest(`${proxy.adminUrl}/logging?level=info`, { method: 'POST' });
  });

  test('a config the proxy cannot honour is NACKed, shown in ferryctl status, and the last good config keeps serving', async () => {
    await fleet.apply(
      webConfig(fleet.port, fleet.backend('a').port, RUNTIME_FRACTION),
      // The pre-flight refuses what the connected proxy would reject: pushed on purpose.
      ['--force'],
    );
    const status = await eventually(async () => {
      const s = await ferryctl(fleet.cp.apiUrl, ['status', '-o', 'json']);
      return s.code === 0 && s.stdout.includes('runtime_fraction') ? s.stdout : undefined;
    }, 'the NACK to show in ferryctl status');
    assert.ok(status.includes(nodeId));
    // The rejected route would have gone to a (its EDS changed too, and was accepted): the route
    // config is the last good one, so traffic still flows, to whichever endpoint web now has.
    const res = await get('/still');
    assert.equal(res.status, 200);
    const info = await adminJson<ServerInfoJson>(proxy, '/server_info');
    assert.match(String(info.xds?.last_rejection?.errors.join(' ')), /runtime_fraction/);
    const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    assert.match(
      prom,
      /^ferry_xds_update_rejected_total\{type_url="type\.googleapis\.com\/envoy\.config\.route\.v3\.RouteConfiguration"\} 1$/m,
    );

    await fleet.apply(webConfig(fleet.port, fleet.backend('b').port));
    await eventually(
      async () => ((await get('/fixed')).body === 'b /fixed' ? true : undefined),
      'the fixed config',
    );
  });

  test('with the control plane killed, the proxy keeps serving', async () => {
    await fleet.cp.kill();
    for (let i = 0; i < 10; i++) assert.equal((await get(`/alone${i}`)).body, `b /alone${i}`);
    assert.equal((await httpRequest(`${proxy.adminUrl}/ready`)).status, 200);
  });

  test('restarted while the control plane is down, the proxy boots from its persisted config', async () => {
    assert.ok(fs.existsSync(path.join(stateDir, 'last-good-config.json')));
    assert.equal(await proxy.stop(), 0, 'SIGTERM exits cleanly');
    proxy = await startProxy({ bootstrap, stateDir, concurrency: 1 });
    assert.equal(proxy.ready.origin, 'persisted');
    assert.equal((await get('/reborn')).body, 'b /reborn');
    const dump = await adminJson<ConfigDump>(proxy, '/config_dump');
    const routes = dumpEntry(dump, 'RoutesConfigDump');
    assert.equal(routes.dynamic_route_configs?.[0]?.route_config.name, 'main');
  });

  test('POST /quitquitquit exits gracefully', async () => {
    const res = await httpRequest(`${proxy.adminUrl}/quitquitquit`, { method: 'POST' });
    assert.equal(res.status, 200);
    await new Promise<void>((resolve) => {
      if (proxy.proc.exitCode !== null) resolve();
      else proxy.proc.once('exit', () => resolve());
    });
    assert.equal(proxy.proc.exitCode, 0);
  });
});
