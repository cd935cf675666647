/**
 * The quorum rule across control-plane replicas, real processes: two
 * ferry-control-plane replicas share one SQLite store; proxy 1 is connected to replica A, proxy 2
 * to replica B, so each replica sees one of the two proxies. With `min_proxies: 2`, neither
 * replica's own proxy alone can mark an endpoint: only the node reports that both replicas write
 * to the shared store can. A stopped backend is then served UNHEALTHY by both replicas, and both
 * proxies ACK the very same EDS version (identical bytes on every replica).
 *
 * The reports are leased records, not revisions: `ferryctl history` shows the operator's apply
 * only, however often they change. When replica B is killed (SIGKILL: no stream end, no clean-up),
 * its proxy's report expires with B's lease and replica A's quorum no longer counts it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  RestartableBackend,
  apiApply,
  edsClusterResource,
  endpointsResource,
  eventually,
  fastHealthCheck,
  ferryctl,
  healthFlags,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type ControlPlane,
  type Proxy,
} from './harness.js';
import { fleetStatus } from './fixtures.js';

const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

describe('health quorum across two control-plane replicas sharing a store', () => {
  let a: ControlPlane;
  let b: ControlPlane;
  let up: RestartableBackend;
  let down: RestartableBackend;
  let proxy1: Proxy;
  let proxy2: Proxy;

  before(async () => {
    [up, down] = await Promise.all([RestartableBackend.start(), RestartableBackend.start()]);
    const store = `sqlite:${path.join(tempDir('replicas'), 'ferry.db')}`;
    // The reports of a dead replica expire after max(10 s, 3 HDS intervals) (main.ts).
    const args = (id: string): string[] => ['--hds-interval-ms', '200', '--replica-id', id];
    a = await startControlPlane({ store, args: args('replica-a') });
    b = await startControlPlane({ store, args: args('replica-b') });
    await apiApply(a.apiUrl, [
      edsClusterResource('web', {
        health_checks: [fastHealthCheck()],
        metadata: {
          filter_metadata: { 'ferry.health_quorum': { unhealthy_percent: 50, min_proxies: 2 } },
        },
      }),
      endpointsResource('web', [up.port, down.port]),
    ]);
    [proxy1, proxy2] = await Promise.all([
      startProxy({ bootstrap: proxyBootstrap({ nodeId: 'replicas-1', xdsAddress: a.xdsAddress }) }),
      startProxy({ bootstrap: proxyBootstrap({ nodeId: 'replicas-2', xdsAddress: b.xdsAddress }) }),
    ]);
  });

  after(async () => {
    await stopAll();
    await up.stop();
    await down.stop();
  });

  /**
   * The EDS version a node has ACKed, as the replica it is connected to reports it (GET
   * /v1/status, what `ferryctl status -o json` prints: polled, so no process per poll).
   */
  async function ackedEds(cp: ControlPlane, node: string): Promise<string | undefined> {
    return (await fleetStatus(cp))
      .find((n) => n.node_id === node)
      ?.types.find((t) => t.type_url === EDS)?.version_acked;
  }

  test("both replicas mark the endpoint from both proxies' reports, with one EDS version", async () => {
    // Each replica serves its proxy the same EDS version before anything is marked.
    const before1 = await eventually(() => ackedEds(a, 'replicas-1'), 'proxy 1 ACKs EDS');
    await eventually(
      async () => ((await ackedEds(b, 'replicas-2')) === before1 ? true : undefined),
      'proxy 2 ACKs the same EDS version from replica B',
    );

    await down.stop();
    for (const proxy of [proxy1, proxy2]) {
      await eventually(async () => {
        const flags = await healthFlags(proxy, 'web', down.port);
        return flags?.includes('/eds_health_status_unhealthy') ? flags : undefined;
      }, 'the stopped backend served UNHEALTHY by the replica this proxy is connected to');
      assert.equal(await healthFlags(proxy, 'web', up.port), 'healthy');
    }
    // Each replica marks on its own (from the reports in the shared store); the content, hence the
    // version, must be identical.
    const marked1 = await eventually(async () => {
      const v = await ackedEds(a, 'replicas-1');
      return v !== undefined && v !== before1 ? v : undefined;
    }, 'proxy 1 ACKs the marked EDS from replica A');
    const marked2 = await eventually(async () => {
      const v = await ackedEds(b, 'replicas-2');
      return v !== undefined && v !== before1 ? v : undefined;
    }, 'proxy 2 ACKs the marked EDS from replica B');
    assert.equal(marked2, marked1, 'both replicas serve the marked EDS with one version');

    await down.start();
    for (const proxy of [proxy1, proxy2]) {
      await eventually(async () => {
        const flags = await healthFlags(proxy, 'web', down.port);
        return flags === 'healthy' ? flags : undefined;
      }, 'healthy again through both replicas');
    }
    // Back to the stored content: the version it had before the outage.
    await eventually(
      async () =>
        (await ackedEds(a, 'replicas-1')) === before1 &&
        (await ackedEds(b, 'replicas-2')) === before1
          ? true
          : undefined,
      'both proxies back on the unmarked EDS version',
    );
  });

  test("ferryctl history shows the operator's apply only, not the health reports", async () => {
    // The first test made both proxies' reports change (down, then healthy again): had they been
    // revisions, history would list them.
    const listed = await ferryctl(a.apiUrl, ['history', '-o', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const { entries } = JSON.parse(listed.stdout) as {
      entries: Array<{ message: string; changes: Array<{ type_url: string; name: string }> }>;
    };
    assert.equal(entries.length, 1, JSON.stringify(entries));
    assert.deepEqual(entries[0]!.changes.map((c) => c.name).sort(), ['web', 'web']);
    const table = await ferryctl(b.apiUrl, ['history']);
    assert.doesNotMatch(table.stdout, /health|NodeHealthReport/i);
  });

  test("a killed replica's reports expire and the quorum drops them", async () => {
    const unmarked = await eventually(() => ackedEds(a, 'replicas-1'), 'proxy 1 ACKs EDS');
    await down.stop();
    await eventually(async () => {
      const flags = await healthFlags(proxy1, 'web', down.port);
      return flags?.includes('/eds_health_status_unhealthy') ? flags : undefined;
    }, 'marked by the quorum of both proxies');
    // Replica B dies without ending its streams: proxy 2 (configured for B only) cannot report
    // anywhere, and B's record of its report is renewed no more.
    await b.kill();
    // With proxy 2's report gone, proxy 1 alone is below min_proxies 2: A serves the endpoint
    // unmarked again, although proxy 1's own check still fails.
    await eventually(
      async () => ((await ackedEds(a, 'replicas-1')) === unmarked ? true : undefined),
      "proxy 1 back on the unmarked EDS version once B's report expired",
      60_000,
    );
    assert.equal(await healthFlags(proxy1, 'web', down.port), '/failed_active_hc');
    await down.start();
  });
});
