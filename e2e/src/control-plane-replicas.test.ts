/**
 * Several control-plane replicas, real processes sharing one SQLite store: proxies whose
 * bootstrap names both replicas (the xDS cluster's endpoints, replica A at priority 0 and B at
 * priority 1) connect to A; when A is killed with SIGKILL they move to B, keep serving their last
 * good config meanwhile (every request succeeds), resume at B with the versions they hold (equal
 * on every replica: content hashes) and take a change applied after the kill. A was also the
 * leader: B takes the leader lease once A's has lapsed, ferryctl shows it, and the singleton duty
 * (ACME ordering, through Pebble) moves with it. Waits are liveness bounds (`eventually`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  apiApply,
  eventually,
  ferryctl,
  freePortPair,
  httpRequest,
  proxyBootstrap,
  generationRoutes,
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
import { FAST_ACME_ARGS, acmeSiteResources, startPebble, type Pebble } from './pebble.js';

const LEASE_TTL_MS = 3000;
/** Room beyond the lease TTL for the next campaign round under a loaded machine. */
const HANDOVER_BOUND_MS = LEASE_TTL_MS + 20_000;
/** The proxies' reconnect back-off after a failure, with room to spare. */
const FAILOVER_BOUND_MS = 30_000;
const DOMAINS = { one: 'one.replicas.ferry.test', two: 'two.replicas.ferry.test' };

interface NodeJson {
  node_id: string;
  replica?: string;
  types: { type_url: string; version_sent: string; version_acked: string }[];
}

interface StatusJson {
  nodes: NodeJson[];
}

interface ReplicasJson {
  self: string;
  leader?: string;
  replicas: { id: string; address: string; api_url: string; leader: boolean; self: boolean }[];
  proxies: { node_id: string; replica: string }[];
}

/** The bootstrap naming both replicas: `first` at priority 0, `second` at priority 1. */
function replicasBootstrap(
  nodeId: string,
  apiType: 'GRPC' | 'DELTA_GRPC',
  first: ControlPlane,
  second: ControlPlane,
): Json {
  return proxyBootstrap({
    nodeId,
    apiType,
    xdsAddress: first.xdsAddress,
    xdsFailover: [second.xdsAddress],
  });
}

async function status(cp: ControlPlane): Promise<StatusJson> {
  const res = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as StatusJson;
}

