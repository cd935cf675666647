/**
 * Faults under load, real processes on loopback: a 3-member etcd cluster, two control-plane
 * replicas on one prefix of it (A and B, fixed xDS ports so that a restarted replica is where the
 * proxies' bootstrap names it), three SotW ferry-proxy processes whose bootstrap names both
 * replicas (A at priority 0, B at priority 1), a backend, traffic through every proxy and a stream
 * of applies (each a new `x-generation` on the one route) through the API while a fault is
 * injected: kill -9 of an etcd follower, of the etcd leader, of the replica the proxies use, of
 * the replica leading a rollout, and SIGSTOP/SIGCONT of the replica the proxies use (which they
 * notice by the HTTP/2 keepalive of their xDS connection, and leave for the other).
 *
 * Every case checks, after recovery:
 * - no acknowledged apply is lost: the history read through each replica has every acknowledged
 *   revision with the content version the apply returned;
 * - every request through every proxy succeeded (no tolerance: the proxies keep their last good
 *   config while the control plane is away), and each proxy's generations never go backwards
 *   (nothing stale is served after something newer);
 * - the proxies converge on the newest stored generation;
 * - every version a proxy held (its /config_dump, sampled throughout) and every version a replica
 *   reports sent or ACKed (/v1/status, read after recovery) is the content of some stored
 *   revision: the test replays the history and computes each type's version as the control plane
 *   does (`combinedVersion` of name and content version; a SotW response for the subscribed names
 *   carries it).
 * Waits are liveness bounds (`eventually`), never sleeps.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { combinedVersion } from '@ferry/proto';
import { etcdctl, startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import {
  eventually,
  ferryctl,
  freePort,
  freePortRun,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  generationRoutes,
  startBackend,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  type Backend,
  type ControlPlane,
  type Json,
  type Proxy,
  XDS_KEEPALIVE_BOUND_MS,
} from './harness.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const SERVED_TYPES = [LDS, CDS, RDS];
const PROXY_COUNT = 3;
/** The proxies' reconnect back-off after a failure, with room to spare on a loaded machine. */
const FAILOVER_BOUND_MS = 30_000;
/**
 * Failover from a replica that stopped without closing its connections: the proxies' keepalive
 * (the harness's bootstrap), the first reconnect back-off (≤ 0.5 s), and room on a loaded machine.
 */
const KEEPALIVE_FAILOVER_BOUND_MS = XDS_KEEPALIVE_BOUND_MS + 10_000;
/** Convergence after a fault: failover, etcd re-election, the rollout lease's 3 s TTL. */
const CONVERGE_BOUND_MS = 45_000;
/** One apply's own bound: longer than an etcd election, shorter than a test. */
const APPLY_TIMEOUT_MS = 10_000;

interface Replica {
  readonly id: string;
  readonly xdsPort: number;
  cp: ControlPlane;
}

interface Acked {
  readonly generation: number;
  readonly revision: number;
  /** The route's content version the apply returned. */
  readonly version: string;
  readonly via: string;
}

interface HistoryJson {
  entries: {
    revision: number;
    changes: { type_url: string; group: string; name: string; action: string; version: string }[];
  }[];
}

interface StatusJson {
  nodes: {
    node_id: string;
    types: { type_url: string; version_sent: string; version_acked: string }[];
  }[];
}

/** The bootstrap naming both replicas: A at priority 0, B at priority 1. */
function bootstrap(nodeId: string, a: Replica, b: Replica): Json {
  return proxyBootstrap({
    nodeId,
    xdsAddress: `127.0.0.1:${a.xdsPort}`,
    xdsFailover: [`127.0.0.1:${b.xdsPort}`],
  });
}

/** A request with a bound, so that a stopped or dying peer fails it instead of hanging the test. */
async function request(
  url: string,
  init: { method?: string; body?: string } = {},
  timeoutMs = APPLY_TIMEOUT_MS,
): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.body ? { 'content-type': 'application/json' } : {},
    body: init.body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: await res.text() };
}

