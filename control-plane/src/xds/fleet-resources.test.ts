/**
 * Per-resource status in the fleet tracker: a NACK that names rejected resources (a
 * google.rpc.BadRequest, as ferry-proxy sends it) leaves them NACKED on their earlier version
 * while the rest of the response counts as applied; a NACK without names rejects the whole
 * response; nothing per resource is stored but the rejected ones.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonToBinary } from '@ferry/proto';
import type { StatusMessage } from '@ferry/proto/grpc';
import { FleetTracker, type NodeHandle, type SubscriptionView } from './fleet.js';
import type { MetricChild } from '../metrics/registry.js';
import { clientStatus } from './csds.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { nackRejections } from './stream-context.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const WILDCARD: SubscriptionView = { wildcard: true, names: new Set() };

const gauge: MetricChild = { inc: () => undefined, set: () => undefined, get: () => 0 };

/** Snapshots of LDS by version: the names each has. */
const snapshots = new Map<string, ReadonlyMap<string, unknown>>();
function snapshot(version: string, names: string[]): ReadonlyMap<string, unknown> {
  const map = new Map(names.map((n) => [n, { name: n }]));
  snapshots.set(version, map);
  return map;
}

function tracker(current: () => ReadonlyMap<string, unknown>): FleetTracker {
  return new FleetTracker({ connectedProxies: () => gauge, snapshots: () => current() });
}

function resources(fleet: FleetTracker, node = 'n1'): Record<string, unknown> {
  const t = fleet.nodes({ nodeId: node, resources: true })[0]?.types.find((x) => x.typeUrl === LDS);
  return Object.fromEntries(
    (t?.resourceStatuses ?? []).map((r) => [
      r.name,
      [r.state, r.versionRunning, r.versionSent, r.nack?.version ?? '-'],
    ]),
  );
}

const rejected = (handle: NodeHandle, version: string, carried: string[], names: string[]): void =>
  handle.nacked(
    LDS,
    version,
    names.map((n) => `Listener "${n}": bad`).join('; '),
    carried,
    names.map((name) => ({ name, error: `Listener "${name}": bad` })),
  );

