/**
 * Failover with Envoy semantics, real processes on loopback.
 * - Priorities: an EDS cluster (control plane + ferryctl) whose ClusterLoadAssignment has one
 *   endpoint at priority 0 and one at priority 1. Marking priority 0 UNHEALTHY through EDS
 *   health_status moves all traffic to priority 1; HEALTHY again brings it back.
 * - Retries: a RANDOM cluster of two endpoints, one refusing connections; retry_on
 *   connect-failure with the previous_hosts predicate makes every retry pick the other host, so
 *   every request succeeds (without the predicate a retry would pick the dead host half the time).
 * Bounds are liveness bounds (`eventually`), never timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  edsClusterResource,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Backend,
  type ControlPlane,
  type Json,
} from './harness.js';

function allTo(cluster: string, retryPolicy?: Json): Json {
  return {
    name: 'main',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/' },
            route: { cluster, ...(retryPolicy ? { retry_policy: retryPolicy } : {}) },
          },
        ],
      },
    ],
  };
}

async function backendOf(port: number, path: string): Promise<string> {
  const res = await httpRequest(`http://127.0.0.1:${port}${path}`);
  assert.equal(res.status, 200, `${path}: ${res.status} ${res.body}`);
  return String(res.headers['x-backend']);
}

/** `count` requests in a row; the set of backends that answered them. */
async function backendsOf(port: number, path: string, count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add(await backendOf(port, `${path}/${i}`));
  return seen;
}

describe('priority failover through EDS health_status', () => {
  let cp: ControlPlane;
  let primary: Backend;
  let standby: Backend;
  let listenerPort: number;

  function assignment(primaryHealth: 'HEALTHY' | 'UNHEALTHY'): Json {
    const endpoint = (port: number, health: string): Json => ({
      endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
      health_status: health,
    });
    return {
      '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
      cluster_name: 'web',
      endpoints: [
        { priority: 0, lb_endpoints: [endpoint(primary.port, primaryHealth)] },
        { priority: 1, lb_endpoints: [endpoint(standby.port, 'HEALTHY')] },
      ],
    };
  }

  async function apply(resources: Json[]): Promise<void> {
    const yaml = resources.map((r) => JSON.stringify(r)).join('\n---\n');
    const result = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], yaml);
    assert.equal(result.code, 0, `ferryctl apply failed: ${result.stderr}`);
  }

  before(async () => {
    [cp, primary, standby, listenerPort] = await Promise.all([
      startControlPlane(),
      startBackend('primary'),
      startBackend('standby'),
      freePort(),
    ]);
    await apply([
      listenerResource('http', listenerPort, [
        { filters: [hcmFilter({ routeConfig: allTo('web') })] },
      ]),
      edsClusterResource('web'),
      assignment('HEALTHY'),
    ]);
    await startProxy({
      concurrency: 2,
      bootstrap: proxyBootstrap({ nodeId: 'failover-e2e', xdsAddress: cp.xdsAddress }),
    });
  });

  after(async () => {
    await stopAll();
    await primary.close();
    await standby.close();
  });

  test('priority 0 takes all traffic while healthy', async () => {
    await eventually(
      () =>
        httpRequest(`http://127.0.0.1:${listenerPort}/up`).then((r) =>
          r.status === 200 ? true : undefined,
        ),
      'the listener serving',
    );
    assert.deepEqual([...(await backendsOf(listenerPort, '/p0', 20))], ['primary']);
  });

  test('priority 0 UNHEALTHY in EDS: traffic fails over to priority 1', async () => {
    await apply([assignment('UNHEALTHY')]);
    await eventually(async () => {
      const seen = await backendsOf(listenerPort, '/settle', 4);
      return seen.size === 1 && seen.has('standby') ? true : undefined;
    }, 'traffic on priority 1');
    assert.deepEqual([...(await backendsOf(listenerPort, '/p1', 20))], ['standby']);
  });

  test('priority 0 HEALTHY again: traffic returns to it', async () => {
    await apply([assignment('HEALTHY')]);
    await eventually(async () => {
      const seen = await backendsOf(listenerPort, '/back', 4);
      return seen.size === 1 && seen.has('primary') ? true : undefined;
    }, 'traffic back on priority 0');
    assert.deepEqual([...(await backendsOf(listenerPort, '/p0-again', 20))], ['primary']);
  });
});

describe('retries pick another host (previous_hosts)', () => {
  let live: Backend;
  let listenerPort: number;

  before(async () => {
    live = await startBackend('live');
    const refusingPort = await freePort(); // nothing listens there: connections are refused
    listenerPort = await freePort();
    const retryPolicy: Json = {
      retry_on: 'connect-failure',
      num_retries: 1,
      retry_host_predicate: [
        {
          name: 'envoy.retry_host_predicates.previous_hosts',
          typed_config: {
            '@type':
              'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
          },
        },
      ],
      host_selection_retry_max_attempts: 5,
    };
    await startProxy({
      concurrency: 2,
      bootstrap: staticBootstrap({
        nodeId: 'previous-hosts-e2e',
        listeners: [
          listenerResource('http', listenerPort, [
            { filters: [hcmFilter({ routeConfig: allTo('pair', retryPolicy) })] },
          ]),
        ],
        clusters: [
          staticClusterResource('pair', [live.port, refusingPort], { lb_policy: 'RANDOM' }),
        ],
      }),
    });
  });

  after(async () => {
    await stopAll();
    await live.close();
  });

  test('every request succeeds although one of two hosts refuses connections', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++)
      statuses.push((await httpRequest(`http://127.0.0.1:${listenerPort}/r/${i}`)).status);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      'no request failed',
    );
    assert.equal(live.requests.length, 40);
  });
});