async function replicas(cp: ControlPlane): Promise<ReplicasJson> {
  const res = await ferryctl(cp.apiUrl, ['replicas', '-o', 'json']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as ReplicasJson;
}

async function serverInfoXds(proxy: Proxy): Promise<{ target: string; connected: boolean }> {
  const res = await httpRequest(`${proxy.adminUrl}/server_info`);
  return (JSON.parse(res.body) as { xds: { target: string; connected: boolean } }).xds;
}

async function acmeState(
  cp: ControlPlane,
  name: string,
): Promise<{ status: string; replica: string; last_error: string } | undefined> {
  const res = await httpRequest(`${cp.apiUrl}/v1/certificates`);
  assert.equal(res.status, 200, res.body);
  const body = JSON.parse(res.body) as {
    acme_certificates: { name: string; status: string; replica: string; last_error: string }[];
  };
  return body.acme_certificates.find((c) => c.name === name);
}

function configApplied(proxy: Proxy): number {
  return proxy.logs.filter((l) => l.includes('"msg":"config applied"')).length;
}

describe('several control-plane replicas', { timeout: 300_000 }, () => {
  let pebble: Pebble;
  let backend: Backend;
  let a: ControlPlane;
  let b: ControlPlane;
  /** SotW and delta ADS, listening on httpPort and httpPort + 1. */
  const proxies: Proxy[] = [];
  let httpPort: number;
  const store = `sqlite:${path.join(tempDir('replicas'), 'ferry.db')}`;
  const replica = (id: string): Promise<ControlPlane> =>
    startControlPlane({
      store,
      args: ['--replica-id', id, '--leader-lease-ttl-ms', String(LEASE_TTL_MS), ...FAST_ACME_ARGS],
    });

  function acmeYaml(name: keyof typeof DOMAINS): string {
    return `
'@type': type.googleapis.com/ferry.v1.AcmeCertificate
name: ${name}
domains: [${DOMAINS[name]}]
directory_url: ${pebble.directoryUrl}
directory_ca_pem: |
${pebble.apiCaPem.trimEnd().replace(/^/gm, '  ')}
email: ops@ferry.test
secret_name: ${name}-tls
`;
  }

  async function issued(cp: ControlPlane, name: keyof typeof DOMAINS): Promise<string> {
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], acmeYaml(name));
    assert.equal(applied.code, 0, applied.stderr);
    const state = await eventually(
      async () => {
        const s = await acmeState(cp, name);
        if (s?.status === 'FAILED') throw new Error(`order failed: ${s.last_error}`);
        return s?.status === 'VALID' ? s : undefined;
      },
      `the certificate ${name} issued`,
      90_000,
    );
    return state.replica;
  }

  async function generation(port: number): Promise<string> {
    const res = await httpRequest(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200, res.body);
    return String(res.headers['x-generation']);
  }

  before(async () => {
    httpPort = await freePortPair();
    // A starts first (alongside Pebble and the backend), so it takes the leader lease; B finds
    // it held.
    [pebble, backend, a] = await Promise.all([
      startPebble({ httpPort }),
      startBackend('web'),
      replica('cp-a'),
    ]);
    b = await replica('cp-b');
    await apiApply(a.apiUrl, [...acmeSiteResources(DOMAINS.one, httpPort, backend.port)]);
    await apiApply(a.apiUrl, [generationRoutes(1)]);
    const kinds = [
      [0, 'GRPC'],
      [1, 'DELTA_GRPC'],
    ] as const;
    proxies.push(
      ...(await Promise.all(
        kinds.map(([offset, apiType]) =>
          startProxy({
            bootstrap: replicasBootstrap(`replicas-${offset}`, apiType, a, b),
            args: ['--listener-port-offset', String(offset)],
          }),
        ),
      )),
    );
    for (const [offset] of kinds)
      await eventually(
        async () => ((await generation(httpPort + offset)) === '1' ? true : undefined),
        `proxy ${offset} serving generation 1`,
      );
  });

  after(async () => {
    await pebble?.stop();
    await backend?.close();
    await stopAll();
  });

  test('both replicas see one leader, A; the proxies are on priority 0 (A); A orders certificates', async () => {
    for (const cp of [a, b]) {
      const view = await eventually(async () => {
        const r = await replicas(cp);
        return r.replicas.length === 2 ? r : undefined;
      }, 'both replicas alive in the store');
      assert.equal(view.leader, 'cp-a');
      assert.deepEqual(
        view.replicas.map((r) => [r.id, r.leader]),
        [
          ['cp-a', true],
          ['cp-b', false],
        ],
      );
    }
    for (const proxy of proxies) assert.equal((await serverInfoXds(proxy)).target, a.xdsAddress);
    const onA = await replicas(a);
    assert.deepEqual(onA.proxies.map((p) => [p.node_id, p.replica]).sort(), [
      ['replicas-0', 'cp-a'],
      ['replicas-1', 'cp-a'],
    ]);
    assert.equal(await issued(a, 'one'), 'cp-a');
    assert.equal((await acmeState(b, 'one'))?.replica, 'cp-a', 'B shows what the leader wrote');
  });

  test('A killed: the proxies fail over to B, serve throughout, resume with their versions and take a later change', async () => {
    // The order's challenge route is gone (its records were deleted before the certificate was
    // stored), so nothing changes from here until the apply below.
    for (const proxy of proxies)
      await eventually(async () => {
        const dump = (await httpRequest(`${proxy.adminUrl}/config_dump`)).body;
        return dump.includes('ferry-acme-http-01') ? undefined : true;
      }, 'the challenge route gone from the proxy');
    const settledOnA = await eventually(async () => {
      const nodes = (await status(a)).nodes.filter((n) => n.node_id.startsWith('replicas-'));
      return nodes.length === 2 &&
        nodes.every((n) => n.types.every((t) => t.version_acked === t.version_sent))
        ? nodes
        : undefined;
    }, 'both proxies ACKing every type on A');
    const versionsOnA = settledOnA.map((n) => ({
      node: n.node_id,
      types: n.types.map((t) => [t.type_url, t.version_acked]).sort(),
    }));
    const appliedBefore = proxies.map(configApplied);

    // Traffic runs from before the kill until both proxies serve the change applied after it.
    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        for (const offset of [0, 1]) {
          requests += 1;
          try {
            const res = await httpRequest(`http://127.0.0.1:${httpPort + offset}/traffic`);
            if (res.status !== 200) failures.push(`${offset}: ${res.status}`);
          } catch (err) {
            failures.push(`${offset}: ${(err as Error).message}`);
          }
        }
      }
    })();

    try {
      await a.kill();
      for (const proxy of proxies)
        await eventually(
          async () => {
            const xds = await serverInfoXds(proxy);
            return xds.target === b.xdsAddress && xds.connected ? true : undefined;
          },
          'the proxy connected to B',
          FAILOVER_BOUND_MS,
        );
      // B serves the same versions (content hashes): every type ACKed at the version held.
      let seenOnB: NodeJson[] = [];
      const versionsOnB = await eventually(async () => {
        const nodes = (await status(b)).nodes.filter((n) => n.node_id.startsWith('replicas-'));
        seenOnB = nodes;
        // As many types as on A (listeners, routes, clusters here), each ACKed.
        const settled = nodes.every(
          (n) =>
            n.types.length === versionsOnA.find((v) => v.node === n.node_id)?.types.length &&
            n.types.every((t) => t.version_acked === t.version_sent),
        );
        return nodes.length === 2 && settled ? nodes : undefined;
      }, 'both proxies ACKing every type on B').catch((err: Error) => {
        throw new Error(`${err.message}; B shows ${JSON.stringify(seenOnB)}`);
      });
      assert.deepEqual(
        versionsOnB.map((n) => ({
          node: n.node_id,
          types: n.types.map((t) => [t.type_url, t.version_acked]).sort(),
        })),
        versionsOnA,
      );
      assert.deepEqual(
        versionsOnB.map((n) => n.replica),
        ['cp-b', 'cp-b'],
      );
      assert.deepEqual(proxies.map(configApplied), appliedBefore, 'nothing to apply again at B');

      await apiApply(b.apiUrl, [generationRoutes(2)]);
      for (const offset of [0, 1])
        await eventually(
          async () => ((await generation(httpPort + offset)) === '2' ? true : undefined),
          `proxy ${offset} serving generation 2`,
        );
    } finally {
      stop = true;
      await traffic;
    }
    assert.ok(requests > 2, `traffic ran (${requests} requests)`);
    assert.deepEqual(failures, [], 'every request succeeded during the failover');
  });

  test('B leads once A’s lease lapses, ferryctl shows it, and ACME ordering moved to B', async () => {
    const view = await eventually(
      async () => {
        const r = await replicas(b);
        return r.leader === 'cp-b' && r.replicas.length === 1 ? r : undefined;
      },
      'B to lead alone',
      HANDOVER_BOUND_MS,
    );
    assert.deepEqual(view.replicas, [
      { id: 'cp-b', address: b.xdsAddress, api_url: b.apiUrl, leader: true, self: true },
    ]);
    const table = await ferryctl(b.apiUrl, ['replicas']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^cp-b\s+\S+\s+\S+\s+yes\s+yes$/m);
    assert.match(table.stdout, /leader: cp-b/);
    assert.equal(await issued(b, 'two'), 'cp-b');
    assert.ok(b.logs.some((l) => l.includes('this replica is now the leader')));
  });
});