describe('FleetTracker: per-resource status', () => {
  test('SotW: named rejections keep their running version; the rest runs the new one', () => {
    let current = snapshot('v1', ['a', 'b']);
    const fleet = tracker(() => current);
    const h = fleet.connect({ id: 'n1', cluster: 'g' }, 'ads-sotw', '127.0.0.1:1');
    h.sent(LDS, 'v1', 2, WILDCARD, current);
    h.acked(LDS, 'v1');
    assert.equal(
      fleet.views()[0]?.types.get(LDS)?.rejected,
      undefined,
      'nothing stored per resource in the common case',
    );

    current = snapshot('v2', ['a', 'b', 'c']);
    h.sent(LDS, 'v2', 3, WILDCARD, current);
    rejected(h, 'v2', ['a', 'b', 'c'], ['b', 'c']);
    assert.deepEqual(resources(fleet), {
      a: ['ACKED', 'v2', 'v2', '-'],
      b: ['NACKED', 'v1', 'v2', 'v2'],
      c: ['NACKED', '', 'v2', 'v2'],
    });
    const status = fleet.nodes()[0]?.types.find((x) => x.typeUrl === LDS);
    assert.equal(status?.versionAcked, 'v1', 'no version was ACKed as a whole');
    assert.equal(status?.versionApplied, 'v2');
    assert.deepEqual(
      status?.rejectedResources?.map((r) => [r.name, r.versionRunning, r.nack?.error]),
      [
        ['b', 'v1', 'Listener "b": bad'],
        ['c', '', 'Listener "c": bad'],
      ],
    );
    assert.equal(status?.resourceStatuses, undefined, 'every resource only when asked');

    // v3 fixes "c" but "b" is still bad: "b" still runs v1 (not v2, which it rejected too).
    current = snapshot('v3', ['a', 'b', 'c']);
    h.sent(LDS, 'v3', 3, WILDCARD, current);
    assert.equal(resources(fleet).a?.toString(), 'REQUESTED,v2,v3,-');
    rejected(h, 'v3', ['a', 'b', 'c'], ['b']);
    assert.deepEqual(resources(fleet), {
      a: ['ACKED', 'v3', 'v3', '-'],
      b: ['NACKED', 'v1', 'v3', 'v3'],
      c: ['ACKED', 'v3', 'v3', '-'],
    });

    current = snapshot('v4', ['a', 'b', 'c']);
    h.sent(LDS, 'v4', 3, WILDCARD, current);
    h.acked(LDS, 'v4');
    assert.deepEqual(resources(fleet), {
      a: ['ACKED', 'v4', 'v4', '-'],
      b: ['ACKED', 'v4', 'v4', '-'],
      c: ['ACKED', 'v4', 'v4', '-'],
    });
    assert.equal(fleet.views()[0]?.types.get(LDS)?.rejected, undefined);
    assert.equal(fleet.nodes()[0]?.types[0]?.lastNack, undefined);
  });

  test('a NACK without names rejects the whole response (Envoy, gRPC clients)', () => {
    let current = snapshot('v1', ['a']);
    const fleet = tracker(() => current);
    const h = fleet.connect({ id: 'e1', cluster: 'g' }, 'ads-sotw', '127.0.0.1:1');
    h.sent(LDS, 'v1', 1, WILDCARD, current);
    h.acked(LDS, 'v1');
    current = snapshot('v2', ['a', 'b']);
    h.sent(LDS, 'v2', 2, WILDCARD, current);
    h.nacked(LDS, 'v2', 'Error adding/updating listener(s) b: bad', ['a', 'b']);
    assert.deepEqual(resources(fleet, 'e1'), {
      a: ['NACKED', 'v1', 'v2', 'v2'],
      b: ['NACKED', '', 'v2', 'v2'],
    });
    const status = fleet.nodes()[0]?.types[0];
    assert.equal(status?.versionApplied, 'v1');
    assert.equal(status?.rejectedResources, undefined);
  });

  test('delta: a rejection holds until a response carrying the resource is ACKed', () => {
    let current = snapshot('s1', ['a', 'b']);
    const fleet = tracker(() => current);
    const h = fleet.connect({ id: 'd1', cluster: 'g' }, 'ads-delta', '127.0.0.1:1');
    h.sent(LDS, 's1', 2, WILDCARD, current);
    h.acked(LDS, 's1', ['a', 'b']);
    current = snapshot('s2', ['a', 'b']);
    h.sent(LDS, 's2', 2, WILDCARD, current);
    rejected(h, 's2', ['b'], ['b']);
    current = snapshot('s3', ['a', 'b']);
    h.sent(LDS, 's3', 2, WILDCARD, current);
    h.acked(LDS, 's3', ['a']);
    assert.deepEqual(resources(fleet, 'd1'), {
      a: ['ACKED', 's3', 's3', '-'],
      b: ['NACKED', 's1', 's3', 's2'],
    });
    current = snapshot('s4', ['a', 'b']);
    h.sent(LDS, 's4', 2, WILDCARD, current);
    h.acked(LDS, 's4', ['b']);
    assert.equal(resources(fleet, 'd1').b?.toString(), 'ACKED,s4,s4,-');
    assert.equal(fleet.views()[0]?.types.get(LDS)?.rejected, undefined);

    // A rejected resource that is then removed (the response carries only its removal).
    current = snapshot('s5', ['a', 'b']);
    h.sent(LDS, 's5', 2, WILDCARD, current);
    rejected(h, 's5', ['b'], ['b']);
    current = snapshot('s6', ['a']);
    h.sent(LDS, 's6', 1, WILDCARD, current);
    h.acked(LDS, 's6', []);
    assert.deepEqual(resources(fleet, 'd1'), { a: ['ACKED', 's6', 's6', '-'] });
    assert.equal(fleet.views()[0]?.types.get(LDS)?.rejected, undefined);
  });

  test('CSDS reports NACKED with error_state for the rejected resources only', () => {
    let current = snapshot('v1', ['a', 'b']);
    const fleet = tracker(() => current);
    const h = fleet.connect({ id: 'c1', cluster: 'g' }, 'ads-sotw', '127.0.0.1:1');
    h.sent(LDS, 'v1', 2, WILDCARD, current);
    h.acked(LDS, 'v1');
    current = snapshot('v2', ['a', 'b']);
    h.sent(LDS, 'v2', 2, WILDCARD, current);
    rejected(h, 'v2', ['a', 'b'], ['b']);
    // A unit-test stand-in for the snapshot cache: only `snapshotFor(node, type).resources` is read.
    const cache = {
      snapshotFor: () => ({
        resources: new Map([...current.keys()].map((n) => [n, { resource: {} }])),
      }),
    } as unknown as SnapshotCache;
    const response = clientStatus({ exclude_resource_contents: true }, fleet, cache) as {
      config: { generic_xds_configs: Record<string, unknown>[] }[];
    };
    const byName = new Map(response.config[0]!.generic_xds_configs.map((g) => [g.name, g]));
    assert.equal(byName.get('a')?.client_status, 'ACKED');
    assert.equal(byName.get('a')?.config_status, 'SYNCED');
    assert.equal(byName.get('a')?.version_info, 'v2');
    assert.equal(byName.get('a')?.error_state, undefined);
    assert.equal(byName.get('b')?.client_status, 'NACKED');
    assert.equal(byName.get('b')?.config_status, 'ERROR');
    assert.equal(byName.get('b')?.version_info, 'v1', 'the version it still runs');
    assert.deepEqual(
      {
        ...(byName.get('b')?.error_state as Record<string, unknown>),
        last_update_attempt: undefined,
      },
      { details: 'Listener "b": bad', version_info: 'v2', last_update_attempt: undefined },
    );
  });
});

