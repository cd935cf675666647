/**
 * The event stream across two control-plane replicas on one etcd (real processes on loopback):
 * a viewer's GET /v1/events on replica A carries the node events of a ferry-proxy connected to
 * replica B (A reads B's node events with the viewer's token), live: its connect and ACK, then
 * the NACK of a listener it cannot run. Resuming on A with the merged cursor after a second proxy
 * connected to B meanwhile sends that proxy's row, not a reset.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type {
  ApplyRequestJson,
  CreatedTokenJson,
  CreateTokenRequestJson,
  ErrorJson,
  NodeEventJson,
} from '@ferry/shared/api-wire';
import { readEventStream, type StreamEvent } from '@ferry/shared/event-stream';
import { nextEvent } from '@ferry/shared/testing/event-stream';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import {
  eventually,
  freePort,
  hcmFilter,
  listenerResource,
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

const BOOTSTRAP = 'dashboard-replicas-e2e-bootstrap-token-0123456789';
const ON_B = 'events-on-b-1';
const LATER_ON_B = 'events-on-b-2';
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

/** The node row of a `node` event of `nodeId`; undefined for any other event. */
function rowOf(e: StreamEvent, nodeId: string): NodeEventJson | undefined {
  if (e.type !== 'node') return undefined;
  const row = JSON.parse(e.data) as NodeEventJson;
  return row.node_id === nodeId ? row : undefined;
}

function listener(port: number, extra: Json = {}): Json {
  return {
    ...listenerResource('web', port, [
      {
        filters: [
          hcmFilter({
            routeConfig: {
              name: 'web-routes',
              virtual_hosts: [
                {
                  name: 'all',
                  domains: ['*'],
                  routes: [{ match: { prefix: '/' }, route: { cluster: 'alpha' } }],
                },
              ],
            },
          }),
        ],
      },
    ]),
    ...extra,
  };
}

describe('event stream across two replicas', { timeout: 300_000 }, () => {
  let etcd: EtcdCluster;
  let a: ControlPlane;
  let b: ControlPlane;
  let backend: Backend;
  let port = 0;
  let viewerToken = '';
  const streams: Stream[] = [];

  async function call<Res>(cp: ControlPlane, method: string, path: string, body?: unknown) {
    const res = await fetch(cp.apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${BOOTSTRAP}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Res };
  }

  async function apply(resources: Json[]): Promise<void> {
    const r = await call<ErrorJson>(a, 'POST', '/v1/apply', {
      resources,
      force: true,
    } satisfies ApplyRequestJson);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }

  async function open(headers: Record<string, string> = {}): Promise<Stream> {
    const controller = new AbortController();
    const res = await fetch(`${a.apiUrl}/v1/events`, {
      headers: { authorization: `Bearer ${viewerToken}`, ...headers },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    assert.ok(res.body);
    const stream = { events: readEventStream(res), abort: () => controller.abort() };
    streams.push(stream);
    return stream;
  }

  before(async () => {
    etcd = await startEtcd();
    const store = `etcd://${etcd.endpoints.join(',')}/e2e/${randomUUID()}`;
    backend = await startBackend('alpha');
    port = await freePort();
    const replica = (id: string): Promise<ControlPlane> =>
      startControlPlane({
        store,
        args: ['--replica-id', id],
        env: { FERRY_API_TOKEN: BOOTSTRAP },
      });
    a = await replica('cp-a');
    b = await replica('cp-b');
    const created = await call<CreatedTokenJson>(a, 'POST', '/v1/tokens', {
      name: 'dash-ro',
      role: 'viewer',
      groups: ['default'],
    } satisfies CreateTokenRequestJson);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    viewerToken = created.json.token ?? '';
    await apply([staticClusterResource('alpha', [backend.port]), listener(port)]);
    // A knows B's API address from B's membership record.
    await eventually(async () => {
      const r = await call<{ replica_set?: { replicas: { id: string; api_url: string }[] } }>(
        a,
        'GET',
        '/v1/status',
      );
      return r.json.replica_set?.replicas.some((x) => x.id === 'cp-b' && x.api_url !== '')
        ? true
        : undefined;
    }, 'replica A seeing replica B with its API address');
  });

  after(async () => {
    for (const s of streams) s.abort();
    await stopAll();
    await backend?.close();
    await etcd?.stop();
  });

  /** Runs `body`; a failure carries the end of both replicas' logs (what they saw of it). */
  async function withLogs(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      const tail = (cp: ControlPlane) => cp.logs.slice(-20).join('\n');
      (err as Error).message += `\n--- replica A:\n${tail(a)}\n--- replica B:\n${tail(b)}`;
      throw err;
    }
  }

  test('a client of A sees B’s proxy connect, ACK and NACK live, and resumes', () =>
    withLogs(async () => {
      const viewer = await open();
      await startProxy({ bootstrap: proxyBootstrap({ nodeId: ON_B, xdsAddress: b.xdsAddress }) });

      // Node events are coalesced (latest state wins): the connect and the first ACK may be one.
      const acked = await next(viewer, 'B’s proxy connected and ACKed the listener', (e) => {
        const row = rowOf(e, ON_B);
        const lds = row?.types.find((t) => t.type_url === LDS);
        return (
          row !== undefined &&
          row.connected &&
          lds !== undefined &&
          lds.version_acked !== '' &&
          lds.version_acked === lds.version_sent
        );
      });
      assert.equal(rowOf(acked, ON_B)?.replica, 'cp-b');

      // ferry-proxy NACKs a listener with use_original_dst (a valid Envoy field it does not run).
      await apply([listener(port, { use_original_dst: true })]);
      const nacked = await next(
        viewer,
        'B’s proxy NACKed',
        (e) => rowOf(e, ON_B)?.state === 'NACKED',
      );
      const lds = rowOf(nacked, ON_B)?.types.find((t) => t.type_url === LDS);
      assert.match(lds?.last_nack?.error ?? '', /Listener "web": use_original_dst: not supported/);
      assert.equal(nacked.id.split('_').length, 2, `a cursor of A and one of B: ${nacked.id}`);

      // Away from the stream, a second proxy connects to B; the resumed stream sends its row.
      viewer.abort();
      await startProxy({
        bootstrap: proxyBootstrap({ nodeId: LATER_ON_B, xdsAddress: b.xdsAddress }),
      });
      await eventually(async () => {
        const r = await call<{ nodes: { node_id: string }[] }>(a, 'GET', '/v1/nodes');
        return r.json.nodes.some((n) => n.node_id === LATER_ON_B) ? true : undefined;
      }, 'the second proxy listed');
      const resumed = await open({ 'last-event-id': nacked.id });
      const later = await next(
        resumed,
        'the second proxy’s row, or a reset',
        (e) => e.type === 'reset' || rowOf(e, LATER_ON_B) !== undefined,
      );
      assert.equal(later.type, 'node', 'resumed, not reset');
      assert.equal(rowOf(later, LATER_ON_B)?.replica, 'cp-b');
    }));
});