describe('control-plane replicas on etcd under faults', { timeout: 175_000 }, () => {
  let etcd: EtcdCluster;
  let store: string;
  let backend: Backend;
  let httpPort: number;
  const replicas: Replica[] = [];
  const proxies: Proxy[] = [];

  const acked: Acked[] = [];
  /** Generations whose apply failed or timed out: they may or may not be stored. */
  const unknown: number[] = [];
  let nextGeneration = 1;

  const startReplica = async (id: string, xdsPort: number): Promise<ControlPlane> =>
    startControlPlane({
      store,
      args: [
        '--replica-id',
        id,
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--leader-lease-ttl-ms',
        '3000',
        // The replica PINGs its proxies too (releasing one that vanished); not what is tested
        // here, and slow enough never to drop a proxy on a loaded machine.
        '--xds-keepalive-interval-ms',
        '5000',
        '--xds-keepalive-timeout-ms',
        '10000',
      ],
    });

  /** Applies the next generation through `replica`; records it as acknowledged or unknown. */
  async function applyNext(replica: Replica, with_: Json[] = []): Promise<Acked | undefined> {
    const generation = nextGeneration++;
    try {
      const res = await request(`${replica.cp.apiUrl}/v1/apply`, {
        method: 'POST',
        body: JSON.stringify({ resources: [...with_, generationRoutes(generation)] }),
      });
      if (res.status !== 200) {
        unknown.push(generation);
        return undefined;
      }
      const body = JSON.parse(res.body) as {
        revision: number;
        changes: { type_url: string; name: string; version: string }[];
      };
      const change = body.changes.find((c) => c.type_url === RDS && c.name === 'web');
      assert.ok(change, `apply of generation ${generation} changed the route: ${res.body}`);
      const entry = {
        generation,
        revision: body.revision,
        version: change.version,
        via: replica.id,
      };
      acked.push(entry);
      return entry;
    } catch {
      unknown.push(generation);
      return undefined;
    }
  }

  // ---------------------------------------------------------------- background load and probes

  /** Per proxy: request failures, and the generations answered in order. */
  const failures: string[] = [];
  const generations: number[][] = [];
  /** Per proxy: every (type, version) its /config_dump showed. */
  const heldVersions: Array<Set<string>> = [];
  const sentOrAcked = new Set<string>();
  let loadRunning = false;
  let loadDone: Promise<unknown> = Promise.resolve();
  /** Replicas the applier may use (the test takes the one it kills or stops out). */
  let applyThrough: Replica[] = [];
  let applierRunning = false;
  let applierDone: Promise<unknown> = Promise.resolve();

  /** Records the versions proxy `i` holds (its /config_dump); returns its route's. */
  async function sampleDump(i: number): Promise<string | undefined> {
    const dump = JSON.parse((await httpRequest(`${proxies[i]!.adminUrl}/config_dump`)).body) as {
      configs: {
        '@type': string;
        version_info?: string;
        dynamic_route_configs?: { version_info: string }[];
      }[];
    };
    let route: string | undefined;
    for (const config of dump.configs) {
      const type = config['@type'];
      if (type.endsWith('ListenersConfigDump') && config.version_info)
        heldVersions[i]!.add(`${LDS} ${config.version_info}`);
      if (type.endsWith('ClustersConfigDump') && config.version_info)
        heldVersions[i]!.add(`${CDS} ${config.version_info}`);
      if (type.endsWith('RoutesConfigDump'))
        for (const r of config.dynamic_route_configs ?? []) {
          heldVersions[i]!.add(`${RDS} ${r.version_info}`);
          route = r.version_info;
        }
    }
    return route;
  }

  function startLoad(): void {
    loadRunning = true;
    const traffic = proxies.map(async (_p, i) => {
      while (loadRunning) {
        try {
          const res = await httpRequest(`http://127.0.0.1:${httpPort + i}/traffic`);
          if (res.status !== 200) failures.push(`proxy ${i}: ${res.status} ${res.body}`);
          else generations[i]!.push(Number(res.headers['x-generation']));
        } catch (err) {
          failures.push(`proxy ${i}: ${(err as Error).message}`);
        }
      }
    });
    const dumps = proxies.map(async (_p, i) => {
      while (loadRunning) {
        await sampleDump(i);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    loadDone = Promise.all([...traffic, ...dumps]);
  }

  function startApplier(): void {
    applierRunning = true;
    applierDone = (async () => {
      let turn = 0;
      while (applierRunning) {
        const through = applyThrough[turn++ % Math.max(1, applyThrough.length)];
        if (through) await applyNext(through);
        // Paced by the applies' own round trips; a short pause keeps the store's history small.
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
  }

  async function stopBackground(): Promise<void> {
    applierRunning = false;
    await applierDone;
    loadRunning = false;
    await loadDone;
  }

  async function history(replica: Replica): Promise<HistoryJson['entries']> {
    const res = await request(`${replica.cp.apiUrl}/v1/history?limit=100000`);
    assert.equal(res.status, 200, res.body);
    return (JSON.parse(res.body) as HistoryJson).entries.sort((x, y) => x.revision - y.revision);
  }

  /** Every (type, version) of the served types that some stored revision had. */
  function storedVersions(entries: HistoryJson['entries']): Set<string> {
    const state = new Map(SERVED_TYPES.map((t) => [t, new Map<string, string>()]));
    const out = new Set<string>();
    for (const entry of entries) {
      for (const c of entry.changes) {
        const names = c.group === 'default' ? state.get(c.type_url) : undefined;
        if (!names) continue;
        if (c.action === 'deleted') names.delete(c.name);
        else names.set(c.name, c.version);
      }
      for (const [type, names] of state)
        if (names.size > 0) out.add(`${type} ${combinedVersion([...names])}`);
    }
    return out;
  }

  /** The route generation of the newest stored revision. */
  async function storedGeneration(replica: Replica): Promise<number> {
    const res = await request(`${replica.cp.apiUrl}/v1/resources/RouteConfiguration/web`);
    assert.equal(res.status, 200, res.body);
    const resource = (JSON.parse(res.body) as { resource: Json }).resource as {
      virtual_hosts: { routes: { response_headers_to_add: { header: { value: string } }[] }[] }[];
    };
    return Number(resource.virtual_hosts[0]!.routes[0]!.response_headers_to_add[0]!.header.value);
  }

  async function generationServed(i: number): Promise<number> {
    const res = await httpRequest(`http://127.0.0.1:${httpPort + i}/probe`);
    return Number(res.headers['x-generation']);
  }

  async function sampleStatus(replica: Replica): Promise<void> {
    const res = await request(`${replica.cp.apiUrl}/v1/status`);
    assert.equal(res.status, 200, res.body);
    for (const node of (JSON.parse(res.body) as StatusJson).nodes) {
      if (!node.node_id.startsWith('faults-')) continue;
      for (const t of node.types) {
        if (t.version_sent) sentOrAcked.add(`${t.type_url} ${t.version_sent}`);
        if (t.version_acked) sentOrAcked.add(`${t.type_url} ${t.version_acked}`);
      }
    }
  }

  /** After a fault: the checks every case shares (see the file comment). */
  async function verifyRecovered(what: string): Promise<void> {
    const [a, b] = replicas as [Replica, Replica];
    applierRunning = false;
    await applierDone;
    // A replica reads its own view of the store, which may trail the other's by a watch event.
    const latest = await eventually(async () => {
      const [ga, gb] = await Promise.all([storedGeneration(a), storedGeneration(b)]);
      return ga === gb ? ga : undefined;
    }, 'both replicas reading the same newest route');
    const lastAcked = acked.at(-1);
    if (lastAcked)
      assert.ok(latest >= lastAcked.generation, `newest ${latest} ≥ acked ${lastAcked.generation}`);
    for (let i = 0; i < PROXY_COUNT; i++)
      await eventually(
        async () => ((await generationServed(i)) === latest ? true : undefined),
        `proxy ${i} serving generation ${latest} (${what})`,
        CONVERGE_BOUND_MS,
      );
    await stopBackground();
    for (const replica of replicas) await sampleStatus(replica);

    const histories = await Promise.all(replicas.map(history));
    assert.deepEqual(histories[1], histories[0], 'both replicas show the same history');
    const entries = histories[0]!;
    const byRevision = new Map(entries.map((e) => [e.revision, e]));
    for (const ack of acked) {
      const change = byRevision
        .get(ack.revision)
        ?.changes.find((c) => c.type_url === RDS && c.name === 'web');
      assert.equal(
        change?.version,
        ack.version,
        `acknowledged generation ${ack.generation} (revision ${ack.revision} through ${ack.via}) is in the history`,
      );
    }
    const stored = storedVersions(entries);
    for (let i = 0; i < PROXY_COUNT; i++) {
      // The dump shows the newest route's version (the sampler ran throughout; this is the last).
      const held = await sampleDump(i);
      const newest = [...entries].reverse().find((e) => e.changes.some((c) => c.type_url === RDS));
      const newestVersion = newest?.changes.find((c) => c.type_url === RDS)?.version ?? '';
      assert.equal(
        held,
        combinedVersion([['web', newestVersion]]),
        `proxy ${i} holds the newest route`,
      );
      const invented = [...heldVersions[i]!].filter((v) => !stored.has(v));
      assert.deepEqual(invented, [], `proxy ${i} held only stored versions`);
    }
    assert.ok(sentOrAcked.size > 0, 'the replicas reported versions');
    const inventedSent = [...sentOrAcked].filter((v) => !stored.has(v));
    assert.deepEqual(inventedSent, [], 'the replicas sent and saw ACKed only stored versions');

    assert.deepEqual(failures, [], `every request succeeded (${what})`);
    for (let i = 0; i < PROXY_COUNT; i++) {
      const seen = generations[i]!;
      assert.ok(seen.length > 0, `traffic ran through proxy ${i}`);
      const back = seen.findIndex((g, k) => k > 0 && g < seen[k - 1]!);
      assert.equal(
        back,
        -1,
        `proxy ${i} never went back to an older generation: ${seen.slice(back - 3, back + 3).join(',')}`,
      );
    }
  }

  async function xdsTarget(proxy: Proxy): Promise<{ target: string; connected: boolean }> {
    const res = await httpRequest(`${proxy.adminUrl}/server_info`);
    return (JSON.parse(res.body) as { xds: { target: string; connected: boolean } }).xds;
  }

  /**
   * The replica every proxy is connected to (they share one bootstrap, so one replica); with
   * `expected`, waits until that is the one.
   */
  async function proxiesOn(expected?: Replica, boundMs = FAILOVER_BOUND_MS): Promise<Replica> {
    return eventually(
      async () => {
        const targets = await Promise.all(proxies.map(xdsTarget));
        if (!targets.every((t) => t.connected && t.target === targets[0]!.target)) return undefined;
        const on = replicas.find((r) => targets[0]!.target === `127.0.0.1:${r.xdsPort}`);
        return expected === undefined || on === expected ? on : undefined;
      },
      expected ? `every proxy connected to ${expected.id}` : 'every proxy connected to one replica',
      boundMs,
    );
  }

  async function etcdLeader(): Promise<number> {
    const out = await etcdctl(etcd, ['endpoint', 'status', '-w', 'json']);
    const status = JSON.parse(out) as {
      Endpoint: string;
      Status: { header: { member_id: unknown }; leader: unknown };
    }[];
    const leader = status.find(
      (s) => String(s.Status.header.member_id) === String(s.Status.leader),
    );
    assert.ok(leader, `an etcd leader among ${out}`);
    return etcd.members.findIndex((m) => leader.Endpoint.endsWith(m.endpoint));
  }

  /** The replica holding the store lease `ferry.rollout-controller` (read from etcd). */
  async function rolloutLeaseHolder(): Promise<Replica> {
    const prefix = store.slice(store.lastIndexOf('/faults/'));
    return eventually(async () => {
      const keys = await etcdctl(etcd, ['get', '--prefix', prefix, '--keys-only']);
      const key = keys.split('\n').find((k) => k.endsWith('lease/ferry.rollout-controller'));
      if (!key) return undefined;
      const holder = (await etcdctl(etcd, ['get', key, '--print-value-only'])).trim();
      return replicas.find((r) => r.id === holder);
    }, 'the rollout lease held by a replica');
  }

  /**
   * The TTL etcd granted the rollout lease, in seconds: what its holder asked for. A renewal
   * between the reads replaces the etcd lease (the old one is revoked): read again then.
   */
  async function rolloutLeaseTtlSeconds(): Promise<number> {
    const prefix = store.slice(store.lastIndexOf('/faults/'));
    return eventually(async () => {
      const keys = await etcdctl(etcd, ['get', '--prefix', prefix, '--keys-only']);
      const key = keys.split('\n').find((k) => k.endsWith('lease/ferry.rollout-controller'));
      if (!key) throw new Error(`no rollout lease key among ${keys}`);
      const fields = await etcdctl(etcd, ['get', key, '-w', 'fields']);
      const id = /"Lease" : (\d+)/.exec(fields)?.[1];
      if (!id || id === '0') throw new Error(`no etcd lease on ${key}: ${fields}`);
      const ttl = await etcdctl(etcd, ['lease', 'timetolive', BigInt(id).toString(16)]);
      const granted = /granted with TTL\((\d+)s\)/.exec(ttl)?.[1];
      return granted === undefined ? undefined : Number(granted);
    }, "the rollout lease's TTL in etcd");
  }

  // ---------------------------------------------------------------- setup

  before(async () => {
    etcd = await startEtcd({ members: 3 });
    store = `etcd://${etcd.endpoints.join(',')}/faults/${randomUUID()}`;
    backend = await startBackend('web');
    httpPort = await freePortRun(PROXY_COUNT);
    // Start-ups side by side: they are mostly CPU, and the machine's cores share them.
    replicas.push(
      ...(await Promise.all(
        ['cp-a', 'cp-b'].map(async (id) => {
          const xdsPort = await freePort();
          return { id, xdsPort, cp: await startReplica(id, xdsPort) };
        }),
      )),
    );
    const [a, b] = replicas as [Replica, Replica];
    assert.ok(
      await applyNext(a, [
        listenerResource('http', httpPort, [{ filters: [hcmFilter({ rds: 'web' })] }]),
        staticClusterResource('web', [backend.port]),
      ]),
      'the listener, cluster and first route applied',
    );
    const indexes = Array.from({ length: PROXY_COUNT }, (_, i) => i);
    proxies.push(
      ...(await Promise.all(
        indexes.map((i) =>
          startProxy({
            bootstrap: bootstrap(`faults-${i}`, a, b),
            args: ['--listener-port-offset', String(i)],
          }),
        ),
      )),
    );
    for (const _i of indexes) {
      generations.push([]);
      heldVersions.push(new Set());
    }
    await Promise.all(
      indexes.map((i) =>
        eventually(
          async () => ((await generationServed(i)) === 1 ? true : undefined),
          `proxy ${i} serving generation 1`,
        ),
      ),
    );
  });

  after(async () => {
    await stopBackground();
    await stopAll();
    await backend?.close();
    await etcd?.stop();
  });

  beforeEach(() => {
    failures.length = 0;
    for (const g of generations) g.length = 0;
    startLoad();
  });

  afterEach(async () => {
    await stopBackground();
  });

  /** Waits until `n` more applies were acknowledged (the applier runs meanwhile). */
  async function ackedMore(n: number, what: string): Promise<void> {
    const target = acked.length + n;
    await eventually(
      () => (acked.length >= target ? true : undefined),
      `${n} acknowledged applies ${what}`,
      CONVERGE_BOUND_MS,
    );
  }

  test('kill -9 of the rollout leader during a rollout: the other replica carries it to promotion', async () => {
    const [a] = replicas as [Replica, Replica];
    const generation = nextGeneration++;
    const started = await ferryctl(
      a.cp.apiUrl,
      ['apply', '-f', '-', '--stages', '1,100%', '--bake', '3s'],
      JSON.stringify(generationRoutes(generation)),
    );
    assert.equal(started.code, 0, started.stderr);
    const name = /rollout (rollout-\d+)/.exec(started.stdout)?.[1];
    assert.ok(name, started.stdout);
    // Either replica may drive: it sums both replicas' tallies of their proxies.
    const holder = await rolloutLeaseHolder();
    // --leader-lease-ttl-ms 3000 bounds the driver's lease too: the survivor takes over after it.
    assert.equal(
      await rolloutLeaseTtlSeconds(),
      3,
      'the rollout lease lasts --leader-lease-ttl-ms',
    );
    // Stage 1 reached (one proxy on the candidate), then the leader dies mid-rollout.
    await eventually(async () => {
      const res = await request(`${holder.cp.apiUrl}/v1/rollouts`);
      const r = (
        JSON.parse(res.body) as { rollouts: { name: string; updated_nodes: string[] }[] }
      ).rollouts.find((x) => x.name === name);
      if (!r) throw new Error(`no rollout ${name} in ${res.body}`);
      if (r.updated_nodes.length === 0) throw new Error(res.body);
      return true;
    }, 'stage 1 reached');
    await holder.cp.kill();
    const survivor = replicas.find((r) => r !== holder)!;
    const done = await eventually(
      async () => {
        const res = await request(`${survivor.cp.apiUrl}/v1/rollouts`);
        const r = (
          JSON.parse(res.body) as { rollouts: { name: string; state: string; reason: string }[] }
        ).rollouts.find((x) => x.name === name);
        return r && r.state !== 'PROGRESSING' ? r : undefined;
      },
      'the rollout finished by the surviving replica',
      CONVERGE_BOUND_MS,
    );
    assert.equal(done.state, 'PROMOTED', `rollout ended ${done.state}: ${done.reason}`);
    holder.cp = await startReplica(holder.id, holder.xdsPort);
    assert.equal(await storedGeneration(survivor), generation);
    await verifyRecovered('rollout leader killed');
  });

  test('kill -9 of an etcd follower: applies go on, nothing is lost', async () => {
    applyThrough = [...replicas];
    startApplier();
    await ackedMore(2, 'before the kill');
    const leader = await etcdLeader();
    const follower = etcd.members.find((_m, i) => i !== leader)!;
    await follower.kill();
    await ackedMore(3, 'with a follower down');
    await follower.start();
    await ackedMore(2, 'after it rejoined');
    await verifyRecovered('etcd follower killed');
  });

  test('kill -9 of the etcd leader: a new leader is elected, applies resume, nothing is lost', async () => {
    applyThrough = [...replicas];
    startApplier();
    await ackedMore(2, 'before the kill');
    const leader = etcd.members[await etcdLeader()]!;
    await leader.kill();
    await ackedMore(3, 'with the old leader down');
    await leader.start();
    await ackedMore(2, 'after it rejoined');
    await verifyRecovered('etcd leader killed');
  });

  test('kill -9 of the replica the proxies use: they fail over and keep serving', async () => {
    const used = await proxiesOn();
    const other = replicas.find((r) => r !== used)!;
    applyThrough = [other];
    startApplier();
    await ackedMore(1, 'before the kill');
    await used.cp.kill();
    await proxiesOn(other);
    await ackedMore(3, 'with the replica down');
    used.cp = await startReplica(used.id, used.xdsPort);
    applyThrough = [...replicas];
    await ackedMore(2, 'after it restarted');
    await verifyRecovered('replica killed');
  });

  test('SIGSTOP of the replica the proxies use: they notice by keepalive and fail over, take applies through the other; SIGCONT: no stale or invented version', async () => {
    const used = await proxiesOn();
    const other = replicas.find((r) => r !== used)!;
    const usedTarget = `127.0.0.1:${used.xdsPort}`;
    const otherTarget = `127.0.0.1:${other.xdsPort}`;
    applyThrough = [other];
    startApplier();
    await ackedMore(1, 'before the stop');
    // Earlier cases logged failovers too: only what is logged from here on counts.
    const logsBefore = proxies.map((p) => p.logs.length);
    used.cp.proc.kill('SIGSTOP');
    try {
      // Its connections stay open (the kernel still accepts bytes for a stopped process): only
      // the keepalive of the proxies' xDS connection, unanswered PINGs, tells them to move.
      await proxiesOn(other, KEEPALIVE_FAILOVER_BOUND_MS);
      await ackedMore(3, 'while the replica is stopped');
      // What was applied through the other reaches them while the first is still stopped.
      const newest = await storedGeneration(other);
      for (let i = 0; i < PROXY_COUNT; i++)
        await eventually(
          async () => ((await generationServed(i)) >= newest ? true : undefined),
          `proxy ${i} serving generation ${newest} from the other replica`,
          CONVERGE_BOUND_MS,
        );
      for (const [i, proxy] of proxies.entries()) {
        const failover = proxy.logs
          .slice(logsBefore[i])
          .flatMap((line) => {
            try {
              return [JSON.parse(line) as Json];
            } catch {
              return [];
            }
          })
          .find((l) => l.target === usedTarget && l.next_target === otherTarget);
        assert.ok(failover, `proxy ${i} logged its failover from ${usedTarget} to ${otherTarget}`);
        assert.match(String(failover.reason), /keepalive PING unanswered/, `proxy ${i}'s reason`);
      }
    } finally {
      used.cp.proc.kill('SIGCONT');
    }
    applyThrough = [...replicas];
    await ackedMore(2, 'after it resumed');
    await verifyRecovered('replica stopped and resumed');
    assert.equal(await proxiesOn(), other, 'they stay on the replica that answered');
  });
});
