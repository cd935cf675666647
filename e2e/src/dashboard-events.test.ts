/**
 * The dashboard's server side end to end: a real control plane with tokens, a real ferry-proxy and
 * a backend; GET /v1/events read with fetch() and a stream reader, as the dashboard reads it.
 * A proxy connecting is a `node` event; an apply the proxy NACKs is a `node` event carrying the
 * NACK and its error detail, and GET /v1/nodes counts the node as NACKED; resuming with
 * Last-Event-ID gets only later events; a viewer token reads the stream but cannot roll back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ApplyRequestJson,
  CreatedTokenJson,
  CreateTokenRequestJson,
  ErrorJson,
  NodeEventJson,
  NodesPageJson,
  RollbackRequestJson,
  StoreEventJson,
} from '@ferry/shared/api-wire';
import { readEventStream, type StreamEvent } from '@ferry/shared/event-stream';
import { nextEvent } from '@ferry/shared/testing/event-stream';
import {
  freePort,
  httpListener,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  type Backend,
  type ControlPlane,
  type Json,
} from './harness.js';

const BOOTSTRAP = 'dashboard-e2e-bootstrap-token-0123456789';
const NODE = 'dash-proxy-1';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
/** A liveness bound on each awaited event (the machine may be loaded), not a timing claim. */
const BOUND_MS = 30_000;

interface Stream {
  readonly events: AsyncGenerator<StreamEvent>;
  readonly abort: () => void;
}

/** Next event `match` accepts within BOUND_MS; earlier ones are passed over. */
function next(s: Stream, what: string, match: (e: StreamEvent) => boolean): Promise<StreamEvent> {
  return nextEvent(s.events, what, match, BOUND_MS);
}

/** The event's sequence number within its cursor (`<epoch>-<seq>`). */
function seq(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

describe('dashboard server side: events and node pages with a real proxy', () => {
  let cp: ControlPlane;
  let backend: Backend;
  let port: number;
  const tokens: Record<string, string> = {};
  const streams: Stream[] = [];

  async function call<Res>(token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(cp.apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Res };
  }

  async function apply(resources: Json[]): Promise<void> {
    const r = await call<ErrorJson>(BOOTSTRAP, 'POST', '/v1/apply', {
      resources,
      force: true,
    } satisfies ApplyRequestJson);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }

  async function open(token: string, headers: Record<string, string> = {}): Promise<Stream> {
    const controller = new AbortController();
    const res = await fetch(`${cp.apiUrl}/v1/events`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.ok(res.body);
    const stream = { events: readEventStream(res), abort: () => controller.abort() };
    streams.push(stream);
    return stream;
  }

  before(async () => {
    backend = await startBackend('alpha');
    port = await freePort();
    cp = await startControlPlane({ env: { FERRY_API_TOKEN: BOOTSTRAP } });
    for (const [name, role] of [
      ['dash-ro', 'viewer'],
      ['dash-ops', 'operator'],
    ] as const) {
      const r = await call<CreatedTokenJson>(BOOTSTRAP, 'POST', '/v1/tokens', {
        name,
        role,
        groups: ['default'],
      } satisfies CreateTokenRequestJson);
      assert.equal(r.status, 201, JSON.stringify(r.json));
      tokens[name] = r.json.token ?? '';
    }
    await apply([
      staticClusterResource('alpha', [backend.port]),
      httpListener('web', port, { cluster: 'alpha' }),
    ]);
  });

  after(async () => {
    for (const s of streams) s.abort();
    await stopAll();
    await backend?.close();
  });

  test('connect, NACK with its error detail, resume, and a viewer’s limits', async () => {
    const viewer = await open(tokens['dash-ro']!);
    await startProxy({ bootstrap: proxyBootstrap({ nodeId: NODE, xdsAddress: cp.xdsAddress }) });

    // Node events are coalesced (latest state wins), so the connect and the first ACK may arrive
    // as one event: wait for the first event showing both.
    const connected = await next(viewer, 'the proxy connected and ACKed the listener', (e) => {
      if (e.type !== 'node') return false;
      const row = JSON.parse(e.data) as NodeEventJson;
      const lds = row.types.find((t) => t.type_url === LDS);
      return (
        row.node_id === NODE &&
        row.connected &&
        lds !== undefined &&
        lds.version_acked !== '' &&
        lds.version_acked === lds.version_sent
      );
    });
    assert.ok(connected.id !== '');

    // ferry-proxy NACKs a listener with use_original_dst (a valid Envoy field it does not run).
    await apply([
      httpListener('web', port, { cluster: 'alpha' }, { listener: { use_original_dst: true } }),
    ]);
    const nacked = await next(viewer, 'a node event with the NACK', (e) => {
      if (e.type !== 'node') return false;
      const lds = (JSON.parse(e.data) as NodeEventJson).types.find((t) => t.type_url === LDS);
      return lds?.last_nack !== undefined;
    });
    const row = JSON.parse(nacked.data) as NodeEventJson;
    assert.equal(row.node_id, NODE);
    assert.equal(row.state, 'NACKED');
    const lds = row.types.find((t) => t.type_url === LDS);
    assert.match(lds?.last_nack?.error ?? '', /Listener "web": use_original_dst: not supported/);
    assert.equal(lds?.last_nack?.version, lds?.version_sent);

    const page = await call<NodesPageJson>(tokens['dash-ro']!, 'GET', '/v1/nodes?state=NACKED');
    assert.equal(page.status, 200);
    assert.deepEqual(
      page.json.nodes.map((n) => [n.node_id, n.state]),
      [[NODE, 'NACKED']],
    );
    assert.equal(page.json.counts.NACKED, 1);

    // Resume: after the NACK event, only what came later.
    viewer.abort();
    await apply([staticClusterResource('after-nack', [backend.port])]);
    const resumed = await open(tokens['dash-ro']!, { 'last-event-id': nacked.id });
    const first = await next(resumed, 'the first event after the cursor', () => true);
    assert.ok(seq(first.id) > seq(nacked.id), `${first.id} comes after ${nacked.id}`);
    const store =
      first.type === 'store'
        ? first
        : await next(resumed, 'the later apply', (e) => e.type === 'store');
    const change = JSON.parse(store.data) as StoreEventJson;
    assert.deepEqual(
      change.changes.map((c) => [c.type, c.name, c.action]),
      [['Cluster', 'after-nack', 'put']],
    );
    assert.equal(change.actor, 'FERRY_API_TOKEN');

    // The viewer reads events but cannot act.
    const rollback = await call<ErrorJson>(tokens['dash-ro']!, 'POST', '/v1/rollback', {
      revision: 1,
    } satisfies RollbackRequestJson);
    assert.equal(rollback.status, 403);
    assert.equal(rollback.json.code, 'FERRY_FORBIDDEN');
  });
});
