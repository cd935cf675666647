import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeStatus, TypeStatus } from '../xds/fleet-status.js';
import { FleetTracker, type SubscriptionView } from '../xds/fleet.js';
import type { MetricChild } from '../metrics/registry.js';
import { nodesPage, nodeSyncState, summaryOf, typeSyncState } from './nodes-page.js';
import { nodeStatusJson } from './wire-json.js';

function node(id: string, group: string, types: TypeStatus[], connected = true): NodeStatus {
  return {
    nodeId: id,
    cluster: group,
    group,
    userAgent: 'ferry-proxy/1.0',
    address: `10.0.0.${id.length}:5000`,
    streams: ['ads-delta'],
    connected,
    connectedSince: '',
    lastSeen: '',
    types,
  };
}

const synced: TypeStatus = {
  typeUrl: 'lds',
  versionSent: 'v1',
  versionAcked: 'v1',
  versionApplied: 'v1',
  resources: 1,
};
const pending: TypeStatus = { ...synced, versionSent: 'v2' };
const nacked: TypeStatus = {
  ...synced,
  versionSent: 'v2',
  lastNack: { version: 'v2', error: 'bad', time: '' },
};
const partlyRejected: TypeStatus = {
  ...synced,
  versionSent: 'v2',
  versionApplied: 'v2',
  rejectedResources: [{ name: 'l1', state: 'NACKED', versionRunning: 'v1', versionSent: 'v2' }],
};

describe('GET /v1/nodes paging', () => {
  test('sync state: NACKED over STALE over SYNCED; disconnected is STALE', () => {
    assert.equal(nodeSyncState(node('a', 'g', [synced])), 'SYNCED');
    assert.equal(nodeSyncState(node('a', 'g', [])), 'SYNCED');
    assert.equal(nodeSyncState(node('a', 'g', [synced, pending])), 'STALE');
    assert.equal(nodeSyncState(node('a', 'g', [pending, nacked])), 'NACKED');
    assert.equal(nodeSyncState(node('a', 'g', [partlyRejected])), 'NACKED');
    assert.equal(nodeSyncState(node('a', 'g', [synced], false)), 'STALE');
  });

  test('per type: a NACK holds through a newer version sent, until an ACK clears it', () => {
    assert.equal(typeSyncState(synced), 'SYNCED');
    assert.equal(typeSyncState(pending), 'STALE');
    assert.equal(typeSyncState(nacked), 'NACKED');
    assert.equal(typeSyncState(partlyRejected), 'NACKED');
    const newerSent: TypeStatus = { ...nacked, versionSent: 'v3' };
    assert.equal(typeSyncState(newerSent), 'NACKED');
    // The rows carry each type's state, so the dashboard shows the node's rule per type.
    const row = nodeStatusJson(node('a', 'g', [synced, pending, newerSent]));
    assert.deepEqual(
      row.types.map((t) => t.state),
      ['SYNCED', 'STALE', 'NACKED'],
    );
    assert.equal(nodeSyncState(node('a', 'g', [synced, newerSent])), 'NACKED');
  });

  test('filters by group, state and search; counts ignore only the state filter; pages', () => {
    const fleet = [
      node('web-1', 'web', [synced]),
      node('web-2', 'web', [pending]),
      node('web-3', 'web', [nacked]),
      node('web-4', 'web', [synced]),
      node('api-1', 'api', [nacked]),
    ].map(summaryOf);
    const all = nodesPage(fleet, { offset: 0, limit: 100 });
    assert.equal(all.total, 5);
    assert.deepEqual(all.groups, ['api', 'web']);
    assert.deepEqual(
      nodesPage(fleet, { group: 'web', q: 'web-1', offset: 0, limit: 100 }).groups,
      ['api', 'web'],
      'the groups are every group, whatever the filters',
    );
    assert.deepEqual(all.counts, { SYNCED: 2, STALE: 1, NACKED: 2 });
    const web = nodesPage(fleet, { group: 'web', state: 'SYNCED', offset: 0, limit: 100 });
    assert.equal(web.total, 2);
    assert.deepEqual(web.counts, { SYNCED: 2, STALE: 1, NACKED: 1 });
    assert.deepEqual(
      web.items.map((n) => [n.nodeId, n.state]),
      [
        ['web-1', 'SYNCED'],
        ['web-4', 'SYNCED'],
      ],
    );
    const search = nodesPage(fleet, { q: 'API-', offset: 0, limit: 100 });
    assert.deepEqual(
      search.items.map((n) => n.nodeId),
      ['api-1'],
    );
    assert.deepEqual(search.counts, { SYNCED: 0, STALE: 0, NACKED: 1 });
    const page = nodesPage(fleet, { offset: 1, limit: 2 });
    assert.equal(page.total, 5);
    assert.deepEqual(
      page.items.map((n) => n.nodeId),
      ['web-2', 'web-3'],
    );
    assert.deepEqual(nodesPage(fleet, { offset: 10, limit: 2 }).items, []);
  });

  test('the fleet tracker’s summaries carry the state its full rows have', () => {
    const gauge: MetricChild = { inc: () => undefined, set: () => undefined, get: () => 0 };
    const all: SubscriptionView = { wildcard: true, names: new Set() };
    const fleet = new FleetTracker({ connectedProxies: () => gauge });
    const ok = fleet.connect({ id: 'ok', cluster: 'g' }, 'ads', 'a');
    ok.sent('lds', 'v1', 1, all);
    ok.acked('lds', 'v1');
    const behind = fleet.connect({ id: 'behind', cluster: 'g' }, 'ads', 'a');
    behind.sent('lds', 'v1', 1, all);
    const whole = fleet.connect({ id: 'whole', cluster: 'g' }, 'ads', 'a');
    whole.sent('lds', 'v1', 1, all);
    whole.nacked('lds', 'v1', 'bad', ['l']);
    const part = fleet.connect({ id: 'part', cluster: 'g' }, 'ads-delta', 'a');
    part.sent('lds', 'v1', 2, all);
    part.nacked('lds', 'v1', 'bad', ['l', 'm'], [{ name: 'l', error: 'bad' }]);
    const cleared = fleet.connect({ id: 'cleared', cluster: 'g' }, 'ads', 'a');
    cleared.sent('lds', 'v1', 1, all);
    cleared.nacked('lds', 'v1', 'bad', ['l']);
    cleared.sent('lds', 'v2', 1, all);
    cleared.acked('lds', 'v2');
    fleet.connect({ id: 'gone', cluster: 'g' }, 'ads', 'a').disconnect();
    const summaries = Object.fromEntries(fleet.summaries().map((s) => [s.nodeId, s.state]));
    const rows = Object.fromEntries(fleet.nodes().map((n) => [n.nodeId, nodeSyncState(n)]));
    assert.deepEqual(summaries, rows);
    assert.deepEqual(summaries, {
      ok: 'SYNCED',
      behind: 'STALE',
      whole: 'NACKED',
      part: 'NACKED',
      cleared: 'SYNCED',
      gone: 'STALE',
    });
  });
});
