/** The management API's writes with a pre-flight: refusal, dry run, force, rollback, delete. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError, type FerryError } from '@ferry/shared';
import { proxyVersion } from '@ferry/data-plane/translator';
import { MemoryStore } from '../store/store-memory.js';
import { ManagementService } from '../api/management-service.js';
import { basicGroup, routeConfig, virtualHost, type Doc } from '../validation/test-fixtures.js';
import { Preflight, type PreflightNodeIdentity } from './preflight.js';

const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';

function badRoutes(): Doc {
  const config = routeConfig('main', [
    virtualHost('all', ['*'], [{ prefix: '/', cluster: 'api' }]),
  ]);
  const vhosts = config.virtual_hosts as Array<{ routes: Array<{ match: Doc }> }>;
  vhosts[0]!.routes[0]!.match.runtime_fraction = {
    default_value: { numerator: 50 },
    runtime_key: 'r',
  };
  return config;
}

function setup(
  nodes: PreflightNodeIdentity[] = [
    { id: 'p1', user_agent_name: 'ferry-proxy', user_agent_version: proxyVersion() },
  ],
): { service: ManagementService; store: MemoryStore } {
  const store = new MemoryStore();
  const preflight = new Preflight({
    fleet: { connectedNodes: (group) => (group === 'default' ? nodes : []) },
  });
  return { service: new ManagementService({ store, preflight }), store };
}

async function rejects(promise: Promise<unknown>, code: string): Promise<FerryError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isFerryError(err), `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, code, `${err.message}\n${err.details.join('\n')}`);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('ManagementService with a pre-flight', () => {
  test('an apply every pre-checked proxy would reject is refused and writes nothing', async () => {
    const { service, store } = setup();
    const good = await service.apply({ documents: basicGroup() });
    assert.equal(good.preflight?.[0]?.refuse, false);
    assert.equal(good.preflight?.[0]?.proxies[0]?.note, 'pre-checked: would ACK');
    const err = await rejects(
      service.apply({ documents: [badRoutes()] }),
      'FERRY_PREFLIGHT_REJECTED',
    );
    assert.equal(err.status, 422);
    assert.match(err.message, /apply to group "default" refused by pre-flight/);
    assert.match(err.message, /--force|force/);
    assert.match(
      err.details[0]!,
      /^RouteConfiguration "main": virtual_hosts\[0\]\.routes\[0\]\.match\.runtime_fraction: not supported by ferry-proxy/,
    );
    assert.match(err.details.at(-1)!, /would reject it: p1 /);
    assert.equal(await store.currentRevision(), good.revision);
  });

  test('a dry run returns the report with refuse set and writes nothing', async () => {
    const { service, store } = setup();
    const good = await service.apply({ documents: basicGroup() });
    const dry = await service.apply({ documents: [badRoutes()], dryRun: true });
    assert.equal(dry.dryRun, true);
    const [report] = dry.preflight ?? [];
    assert.equal(report?.refuse, true);
    assert.deepEqual(
      report?.resources.map((r) => [r.typeUrl, r.name, r.rejectedBy]),
      [[RDS, 'main', ['p1']]],
    );
    assert.equal(await store.currentRevision(), good.revision);
  });

  test('force writes what the pre-flight refuses, and says so in the report', async () => {
    const { service } = setup();
    const good = await service.apply({ documents: basicGroup() });
    const forced = await service.apply({ documents: [badRoutes()], force: true });
    assert.equal(forced.revision, good.revision + 1);
    assert.equal(forced.preflight?.[0]?.refuse, true);
    // Already rejected now: a later unrelated apply is not refused for it.
    const next = await service.apply({
      documents: [basicGroup().find((d) => d.name === 'api')!],
    });
    assert.equal(next.preflight?.[0]?.refuse, false);
  });

  test('without a pre-checked proxy the apply goes ahead with warnings', async () => {
    const { service } = setup([{ id: 'envoy', user_agent_name: 'envoy' }]);
    await service.apply({ documents: basicGroup() });
    const applied = await service.apply({ documents: [badRoutes()] });
    assert.equal(applied.preflight?.[0]?.refuse, false);
    assert.match(applied.preflight?.[0]?.warnings[0] ?? '', /are warnings/);
  });

  test('a rollback to a revision every pre-checked proxy would reject is refused unless forced', async () => {
    const { service } = setup();
    await service.apply({ documents: basicGroup() });
    const bad = await service.apply({ documents: [badRoutes()], force: true });
    await service.apply({ documents: basicGroup() });
    await rejects(service.rollback({ revision: bad.revision }), 'FERRY_PREFLIGHT_REJECTED');
    const forced = await service.rollback({ revision: bad.revision, force: true });
    assert.equal(forced.preflight?.[0]?.group, 'default');
    assert.equal(forced.preflight?.[0]?.refuse, true);
  });

  test('a delete reports the group after it', async () => {
    const { service } = setup();
    await service.apply({ documents: basicGroup() });
    const deleted = await service.delete({
      resources: [
        { typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener', name: 'http' },
      ],
      dryRun: true,
    });
    // Without the listener ferry-proxy receives the two clusters and web's endpoints only.
    assert.equal(deleted.preflight?.[0]?.checkedResources, 3);
    assert.equal(deleted.preflight?.[0]?.refuse, false);
  });

  test('without a Preflight, responses carry no report', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const applied = await service.apply({ documents: basicGroup() });
    assert.equal(applied.preflight, undefined);
  });
});
