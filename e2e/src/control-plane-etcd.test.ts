/**
 * Control planes on the etcd store, real processes: etcd (shared/src/testing/etcd.ts) and two
 * ferry-control-plane processes started with the same `--store etcd://.../PREFIX`. An apply
 * through one is served by the other (a proxy connected to the other routes with it), and both
 * serve the very same xDS versions for the group (versions are content hashes, and both build
 * from the same revisions).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import {
  CONTROL_PLANE_BIN,
  apiApply,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  run,
  startBackend,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  type Backend,
  type ControlPlane,
} from './harness.js';
import { RawAdsClient, resourceNames } from './raw-ads-client.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

let probes = 0;

/** The version `cp` serves for `typeUrl` once it serves exactly `names` to group default. */
async function servedVersion(cp: ControlPlane, typeUrl: string, names: string[]): Promise<string> {
  probes += 1;
  const probe = new RawAdsClient(cp.xdsAddress, `etcd-probe-${probes}`);
  try {
    probe.request(typeUrl, []);
    const response = await probe.until(
      (r) => resourceNames(r).sort().join(',') === [...names].sort().join(','),
      `${names.join(',')} served by ${cp.xdsAddress}`,
    );
    return response.version_info;
  } finally {
    probe.close();
  }
}

describe('two control planes on one etcd prefix', () => {
  let etcd: EtcdCluster;
  let a: ControlPlane;
  let b: ControlPlane;
  let web: Backend;
  let api: Backend;
  let port: number;
  let store: string;

  before(async () => {
    etcd = await startEtcd();
    store = `etcd://${etcd.endpoints.join(',')}/e2e/${randomUUID()}`;
    [a, b, web, api, port] = await Promise.all([
      startControlPlane({ store }),
      startControlPlane({ store }),
      startBackend('web'),
      startBackend('api'),
      freePort(),
    ]);
  });
  after(async () => {
    await stopAll();
    await Promise.all([web?.close(), api?.close()]);
    await etcd?.stop();
  });

  const routeTo = (cluster: string) =>
    routeConfigResource('main', [
      { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] },
    ]);

  test('an apply through one is served by the other, with identical xDS versions', async () => {
    await apiApply(a.apiUrl, [
      listenerResource('http', port, [{ filters: [hcmFilter({ rds: 'main' })] }]),
      routeTo('web'),
      staticClusterResource('web', [web.port]),
    ]);
    // A proxy of control plane B routes with what was applied through A.
    await startProxy({ bootstrap: proxyBootstrap({ nodeId: 'etcd-1', xdsAddress: b.xdsAddress }) });
    await eventually(async () => {
      const r = await httpRequest(`http://127.0.0.1:${port}/x`);
      return r.body === 'web /x' ? true : undefined;
    }, 'the proxy of B to route to web');

    const cdsA = await servedVersion(a, CDS, ['web']);
    const cdsB = await servedVersion(b, CDS, ['web']);
    assert.equal(cdsA, cdsB);
    assert.equal(await servedVersion(a, LDS, ['http']), await servedVersion(b, LDS, ['http']));

    // The other way round: applied through B, served by A and B alike, and routed by the proxy.
    await apiApply(b.apiUrl, [staticClusterResource('api', [api.port]), routeTo('api')]);
    const nextA = await servedVersion(a, CDS, ['web', 'api']);
    const nextB = await servedVersion(b, CDS, ['web', 'api']);
    assert.equal(nextA, nextB);
    assert.notEqual(nextA, cdsA);
    await eventually(async () => {
      const r = await httpRequest(`http://127.0.0.1:${port}/y`);
      return r.body === 'api /y' ? true : undefined;
    }, 'the proxy of B to route to api');

    // Both report the same store revision.
    const revision = async (cp: ControlPlane): Promise<unknown> => {
      const r = await httpRequest(`${cp.apiUrl}/v1/history?limit=1`);
      return (JSON.parse(r.body) as { entries?: Array<{ revision: number }> }).entries?.[0]
        ?.revision;
    };
    const revisionA = await revision(a);
    assert.equal(typeof revisionA, 'number');
    assert.equal(revisionA, await revision(b));
  });

  test('a token made with `token create --store etcd://` is seen by both control planes', async () => {
    const made = await run(process.execPath, [
      CONTROL_PLANE_BIN, 'token', 'create', 'ops', '--role', 'admin', '--store', store,
    ]); // prettier-ignore
    assert.equal(made.code, 0, made.stderr);
    const token = made.stdout.trim();
    for (const cp of [a, b]) {
      // Once a token exists, requests need credentials; this one is accepted by either.
      const refused = await ferryctl(cp.apiUrl, ['status']);
      assert.equal(refused.code, 2, refused.stderr);
      const history = await ferryctl(cp.apiUrl, ['history'], undefined, { FERRY_TOKEN: token });
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout, /token create ops/);
    }
  });
});
