import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { combinedVersion } from '@ferry/proto';
import {
  CDS,
  cluster,
  del,
  EDS,
  endpoints,
  LDS,
  listener,
  node,
  put,
  RDS,
  route,
  SotwClient,
  startHarness,
  namesOf,
  type Harness,
} from './test-support.js';

void describe('xDS SotW on ADS', () => {
  let h: Harness;
  const clients: SotwClient[] = [];
  const connect = (): SotwClient => {
    const c = new SotwClient(h.address);
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

  void test('first request of each type is answered with the current resources and a content version', async () => {
    const l1 = listener('l1', 'r1');
    const l2 = listener('l2', 'r2', 10001);
    await h.store.apply([...put('default', l1, l2, cluster('c1'))]);
    const c = connect();
    c.request(LDS, [], { node: node('n1') });
    const lds = await c.expect(LDS);
    assert.deepEqual(namesOf(lds), ['l1', 'l2']);
    assert.equal(
      lds.version_info,
      combinedVersion([
        ['l1', l1.version],
        ['l2', l2.version],
      ]),
    );
    assert.notEqual(lds.nonce, '');
    assert.equal(lds.control_plane?.identifier, 'test');
    c.request(CDS, []);
    const cds = await c.expect(CDS);
    assert.deepEqual(namesOf(cds), ['c1']);
    assert.notEqual(cds.nonce, lds.nonce);
  });

  void test('an ACK does not trigger a resend', async () => {
    await h.store.apply(put('default', cluster('c1')));
    const c = connect();
    c.request(CDS, [], { node: node('n1') });
    const cds = await c.expect(CDS);
    c.ack(cds, []);
    await c.barrier();
    const status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === CDS);
    assert.equal(status?.versionAcked, cds.version_info);
    assert.equal(status?.versionSent, cds.version_info);
  });

  void test('a NACK is recorded with its error_detail, the rejected version is not resent, a corrected apply is pushed and its ACK clears the NACK', async () => {
    await h.store.apply(put('default', cluster('c1')));
    const c = connect();
    c.request(CDS, [], { node: node('n1', 'default') });
    const bad = await c.expect(CDS);
    c.nack(bad, [], 'cluster c1: unsupported field');
    await c.barrier();
    let status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === CDS);
    assert.equal(status?.lastNack?.version, bad.version_info);
    assert.equal(status?.lastNack?.error, 'cluster c1: unsupported field');
    assert.deepEqual(status?.lastNack?.resources, ['c1']);
    assert.equal(status?.versionAcked, '');

    // An unrelated change elsewhere does not bring the rejected CDS version back.
    await h.store.apply(put('default', endpoints('c1')));
    await c.barrier();

    await h.store.apply(put('default', cluster('c1', { connectTimeoutSeconds: 2 })));
    const fixed = await c.expect(CDS);
    assert.notEqual(fixed.version_info, bad.version_info);
    c.ack(fixed, []);
    await c.barrier();
    status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === CDS);
    assert.equal(status?.versionAcked, fixed.version_info);
    assert.equal(status?.lastNack, undefined);
  });

  void test('a NACK records the names of the resources the rejected response carried', async () => {
    await h.store.apply(put('default', route('r1', 'c1'), route('r2', 'c1'), route('r3', 'c1')));
    const c = connect();
    c.request(RDS, ['r1', 'r3', 'missing'], { node: node('n1') });
    const bad = await c.expect(RDS);
    c.nack(bad, ['r1', 'r3', 'missing'], 'r3: bad');
    await c.barrier();
    const nack = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === RDS)?.lastNack;
    assert.deepEqual([...(nack?.resources ?? [])].sort(), ['r1', 'r3']);
  });

  void test('a NACKed version is not resent when the client asks for more names, only changed content is', async () => {
    await h.store.apply(put('default', route('r1', 'c1')));
    const c = connect();
    c.request(RDS, ['r1'], { node: node('n1') });
    const bad = await c.expect(RDS);
    c.nack(bad, ['r1'], 'r1: bad');
    // Still on the previous version (none), asking for one more name that does not exist yet.
    c.send({
      type_url: RDS,
      resource_names: ['r1', 'r2'],
      version_info: '',
      response_nonce: bad.nonce,
    });
    await c.barrier();
    assert.equal(
      h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === RDS)?.lastNack?.error,
      'r1: bad',
    );
    await h.store.apply(put('default', route('r2', 'c1')));
    const next = await c.expect(RDS);
    assert.deepEqual(namesOf(next), ['r1', 'r2']);
  });

  void test('a request with a stale nonce is ignored', async () => {
    await h.store.apply(put('default', route('r1', 'c1'), route('r2', 'c1')));
    const c = connect();
    c.request(RDS, ['r1'], { node: node('n1') });
    const first = await c.expect(RDS);
    await h.store.apply(put('default', route('r1', 'c2')));
    const second = await c.expect(RDS);
    assert.notEqual(second.nonce, first.nonce);
    // The client answers the first response late: stale, so r2 is not sent and no ACK is recorded.
    c.send({
      type_url: RDS,
      resource_names: ['r1', 'r2'],
      version_info: first.version_info,
      response_nonce: first.nonce,
    });
    await c.barrier();
    const status = h.fleet.nodes()[0]?.types.find((t) => t.typeUrl === RDS);
    assert.equal(status?.versionAcked, '');
  });

  void test('newly requested names are answered even when no version changed', async () => {
    await h.store.apply(put('default', route('r1', 'c1'), route('r2', 'c1')));
    const c = connect();
    c.request(RDS, ['r1'], { node: node('n1') });
    const first = await c.expect(RDS);
    c.ack(first, ['r1']);
    c.request(RDS, ['r1', 'r2']);
    const both = await c.expect(RDS);
    assert.deepEqual(namesOf(both), ['r1', 'r2']);
    c.ack(both, ['r1', 'r2']);
    // A name that does not exist changes nothing on the wire, yet the request is answered.
    c.request(RDS, ['r1', 'r2', 'missing']);
    const again = await c.expect(RDS);
    assert.equal(again.version_info, both.version_info);
    assert.notEqual(again.nonce, both.nonce);
  });

  void test('a requested name that does not exist yet is pushed when it appears', async () => {
    const c = connect();
    c.request(EDS, ['c1'], { node: node('n1') });
    const empty = await c.expect(EDS);
    assert.deepEqual(namesOf(empty), []);
    c.ack(empty, ['c1']);
    await h.store.apply(put('default', endpoints('c1')));
    const pushed = await c.expect(EDS);
    assert.deepEqual(namesOf(pushed), ['c1']);
  });

  void test('LDS and CDS carry the full set; absence means deletion', async () => {
    await h.store.apply(put('default', cluster('c1'), cluster('c2')));
    const c = connect();
    c.request(CDS, [], { node: node('n1') });
    const cds = await c.expect(CDS);
    assert.deepEqual(namesOf(cds), ['c1', 'c2']);
    c.ack(cds, []);
    await h.store.apply(put('default', cluster('c3')));
    assert.deepEqual(namesOf(await c.expect(CDS)), ['c1', 'c2', 'c3']);
    await h.store.apply(del('default', CDS, 'c1'));
    assert.deepEqual(namesOf(await c.expect(CDS)), ['c2', 'c3']);
  });

  void test('explicit "*" on RDS is a wildcard', async () => {
    await h.store.apply(put('default', route('r1', 'c1'), route('r2', 'c1')));
    const c = connect();
    c.request(RDS, ['*'], { node: node('n1') });
    assert.deepEqual(namesOf(await c.expect(RDS)), ['r1', 'r2']);
  });

  void test('RDS and EDS carry only the requested names, and others changing pushes nothing', async () => {
    await h.store.apply(put('default', endpoints('c1'), endpoints('c2'), endpoints('c3')));
    const c = connect();
    c.request(EDS, ['c1'], { node: node('n1') });
    const eds = await c.expect(EDS);
    assert.deepEqual(namesOf(eds), ['c1']);
    c.ack(eds, ['c1']);
    await h.store.apply(put('default', endpoints('c2', [9090])));
    await c.barrier();
    await h.store.apply(put('default', endpoints('c1', [9090])));
    assert.deepEqual(namesOf(await c.expect(EDS)), ['c1']);
  });

  void test('a multi-type change is pushed make-before-break: CDS, EDS, LDS, RDS, removals last', async () => {
    await h.store.apply(
      put('default', cluster('old'), endpoints('old'), listener('l1', 'r1'), route('r1', 'old')),
    );
    const c = connect();
    const subscribe = async (typeUrl: string, names: string[]): Promise<void> => {
      c.request(typeUrl, names, c.nonces.size === 0 ? { node: node('n1') } : {});
      c.ack(await c.expect(typeUrl), names);
    };
    await subscribe(CDS, []);
    await subscribe(EDS, ['old', 'new']);
    await subscribe(LDS, []);
    await subscribe(RDS, ['r1']);
    await h.store.apply([
      ...put(
        'default',
        route('r1', 'new'),
        listener('l1', 'r1', 10002),
        endpoints('new'),
        cluster('new'),
      ),
      ...del('default', CDS, 'old'),
    ]);
    const responses = [];
    for (let i = 0; i < 5; i++) responses.push(await c.next());
    assert.deepEqual(
      responses.map((r) => r.type_url),
      [CDS, EDS, LDS, RDS, CDS],
    );
    // The first CDS keeps "old" until the route has moved away from it; the last one removes it.
    assert.deepEqual(namesOf(responses[0] ?? {}), ['new', 'old']);
    assert.deepEqual(namesOf(responses[4] ?? {}), ['new']);
    await c.barrier();
  });

  void test('an unknown type URL gets no answer', async () => {
    const c = connect();
    c.request('type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig', ['x'], {
      node: node('n1'),
    });
    await c.barrier();
  });

  void test('nodes only see the resources of their group (node.cluster)', async () => {
    await h.store.apply([...put('default', cluster('d1')), ...put('edge', cluster('e1'))]);
    const a = connect();
    a.request(CDS, [], { node: node('a', 'edge') });
    assert.deepEqual(namesOf(await a.expect(CDS)), ['e1']);
    const b = connect();
    b.request(CDS, [], { node: node('b') });
    assert.deepEqual(namesOf(await b.expect(CDS)), ['d1']);
    const groups = Object.fromEntries(h.fleet.nodes().map((n) => [n.nodeId, n.group]));
    assert.deepEqual(groups, { a: 'edge', b: 'default' });
  });
});
