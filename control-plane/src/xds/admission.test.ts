import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import type { Logger } from '@ferry/shared';
import type { LiteStatus } from '../grpc-lite/server-call.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { xdsAccessRefusals } from '../metrics/xds-access-metrics.js';
import { AccessPolicy, compilePolicy } from './access-policy.js';
import { Admission, type AdmissionCall } from './admission.js';

/**
 * One call as the gRPC server drives its gate: `open` before the handler, each message through
 * `message` until the call has a status, `ended` once when it gets one.
 */
class FakeCall implements AdmissionCall {
  gateState: unknown = undefined;
  status: LiteStatus | undefined;
  readonly handled: unknown[] = [];
  constructor(
    private readonly admission: Admission,
    private readonly path: string,
    private readonly subjectaltname: string | undefined,
    readonly metadata: Metadata,
  ) {}
  getPath(): string {
    return this.path;
  }
  sendStatus(outcome: LiteStatus): void {
    if (this.status !== undefined) return;
    this.status = outcome;
    this.admission.ended(this);
  }
  /** A request message from the client. */
  send(message: unknown): void {
    if (this.status !== undefined) return;
    if (this.admission.message(this, message)) this.handled.push(message);
  }
  getPeer(): string {
    return '127.0.0.1:40000';
  }
  getAuthContext() {
    return this.subjectaltname === undefined
      ? {}
      : {
          transportSecurityType: 'ssl',
          sslPeerCertificate: { subjectaltname: this.subjectaltname } as never,
        };
  }
}

function harness(policy: AccessPolicy) {
  const registry = new MetricsRegistry();
  const refusals = xdsAccessRefusals(registry);
  const logs: Array<Record<string, unknown>> = [];
  const logger = {
    warn: (fields: Record<string, unknown>, msg: string) => logs.push({ ...fields, msg }),
  } as unknown as Logger;
  const admission = new Admission({ policy, logger, refused: refusals });
  /** Opens a call of `path`: returns the call, which records what reached the handler. */
  const open = (path: string, subjectaltname: string | undefined, metadata = new Metadata()) => {
    const call = new FakeCall(admission, path, subjectaltname, metadata);
    admission.open(call);
    return { call, handled: call.handled };
  };
  return { admission, open, logs, count: (reason: string) => refusals(reason).get() };
}

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const HDS = '/envoy.service.health.v3.HealthDiscoveryService/StreamHealthCheck';
const WEB_1 = 'URI:spiffe://ferry/group/web/node/web-1';

