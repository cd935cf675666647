import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeEventJson } from '@ferry/shared/api-wire';
import { ALL_GROUPS, type Caller } from '../access.js';
import { EventHub, type EventSubscriber } from './event-hub.js';

const ADMIN: Caller = { name: 'admin', role: 'admin', groups: [ALL_GROUPS], via: 'token' };
const WEB_VIEWER: Caller = { name: 'v', role: 'viewer', groups: ['web'], via: 'token' };

/** Collects what the hub sends; `capacity` frames, then it reports itself cut off. */
class Collector implements EventSubscriber {
  readonly frames: string[] = [];
  closed = false;
  constructor(
    readonly caller: Caller,
    private readonly capacity = Infinity,
  ) {}
  send(frame: string): boolean {
    if (this.frames.length >= this.capacity) return false;
    this.frames.push(frame);
    return true;
  }
  close(): void {
    this.closed = true;
  }
  /** Parsed events (comments skipped). */
  events(): Array<{ id: string; type: string; data: Record<string, unknown> }> {
    return this.frames
      .filter((f) => !f.startsWith(':'))
      .map((f) => {
        const [id, type, data] = f.trimEnd().split('\n');
        return {
          id: id!.slice('id: '.length),
          type: type!.slice('event: '.length),
          data: JSON.parse(data!.slice('data: '.length)) as Record<string, unknown>,
        };
      });
  }
}

function row(nodeId: string, group: string, versionAcked: string): NodeEventJson {
  return {
    node_id: nodeId,
    cluster: group,
    group,
    user_agent: 'ferry-proxy',
    address: '127.0.0.1',
    streams: ['ads-delta'],
    connected: true,
    connected_since: '',
    last_seen: '',
    state: 'SYNCED',
    types: [
      { type_url: 'lds', version_sent: versionAcked, version_acked: versionAcked, resources: 1 },
    ],
  };
}

/** A hub whose node rows come from `nodes` and that flushes only when the test says so. */
function hubWith(
  nodes: Map<string, NodeEventJson>,
  options: { history?: number; maxStreams?: number } = {},
): EventHub {
  return new EventHub({
    epoch: 'ep',
    coalesceMs: 3_600_000,
    pingMs: 3_600_000,
    node: (id) => nodes.get(id),
    health: (group, cluster) => ({ group, cluster, endpoints: [] }),
    ...options,
  });
}

