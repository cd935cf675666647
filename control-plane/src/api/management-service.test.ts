import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError, type FerryError } from '@ferry/shared';
import { parseResourceJson, resourceTypeByKind } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import type { ApplyOptions, ApplyResult, Mutation } from '../store/store.js';
import { ManagementService } from './management-service.js';
import { REDACTED } from './redact.js';
import {
  basicGroup,
  cluster,
  listener,
  routeConfig,
  sdsTls,
  tlsSecret,
  virtualHost,
} from '../validation/test-fixtures.js';

/** The parts of stored resources these tests read (proto3 JSON). */
interface LoadAssignmentJson {
  readonly endpoints?: ReadonlyArray<{
    readonly lb_endpoints?: ReadonlyArray<{
      readonly endpoint?: {
        readonly address?: { readonly socket_address?: { readonly port_value?: number } };
      };
    }>;
  }>;
}

interface TlsCertificateJson {
  readonly private_key?: { readonly inline_string?: string };
  readonly certificate_chain?: { readonly inline_string?: string };
}

const CLUSTER = resourceTypeByKind('Cluster').typeUrl;
const SECRET = resourceTypeByKind('Secret').typeUrl;

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

describe('ManagementService', () => {
  test('apply reports created, updated and unchanged, and writes one revision', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const first = await service.apply({ documents: basicGroup() });
    assert.equal(first.revision, 1);
    assert.deepEqual(new Set(first.changes.map((c) => c.action)), new Set(['created']));
    const second = await service.apply({
      documents: [cluster('api', { ports: [9090] }), cluster('web', { eds: true })],
    });
    assert.deepEqual(
      second.changes.map((c) => [c.name, c.action]),
      [
        ['api', 'updated'],
        ['web', 'unchanged'],
      ],
    );
    assert.equal(second.revision, 2);
    const noop = await service.apply({ documents: [cluster('web', { eds: true })] });
    assert.equal(noop.revision, 2);
  });

  test('dry run validates and diffs without writing', async () => {
    const store = new MemoryStore();
    const service = new ManagementService({ store });
    const dry = await service.apply({ documents: basicGroup(), dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.equal(dry.changes.length, 5);
    assert.equal(await store.currentRevision(), 0);
  });

  test('a rejected batch writes nothing and lists every problem', async () => {
    const store = new MemoryStore();
    const service = new ManagementService({ store });
    const err = await rejects(
      service.apply({ documents: [cluster('ok'), listener('l', { port: 0, rds: 'none' })] }),
      'FERRY_INVALID_CONFIG',
    );
    assert.equal(err.details.length, 2);
    assert.equal(await store.currentRevision(), 0);
  });

  test('decode errors carry JSON paths', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const err = await rejects(
      service.apply({ documents: [cluster('a'), { ...cluster('b'), conect_timeout: '1s' }] }),
      'FERRY_INVALID_CONFIG',
    );
    assert.match(err.details.join('\n'), /^resources\[1\]\.conect_timeout/m);
  });

  test('expectedRevision mismatch is FERRY_CONFLICT', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    await service.apply({ documents: [cluster('a')] });
    await rejects(
      service.apply({ documents: [cluster('b')], expectedRevision: 0 }),
      'FERRY_CONFLICT',
    );
    assert.equal(
      (await service.apply({ documents: [cluster('b')], expectedRevision: 1 })).revision,
      2,
    );
  });

  test('a write racing between validation and storage is validated again', async () => {
    const store = new RacingStore();
    const service = new ManagementService({ store });
    store.raceOnce = () =>
      store.inner.apply([
        {
          op: 'put',
          typeUrl: CLUSTER,
          group: 'other',
          name: 'x',
          value: new Uint8Array(),
          version: 'v',
        },
      ]);
    const result = await service.apply({ documents: [cluster('a')] });
    assert.equal(result.revision, 2);
    assert.equal(store.applyCalls, 2);
  });

  test('delete refuses referenced resources and accepts the whole chain', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    await service.apply({ documents: basicGroup() });
    const err = await rejects(
      service.delete({ resources: [{ typeUrl: CLUSTER, name: 'api' }] }),
      'FERRY_REFERENCED',
    );
    assert.match(
      err.details[0] ?? '',
      /^resources\[0\]\(Cluster "api"\): still referenced by RouteConfiguration "main"/,
    );
    await rejects(
      service.delete({ resources: [{ typeUrl: CLUSTER, name: 'nope' }] }),
      'FERRY_NOT_FOUND',
    );
    const listenerUrl = resourceTypeByKind('Listener').typeUrl;
    const routeUrl = resourceTypeByKind('RouteConfiguration').typeUrl;
    const deleted = await service.delete({
      resources: [
        { typeUrl: listenerUrl, name: 'http' },
        { typeUrl: routeUrl, name: 'main' },
        { typeUrl: CLUSTER, name: 'api' },
      ],
    });
    assert.deepEqual(
      deleted.changes.map((c) => c.action),
      ['deleted', 'deleted', 'deleted'],
    );
    assert.equal((await service.list({ typeUrl: CLUSTER })).resources.length, 1);
  });

  test('rollback restores an earlier state as a new revision', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    await service.apply({ documents: [cluster('a', { ports: [1] })] });
    await service.apply({ documents: [cluster('a', { ports: [2] }), cluster('b')] });
    const rolled = await service.rollback({ revision: 1 });
    assert.equal(rolled.revision, 3);
    assert.deepEqual(
      rolled.changes.map((c) => [c.name, c.action]),
      [
        ['a', 'updated'],
        ['b', 'deleted'],
      ],
    );
    const [a] = (await service.list({ typeUrl: CLUSTER, name: 'a' })).resources;
    const assignment = a?.resource.load_assignment as LoadAssignmentJson | undefined;
    assert.equal(
      assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address?.socket_address?.port_value,
      1,
    );
    assert.match((await service.history(1))[0]?.message ?? '', /rollback to revision 1/);
    await rejects(service.rollback({ revision: 99 }), 'FERRY_NOT_FOUND');
  });

  test('rollback goes through the same validation as apply', async () => {
    const store = new MemoryStore();
    const service = new ManagementService({ store });
    // Revision 1 written behind validation's back: a route to a cluster that does not exist.
    const parsed = parseResourceJson(
      routeConfig('main', [virtualHost('v', ['*'], [{ cluster: 'ghost' }])]),
    );
    assert.ok(parsed.ok);
    const { type, name, bytes, version } = parsed.value;
    await store.apply([
      { op: 'put', typeUrl: type.typeUrl, group: 'default', name, value: bytes, version },
    ]);
    await service.apply({
      documents: [
        cluster('ghost'),
        routeConfig('main', [virtualHost('v', ['*'], [{ cluster: 'ghost' }])]),
      ],
    });
    await store.apply([{ op: 'delete', typeUrl: type.typeUrl, group: 'default', name }]);
    const err = await rejects(service.rollback({ revision: 1 }), 'FERRY_INVALID_CONFIG');
    assert.match(
      err.details[0] ?? '',
      /^RouteConfiguration "main"\.virtual_hosts\[0\]\.routes\[0\]\.route\.cluster: cluster "ghost" does not exist/,
    );
  });

  test('secrets are redacted unless showSecrets', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    await service.apply({
      documents: [
        tlsSecret('cert'),
        routeConfig('main', []),
        listener('https', { port: 443, tls: sdsTls('cert') }),
      ],
    });
    const [hidden] = (await service.list({ typeUrl: SECRET })).resources;
    const hiddenTls = hidden?.resource.tls_certificate as TlsCertificateJson | undefined;
    assert.deepEqual(hiddenTls?.private_key, { inline_string: REDACTED });
    assert.match(hiddenTls?.certificate_chain?.inline_string ?? '', /BEGIN CERTIFICATE/);
    assert.ok(
      !Buffer.from(hidden?.value ?? [])
        .toString('latin1')
        .includes('PRIVATE KEY'),
    );
    const shown = await service.get(SECRET, 'cert', 'default', true);
    const shownTls = shown.resource.tls_certificate as TlsCertificateJson | undefined;
    assert.match(shownTls?.private_key?.inline_string ?? '', /PRIVATE KEY/);
  });

  test('status lists the fleet and the revision', async () => {
    const node = {
      nodeId: 'n1',
      cluster: 'default',
      group: 'default',
      userAgent: 'envoy',
      address: '127.0.0.1:1',
      streams: ['ads-sotw'],
      connected: true,
      connectedSince: '2024-01-01T00:00:00.000Z',
      lastSeen: '2024-01-01T00:00:01.000Z',
      types: [],
    };
    const service = new ManagementService({
      store: new MemoryStore(),
      fleet: { nodes: () => [node] },
    });
    assert.deepEqual(await service.status(), { revision: 0, nodes: [node] });
  });
});

/** Lets a test run a competing write just before the service's first store.apply. */
class RacingStore extends MemoryStore {
  readonly inner: MemoryStore = this;
  raceOnce: (() => Promise<unknown>) | undefined;
  applyCalls = 0;

  override async apply(
    mutations: readonly Mutation[],
    options?: ApplyOptions,
  ): Promise<ApplyResult> {
    if (options?.expectedRevision !== undefined) this.applyCalls++;
    const race = this.raceOnce;
    this.raceOnce = undefined;
    if (race) await race();
    return super.apply(mutations, options);
  }
}
