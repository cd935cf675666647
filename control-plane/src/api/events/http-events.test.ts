/**
 * GET /v1/events and GET /v1/nodes over real HTTP (node:http server, fetch client): what each
 * role sees, resuming with Last-Event-ID, the stream limit, and a client that stops reading being
 * cut off with its buffer bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readEventStream, type StreamEvent } from '@ferry/shared/event-stream';
import type { NodeEventJson, NodesPageJson, StoreEventJson } from '@ferry/shared/api-wire';
import { MemoryStore } from '../../store/store-memory.js';
import { cluster } from '../../validation/test-fixtures.js';
import { FleetTracker } from '../../xds/fleet.js';
import type { MetricChild } from '../../metrics/registry.js';
import { IN_PROCESS_CALLER } from '../access.js';
import { Authenticator } from '../authenticator.js';
import { HttpApi } from '../http-api.js';
import { ManagementService } from '../management-service.js';
import { EventHub } from './event-hub.js';
import { EventSources, nodeEvent } from './event-sources.js';

const gauge: MetricChild = { inc: () => undefined, set: () => undefined, get: () => 0 };
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const BOUND_MS = 10_000;

interface Stream {
  readonly status: number;
  readonly events: AsyncGenerator<StreamEvent>;
  readonly abort: () => void;
}

/** The next event `match` accepts, within BOUND_MS; earlier ones are passed over. */
async function next(s: Stream, match: (e: StreamEvent) => boolean): Promise<StreamEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no matching event in time')), BOUND_MS);
  });
  const find = (async () => {
    for (;;) {
      const r = await s.events.next();
      if (r.done) throw new Error('stream ended before a matching event');
      if (match(r.value)) return r.value;
    }
  })();
  try {
    return await Promise.race([find, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('HTTP event stream and node pages', () => {
  const store = new MemoryStore();
  const fleet = new FleetTracker({ connectedProxies: () => gauge });
  const service = new ManagementService({ store, fleet });
  const hub = new EventHub({
    coalesceMs: 20,
    maxStreams: 6,
    node: (id) => nodeEvent(service, id),
  });
  const sources = new EventSources({ hub, store, fleet });
  const api = new HttpApi({
    service,
    authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: false }),
    events: hub,
    eventsBufferBytes: 64 * 1024,
  });
  let base = '';
  const token: Record<string, string> = {};
  const streams: Stream[] = [];

  async function open(who: string | undefined, query = '', headers: Record<string, string> = {}) {
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/events${query}`, {
      headers: { ...(who ? { authorization: `Bearer ${token[who]}` } : {}), ...headers },
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

  /** Aborts every stream the tests opened and waits until the server let go of them. */
  async function closeAll(): Promise<void> {
    for (const s of streams.splice(0)) s.abort();
    const deadline = Date.now() + BOUND_MS;
    while (hub.streams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hub.streams, 0, 'closed streams are released');
  }

  before(async () => {
    for (const [name, role, groups] of [
      ['root', 'admin', ['*']],
      ['view-web', 'viewer', ['web']],
    ] as const) {
      const created = await service.createToken(
        { name, role, groups: [...groups] },
        IN_PROCESS_CALLER,
      );
      token[name] = created.token ?? '';
    }
    await sources.start();
    base = `http://127.0.0.1:${(await api.listen('127.0.0.1', 0)).port}`;
  });

  after(async () => {
    for (const s of streams) s.abort();
    sources.close();
    await api.close();
  });

  test('without credentials: 401', async () => {
    const s = await open(undefined);
    assert.equal(s.status, 401);
  });

  test('a viewer sees its group’s store and node events, not others', async () => {
    const s = await open('view-web');
    assert.equal(s.status, 200);
    await service.apply({ group: 'api', documents: [cluster('a1')] });
    await service.apply({ group: 'web', documents: [cluster('w1')] });
    const e = await next(s, (x) => x.type === 'store');
    const data = JSON.parse(e.data) as StoreEventJson;
    assert.equal(data.group, 'web', 'the api group’s revision is not shown to a web viewer');
    assert.equal(data.actor, '');
    assert.ok(!Number.isNaN(Date.parse(data.at)));
    assert.deepEqual(data.changes, [
      {
        type: 'Cluster',
        type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        name: 'w1',
        action: 'put',
      },
    ]);
    fleet.connect({ id: 'api-proxy', cluster: 'api' }, 'ads-delta', '127.0.0.1:1');
    const h = fleet.connect({ id: 'web-proxy', cluster: 'web' }, 'ads-delta', '127.0.0.1:2');
    h.sent(LDS, 'v1', 1, { wildcard: true, names: new Set() });
    h.nacked(LDS, 'v1', 'Listener "l": bad port', ['l']);
    const node = await next(s, (x) => x.type === 'node');
    const row = JSON.parse(node.data) as NodeEventJson;
    assert.equal(row.state, 'NACKED');
    assert.equal(row.node_id, 'web-proxy');
    assert.deepEqual(row.types[0]?.last_nack, {
      version: 'v1',
      error: 'Listener "l": bad port',
      time: (row.types[0]?.last_nack as { time: string }).time,
      resources: ['l'],
    });
    h.disconnect();
    const gone = await next(s, (x) => x.type === 'node');
    assert.equal((JSON.parse(gone.data) as { connected: boolean }).connected, false);
  });

  test('Last-Event-ID resumes after that event only', async () => {
    const first = await open('root');
    await service.apply({ group: 'web', documents: [cluster('r1')] });
    const seen = await next(first, (x) => x.type === 'store');
    first.abort();
    await service.apply({ group: 'web', documents: [cluster('r2')] });
    const again = await open('root', '', { 'last-event-id': seen.id });
    const e = await next(again, (x) => x.type === 'store');
    assert.equal((JSON.parse(e.data) as StoreEventJson).changes[0]?.name, 'r2');
    const reset = await open('root', '?since=elsewhere-5');
    assert.equal((await next(reset, () => true)).type, 'reset');
  });

  test('streams past --api-events-max-streams get 429 with a JSON error', async () => {
    while (hub.streams < 6) await open('root');
    const res = await fetch(`${base}/v1/events`, {
      headers: { authorization: `Bearer ${token.root}` },
    });
    assert.equal(res.status, 429);
    assert.equal(((await res.json()) as { code: string }).code, 'FERRY_RESOURCE_EXHAUSTED');
    await closeAll();
  });

  test('a client that stops reading is cut off once its buffer passes the bound', async () => {
    await closeAll();
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    socket.pause();
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.write(
      `GET /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token.root}\r\n\r\n`,
    );
    const deadline = Date.now() + BOUND_MS;
    while (hub.streams === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hub.streams, 1);
    const big = {
      revision: 0,
      group: 'web',
      actor: '',
      at: '',
      message: 'x'.repeat(16 * 1024),
      changes: [],
    };
    let published = 0;
    while (hub.streams > 0 && Date.now() < deadline) {
      for (let i = 0; i < 64; i++) hub.publish('store', 'web', big);
      published += 64;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(hub.streams, 0, `still subscribed after ${published} events`);
    // Reading now drains what the kernel held, then the end: the server dropped the rest.
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(closed, 'the server closed the connection');
    const sent = published * 16 * 1024;
    assert.ok(received < sent, `received ${received} of ${sent} bytes published`);
  });

  test('GET /v1/nodes: filtered, counted and paged; a viewer sees its groups; bad queries are 400', async () => {
    for (let i = 0; i < 5; i++)
      fleet.connect({ id: `page-${i}`, cluster: i < 3 ? 'web' : 'api' }, 'ads', '127.0.0.1:9');
    const get = async (who: string, query: string) => {
      const res = await fetch(`${base}/v1/nodes${query}`, {
        headers: { authorization: `Bearer ${token[who]}` },
      });
      return {
        status: res.status,
        json: (await res.json()) as NodesPageJson & { message?: string },
      };
    };
    const page = await get('root', '?q=PAGE-&offset=1&limit=2');
    assert.equal(page.status, 200);
    assert.equal(page.json.total, 5);
    assert.deepEqual(
      page.json.nodes.map((n) => [n.node_id, n.state]),
      [
        ['page-1', 'SYNCED'],
        ['page-2', 'SYNCED'],
      ],
    );
    const viewer = await get('view-web', '?q=page-');
    assert.deepEqual(
      viewer.json.nodes.map((n) => n.node_id),
      ['page-0', 'page-1', 'page-2'],
    );
    assert.equal((await get('view-web', '?group=api')).status, 403);
    const bad = await get('root', '?limit=0');
    assert.equal(bad.status, 400);
    assert.match(bad.json.message ?? '', /^limit: expected 1 to 1000/);
    assert.equal((await get('root', '?offset=-1')).status, 400);
    assert.equal((await get('root', '?state=synced')).status, 400);
  });
});
