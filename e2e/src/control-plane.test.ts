/**
 * The control plane as operators and proxies see it, with real processes: ferryctl against the
 * HTTP API, a raw ADS client (grpc-js with the ADS service definition) against xDS, and a SQLite
 * store that survives SIGKILL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import {
  eventually,
  ferryctl,
  startControlPlane,
  stopAll,
  tempDir,
  type CommandResult,
  type ControlPlane,
} from './harness.js';
import { RawAdsClient, resourceNames as names } from './raw-ads-client.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

function clusterYaml(name: string, connectTimeout = '1s'): string {
  return `"@type": ${CDS}
name: ${name}
type: EDS
eds_cluster_config: { eds_config: { ads: {} } }
connect_timeout: ${connectTimeout}
---
"@type": ${EDS}
cluster_name: ${name}
endpoints:
  - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`;
}

function routeYaml(name: string, cluster: string, extra = ''): string {
  return `"@type": ${RDS}
name: ${name}
virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
      - match: { prefix: "/" }
        route: { cluster: ${cluster} }
${extra}`;
}

function listenerYaml(name: string, route: string): string {
  return `"@type": ${LDS}
name: ${name}
address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
filter_chains:
  - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          rds: { route_config_name: ${route}, config_source: { ads: {} } }
          http_filters:
            - name: envoy.filters.http.router
              typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;
}

const docs = (...parts: string[]): string => parts.join('---\n');

// `ferryctl ... -o json` prints the HTTP API's JSON (control-plane/src/api/wire-json.ts): the
// fields these tests read.
interface ListJson {
  readonly revision: number;
  readonly resources: readonly { kind: string; name: string; version: string }[];
}

interface TypeStatusJson {
  readonly type_url: string;
  readonly version_sent: string;
  readonly version_acked: string;
  readonly last_nack?: { version: string; error: string; resources?: readonly string[] };
}

interface StatusJson {
  readonly nodes: readonly { node_id: string; types: readonly TypeStatusJson[] }[];
}

interface HistoryJson {
  readonly entries: readonly { revision: number }[];
}

function ok(result: CommandResult, what: string): CommandResult {
  assert.equal(result.code, 0, `${what} failed (${result.code}): ${result.stderr}`);
  return result;
}

/** `ferryctl <args> -o json`, which must exit 0; `T` is the command's JSON shape (above). */
async function json<T>(cp: ControlPlane, args: string[]): Promise<T> {
  const result = ok(await ferryctl(cp.apiUrl, [...args, '-o', 'json']), args.join(' '));
  return JSON.parse(result.stdout) as T;
}

/** The status of `typeUrl` on node `nodeId` in `ferryctl status`, if listed. */
async function typeStatus(
  cp: ControlPlane,
  nodeId: string,
  typeUrl: string,
): Promise<TypeStatusJson | undefined> {
  const status = await json<StatusJson>(cp, ['status']);
  return status.nodes.find((n) => n.node_id === nodeId)?.types.find((t) => t.type_url === typeUrl);
}

async function apply(cp: ControlPlane, yaml: string): Promise<CommandResult> {
  return ferryctl(cp.apiUrl, ['apply', '-f', '-'], yaml);
}

/** name → version of every resource of every type, and the revision. */
async function state(cp: ControlPlane): Promise<{ revision: number; versions: string[] }> {
  // One ferryctl process a type, side by side (nothing writes meanwhile): they must agree on
  // the revision they read.
  const lists = await Promise.all(
    ['listeners', 'routes', 'clusters', 'endpoints'].map((type) =>
      json<ListJson>(cp, ['get', type]),
    ),
  );
  const revision = lists[0]!.revision;
  for (const r of lists) assert.equal(r.revision, revision, 'one revision read by every get');
  const versions = lists.flatMap((r) => r.resources.map((x) => `${x.kind}/${x.name}@${x.version}`));
  return { revision, versions: versions.sort() };
}

after(stopAll);

