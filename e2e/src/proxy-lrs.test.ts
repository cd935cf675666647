/**
 * Load reported back over LRS, real processes on loopback: control plane (LRS interval 200 ms)
 * ← ferryctl-style apply of a STATIC cluster with `lrs_server: { self: {} }` → one ferry-proxy,
 * which reports its load for that cluster, per locality (two backends in localities eu/east and
 * eu/west). After N requests through the proxy, `GET /v1/load` shows N successful requests for
 * the cluster from that node, split by locality exactly as the backends saw them. Bounds are liveness bounds
 * (`eventually`), never timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiApply,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  staticClusterResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  type Backend,
  type ControlPlane,
} from './harness.js';

interface LoadCounts {
  total_successful_requests: number;
  total_error_requests: number;
  total_issued_requests: number;
  total_requests_in_progress: number;
}

interface LoadBody {
  clusters: {
    group: string;
    cluster: string;
    total: LoadCounts;
    nodes: {
      node: string;
      localities: { locality: { region: string; zone: string }; total: LoadCounts }[];
    }[];
  }[];
}

const REQUESTS = 7;

describe('ferry-proxy reports load to the control plane (LRS)', () => {
  let cp: ControlPlane;
  let backend: Backend;
  let west: Backend;
  let listenerPort = 0;

  before(async () => {
    backend = await startBackend('web');
    west = await startBackend('west');
    cp = await startControlPlane({ args: ['--lrs-interval-ms', '200'] });
    listenerPort = await freePort();
    const route = {
      name: 'main',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { match: { prefix: '/other' }, route: { cluster: 'other' } },
            { match: { prefix: '/' }, route: { cluster: 'web' } },
          ],
        },
      ],
    };
    await apiApply(cp.apiUrl, [
      staticClusterResource('web', [], {
        lrs_server: { self: {} },
        load_assignment: {
          cluster_name: 'web',
          endpoints: [
            { locality: { region: 'eu', zone: 'east' }, port: backend.port },
            { locality: { region: 'eu', zone: 'west' }, port: west.port },
          ].map(({ locality, port }) => ({
            locality,
            lb_endpoints: [
              {
                endpoint: {
                  address: { socket_address: { address: '127.0.0.1', port_value: port } },
                },
              },
            ],
          })),
        },
      }),
      staticClusterResource('other', [backend.port]),
      listenerResource('http', listenerPort, [{ filters: [hcmFilter({ routeConfig: route })] }]),
    ]);
    await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'lrs-e2e', xdsAddress: cp.xdsAddress }),
    });
  });

  after(async () => {
    await stopAll();
    await backend.close();
    await west.close();
  });

  async function load(): Promise<LoadBody> {
    const res = await httpRequest(`${cp.apiUrl}/v1/load`);
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body) as LoadBody;
  }

  test(`after ${REQUESTS} requests, GET /v1/load shows ${REQUESTS} successes from the node`, async () => {
    // The listener comes up with the config; wait until it answers through the proxy.
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${listenerPort}/warmup`);
      return res.status === 200 ? res : undefined;
    }, 'the proxy listener to answer');
    for (let i = 1; i < REQUESTS; i++) {
      const res = await httpRequest(`http://127.0.0.1:${listenerPort}/r${i}`);
      assert.equal(res.status, 200);
    }
    // A cluster without lrs_server is not reported.
    assert.equal((await httpRequest(`http://127.0.0.1:${listenerPort}/other`)).status, 200);

    const web = await eventually(async () => {
      const found = (await load()).clusters.find((c) => c.cluster === 'web');
      return found && found.total.total_successful_requests >= REQUESTS ? found : undefined;
    }, `${REQUESTS} successful requests for cluster web in GET /v1/load`);
    assert.equal(web.group, 'default');
    assert.equal(web.total.total_successful_requests, REQUESTS);
    assert.equal(web.total.total_error_requests, 0);
    assert.deepEqual(
      web.nodes.map((n) => n.node),
      ['lrs-e2e'],
    );
    // Per locality, exactly what each locality's backend served (round robin spreads them).
    const byZone = Object.fromEntries(
      (web.nodes[0]?.localities ?? []).map((l) => [
        `${l.locality.region}/${l.locality.zone}`,
        l.total.total_successful_requests,
      ]),
    );
    const served = (b: Backend): number => b.requests.filter((r) => !r.includes('/other')).length;
    assert.deepEqual(byZone, { 'eu/east': served(backend), 'eu/west': served(west) });
    assert.ok(served(backend) > 0 && served(west) > 0, 'both localities took requests');

    const filtered = await httpRequest(`${cp.apiUrl}/v1/load?cluster=other`);
    assert.deepEqual((JSON.parse(filtered.body) as LoadBody).clusters, []);

    // The same through ferryctl: a table per group and cluster, then per proxy.
    const table = await ferryctl(cp.apiUrl, ['load', '--cluster', 'web']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      new RegExp(`^default\\s+web\\s+1\\s+${REQUESTS}\\s+0\\s+${REQUESTS}\\s`, 'm'),
    );
    assert.match(table.stdout, /^lrs-e2e\s+web\s+eu\/east\s/m);
    assert.match(table.stdout, /^lrs-e2e\s+web\s+eu\/west\s/m);
    const none = await ferryctl(cp.apiUrl, ['load', '--cluster', 'other']);
    assert.match(none.stdout, /no load reports/);
  });
});
