/**
 * Node events of every replica on one GET /v1/events (real HTTP between two in-process replicas
 * sharing one store, so one token works on both): a client of A sees B's proxies live under a
 * merged cursor, resumes with it, gets the nodes of a replica that joins later or restarts, and
 * sees only the groups its token may read.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readEventStream, type StreamEvent } from '@ferry/shared/event-stream';
import { nextEvent } from '@ferry/shared/testing/event-stream';
import type { NodeEventJson } from '@ferry/shared/api-wire';
import { MemoryStore } from '../../store/store-memory.js';
import { FleetTracker } from '../../xds/fleet.js';
import type { MetricChild } from '../../metrics/registry.js';
import type { PeerReplica } from '../../replicas/peer-status.js';
import { IN_PROCESS_CALLER } from '../access.js';
import { Authenticator } from '../authenticator.js';
import { HttpApi } from '../http-api.js';
import { ManagementService } from '../management-service.js';
import { EventHub } from './event-hub.js';
import { EventSources, nodeEvent } from './event-sources.js';
import { EventPeers } from './peer-events.js';

const gauge: MetricChild = { inc: () => undefined, set: () => undefined, get: () => 0 };
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
/** A liveness bound on each awaited event, not a timing claim. */
const BOUND_MS = 10_000;

interface Stream {
  readonly status: number;
  readonly events: AsyncGenerator<StreamEvent>;
  readonly abort: () => void;
}

/** Next event `match` accepts within BOUND_MS; earlier ones are passed over. */
function next(s: Stream, what: string, match: (e: StreamEvent) => boolean): Promise<StreamEvent> {
  return nextEvent(s.events, what, match, BOUND_MS);
}

function row(e: StreamEvent): NodeEventJson {
  return JSON.parse(e.data) as NodeEventJson;
}

/** One replica: its own fleet, hub and API on the shared store. */
class Replica {
  readonly fleet = new FleetTracker({ connectedProxies: () => gauge });
  readonly service: ManagementService;
  hub!: EventHub;
  sources!: EventSources;
  api!: HttpApi;
  url = '';

  constructor(
    readonly id: string,
    readonly store: MemoryStore,
    private readonly peers?: EventPeers,
  ) {
    this.service = new ManagementService({ store, fleet: this.fleet });
  }

  async start(port = 0): Promise<void> {
    this.hub = new EventHub({
      coalesceMs: 20,
      node: (id) => nodeEvent(this.service, id),
      outliers: (group, cluster) => ({ group, cluster, endpoints: [] }),
    });
    this.sources = new EventSources({ hub: this.hub, store: this.store, fleet: this.fleet });
    this.api = new HttpApi({
      service: this.service,
      authenticator: new Authenticator({ tokens: this.service.tokens, openOnLoopback: false }),
      events: this.hub,
      ...(this.peers ? { eventPeers: this.peers } : {}),
    });
    await this.sources.start();
    this.url = `http://127.0.0.1:${(await this.api.listen('127.0.0.1', port)).port}`;
  }

  async stop(): Promise<void> {
    this.sources.close();
    await this.api.close();
  }
}

