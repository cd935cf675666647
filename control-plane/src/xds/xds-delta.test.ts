import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  CDS,
  cluster,
  del,
  DeltaClient,
  deltaNames,
  EDS,
  endpoints,
  LDS,
  listener,
  node,
  put,
  RDS,
  route,
  startHarness,
  type Harness,
} from './test-support.js';

void describe('xDS delta on ADS', () => {
  let h: Harness;
  const clients: DeltaClient[] = [];
  const connect = (): DeltaClient => {
    const c = new DeltaClient(h.address);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.close();
  });

  void test('an initial empty CDS subscribe is a wildcard: every cluster with name and version', async () => {
    const c1 = cluster('c1');
    await h.store.apply(put('default', c1, cluster('c2')));
    const c = connect();
    c.request(CDS, { node: node('n1') });
    const r = await c.expect(CDS);
    assert.deepEqual(deltaNames(r), ['c1', 'c2']);
    const first = r.resources?.find((x) => x.name === 'c1');
    assert.ok(first?.resource);
    assert.equal(first.version, c1.version);
    assert.equal(first.resource.type_url, CDS);
    assert.deepEqual(Buffer.from(first.resource.value), Buffer.from(c1.bytes));
    assert.equal(r.system_version_info, h.cache.snapshot('default', CDS).version);
    assert.notEqual(r.nonce, '');
  });

  void test('subscribe and unsubscribe by name; an unsubscribed resource is no longer pushed', async () => {
    await h.store.apply(put('default', endpoints('c1'), endpoints('c2')));
    const c = connect();
    c.request(EDS, { node: node('n1'), resource_names_subscribe: ['c1'] });
    const r = await c.expect(EDS);
    assert.deepEqual(deltaNames(r), ['c1']);
    c.ack(r);
    c.request(EDS, { resource_names_subscribe: ['c2'], response_nonce: r.nonce });
    assert.deepEqual(deltaNames(await c.expect(EDS)), ['c2']);
    c.request(EDS, { resource_names_unsubscribe: ['c1'] });
    await c.barrier(); // the server has processed the unsubscribe
    await h.store.apply(put('default', endpoints('c1', [9999])));
    await c.barrier();
    await h.store.apply(put('default', endpoints('c2', [9999])));
    assert.deepEqual(deltaNames(await c.expect(EDS)), ['c2']);
  });

  void test('a subscribed name that does not exist is answered in removed_resources, then pushed when created', async () => {
    const c = connect();
    c.request(RDS, { node: node('n1'), resource_names_subscribe: ['r1'] });
    const r = await c.expect(RDS);
    assert.deepEqual(deltaNames(r), []);
    assert.deepEqual(r.removed_resources, ['r1']);
    c.ack(r);
    await h.store.apply(put('default', route('r1', 'c1')));
    assert.deepEqual(deltaNames(await c.expect(RDS)), ['r1']);
  });

  void test('a deleted resource is reported in removed_resources', async () => {
    await h.store.apply(put('default', listener('l1', 'r1'), listener('l2', 'r1', 10001)));
    const c = connect();
    c.request(LDS, { node: node('n1') });
    c.ack(await c.expect(LDS));
    await h.store.apply(del('default', LDS, 'l1'));
    const r = await c.expect(LDS);
    assert.deepEqual(deltaNames(r), []);
    assert.deepEqual(r.removed_resources, ['l1']);
  });

  void test('initial_resource_versions: equal versions are not resent, changed ones are, vanished ones are removed', async () => {
    const same = cluster('same');
    await h.store.apply(
      put('default', same, cluster('changed', { connectTimeoutSeconds: 5 }), cluster('fresh')),
    );
    const c = connect();
    c.request(CDS, {
      node: node('n1'),
      resource_names_subscribe: ['*'],
      initial_resource_versions: { same: same.version, changed: 'old-version', gone: 'v1' },
    });
    const r = await c.expect(CDS);
    assert.deepEqual(deltaNames(r), ['changed', 'fresh']);
    assert.deepEqual(r.removed_resources, ['gone']);
  });

  void test('a named subscribe with a matching initial version is answered without resending it', async () => {
    const c1 = endpoints('c1');
    await h.store.apply(put('default', c1, endpoints('c2')));
    const c = connect();
    c.request(EDS, {
      node: node('n1'),
      resource_names_subscribe: ['c1', 'c2'],
      initial_resource_versions: { c1: c1.version },
    });
    const r = await c.expect(EDS);
    assert.deepEqual(deltaNames(r), ['c2']);
    assert.deepEqual(r.removed_resources ?? [], []);
  });

  void test('a NACK is recorded, the rejected resource is not resent, and an ACK of the fix clears it', async () => {
    await h.store.apply(put('default', cluster('c1')));
    const c = connect();
    c.request(CDS, { node: node('n1') });
    const bad = await c.expect(CDS);
    c.nack(bad, 'c1: unsupported lb_policy');
    await c.barrier();
    let status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === CDS);
    assert.equal(status?.lastNack?.error, 'c1: unsupported lb_policy');
    assert.equal(status?.lastNack?.version, bad.system_version_info);
    assert.deepEqual(status?.lastNack?.resources, ['c1']);
    await h.store.apply(put('default', endpoints('c1')));
    await c.barrier();
    await h.store.apply(put('default', cluster('c1', { connectTimeoutSeconds: 3 })));
    const fixed = await c.expect(CDS);
    assert.deepEqual(deltaNames(fixed), ['c1']);
    c.ack(fixed);
    await c.barrier();
    status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === CDS);
    assert.equal(status?.lastNack, undefined);
    assert.equal(status?.versionAcked, fixed.system_version_info);
  });

  void test('a NACK records only the resources of the rejected response', async () => {
    await h.store.apply(put('default', cluster('c1')));
    const c = connect();
    c.request(CDS, { node: node('n1') });
    c.ack(await c.expect(CDS));
    await h.store.apply(put('default', cluster('c2'), cluster('c3')));
    const update = await c.expect(CDS);
    assert.deepEqual(deltaNames(update), ['c2', 'c3']);
    c.nack(update, 'c3: bad');
    await c.barrier();
    const status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === CDS);
    assert.deepEqual([...(status?.lastNack?.resources ?? [])].sort(), ['c2', 'c3']);
  });

  void test('a stale nonce does not count as ACK, but its subscription change applies', async () => {
    await h.store.apply(put('default', endpoints('c1'), endpoints('c2')));
    const c = connect();
    c.request(EDS, { node: node('n1'), resource_names_subscribe: ['c1'] });
    const first = await c.expect(EDS);
    await h.store.apply(put('default', endpoints('c1', [7000])));
    await c.expect(EDS);
    c.request(EDS, { response_nonce: first.nonce, resource_names_subscribe: ['c2'] });
    assert.deepEqual(deltaNames(await c.expect(EDS)), ['c2']);
    const status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === EDS);
    assert.equal(status?.versionAcked, '');
  });

  void test('a multi-type change sends updates in make-before-break order and removals last', async () => {
    await h.store.apply(put('default', cluster('old'), route('r1', 'old')));
    const c = connect();
    c.request(CDS, { node: node('n1') });
    c.ack(await c.expect(CDS));
    c.request(RDS, { resource_names_subscribe: ['r1'] });
    c.ack(await c.expect(RDS));
    await h.store.apply([
      ...put('default', route('r1', 'new'), cluster('new')),
      ...del('default', CDS, 'old'),
    ]);
    const a = await c.next();
    const b = await c.next();
    const d = await c.next();
    assert.deepEqual([a.type_url, b.type_url, d.type_url], [CDS, RDS, CDS]);
    assert.deepEqual(deltaNames(a), ['new']);
    assert.deepEqual(a.removed_resources ?? [], []);
    assert.deepEqual(d.removed_resources, ['old']);
  });
});