void describe('control plane with real processes', () => {
  void test('(a) an applied batch survives SIGKILL right after ferryctl exits 0: same versions, revision and CDS version_info', async () => {
    const store = `sqlite:${path.join(tempDir('restart'), 'ferry.db')}`;
    const first = await startControlPlane({ store });
    ok(
      await apply(
        first,
        docs(clusterYaml('c1'), clusterYaml('c2'), routeYaml('r1', 'c1'), listenerYaml('l1', 'r1')),
      ),
      'apply',
    );
    await first.kill();
    const second = await startControlPlane({ store });
    const before = await state(second);
    assert.equal(before.versions.length, 6);
    assert.equal(before.revision, 1);

    // Versions are content hashes, so both runs announce the same CDS version.
    const a1 = new RawAdsClient(second.xdsAddress, 'restart-1');
    a1.request(CDS, []);
    const cds1 = await a1.next(10000);
    a1.close();
    assert.deepEqual(names(cds1), ['c1', 'c2']);
    await second.kill();
    const third = await startControlPlane({ store });
    assert.deepEqual(await state(third), before);
    const a2 = new RawAdsClient(third.xdsAddress, 'restart-2');
    a2.request(CDS, []);
    const cds2 = await a2.next(10000);
    a2.close();
    assert.equal(cds2.version_info, cds1.version_info);
    await third.stop();
  });

  void describe('with one control plane', () => {
    let cp: ControlPlane;
    before(async () => {
      cp = await startControlPlane();
      ok(
        await apply(cp, docs(clusterYaml('c1'), routeYaml('r1', 'c1'), listenerYaml('l1', 'r1'))),
        'initial apply',
      );
    });
    after(() => cp.stop());

    void test('(b) a NACK shows in ferryctl status with its error and resources; a corrected apply is ACKed', async () => {
      const ads = new RawAdsClient(cp.xdsAddress, 'nacker');
      try {
        ads.request(CDS, []);
        // The stream may open before the initial apply is published (~100 ms after it): NACK the
        // response that carries c1, not an earlier empty one.
        const bad = await ads.until((r) => names(r).includes('c1'), 'CDS with c1');
        assert.deepEqual(names(bad), ['c1']);
        ads.request(CDS, [], bad, 'c1: lb_policy not supported here');
        const nacked = await eventually(async () => {
          const t = await typeStatus(cp, 'nacker', CDS);
          return t?.last_nack ? { type: t, nack: t.last_nack } : undefined;
        }, 'the NACK in ferryctl status');
        assert.equal(nacked.nack.error, 'c1: lb_policy not supported here');
        assert.equal(nacked.nack.version, bad.version_info);
        assert.deepEqual(nacked.nack.resources, ['c1']);
        assert.notEqual(nacked.type.version_acked, nacked.type.version_sent);

        ok(await apply(cp, clusterYaml('c1', '2s')), 'corrected apply');
        const fixed = await ads.next(10000);
        assert.notEqual(fixed.version_info, bad.version_info);
        ads.request(CDS, [], fixed);
        const acked = await eventually(async () => {
          const t = await typeStatus(cp, 'nacker', CDS);
          return t?.version_acked === fixed.version_info ? t : undefined;
        }, 'the ACK in ferryctl status');
        assert.equal(acked.version_acked, acked.version_sent);
        assert.equal(acked.last_nack, undefined);
        const table = ok(await ferryctl(cp.apiUrl, ['status']), 'status').stdout;
        assert.match(table, /nacker/);
      } finally {
        ads.close();
      }
    });

    void test('(c) a rejected apply exits 1 with field paths and stores nothing of the batch', async () => {
      const previous = await state(cp);
      const rejected = await apply(
        cp,
        docs(
          routeYaml('r2', 'missing'),
          clusterYaml('c2').replace('type: EDS', 'type: EDS\nbogus_field: 1'),
        ),
      );
      assert.equal(rejected.code, 1, rejected.stderr);
      assert.match(rejected.stderr, /FERRY_INVALID_CONFIG/);
      assert.match(rejected.stderr, /resources\[1\]\.bogus_field: unknown field/);
      // Every problem at once: the reference error of the document that did decode too.
      assert.match(rejected.stderr, /resources\[0\].*route\.cluster.*"missing"/);
      assert.deepEqual(await state(cp), previous);
    });

    void test('(d) deleting a referenced cluster is refused with exit 1', async () => {
      const previous = await state(cp);
      const refused = await ferryctl(cp.apiUrl, ['delete', 'clusters', 'c1']);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /FERRY_REFERENCED/);
      assert.match(refused.stderr, /r1/);
      assert.deepEqual(await state(cp), previous);
    });

    void test('(e) history and rollback restore an earlier state, and a connected ADS client receives it', async () => {
      const ads = new RawAdsClient(cp.xdsAddress, 'rollback');
      try {
        ads.request(CDS, []);
        let cds = await ads.until((r) => names(r).includes('c1'), 'CDS with c1');
        ads.request(CDS, [], cds);
        const earlier = await state(cp);
        const earlierCds = cds.version_info;
        ok(await apply(cp, clusterYaml('c3')), 'apply c3');
        cds = await ads.next(10000);
        assert.deepEqual(names(cds), ['c1', 'c3']);
        ads.request(CDS, [], cds);

        const history = await json<HistoryJson>(cp, ['history']);
        assert.equal(history.entries[0]?.revision, earlier.revision + 1);
        assert.ok(history.entries.some((e) => e.revision === earlier.revision));
        ok(await ferryctl(cp.apiUrl, ['rollback', String(earlier.revision)]), 'rollback');
        cds = await ads.next(10000);
        assert.deepEqual(names(cds), ['c1']);
        assert.equal(cds.version_info, earlierCds);
        const restored = await state(cp);
        assert.deepEqual(restored.versions, earlier.versions);
        assert.equal(restored.revision, earlier.revision + 2);
      } finally {
        ads.close();
      }
    });

    void test('(f) ferryctl with a wrong --server exits 2', async () => {
      // A port that was just free: nothing listens there.
      const probe = net.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
      const result = await ferryctl(`http://127.0.0.1:${port}`, ['get', 'clusters']);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /cannot reach/);
    });
  });
});