describe('Admission', () => {
  const flags = () =>
    new AccessPolicy({ groupFromSan: ['spiffe://ferry/group/{group}/node/{node}'] });

  test('RateLimitService calls are admitted for the group and node of their metadata', () => {
    const h = harness(flags());
    const RLS = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';
    const claim = (group: string, node: string) => {
      const md = new Metadata();
      md.set('x-ferry-group', group);
      md.set('x-ferry-node', node);
      return md;
    };
    const ok = h.open(RLS, WEB_1, claim('web', 'web-1'));
    ok.call.send({ domain: 'edge' });
    assert.equal(ok.handled.length, 1);
    assert.equal(ok.call.status, undefined);
    const other = h.open(RLS, WEB_1, claim('db', 'web-1'));
    other.call.send({ domain: 'edge' });
    assert.equal(other.handled.length, 0);
    assert.equal(other.call.status?.code, status.PERMISSION_DENIED);
    assert.match(String(other.call.status?.details), /may not join group "db" as node "web-1"/);
    // No metadata: group "default", node "".
    const none = h.open(RLS, WEB_1);
    none.call.send({ domain: 'edge' });
    assert.equal(none.handled.length, 0);
    assert.match(String(none.call.status?.details), /may not join group "default" as node ""/);
  });

  test('forwards the messages of an admitted call, refuses another group before the handler sees it', () => {
    const h = harness(flags());
    const ok = h.open(ADS, WEB_1);
    ok.call.send({ node: { id: 'web-1', cluster: 'web' } });
    ok.call.send({ type_url: 'x' });
    assert.equal(ok.handled.length, 2);
    assert.equal(ok.call.status, undefined);

    const other = h.open(ADS, WEB_1);
    other.call.send({ node: { id: 'web-1', cluster: 'db' } });
    assert.equal(other.handled.length, 0);
    assert.equal(other.call.status?.code, status.PERMISSION_DENIED);
    assert.match(
      String(other.call.status?.details),
      /identity spiffe:\/\/ferry\/group\/web\/node\/web-1 may not join group "db" as node "web-1"/,
    );
    assert.equal(h.count('group'), 1);
    assert.deepEqual(
      { ...h.logs[0], msg: undefined },
      {
        event: 'xds_access_refused',
        reason: 'group',
        identity: ['spiffe://ferry/group/web/node/web-1'],
        group: 'db',
        node: 'web-1',
        method: ADS,
        peer: '127.0.0.1:40000',
        msg: undefined,
      },
    );
  });

  test('a call without a node is group "default", node ""', () => {
    const h = harness(flags());
    const c = h.open(ADS, WEB_1);
    c.call.send({ type_url: 'x' });
    assert.match(String(c.call.status?.details), /may not join group "default" as node ""/);
  });

  test('HDS carries the node in health_check_request', () => {
    const h = harness(flags());
    const c = h.open(HDS, WEB_1);
    c.call.send({
      health_check_request: { node: { id: 'web-1', cluster: 'db' } },
    });
    assert.equal(c.call.status?.code, status.PERMISSION_DENIED);
    const d = h.open(HDS, WEB_1);
    d.call.send({
      health_check_request: { node: { id: 'web-1', cluster: 'web' } },
    });
    d.call.send({ endpoint_health_response: {} });
    assert.equal(d.handled.length, 2);
  });

  test('a later message naming another node ends the call', () => {
    const h = harness(flags());
    const c = h.open(ADS, WEB_1);
    c.call.send({ node: { id: 'web-1', cluster: 'web' } });
    c.call.send({ node: { id: 'web-2', cluster: 'web' } });
    assert.equal(c.handled.length, 1);
    assert.equal(c.call.status?.code, status.PERMISSION_DENIED);
    assert.equal(h.count('node_changed'), 1);
  });

  test('a certificate without SAN URI or DNS name is UNAUTHENTICATED', () => {
    const h = harness(flags());
    const c = h.open(ADS, 'IP Address:10.0.0.1');
    assert.equal(c.call.status?.code, status.UNAUTHENTICATED);
    assert.equal(h.count('no_identity'), 1);
  });

  test('CSDS needs an admin identity', () => {
    const h = harness(new AccessPolicy({ adminSan: ['spiffe://ferry/admin/*'] }));
    const csds = '/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus';
    assert.equal(h.open(csds, WEB_1).call.status?.code, status.PERMISSION_DENIED);
    const admin = h.open(csds, 'URI:spiffe://ferry/admin/alice');
    assert.equal(admin.call.status, undefined);
    admin.call.send({});
    assert.equal(admin.handled.length, 1);
  });

  test('forwarded rate limit checks are admitted from --xds-admin-san identities only', () => {
    const h = harness(
      new AccessPolicy({
        groupFromSan: ['spiffe://ferry/group/{group}/node/{node}'],
        adminSan: ['control-plane.ferry.test'],
      }),
    );
    const RLS = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';
    const forwarded = (group: string) => {
      const md = new Metadata();
      md.set('x-ferry-group', group);
      md.set('x-ferry-rls-forwarded', '1');
      return md;
    };
    // A replica acts for any group: the owner counts what another replica was asked.
    const replica = h.open(RLS, 'DNS:control-plane.ferry.test', forwarded('db'));
    replica.call.send({ domain: 'edge' });
    assert.equal(replica.call.status, undefined);
    assert.equal(replica.handled.length, 1);
    // A proxy setting the metadata, even for its own group, is refused before the handler.
    const proxy = h.open(RLS, WEB_1, forwarded('web'));
    proxy.call.send({ domain: 'edge' });
    assert.equal(proxy.handled.length, 0);
    assert.equal(proxy.call.status?.code, status.PERMISSION_DENIED);
    assert.match(String(proxy.call.status?.details), /forwarded by a control-plane replica/);
    assert.equal(h.count('forwarded'), 1);
  });

  test('deleting the policy that admitted a call ends it; other groups are untouched', () => {
    const policy = new AccessPolicy();
    const ops = compilePolicy({ name: 'ops', rules: [{ identities: ['spiffe://ferry/ops/*'] }] });
    if (!ops.ok) assert.fail(ops.errors.join('; '));
    policy.setPolicy('web', 'ops', ops.value);
    policy.setPolicy('db', 'ops', ops.value);
    const h = harness(policy);
    const web = h.open(ADS, 'URI:spiffe://ferry/ops/tool');
    web.call.send({ node: { id: 'x', cluster: 'web' } });
    const db = h.open(ADS, 'URI:spiffe://ferry/ops/tool');
    db.call.send({ node: { id: 'x', cluster: 'db' } });
    h.admission.recheck(new Set(['web', 'db']));
    const statusOf = (c: FakeCall): LiteStatus | undefined => c.status;
    assert.equal(statusOf(web.call), undefined, 'still admitted');
    policy.setPolicy('web', 'ops', undefined);
    h.admission.recheck(new Set(['web']));
    assert.equal(statusOf(web.call)?.code, status.PERMISSION_DENIED);
    assert.match(String(statusOf(web.call)?.details), /access policy changed/);
    assert.equal(db.call.status, undefined);
    assert.equal(h.count('revoked'), 1);
  });

  test('a call that has ended is no longer re-checked', () => {
    const policy = new AccessPolicy();
    const ops = compilePolicy({ name: 'ops', rules: [{ identities: ['spiffe://ferry/ops/*'] }] });
    if (!ops.ok) assert.fail(ops.errors.join('; '));
    policy.setPolicy('web', 'ops', ops.value);
    const h = harness(policy);
    const web = h.open(ADS, 'URI:spiffe://ferry/ops/tool');
    web.call.send({ node: { id: 'x', cluster: 'web' } });
    // The client half-closed and the call ended with OK.
    web.call.sendStatus({ code: status.OK });
    policy.setPolicy('web', 'ops', undefined);
    h.admission.recheck(new Set(['web']));
    assert.equal(web.call.status?.code, status.OK);
    assert.equal(h.count('revoked'), 0);
    assert.equal(h.logs.length, 0);
  });

  test('refusals are always counted; their log lines are capped per second', () => {
    const h = harness(flags());
    for (let i = 0; i < 50; i++) h.admission.handshakeRefused('127.0.0.1:1', new Error('no cert'));
    assert.equal(h.count('handshake'), 50);
    assert.ok(h.logs.length < 50, `${h.logs.length} lines`);
    assert.ok(h.logs.length > 0);
  });
});