describe('nackRejections', () => {
  const badRequest = (fields: { field: string; description: string }[]): StatusMessage => {
    const bytes = jsonToBinary('google.rpc.BadRequest', { field_violations: fields });
    assert.ok(bytes.ok);
    return {
      code: 3,
      message: 'x',
      details: [
        { type_url: 'type.googleapis.com/google.rpc.BadRequest', value: Buffer.from(bytes.value) },
      ],
    };
  };

  test('reads the resources named by a BadRequest among those the response carried', () => {
    const status = badRequest([
      { field: 'Listener "web"', description: 'Listener "web": use_original_dst: not supported' },
      { field: 'Listener "we\\"ird"', description: 'quoted' },
      { field: 'Listener "never-sent"', description: 'ignored: not in the response' },
      { field: 'filter_chains[0]', description: 'ignored: not a resource' },
    ]);
    assert.deepEqual(nackRejections(status, ['web', 'we"ird', 'api']), [
      { name: 'web', error: 'Listener "web": use_original_dst: not supported' },
      { name: 'we"ird', error: 'quoted' },
    ]);
  });

  test('undefined without a BadRequest naming a carried resource', () => {
    assert.equal(nackRejections({ code: 3, message: 'bad' }, ['web']), undefined);
    assert.equal(nackRejections(undefined, ['web']), undefined);
    assert.equal(
      nackRejections(badRequest([{ field: 'Listener "other"', description: '' }]), ['web']),
      undefined,
    );
    assert.equal(
      nackRejections(
        {
          code: 3,
          details: [
            { type_url: 'type.googleapis.com/google.rpc.BadRequest', value: Buffer.from([0xff]) },
          ],
        },
        ['web'],
      ),
      undefined,
      'undecodable details are ignored',
    );
  });
});
