import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeStatus, TypeStatus } from '../xds/fleet-status.js';
import { nodesPage, nodeSyncState } from './nodes-page.js';

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

  test('filters by group, state and search; counts ignore only the state filter; pages', () => {
    const fleet = [
      node('web-1', 'web', [synced]),
      node('web-2', 'web', [pending]),
      node('web-3', 'web', [nacked]),
      node('web-4', 'web', [synced]),
      node('api-1', 'api', [nacked]),
    ];
    const all = nodesPage(fleet, { offset: 0, limit: 100 });
    assert.equal(all.total, 5);
    assert.deepEqual(all.counts, { SYNCED: 2, STALE: 1, NACKED: 2 });
    const web = nodesPage(fleet, { group: 'web', state: 'SYNCED', offset: 0, limit: 100 });
    assert.equal(web.total, 2);
    assert.deepEqual(web.counts, { SYNCED: 2, STALE: 1, NACKED: 1 });
    assert.deepEqual(
      web.nodes.map((n) => [n.node.nodeId, n.state]),
      [
        ['web-1', 'SYNCED'],
        ['web-4', 'SYNCED'],
      ],
    );
    const search = nodesPage(fleet, { q: 'API-', offset: 0, limit: 100 });
    assert.deepEqual(
      search.nodes.map((n) => n.node.nodeId),
      ['api-1'],
    );
    assert.deepEqual(search.counts, { SYNCED: 0, STALE: 0, NACKED: 1 });
    const page = nodesPage(fleet, { offset: 1, limit: 2 });
    assert.equal(page.total, 5);
    assert.deepEqual(
      page.nodes.map((n) => n.node.nodeId),
      ['web-2', 'web-3'],
    );
    assert.deepEqual(nodesPage(fleet, { offset: 10, limit: 2 }).nodes, []);
  });
});
