import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventType, NodeEventJson } from '@ferry/shared/api-wire';
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
  options: { history?: number; maxStreams?: number; departures?: number } = {},
): EventHub {
  return new EventHub({
    epoch: 'ep',
    coalesceMs: 3_600_000,
    pingMs: 3_600_000,
    node: (id) => nodes.get(id),
    health: (group, cluster) => ({ group, cluster, endpoints: [] }),
    outliers: (group, cluster) => ({
      group,
      cluster,
      endpoints: [{ address: '10.0.0.1:80', ejected_by: 1, ejected_nodes: ['n'], ejections: [1] }],
    }),
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

  test('outlier changes coalesce per cluster, carry the cluster’s endpoints and are kept for resume', () => {
    const hub = hubWith(new Map());
    const c = new Collector(ADMIN);
    const onlyHealth = Object.assign(new Collector(ADMIN), {
      types: new Set<EventType>(['health']),
    });
    hub.subscribe(c, undefined);
    hub.subscribe(onlyHealth, undefined);
    const before = hub.newest;
    for (let i = 0; i < 5; i++) hub.outlierChanged('web', 'backend');
    hub.outlierChanged('api', 'backend');
    hub.flush();
    const events = c.events();
    assert.deepEqual(
      events.map((e) => [e.type, e.data.group, e.data.cluster]),
      [
        ['outlier', 'web', 'backend'],
        ['outlier', 'api', 'backend'],
      ],
    );
    assert.deepEqual(events[0]!.data.endpoints, [
      { address: '10.0.0.1:80', ejected_by: 1, ejected_nodes: ['n'], ejections: [1] },
    ]);
    assert.deepEqual(onlyHealth.events(), [], 'types= filters outlier events out');
    const resumed = Object.assign(new Collector(WEB_VIEWER), {
      types: new Set<EventType>(['outlier']),
    });
    hub.subscribe(resumed, before);
    assert.deepEqual(
      resumed.events().map((e) => [e.type, e.data.group]),
      [['outlier', 'web']],
      'replayed after the cursor, only the groups the caller may read',
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

  test('resume: kept events and the current rows of nodes changed after the cursor, in order', () => {
    const nodes = new Map<string, NodeEventJson>();
    const hub = hubWith(nodes);
    const first = new Collector(ADMIN);
    hub.subscribe(first, undefined);
    nodes.set('n1', row('n1', 'web', 'v1'));
    hub.nodeChanged('n1');
    hub.flush();
    const cursor = first.events()[0]!.id;
    hub.unsubscribe(first);
    // While nobody listens: n2 connects, a revision lands, n1 moves on twice, n3 comes and goes.
    nodes.set('n2', row('n2', 'web', 'v1'));
    hub.nodeChanged('n2');
    hub.publish('store', 'web', storeEvent(2, 'web'));
    nodes.set('n1', row('n1', 'web', 'v2'));
    hub.nodeChanged('n1');
    nodes.set('n1', row('n1', 'web', 'v3'));
    hub.nodeChanged('n1');
    nodes.set('n3', row('n3', 'web', 'v1'));
    hub.nodeChanged('n3');
    nodes.delete('n3');
    hub.nodeGone('n3', 'web');
    const again = new Collector(ADMIN);
    hub.subscribe(again, cursor);
    const events = again.events();
    assert.deepEqual(
      events.map((e) => [e.type, e.data.node_id ?? e.data.revision]),
      [
        ['node', 'n2'],
        ['store', 2],
        ['node', 'n1'],
        ['node_gone', 'n3'],
      ],
    );
    assert.equal(
      (events[2]!.data.types as Array<{ version_acked: string }>)[0]!.version_acked,
      'v3',
      'the node’s current row',
    );
    const seqs = events.map((e) => Number(e.id.split('-')[1]));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'cursor order',
    );
    // Resuming from the last of them sends nothing again.
    const third = new Collector(ADMIN);
    hub.subscribe(third, events.at(-1)!.id);
    assert.equal(third.events().length, 0);
    hub.close();
  });

  test('resume: a viewer gets only its groups’ node rows and departures', () => {
    const nodes = new Map([
      ['w', row('w', 'web', 'v1')],
      ['a', row('a', 'api', 'v1')],
    ]);
    const hub = hubWith(nodes);
    hub.nodeChanged('w');
    hub.nodeChanged('a');
    hub.nodeGone('x', 'api');
    hub.nodeGone('y', 'web');
    const viewer = new Collector(WEB_VIEWER);
    hub.subscribe(viewer, 'ep-0');
    assert.deepEqual(
      viewer.events().map((e) => [e.type, e.data.node_id]),
      [
        ['node', 'w'],
        ['node_gone', 'y'],
      ],
    );
    hub.close();
  });

  test('resume: departures past the kept list reset; later cursors still resume', () => {
    const hub = hubWith(new Map(), { departures: 4 });
    for (let i = 0; i < 10; i++) hub.nodeGone(`n${i}`, 'web');
    const early = new Collector(ADMIN);
    hub.subscribe(early, 'ep-1');
    assert.deepEqual(early.events(), [{ id: 'ep-10', type: 'reset', data: {} }]);
    const late = new Collector(ADMIN);
    hub.subscribe(late, 'ep-9');
    assert.deepEqual(late.events(), [
      { id: 'ep-10', type: 'node_gone', data: { node_id: 'n9', group: 'web' } },
    ]);
    hub.close();
  });

  test('node events do not fill the ring: thousands of node changes leave resume intact', () => {
    const nodes = new Map<string, NodeEventJson>();
    const hub = hubWith(nodes, { history: 3 });
    const c = new Collector(ADMIN);
    hub.subscribe(c, undefined);
    hub.publish('store', 'web', storeEvent(1, 'web'));
    for (let i = 0; i < 2000; i++) {
      nodes.set(`n${i}`, row(`n${i}`, 'web', 'v1'));
      hub.nodeChanged(`n${i}`);
    }
    while (hub.flush());
    const again = new Collector(ADMIN);
    hub.subscribe(again, 'ep-0');
    const types = again.events().map((e) => e.type);
    assert.equal(types[0], 'store');
    assert.equal(types.filter((t) => t === 'node').length, 2000);
    hub.close();
  });

  test('with nobody subscribed a node change builds no row; a later resume still gets it', () => {
    const nodes = new Map([['n1', row('n1', 'web', 'v1')]]);
    let rows = 0;
    const hub = new EventHub({
      epoch: 'ep',
      coalesceMs: 3_600_000,
      pingMs: 3_600_000,
      node: (id) => {
        rows++;
        return nodes.get(id);
      },
    });
    for (let i = 0; i < 100; i++) hub.nodeChanged('n1');
    hub.flush();
    // A subscriber that came and went before the flush: its pending changes cost no row either.
    const brief = new Collector(ADMIN);
    hub.subscribe(brief, undefined);
    hub.nodeChanged('n1');
    hub.unsubscribe(brief);
    hub.flush();
    assert.equal(rows, 0);
    const c = new Collector(ADMIN);
    hub.subscribe(c, 'ep-0');
    assert.deepEqual(
      c.events().map((e) => [e.id, e.type, e.data.node_id]),
      [['ep-101', 'node', 'n1']],
    );
    assert.equal(rows, 1);
    hub.close();
  });

  test('a node-only subscriber with allNodes gets every node, then the cursor, then node events', () => {
    const nodes = new Map([
      ['n1', row('n1', 'web', 'v1')],
      ['n2', row('n2', 'web', 'v1')],
    ]);
    const hub = hubWith(nodes);
    hub.nodeChanged('n2');
    hub.nodeChanged('n1');
    hub.publish('store', 'web', storeEvent(1, 'web'));
    const types = new Set(['node', 'node_gone'] as const);
    const c = new Collector(ADMIN);
    Object.assign(c, { types });
    hub.subscribe(c, undefined, { allNodes: true, announce: true });
    assert.deepEqual(
      c.frames.slice(0, 2).map((f) => f.split('\n')[0]),
      ['id: ep-1', 'id: ep-2'],
    );
    assert.equal(c.frames[2], 'id: ep-3\n\n');
    hub.publish('store', 'web', storeEvent(2, 'web'));
    hub.nodeGone('n1', 'web');
    assert.deepEqual(
      c.frames.slice(3).map((f) => f.split('\n')[1]),
      ['event: node_gone'],
    );
    hub.close();
  });
});

function storeEvent(revision: number, group: string) {
  return { revision, group, actor: 'ci', at: '2026-01-01T00:00:00.000Z', message: '', changes: [] };
}
