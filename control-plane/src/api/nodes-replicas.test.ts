/**
 * GET /v1/nodes across replicas: the API lists its own proxies and those of every other live
 * replica (asked as status asks them, `local=true`), filters and pages the merged rows, and names
 * the replicas that did not answer. The peers are real HTTP servers on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { NodesPageJson } from '@ferry/shared/api-wire';
import { MemoryStore } from '../store/store-memory.js';
import { PeerStatus } from '../replicas/peer-status.js';
import { listen, NODE } from '../replicas/peer-status-fixtures.js';
import type { NodeStatus } from '../xds/fleet-status.js';
import { Authenticator } from './authenticator.js';
import { HttpApi } from './http-api.js';
import { ManagementService } from './management-service.js';
import { nodeStatusJson } from './wire-json.js';

const local = (nodeId: string, group: string, connected = true): NodeStatus => ({
  nodeId,
  cluster: group,
  group,
  userAgent: 'ferry-proxy',
  address: '10.0.0.1:5000',
  streams: ['ads-delta'],
  connected,
  connectedSince: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:00:01.000Z',
  types: [],
});

void describe('GET /v1/nodes across replicas', () => {
  const seen: string[] = [];
  const answering = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ revision: 3, nodes: [nodeStatusJson(NODE)] }));
  });
  const refusing = http.createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'FERRY_UNAUTHENTICATED', message: 'unknown token' }));
  });
  let api: HttpApi;
  let base: string;
  let refusingUrl: string;

  before(async () => {
    const answeringUrl = await listen(answering);
    refusingUrl = await listen(refusing);
    // edge-7 moved from this replica (cp-a) to cp-b: both list it.
    const rows = [local('web-1', 'web'), local('edge-7', 'web', false), local('api-1', 'api')];
    const service = new ManagementService({
      store: new MemoryStore(),
      fleet: { nodes: () => rows },
      replicas: () => ({
        self: 'cp-a',
        leader: undefined,
        leaderExpiresAt: undefined,
        replicas: [],
      }),
      peers: new PeerStatus({
        self: () => 'cp-a',
        replicas: () => [
          { id: 'cp-a', apiUrl: 'http://127.0.0.1:1' },
          { id: 'cp-b', apiUrl: answeringUrl },
          { id: 'cp-e', apiUrl: refusingUrl },
        ],
        timeoutMs: 30_000,
      }),
    });
    api = new HttpApi({
      service,
      authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
    });
    const { port } = await api.listen('127.0.0.1', 0);
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await api.close();
    answering.close();
    refusing.close();
  });

  const nodes = async (query: string): Promise<NodesPageJson> => {
    const res = await fetch(`${base}/v1/nodes${query}`);
    assert.equal(res.status, 200);
    return (await res.json()) as NodesPageJson;
  };
  const rows = (page: NodesPageJson): string[][] =>
    page.nodes.map((n) => [n.node_id, n.replica ?? '', n.state]);

  void test("every replica's proxies, merged and sorted, with the replicas that did not answer", async () => {
    const page = await nodes('');
    assert.deepEqual(rows(page), [
      ['api-1', 'cp-a', 'SYNCED'],
      ['edge-7', 'cp-a', 'STALE'],
      ['edge-7', 'cp-b', 'NACKED'],
      ['web-1', 'cp-a', 'SYNCED'],
    ]);
    assert.equal(page.total, 4);
    assert.deepEqual(page.counts, { SYNCED: 2, STALE: 1, NACKED: 1 });
    assert.deepEqual(page.unanswered_replicas, [
      {
        replica: 'cp-e',
        api_url: refusingUrl,
        error: 'answered 401: FERRY_UNAUTHENTICATED: unknown token',
      },
    ]);
    // The peer row keeps what the peer reported.
    assert.deepEqual(page.nodes[2], { ...nodeStatusJson(NODE), state: 'NACKED' });
    assert.equal(seen.at(-1), '/v1/status?local=true');
  });

  void test('filters, counts and pages run over the merged rows', async () => {
    const paged = await nodes('?offset=1&limit=2');
    assert.equal(paged.total, 4);
    assert.deepEqual(rows(paged), [
      ['edge-7', 'cp-a', 'STALE'],
      ['edge-7', 'cp-b', 'NACKED'],
    ]);
    const nacked = await nodes('?state=NACKED');
    assert.deepEqual(rows(nacked), [['edge-7', 'cp-b', 'NACKED']]);
    assert.deepEqual(nacked.counts, { SYNCED: 2, STALE: 1, NACKED: 1 });
    const web = await nodes('?group=web&q=EDGE');
    assert.equal(web.total, 2);
    assert.deepEqual(web.counts, { SYNCED: 0, STALE: 1, NACKED: 1 });
  });

  void test('local=true lists only this replica, asking no peer', async () => {
    const before = seen.length;
    const page = await nodes('?local=true');
    assert.deepEqual(
      rows(page).map((r) => r.slice(0, 2)),
      [
        ['api-1', 'cp-a'],
        ['edge-7', 'cp-a'],
        ['web-1', 'cp-a'],
      ],
    );
    assert.equal(page.unanswered_replicas, undefined);
    assert.equal(seen.length, before, 'no peer asked');
  });
});