describe('event hub', () => {
  test('a node changing many times between flushes is one event with its latest row', () => {
    const nodes = new Map<string, NodeEventJson>();
    const hub = hubWith(nodes);
    const c = new Collector(ADMIN);
    hub.subscribe(c, undefined);
    for (let v = 1; v <= 50; v++) {
      nodes.set('n1', row('n1', 'web', `v${v}`));
      hub.nodeChanged('n1');
      nodes.set('n2', row('n2', 'web', `w${v}`));
      hub.nodeChanged('n2');
    }
    assert.equal(c.events().length, 0, 'nothing before the flush');
    hub.flush();
    const events = c.events();
    assert.deepEqual(
      events.map((e) => [
        e.type,
        e.data.node_id,
        (e.data.types as Array<{ version_acked: string }>)[0]!.version_acked,
      ]),
      [
        ['node', 'n1', 'v50'],
        ['node', 'n2', 'w50'],
      ],
    );
    hub.flush();
    assert.equal(c.events().length, 2, 'a flush without changes sends nothing');
    hub.close();
  });

  test('node_gone goes out at once and drops the node’s pending change', () => {
    const nodes = new Map([['n1', row('n1', 'web', 'v1')]]);
    const hub = hubWith(nodes);
    const c = new Collector(ADMIN);
    hub.subscribe(c, undefined);
    hub.nodeChanged('n1');
    nodes.delete('n1');
    hub.nodeGone('n1', 'web');
    hub.flush();
    assert.deepEqual(
      c.events().map((e) => [e.type, e.data]),
      [['node_gone', { node_id: 'n1', group: 'web' }]],
    );
    hub.close();
  });

  test('health changes of one cluster coalesce too', () => {
    const hub = hubWith(new Map());
    const c = new Collector(ADMIN);
    hub.subscribe(c, undefined);
    for (let i = 0; i < 10; i++) hub.healthChanged('web', 'backend');
    hub.healthChanged('api', 'backend');
    hub.flush();
    assert.deepEqual(
      c.events().map((e) => [e.type, e.data.group, e.data.cluster]),
      [
        ['health', 'web', 'backend'],
        ['health', 'api', 'backend'],
      ],
    );
    hub.close();
  });

  test('a viewer gets only its groups’ events, live and replayed', () => {
    const hub = hubWith(new Map());
    hub.publish('store', 'api', storeEvent(1, 'api'));
    hub.publish('store', 'web', storeEvent(2, 'web'));
    const viewer = new Collector(WEB_VIEWER);
    hub.subscribe(viewer, 'ep-0');
    hub.publish('store', 'api', storeEvent(3, 'api'));
    hub.publish('store', 'web', storeEvent(4, 'web'));
    assert.deepEqual(
      viewer.events().map((e) => e.data.revision),
      [2, 4],
    );
    hub.close();
  });

  test('resume sends only the events after the cursor, then live ones, none twice', () => {
    const hub = hubWith(new Map());
    const first = new Collector(ADMIN);
    hub.subscribe(first, undefined);
    for (let r = 1; r <= 5; r++) hub.publish('store', 'web', storeEvent(r, 'web'));
    const seen = first.events();
    const cursor = seen[2]!.id;
    hub.unsubscribe(first);
    const again = new Collector(ADMIN);
    hub.subscribe(again, cursor);
    hub.publish('store', 'web', storeEvent(6, 'web'));
    assert.deepEqual(
      again.events().map((e) => e.data.revision),
      [4, 5, 6],
    );
    hub.close();
  });

  test('a cursor older than the ring gets a reset carrying the newest cursor', () => {
    const hub = hubWith(new Map(), { history: 3 });
    for (let r = 1; r <= 10; r++) hub.publish('store', 'web', storeEvent(r, 'web'));
    const c = new Collector(ADMIN);
    hub.subscribe(c, 'ep-2');
    assert.deepEqual(c.events(), [{ id: 'ep-10', type: 'reset', data: {} }]);
    hub.publish('store', 'web', storeEvent(11, 'web'));
    assert.deepEqual(
      c.events().map((e) => e.type),
      ['reset', 'store'],
    );
    hub.close();
  });

  test('a subscriber that cannot take more is dropped; the others go on', () => {
    const hub = hubWith(new Map());
    const slow = new Collector(ADMIN, 2);
    const fast = new Collector(ADMIN);
    hub.subscribe(slow, undefined);
    hub.subscribe(fast, undefined);
    for (let r = 1; r <= 5; r++) hub.publish('store', 'web', storeEvent(r, 'web'));
    assert.equal(hub.streams, 1);
    assert.equal(slow.frames.length, 2);
    assert.equal(fast.events().length, 5);
    hub.close();
  });

  test('streams past the limit are refused; close ends every stream', () => {
    const hub = hubWith(new Map(), { maxStreams: 2 });
    const a = new Collector(ADMIN);
    const b = new Collector(ADMIN);
    hub.subscribe(a, undefined);
    hub.subscribe(b, undefined);
    assert.throws(() => hub.subscribe(new Collector(ADMIN), undefined), {
      code: 'FERRY_RESOURCE_EXHAUSTED',
      message: /--api-events-max-streams/,
    });
    hub.unsubscribe(a);
    hub.subscribe(new Collector(ADMIN), undefined);
    hub.close();
    assert.equal(b.closed, true);
    assert.equal(hub.streams, 0);
  });
});

function storeEvent(revision: number, group: string) {
  return { revision, group, actor: 'ci', at: '2026-01-01T00:00:00.000Z', message: '', changes: [] };
}