describe('node events of every replica', () => {
  const store = new MemoryStore();
  let members: PeerReplica[] = [];
  const peers = new EventPeers({
    replicas: () => members,
    self: () => 'cp-a',
    retryMs: 20,
    maxRetryMs: 200,
  });
  const a = new Replica('cp-a', store, peers);
  const b = new Replica('cp-b', store);
  const c = new Replica('cp-c', store);
  const restarted: Replica[] = [];
  const token: Record<string, string> = {};
  const streams: Stream[] = [];

  async function open(who: string, query = '', headers: Record<string, string> = {}) {
    const controller = new AbortController();
    const res = await fetch(`${a.url}/v1/events${query}`, {
      headers: { authorization: `Bearer ${token[who]}`, ...headers },
      signal: controller.signal,
    });
    const stream: Stream = {
      status: res.status,
      events: res.ok ? readEventStream(res) : (async function* () {})(),
      abort: () => controller.abort(),
    };
    if (!res.ok) await res.body?.cancel();
    streams.push(stream);
    return stream;
  }

  /** Waits until B serves no stream: A let go of its peer streams. */
  async function peerStreamsClosed(r: Replica): Promise<void> {
    const deadline = Date.now() + BOUND_MS;
    while (r.hub.streams > 0 && Date.now() < deadline) await new Promise((x) => setTimeout(x, 10));
    assert.equal(r.hub.streams, 0, `${r.id} still serves a stream`);
  }

  before(async () => {
    for (const [name, role, groups] of [
      ['root', 'admin', ['*']],
      ['view-web', 'viewer', ['web']],
    ] as const) {
      const created = await a.service.createToken(
        { name, role, groups: [...groups] },
        IN_PROCESS_CALLER,
      );
      token[name] = created.token ?? '';
    }
    await a.start();
    await b.start();
    members = [
      { id: 'cp-a', apiUrl: a.url },
      { id: 'cp-b', apiUrl: b.url },
    ];
  });

  after(async () => {
    for (const s of streams) s.abort();
    await a.stop();
    await b.stop();
    await c.stop().catch(() => undefined);
    for (const r of restarted) await r.stop();
  });

  test('a client of A sees B’s proxy connect, ACK and NACK live; a viewer only its groups', async () => {
    const s = await open('root');
    const viewer = await open('view-web');
    // B's stream for this client is open once B serves it (two clients: two peer streams).
    const deadline = Date.now() + BOUND_MS;
    while (b.hub.streams < 2 && Date.now() < deadline) await new Promise((x) => setTimeout(x, 10));
    b.fleet.connect({ id: 'api-on-b', cluster: 'api' }, 'ads-delta', '127.0.0.1:1');
    const h = b.fleet.connect({ id: 'web-on-b', cluster: 'web' }, 'ads-delta', '127.0.0.1:2');
    const connected = await next(
      s,
      'connect',
      (e) => e.type === 'node' && row(e).node_id === 'web-on-b',
    );
    assert.equal(row(connected).connected, true);
    assert.equal(row(connected).replica, 'cp-b', 'the replica holding the proxy');
    h.sent(LDS, 'v1', 1, { wildcard: true, names: new Set() });
    h.acked(LDS, 'v1');
    const acked = await next(
      s,
      'ACK',
      (e) => e.type === 'node' && row(e).types[0]?.version_acked === 'v1',
    );
    assert.equal(row(acked).state, 'SYNCED');
    h.sent(LDS, 'v2', 2, { wildcard: true, names: new Set() });
    h.nacked(LDS, 'v2', 'Listener "l": bad port', ['l']);
    const nacked = await next(s, 'NACK', (e) => e.type === 'node' && row(e).state === 'NACKED');
    assert.equal(row(nacked).types[0]?.last_nack?.error, 'Listener "l": bad port');
    // The merged cursor: A's part first, then B's.
    const parts = nacked.id.split('_');
    assert.equal(parts.length, 2, nacked.id);
    assert.equal(parts[0], a.hub.newest);
    assert.equal(parts[1]!.split('-')[0], b.hub.epoch);

    const seen = await next(
      viewer,
      'web node',
      (e) => e.type === 'node' && row(e).state === 'NACKED',
    );
    assert.equal(row(seen).node_id, 'web-on-b');
    s.abort();
    viewer.abort();
    await peerStreamsClosed(b);
  });

  test('local=true is this replica’s own events; an unknown type is a 400', async () => {
    const local = await open('root', '?local=true&types=node');
    assert.equal(local.status, 200);
    b.fleet.connect({ id: 'unseen-on-b', cluster: 'web' }, 'ads', '127.0.0.1:3');
    a.fleet.connect({ id: 'local-on-a', cluster: 'web' }, 'ads', '127.0.0.1:4');
    const e = await next(local, 'A’s node', (x) => x.type === 'node');
    assert.equal(row(e).node_id, 'local-on-a', 'B’s node is not in a local stream');
    assert.equal(b.hub.streams, 0, 'a local stream reads no peer');
    local.abort();
    const bad = await fetch(`${a.url}/v1/events?types=node,bogus`, {
      headers: { authorization: `Bearer ${token.root}` },
    });
    assert.equal(bad.status, 400);
    assert.match(
      ((await bad.json()) as { message: string }).message,
      /types: unknown event type "bogus"/,
    );
  });

  test('resuming with the merged cursor gets what changed on both replicas meanwhile', async () => {
    const first = await open('root');
    const h = b.fleet.connect({ id: 'resume-on-b', cluster: 'web' }, 'ads', '127.0.0.1:5');
    const seen = await next(
      first,
      'connect',
      (e) => e.type === 'node' && row(e).node_id === 'resume-on-b',
    );
    first.abort();
    await peerStreamsClosed(b);
    // While nobody reads: B's node moves on, a node connects to A, another to B.
    h.sent(LDS, 'v7', 1, { wildcard: true, names: new Set() });
    h.acked(LDS, 'v7');
    a.fleet.connect({ id: 'later-on-a', cluster: 'web' }, 'ads', '127.0.0.1:6');
    b.fleet.connect({ id: 'later-on-b', cluster: 'web' }, 'ads', '127.0.0.1:7');
    await new Promise((x) => setTimeout(x, 100)); // let the coalescing timers run (not a bound)
    const again = await open('root', '', { 'last-event-id': seen.id });
    const got = new Map<string, NodeEventJson>();
    while (!['resume-on-b', 'later-on-a', 'later-on-b'].every((n) => got.has(n))) {
      const e = await next(again, 'resumed nodes', (x) => x.type === 'node' || x.type === 'reset');
      assert.notEqual(e.type, 'reset');
      got.set(row(e).node_id, row(e));
    }
    assert.equal(got.get('resume-on-b')!.types[0]?.version_acked, 'v7', 'its current row');
    assert.ok(!got.has('unseen-on-b'), 'a node that did not change after the cursor is not sent');
    again.abort();
    await peerStreamsClosed(b);
  });

  test('B’s outlier events reach a client of A; a peer that refuses them gets asked for node events only', async () => {
    const s = await open('root', '?types=outlier,node');
    const deadline = Date.now() + BOUND_MS;
    while (b.hub.streams < 1 && Date.now() < deadline) await new Promise((x) => setTimeout(x, 10));
    b.hub.outlierChanged('web', 'backend');
    const e = await next(s, 'B’s outlier event', (x) => x.type === 'outlier');
    assert.deepEqual(JSON.parse(e.data), { group: 'web', cluster: 'backend', endpoints: [] });
    s.abort();
    await peerStreamsClosed(b);

    // An older B: it answers 400 to types it does not know, as GET /v1/events does.
    const asked: string[] = [];
    const older = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      asked.push(url.searchParams.get('types') ?? '');
      if (url.searchParams.get('types')?.includes('outlier')) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'types: unknown event type "outlier"' }));
        return;
      }
      const upstream = http.request(new URL(url.pathname + url.search, b.url), {
        headers: req.headers,
      });
      upstream.once('response', (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      res.once('close', () => upstream.destroy());
      upstream.end();
    });
    await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
    const saved = members;
    members = [
      members[0]!,
      { id: 'cp-b', apiUrl: `http://127.0.0.1:${(older.address() as { port: number }).port}` },
    ];
    peers.changed();
    try {
      const n = await open('root', '?types=node');
      const until = Date.now() + BOUND_MS;
      while (b.hub.streams < 1 && Date.now() < until) await new Promise((x) => setTimeout(x, 10));
      b.fleet.connect({ id: 'via-older-b', cluster: 'web' }, 'ads', '127.0.0.1:9');
      await next(
        n,
        'B’s node through the older B',
        (x) => x.type === 'node' && row(x).node_id === 'via-older-b',
      );
      assert.deepEqual(asked.slice(0, 2), ['node,node_gone,outlier', 'node,node_gone']);
      n.abort();
      await peerStreamsClosed(b);
    } finally {
      members = saved;
      peers.changed();
      older.closeAllConnections();
      await new Promise<void>((resolve) => older.close(() => resolve()));
    }
  });

  test('a replica that joins, and one that restarts, have their nodes sent', async () => {
    const s = await open('root');
    await c.start();
    c.fleet.connect({ id: 'on-c', cluster: 'web' }, 'ads', '127.0.0.1:8');
    members = [...members, { id: 'cp-c', apiUrl: c.url }];
    peers.changed();
    const joined = await next(s, 'C’s node', (e) => e.type === 'node' && row(e).node_id === 'on-c');
    assert.equal(row(joined).connected, true);
    // C restarts on the same port (a new process: a new fleet and cursor epoch). A's stream to
    // it drops and is reopened with a cursor of the old run; C's nodes arrive under its new one.
    const oldEpoch = c.hub.epoch;
    const port = Number(new URL(c.url).port);
    await c.stop();
    const c2 = new Replica('cp-c', store);
    restarted.push(c2);
    await c2.start(port);
    c2.fleet.connect({ id: 'on-c', cluster: 'web' }, 'ads', '127.0.0.1:8');
    const again = await next(
      s,
      'C’s node again',
      (e) => e.type === 'node' && row(e).node_id === 'on-c' && e.id.includes(`_${c2.hub.epoch}-`),
    );
    assert.ok(!again.id.includes(oldEpoch), again.id);
    // C leaves the membership: A stops reading it.
    members = members.filter((m) => m.id !== 'cp-c');
    peers.changed();
    await peerStreamsClosed(c2);
    s.abort();
  });
});
