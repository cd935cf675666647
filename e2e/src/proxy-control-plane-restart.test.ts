/**
 * ferry-proxy across a control-plane restart, real processes on loopback: with the control plane
 * stopped the proxy keeps serving its last good config; a control plane started again on the
 * same xDS address and store is reconnected to (the proxy retries with back-off), and a change
 * applied after the restart reaches the proxy. Waits are liveness bounds (`eventually`); the
 * reconnect bound covers the proxy's back-off (up to 8 s after a few failed attempts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  apiApply,
  edsClusterResource,
  endpointsResource,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type Backend,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

const NODE_ID = 'cp-restart';
/** Back-off after the control plane went away: 0.5, 1, 2, 4 then 8 s caps; room to spare. */
const RECONNECT_BOUND_MS = 40_000;

describe('ferry-proxy and a restarted control plane', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Backend;
  let b: Backend;
  let listenerPort: number;
  let xdsPort: number;
  const store = `sqlite:${path.join(tempDir('cp-restart'), 'ferry.db')}`;

  /** Generation `generation` routes everything to `cluster`, tagging answers x-generation. */
  function routes(generation: number, cluster: string): Json {
    return routeConfigResource('main', [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/' },
            route: { cluster },
            response_headers_to_add: [
              { header: { key: 'x-generation', value: String(generation) } },
            ],
          },
        ],
      },
    ]);
  }

  const start = (): Promise<ControlPlane> =>
    startControlPlane({ store, args: ['--xds-address', `127.0.0.1:${xdsPort}`] });

  async function served(pathname: string): Promise<{ backend: string; generation: string }> {
    const res = await httpRequest(`http://127.0.0.1:${listenerPort}${pathname}`);
    assert.equal(res.status, 200, res.body);
    return {
      backend: String(res.headers['x-backend']),
      generation: String(res.headers['x-generation']),
    };
  }

  async function xdsConnected(): Promise<number> {
    const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    return Number(/^ferry_xds_connected (\d+)$/m.exec(prom)?.[1] ?? -1);
  }

  before(async () => {
    [a, b, listenerPort, xdsPort] = await Promise.all([
      startBackend('a'),
      startBackend('b'),
      freePort(),
      freePort(),
    ]);
    cp = await start();
    await apiApply(cp.apiUrl, [
      listenerResource('http', listenerPort, [{ filters: [hcmFilter({ rds: 'main' })] }]),
      routes(1, 'a'),
      edsClusterResource('a'),
      edsClusterResource('b'),
      endpointsResource('a', [a.port]),
      endpointsResource('b', [b.port]),
    ]);
    proxy = await startProxy({
      concurrency: 2,
      bootstrap: proxyBootstrap({ nodeId: NODE_ID, xdsAddress: cp.xdsAddress }),
    });
    await eventually(async () => {
      const s = await served('/warm').catch(() => undefined);
      return s?.generation === '1' ? s : undefined;
    }, 'generation 1 served');
  });

  after(async () => {
    await stopAll();
    await Promise.all([a?.close(), b?.close()]);
  });

  test('with the control plane stopped, the proxy keeps serving its last good config', async () => {
    await cp.stop();
    await eventually(
      async () => ((await xdsConnected()) === 0 ? true : undefined),
      'the proxy to notice the control plane is gone',
    );
    for (let i = 0; i < 20; i++)
      assert.deepEqual(await served(`/alone/${i}`), { backend: 'a', generation: '1' });
    assert.equal((await httpRequest(`${proxy.adminUrl}/ready`)).status, 200);
  });

  test('a control plane started on the same address and store is reconnected to; a change applied after it reaches the proxy', async () => {
    cp = await start();
    assert.equal(cp.xdsAddress, `127.0.0.1:${xdsPort}`);
    // The reconnected stream ACKs what the restarted control plane serves: the same config.
    const acked = await eventually(
      async () => {
        if ((await xdsConnected()) !== 1) return undefined;
        const status = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
        const node = (
          JSON.parse(status.stdout) as {
            nodes: {
              node_id: string;
              types: { type_url: string; version_sent: string; version_acked: string }[];
            }[];
          }
        ).nodes.find((n) => n.node_id === NODE_ID);
        const types = node?.types ?? [];
        return types.length === 4 && types.every((t) => t.version_acked === t.version_sent)
          ? types
          : undefined;
      },
      'the proxy reconnected to the restarted control plane, every type ACKed',
      RECONNECT_BOUND_MS,
    );
    assert.ok(acked.every((t) => t.version_acked !== ''));
    assert.deepEqual(await served('/reconnected'), { backend: 'a', generation: '1' });

    await apiApply(cp.apiUrl, [routes(2, 'b')]);
    const moved = await eventually(async () => {
      const s = await served('/moved');
      return s.generation === '2' ? s : undefined;
    }, 'generation 2 served');
    assert.deepEqual(moved, { backend: 'b', generation: '2' });
    for (let i = 0; i < 10; i++)
      assert.deepEqual(await served(`/after/${i}`), { backend: 'b', generation: '2' });
  });
});
