/**
 * The bootstrap's overload_manager end to end, with real ferry-proxy processes on loopback and
 * static bootstraps: a fixed_heap monitor whose max_heap_size_bytes is far below what a worker
 * uses puts the pressure over the threshold, so stop_accepting_requests answers every request
 * with Envoy's 503 and /stats/prometheus shows the action active; with a large max the same
 * proxy config serves normally.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  eventually,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  startProxy,
  staticBootstrap,
  stopAll,
  type Json,
} from './harness.js';

const ACTION = 'envoy.overload_actions.stop_accepting_requests';
const MONITOR = 'envoy.resource_monitors.fixed_heap';

function bootstrap(nodeId: string, port: number, maxHeapSizeBytes: number): Json {
  const listener = listenerResource('overload-listener', port, [
    {
      filters: [
        hcmFilter({
          routeConfig: {
            name: 'local',
            virtual_hosts: [
              {
                name: 'all',
                domains: ['*'],
                routes: [
                  {
                    match: { prefix: '/' },
                    direct_response: { status: 200, body: { inline_string: 'served' } },
                  },
                ],
              },
            ],
          },
        }),
      ],
    },
  ]);
  return {
    ...staticBootstrap({ nodeId, listeners: [listener], clusters: [] }),
    overload_manager: {
      refresh_interval: '0.1s',
      resource_monitors: [
        {
          name: MONITOR,
          typed_config: {
            '@type':
              'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
            max_heap_size_bytes: String(maxHeapSizeBytes),
          },
        },
      ],
      actions: [{ name: ACTION, triggers: [{ name: MONITOR, threshold: { value: 0.95 } }] }],
    },
  };
}

/** The value of `ferry_<name>{...<label>="<value>"...}` in the proxy's Prometheus stats. */
async function gauge(adminUrl: string, name: string, label: string): Promise<number | undefined> {
  const text = (await httpRequest(`${adminUrl}/stats/prometheus`)).body;
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`ferry_${name}{`) && l.includes(`="${label}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('overload manager', () => {
  after(stopAll);

  test('a heap over the threshold: new requests get 503 x-envoy-overloaded, the action is active', async () => {
    const port = await freePort();
    // 1 MiB: any Node process uses many times that, so the pressure is far above 0.95.
    const proxy = await startProxy({ bootstrap: bootstrap('overloaded', port, 1 << 20) });
    const res = await eventually(async () => {
      const r = await httpRequest(`http://127.0.0.1:${port}/anything`);
      return r.status === 503 ? r : undefined;
    }, 'the overloaded proxy to refuse requests');
    assert.equal(res.headers['x-envoy-overloaded'], 'true');
    assert.equal(res.body, 'envoy overloaded');
    const active = await eventually(
      async () => ((await gauge(proxy.adminUrl, 'overload_active', ACTION)) === 1 ? 1 : undefined),
      'overload_active to be 1',
    );
    assert.equal(active, 1);
    const pressure = await gauge(proxy.adminUrl, 'overload_pressure', MONITOR);
    assert.ok(pressure !== undefined && pressure >= 95, `pressure ${pressure}`);
    // Still refusing: the action holds while the pressure does.
    assert.equal((await httpRequest(`http://127.0.0.1:${port}/again`)).status, 503);
  });

  test('a heap under the threshold: the proxy serves, the action is inactive', async () => {
    const port = await freePort();
    const proxy = await startProxy({ bootstrap: bootstrap('roomy', port, 64 * 2 ** 30) });
    const res = await eventually(async () => {
      const r = await httpRequest(`http://127.0.0.1:${port}/anything`);
      return r.status === 200 ? r : undefined;
    }, 'the proxy to serve');
    assert.equal(res.body, 'served');
    assert.equal(res.headers['x-envoy-overloaded'], undefined);
    const active = await eventually(
      () => gauge(proxy.adminUrl, 'overload_active', ACTION),
      'overload_active to be reported',
    );
    assert.equal(active, 0);
  });
});
