/**
 * Rollouts over the management API: HTTP routes with roles per group (operators act, viewers
 * see), spec errors with their field path, ordinary writes refused during a rollout, and the same
 * over gRPC.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { parseResourceJson } from '@ferry/proto';
import { GrpcClient } from '@ferry/proto/grpc';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { IN_PROCESS_CALLER } from '../api/access.js';
import { Authenticator } from '../api/authenticator.js';
import { HttpApi } from '../api/http-api.js';
import { addManagementService } from '../api/grpc-api.js';
import { ManagementService } from '../api/management-service.js';
import { cluster } from '../validation/test-fixtures.js';
import { RolloutController } from './rollout-controller.js';
import { refuseDuringRollout, RolloutService } from './rollout-service.js';

interface Reply {
  status: number;
  json: { code?: string; message?: string } & Record<string, unknown>;
}

void describe('rollouts over the management API', () => {
  const store = new MemoryStore();
  const cache = new SnapshotCache({ store, debounceMs: 0 });
  const controller = new RolloutController({ store, cache, fleet: { views: () => [] } });
  const service = new ManagementService({
    store,
    writeGuard: (group) => refuseDuringRollout(controller, group),
  });
  const rollouts = new RolloutService(service, controller);
  const authenticator = new Authenticator({ tokens: service.tokens, openOnLoopback: true });
  const api = new HttpApi({ service, authenticator, rollouts });
  const grpcServer = new grpc.Server();
  addManagementService(grpcServer, service, { authenticator, rollouts });
  let base = '';
  let client: GrpcClient;
  const token: Record<string, string> = {};

  before(async () => {
    await cache.start();
    base = `http://127.0.0.1:${(await api.listen('127.0.0.1', 0)).port}`;
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new GrpcClient(
      'ferry.v1.Management',
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    );
    for (const [name, role] of [
      ['op-web', 'operator'],
      ['view-web', 'viewer'],
    ] as const) {
      token[name] =
        (await service.createToken({ name, role, groups: ['web'] }, IN_PROCESS_CALLER)).token ?? '';
    }
    await service.apply({ group: 'web', documents: [cluster('w', { ports: [8080] })] });
    await service.apply({ group: 'grpc', documents: [cluster('g', { ports: [8080] })] });
  });
  after(async () => {
    client.close();
    grpcServer.forceShutdown();
    await api.close();
    cache.close();
  });

  async function call(who: string, method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token[who]}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Reply['json'] };
  }

  const start = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    group: 'web',
    resources: [cluster('w', { ports: [9090] })],
    rollout: { stages: '1,50%,100%', bake: '10s', selector: { 'locality.zone': 'a' } },
    ...extra,
  });

  void test('viewers see, operators start and act; spec errors name their field', async () => {
    const denied = await call('view-web', 'POST', '/v1/rollouts', start());
    assert.equal(denied.status, 403);
    assert.match(denied.json.message ?? '', /needs the operator role for group "web"/);
    const bad = await call(
      'op-web',
      'POST',
      '/v1/rollouts',
      start({ rollout: { stages: ['1', '150%'] } }),
    );
    assert.equal(bad.status, 400);
    assert.match(
      bad.json.message ?? '',
      /^rollout\.stages\[1\]: expected a proxy count .* got "150%"/,
    );
    const badGate = await call(
      'op-web',
      'POST',
      '/v1/rollouts',
      start({ rollout: { stages: '1', gates: { max_error_ratio: 2 } } }),
    );
    assert.match(
      badGate.json.message ?? '',
      /^rollout\.gates\.max_error_ratio: expected a ratio between 0 and 1/,
    );
    const unchanged = await call(
      'op-web',
      'POST',
      '/v1/rollouts',
      start({ resources: [cluster('w', { ports: [8080] })] }),
    );
    assert.equal(unchanged.status, 400);
    assert.match(unchanged.json.message ?? '', /nothing to roll out/);
    const started = await call('op-web', 'POST', '/v1/rollouts', start());
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const rollout = started.json.rollout as Record<string, unknown>;
    assert.equal(rollout.state, 'PROGRESSING');
    assert.deepEqual(rollout.stages, ['1', '50%', '100%']);
    assert.deepEqual(rollout.selectors, ['locality.zone=a']);
    assert.deepEqual(rollout.gates, {
      max_error_ratio: 0.05,
      max_error_ratio_increase: 0.02,
      min_requests: 20,
      max_unhealthy_hosts_increase: 0,
    });
    const listed = await call('view-web', 'GET', '/v1/rollouts?group=web');
    assert.equal((listed.json.rollouts as unknown[]).length, 1);
    assert.equal(
      (await call('view-web', 'POST', '/v1/rollouts/pause', { group: 'web' })).status,
      403,
    );
    // One active rollout per group: an apply, a second rollout and a rollback are refused.
    const apply = await call('op-web', 'POST', '/v1/apply', {
      group: 'web',
      resources: [cluster('x', { ports: [1] })],
    });
    assert.equal(apply.status, 409);
    assert.match(
      apply.json.message ?? '',
      /group "web" has rollout rollout-\d+ in progress .*--force/,
    );
    const second = await call(
      'op-web',
      'POST',
      '/v1/rollouts',
      start({ resources: [cluster('w', { ports: [7070] })] }),
    );
    assert.equal(second.status, 409);
    // --force aborts the active one first.
    const forced = await call(
      'op-web',
      'POST',
      '/v1/rollouts',
      start({ resources: [cluster('w', { ports: [7070] })], force: true }),
    );
    assert.equal(forced.status, 200, JSON.stringify(forced.json));
    const all = (await call('view-web', 'GET', '/v1/rollouts')).json.rollouts as Array<
      Record<string, unknown>
    >;
    assert.deepEqual(all.map((r) => r.state).sort(), ['ABORTED', 'PROGRESSING']);
    const paused = await call('op-web', 'POST', '/v1/rollouts/pause', { group: 'web' });
    assert.equal((paused.json.rollout as Record<string, unknown>).state, 'PAUSED');
    const aborted = await call('op-web', 'POST', '/v1/rollouts/abort', { group: 'web' });
    assert.equal((aborted.json.rollout as Record<string, unknown>).state, 'ABORTED');
    assert.equal(
      (
        await call('op-web', 'POST', '/v1/apply', {
          group: 'web',
          resources: [cluster('x', { ports: [1] })],
        })
      ).status,
      200,
    );
    assert.equal((await call('op-web', 'POST', '/v1/rollouts/jump', { group: 'web' })).status, 404);
  });

  void test('over gRPC: StartRollout, ListRollouts, ActOnRollout', async () => {
    const created = await service.createToken(
      { name: 'op-grpc', role: 'operator', groups: ['grpc'] },
      IN_PROCESS_CALLER,
    );
    const auth = new grpc.Metadata();
    auth.set('authorization', `Bearer ${created.token ?? ''}`);
    const parsed = parseResourceJson(cluster('g', { ports: [9191] }));
    assert.ok(parsed.ok);
    const started = await client.unary<unknown, { rollout: Record<string, unknown> }>(
      'StartRollout',
      {
        group: 'grpc',
        resources: [
          { type_url: parsed.value.type.typeUrl, value: Buffer.from(parsed.value.bytes) },
        ],
        stages: ['2', '100%'],
        bake: '5s',
        min_requests: 50,
      },
      auth,
    );
    assert.equal(started.rollout.state, 'PROGRESSING');
    assert.deepEqual(started.rollout.stages, ['2', '100%']);
    const listed = await client.unary<unknown, { rollouts: Array<Record<string, unknown>> }>(
      'ListRollouts',
      { group: 'grpc' },
      auth,
    );
    assert.equal(listed.rollouts.length, 1);
    const records = await controller.records('grpc');
    assert.equal(records[0]?.gates.minRequests, 50);
    assert.equal(records[0]?.gates.maxErrorRatio, 0.05, 'unset gates keep their defaults');
    const promoted = await client.unary<unknown, { rollout: Record<string, unknown> }>(
      'ActOnRollout',
      { group: 'grpc', action: 'promote' },
      auth,
    );
    assert.equal(promoted.rollout.state, 'PROMOTED');
    const stored = await store.list({ group: 'grpc', name: 'g' });
    assert.equal(stored.resources[0]?.version, parsed.value.version, 'the candidate is stored');
    const wrong = await client.unary('ActOnRollout', { group: 'grpc', action: 'jump' }, auth).then(
      () => undefined,
      (err: grpc.ServiceError) => err,
    );
    assert.equal(wrong?.code, grpc.status.INVALID_ARGUMENT);
  });
});
