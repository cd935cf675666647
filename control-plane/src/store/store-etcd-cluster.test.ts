/**
 * What the etcd store promises beyond the shared contract, on real etcd: durability across
 * reconnects and restarts, atomic batches larger than one etcd transaction, watches that resume
 * after etcd restarts and after compaction, several store instances (control planes) on one
 * prefix, and no acknowledged apply lost when the leader of a 3-member cluster is killed.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Etcd3 } from 'etcd3';
import { isFerryError } from '@ferry/shared';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import type { Mutation } from './store.js';
import { EtcdStore, type EtcdStoreOptions } from './store-etcd.js';
import { WatchRecorder, del, describeSnapshot, put } from './store-test-fixtures.js';

function open(etcd: EtcdCluster, prefix: string, extra: Partial<EtcdStoreOptions> = {}): EtcdStore {
  return EtcdStore.open({
    endpoints: etcd.endpoints,
    prefix,
    callTimeoutMs: 3000,
    onBackgroundError: () => undefined,
    ...extra,
  });
}

/** Retries `work` until it succeeds or `timeoutMs` passes (a liveness bound while etcd restarts). */
async function untilOk<T>(work: () => Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * A loopback TCP forwarder to `target` that a test can cut (every connection dropped, new ones
 * refused) and restore on the same port: one client loses etcd while others keep it.
 */
class Cuttable {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: string) {}

  async listen(): Promise<void> {
    const [host, port] = this.target.split(':');
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(port), host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

/** `promise`, or a failure naming `what` after `timeoutMs` (a liveness bound, not a speed check). */
async function bounded<T>(promise: Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when etcd counts exactly `expected` watchers (its etcd_debugging_mvcc_watcher_total). */
async function etcdWatchers(etcd: EtcdCluster, expected: number): Promise<void> {
  const metrics = await (await fetch(`http://${etcd.endpoints[0]}/metrics`)).text();
  const count = /^etcd_debugging_mvcc_watcher_total (\d+)$/m.exec(metrics)?.[1];
  if (Number(count) !== expected) throw new Error(`etcd has ${count} watchers, not ${expected}`);
}

/**
 * Two stores on one fresh prefix, as two control planes sharing it: `watching` and `writing`, or
 * (with `cut`) `watching` reaches etcd through a link the test can cut while `writing` keeps it.
 * Everything is closed when `t` ends.
 */
async function storePair(
  t: TestContext,
  etcd: EtcdCluster,
  { cut = false }: { cut?: boolean } = {},
): Promise<{ prefix: string; watching: EtcdStore; writing: EtcdStore; link: Cuttable }> {
  const prefix = `/t/${randomUUID()}`;
  const link = new Cuttable(etcd.endpoints[0]!);
  if (cut) {
    await link.listen();
    t.after(() => link.cut());
  }
  const watching = cut
    ? open(etcd, prefix, { endpoints: [`127.0.0.1:${link.port}`] })
    : open(etcd, prefix);
  const writing = open(etcd, prefix);
  t.after(() => Promise.all([watching.close(), writing.close()]));
  return { prefix, watching, writing, link };
}

/** Compacts etcd's history (physically) through its revision now: what an operator's compaction does. */
async function compactNow(t: TestContext, etcd: EtcdCluster, prefix: string): Promise<void> {
  const raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
  t.after(() => raw.close());
  const now = (await raw.get(`${prefix}/meta/revision`).exec()).header.revision;
  await raw.kv.compact({ revision: now, physical: true });
}

function bigBatch(revision: number, size: number): Mutation[] {
  const padding = 'p'.repeat(2000);
  return Array.from({ length: size }, (_, i) => put(`r-${i}`, `${revision}/${i} ${padding}`));
}

void describe('EtcdStore on one etcd member', { timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  test.before(async () => {
    etcd = await startEtcd();
  });
  test.after(async () => {
    await etcd?.stop();
  });

  void test('an acknowledged apply survives closing the client and an etcd restart', async (t) => {
    const prefix = `/t/${randomUUID()}`;
    const first = open(etcd, prefix);
    await first.apply([put('a', '1'), put('b', '1')], { message: 'm', actor: 'x' });
    await first.apply([del('b')]);
    await first.close();
    await etcd.members[0]!.kill();
    await etcd.members[0]!.start();
    const second = open(etcd, prefix);
    t.after(() => second.close());
    assert.equal(await untilOk(() => second.currentRevision(), 'read after restart'), 2);
    assert.deepEqual(describeSnapshot(await second.list()), ['Cluster default/a v:1 rev=1 1']);
    assert.deepEqual(
      (await second.history()).map((h) => [h.revision, h.message, h.actor]),
      [
        [2, '', ''],
        [1, 'm', 'x'],
      ],
    );
  });

  void test('a batch larger than one etcd transaction is applied whole, listed and replayed', async (t) => {
    const store = open(etcd, `/t/${randomUUID()}`);
    t.after(() => store.close());
    const watcher = new WatchRecorder(store, 0);
    // 3000 resources of ~2 KB: 23 times etcd's 128 operations and 4 times its 1.5 MiB per request.
    const size = 3000;
    await store.apply(bigBatch(1, size));
    const second = [...bigBatch(2, size).slice(0, 1500), del('r-2999')];
    const result = await store.apply(second);
    assert.equal(result.revision, 2);
    assert.equal(result.changes.length, 1501);
    const listed = await store.list();
    assert.equal(listed.revision, 2);
    assert.equal(listed.resources.length, size - 1);
    const byName = new Map(listed.resources.map((r) => [r.name, r]));
    assert.equal(byName.get('r-0')?.revision, 2);
    assert.equal(byName.get('r-1500')?.revision, 1);
    assert.equal(byName.has('r-2999'), false);
    assert.equal((await store.listAt(1)).resources.length, size);
    await watcher.until(2);
    assert.deepEqual(
      watcher.events.map((e) => [e.revision, e.changes.length]),
      [
        [1, size],
        [2, 1501],
      ],
    );
  });

  void test('readers see a committed big batch before its copy into res/ is finished', async (t) => {
    // A writer that dies between its commit and the copy leaves meta/applied behind meta/revision:
    // simulated here by rewinding meta/applied after a big apply.
    const prefix = `/t/${randomUUID()}`;
    const store = open(etcd, prefix);
    t.after(() => store.close());
    await store.apply([put('keep', 'k')]);
    await store.apply(bigBatch(2, 400));
    const raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    t.after(() => raw.close());
    await raw.put(`${prefix}/meta/applied`).value('1');
    for (let i = 0; i < 400; i++)
      await raw.delete().key(`${prefix}/res/${put(`r-${i}`, '').typeUrl}\u0000default\u0000r-${i}`);
    const listed = await store.list();
    assert.equal(listed.revision, 2);
    assert.equal(listed.resources.length, 401);
    // The next apply finishes the copy first, then commits on top.
    assert.equal((await store.apply([put('after', 'a')])).revision, 3);
    assert.equal(await raw.get(`${prefix}/meta/applied`).string(), '3');
    assert.equal((await store.list()).resources.length, 402);
  });

  void test('a watch resumes after etcd restarts and sees every revision once', async (t) => {
    const { watching, writing } = await storePair(t, etcd);
    const watcher = new WatchRecorder(watching, 0);
    await writing.apply([put('a', '1')]);
    await watcher.until(1);
    await etcd.members[0]!.kill();
    await etcd.members[0]!.start();
    await untilOk(() => writing.apply([put('a', '2')]), 'apply after restart');
    await writing.apply([put('a', '3')]);
    await watcher.until(3);
    assert.deepEqual(watcher.revisions, [1, 2, 3]);
  });

  void test('a watch resumes after etcd compacts away the revision it would resume from', async (t) => {
    const { prefix, watching, writing } = await storePair(t, etcd);
    const watcher = new WatchRecorder(watching, 0);
    await writing.apply([put('a', '1')]);
    await watcher.until(1);
    // While etcd is down the watch cannot follow; meanwhile history it would resume from is
    // written and compacted.
    await etcd.members[0]!.kill();
    await etcd.members[0]!.start();
    for (let i = 2; i <= 5; i++) await untilOk(() => writing.apply([put('a', String(i))]), 'apply');
    await compactNow(t, etcd, prefix);
    await writing.apply([put('a', '6')]);
    await watcher.until(6);
    assert.deepEqual(watcher.revisions, [1, 2, 3, 4, 5, 6]);
    // History and listAt come from Ferry's log, which compaction does not touch.
    assert.equal((await watching.history()).length, 6);
    assert.deepEqual(describeSnapshot(await watching.listAt(2)), ['Cluster default/a v:2 rev=2 2']);
    // A new watch from 0 replays the compacted past from the log.
    const late = new WatchRecorder(watching, 0);
    await late.until(6);
    assert.deepEqual(late.revisions, [1, 2, 3, 4, 5, 6]);
  });

  void test('a watch cut off while its resume revision is compacted starts over and keeps delivering', async (t) => {
    const { prefix, watching, writing, link } = await storePair(t, etcd, { cut: true });
    const watcher = new WatchRecorder(watching, 0);
    await writing.apply([put('a', '1')]);
    await watcher.until(1);
    await untilOk(() => etcdWatchers(etcd, 1), 'the etcd watch');
    // Only the watching store loses etcd; revisions are written and compacted meanwhile, so the
    // etcd watch cannot resume where it stopped.
    await link.cut();
    await untilOk(() => etcdWatchers(etcd, 0), 'etcd to drop the watch');
    for (let i = 2; i <= 4; i++) await writing.apply([put('a', String(i))]);
    await compactNow(t, etcd, prefix);
    await link.listen();
    // The etcd watch is back (etcd cancels the one resuming from a compacted revision at once;
    // the store starts another), then later revisions still arrive through it.
    await untilOk(() => etcdWatchers(etcd, 1), 'the etcd watch re-established');
    await bounded(watcher.until(4), 'revision 4 after the reconnect');
    for (const revision of [5, 6]) {
      await writing.apply([put('a', String(revision))]);
      await bounded(watcher.until(revision), `revision ${revision} through the new etcd watch`);
    }
    assert.deepEqual(watcher.revisions, [1, 2, 3, 4, 5, 6]);
    await untilOk(() => etcdWatchers(etcd, 1), 'exactly one etcd watch left');
  });

  void test('a watch cut off while the log is trimmed past its cursor resumes with a reset, not a gap', async (t) => {
    const { prefix, watching, writing, link } = await storePair(t, etcd, { cut: true });
    const watcher = new WatchRecorder(watching, 0);
    await writing.apply([put('a', '1'), put('gone', '1')]);
    await watcher.until(1);
    await untilOk(() => etcdWatchers(etcd, 1), 'the etcd watch');
    await link.cut();
    await untilOk(() => etcdWatchers(etcd, 0), 'etcd to drop the watch');
    // Meanwhile another control plane applies, trims past the watcher's cursor, and etcd compacts.
    await writing.apply([put('a', '2')]);
    await writing.apply([del('gone')]);
    await writing.apply([put('b', '1')]);
    await writing.apply([put('a', '5')]);
    assert.deepEqual(await writing.trimHistory({ throughRevision: 4, maxRevisions: 10 }), {
      base: 4,
      trimmed: 4,
    });
    await compactNow(t, etcd, prefix);
    await link.listen();
    await bounded(watcher.until(5), 'revision 5 after the reconnect');
    await writing.apply([put('c', '1')]);
    await bounded(watcher.until(6), 'revision 6 live');
    assert.deepEqual(watcher.revisions, [1, 4, 5, 6]);
    assert.deepEqual(
      watcher.events.map((e) => e.reset === true),
      [false, true, false, false],
    );
    assert.deepEqual(watcher.events[1]!.changes.map((m) => `${m.op} ${m.name}`).sort(), [
      'put a',
      'put b',
    ]);
  });

  void test('two control planes on one prefix: concurrent applies, one wins, the other conflicts', async (t) => {
    const { watching: a, writing: b } = await storePair(t, etcd);
    const watchA = new WatchRecorder(a, 0);
    const watchB = new WatchRecorder(b, 0);
    await a.apply([put('x', '0')]);
    for (let round = 0; round < 10; round++) {
      const expectedRevision = await a.currentRevision();
      const outcomes = await Promise.allSettled([
        a.apply([put('x', `a${round}`)], { expectedRevision }),
        b.apply([put('x', `b${round}`)], { expectedRevision }),
      ]);
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o) => o.status === 'rejected');
      assert.equal(won.length, 1, `round ${round}`);
      const reason = (lost[0] as PromiseRejectedResult).reason as unknown;
      assert.ok(isFerryError(reason) && reason.code === 'FERRY_CONFLICT', String(reason));
    }
    // Without expectedRevision both land, one after the other.
    await Promise.all([a.apply([put('y', 'a')]), b.apply([put('z', 'b')])]);
    const last = await a.currentRevision();
    assert.equal(last, 13);
    await Promise.all([watchA.until(last), watchB.until(last)]);
    const expected = Array.from({ length: last }, (_, i) => i + 1);
    assert.deepEqual(watchA.revisions, expected);
    assert.deepEqual(watchB.revisions, expected);
    assert.deepEqual(watchA.events, watchB.events);
  });

  void test('leases across two control planes: one holder, expiry by etcd, release', async (t) => {
    const { watching: a, writing: b } = await storePair(t, etcd);
    const outcomes = await Promise.all([
      a.acquireLease('acme', 'replica-a', 60_000),
      b.acquireLease('acme', 'replica-b', 60_000),
    ]);
    assert.equal(outcomes.filter((o) => o.held).length, 1);
    const holder = outcomes[0].held ? a : b;
    const holderName = outcomes[0].held ? 'replica-a' : 'replica-b';
    const other = holder === a ? b : a;
    const otherName = holder === a ? 'replica-b' : 'replica-a';
    const refused = await other.acquireLease('acme', otherName, 60_000);
    assert.equal(refused.lease?.holder, holderName);
    await holder.releaseLease('acme', holderName);
    assert.equal((await other.acquireLease('acme', otherName, 1000)).held, true);
    // Not renewed: etcd expires it (its minimum TTL may be longer than asked) and the first
    // holder can take it.
    const taken = await untilOk(async () => {
      const o = await holder.acquireLease('acme', holderName, 60_000);
      if (!o.held) throw new Error(`still held by ${o.lease?.holder}`);
      return o;
    }, 'the lapsed lease is free');
    assert.equal(taken.held, true);
    assert.equal((await other.renewLease('acme', otherName, 60_000)).held, false);
  });
});

void describe('EtcdStore on a 3-member cluster', { timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  test.before(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  test.after(async () => {
    await etcd?.stop();
  });

  void test('killing the leader while applying loses no acknowledged apply', async (t) => {
    const prefix = `/t/${randomUUID()}`;
    const store = open(etcd, prefix);
    t.after(() => store.close());
    const raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    t.after(() => raw.close());
    const acknowledged = new Map<string, number>();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await store.apply([put(`k-${i}`, `v-${i}`)]);
          acknowledged.set(`k-${i}`, r.revision);
        } catch {
          // Unavailable or outcome unknown while the cluster elects: not acknowledged.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    await untilOk(() => {
      if (acknowledged.size < 5) return Promise.reject(new Error('waiting for applies'));
      return Promise.resolve();
    }, 'first applies');
    const leaderMember = await findLeader(raw, etcd);
    await leaderMember.kill();
    const before = acknowledged.size;
    await untilOk(() => {
      if (acknowledged.size < before + 5) {
        return Promise.reject(new Error('waiting for applies after the kill'));
      }
      return Promise.resolve();
    }, 'applies under the new leader');
    stop = true;
    await writer;
    const listed = await store.list();
    const stored = new Map(listed.resources.map((r) => [r.name, r.revision]));
    for (const [name, revision] of acknowledged) {
      assert.equal(stored.get(name), revision, `acknowledged ${name} at ${revision}`);
    }
    // Revisions are gap-free: every one in the log, in order.
    const history = await store.history(10_000);
    assert.deepEqual(
      history.map((h) => h.revision),
      Array.from({ length: listed.revision }, (_, i) => listed.revision - i),
    );
    await leaderMember.start();
  });
});

/** The member that is leader now, by asking each member's status. */
async function findLeader(raw: Etcd3, etcd: EtcdCluster): Promise<EtcdCluster['members'][number]> {
  const members = await raw.cluster.memberList({});
  const status = await raw.maintenance.status();
  const leader = members.members.find((m) => m.ID === status.leader);
  const url = leader?.clientURLs[0] ?? '';
  const member = etcd.members.find((m) => url.endsWith(m.endpoint));
  if (!member)
    throw new Error(`leader ${status.leader} (${url}) is not one of ${etcd.endpoints.join(',')}`);
  return member;
}
