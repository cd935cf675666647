/**
 * The fleet tracker pushes its state changes (the event stream's source): every connect, send,
 * ACK, NACK and disconnect is a `change`, and a forgotten record is `gone`, with no polling.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetTracker, type SubscriptionView } from './fleet.js';
import type { MetricChild } from '../metrics/registry.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const WILDCARD: SubscriptionView = { wildcard: true, names: new Set() };
const gauge: MetricChild = { inc: () => undefined, set: () => undefined, get: () => 0 };

function recorder(fleet: FleetTracker): string[] {
  const seen: string[] = [];
  fleet.changes.on('change', (id) => seen.push(`change ${id}`));
  fleet.changes.on('gone', (id, group) => seen.push(`gone ${id} ${group}`));
  return seen;
}

describe('FleetTracker: pushed changes', () => {
  test('connect, send, ACK, NACK and disconnect each tell a change', () => {
    const fleet = new FleetTracker({ connectedProxies: () => gauge });
    const seen = recorder(fleet);
    const h = fleet.connect({ id: 'n1', cluster: 'web' }, 'ads-delta', '127.0.0.1:1');
    h.sent(LDS, 'v1', 1, WILDCARD);
    h.acked(LDS, 'v1');
    h.nacked(LDS, 'v2', 'bad listener', ['l1']);
    h.seen();
    h.disconnect();
    assert.deepEqual(seen, Array(5).fill('change n1'));
  });

  test('an expired disconnected record is gone, and so is one that moved group', () => {
    let now = 0;
    const fleet = new FleetTracker({
      connectedProxies: () => gauge,
      retainMs: 1000,
      now: () => now,
    });
    const seen = recorder(fleet);
    fleet.connect({ id: 'n1', cluster: 'web' }, 'ads', 'a').disconnect();
    fleet.connect({ id: 'n2', cluster: 'web' }, 'ads', 'a');
    fleet.connect({ id: 'n2', cluster: 'api' }, 'ads', 'a');
    seen.length = 0;
    now = 5000;
    assert.deepEqual(
      fleet.nodes().map((n) => n.nodeId),
      ['n2'],
    );
    assert.deepEqual(seen, ['gone n1 web']);
    const moved = new FleetTracker({ connectedProxies: () => gauge });
    const movedSeen = recorder(moved);
    moved.connect({ id: 'n3', cluster: 'web' }, 'ads', 'a');
    moved.connect({ id: 'n3', cluster: 'api' }, 'ads', 'a');
    assert.deepEqual(movedSeen, ['change n3', 'gone n3 web', 'change n3']);
  });

  test('over the cap of disconnected records the oldest is gone', () => {
    const fleet = new FleetTracker({ connectedProxies: () => gauge, maxDisconnected: 1 });
    const seen = recorder(fleet);
    fleet.connect({ id: 'n1', cluster: 'web' }, 'ads', 'a').disconnect();
    fleet.connect({ id: 'n2', cluster: 'web' }, 'ads', 'a').disconnect();
    assert.ok(seen.includes('gone n1 web'), seen.join(', '));
    assert.ok(!seen.includes('gone n2 web'));
  });

  test('one node is read without scanning for expired records, and never shows expired', () => {
    let now = 0;
    const fleet = new FleetTracker({
      connectedProxies: () => gauge,
      retainMs: 1000,
      pruneIntervalMs: 60_000,
      now: () => now,
    });
    fleet.connect({ id: 'n1', cluster: 'web' }, 'ads', 'a').disconnect();
    assert.equal(fleet.nodes({ nodeId: 'n1' }).length, 1);
    now = 2000;
    assert.deepEqual(fleet.nodes({ nodeId: 'n1' }), []);
  });
});
