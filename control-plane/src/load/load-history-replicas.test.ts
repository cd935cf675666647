/**
 * GET /v1/load/history across replicas: each replica keeps the load of its own proxies, so the API
 * sums every other live replica's view (asked with `local=true`) into its own, bucket by bucket,
 * and names the replicas that did not answer. The peers are real HTTP APIs on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { LoadHistoryJson } from '@ferry/shared/api-wire';
import { Authenticator } from '../api/authenticator.js';
import { HttpApi } from '../api/http-api.js';
import { ManagementService } from '../api/management-service.js';
import { PeerStatus } from '../replicas/peer-status.js';
import { listen } from '../replicas/peer-status-fixtures.js';
import { MemoryStore } from '../store/store-memory.js';
import { LoadHistory } from './load-history.js';

const NO_LOCALITY = { region: '', zone: '', subZone: '' };
/** Both replicas' clocks: 10.5 buckets of 30 s after the epoch. */
const NOW = 315_000;

async function startApi(
  history: LoadHistory,
  peers?: PeerStatus,
): Promise<{ api: HttpApi; url: string }> {
  const service = new ManagementService({ store: new MemoryStore() });
  const api = new HttpApi({
    service,
    authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
    loadHistory: { source: history, ...(peers ? { peers } : {}) },
  });
  const { port } = await api.listen('127.0.0.1', 0);
  return { api, url: `http://127.0.0.1:${port}` };
}

void describe('GET /v1/load/history across replicas', () => {
  const seen: string[] = [];
  const refusing = http.createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'FERRY_UNAUTHENTICATED', message: 'unknown token' }));
  });
  let a: { api: HttpApi; url: string };
  let b: { api: HttpApi; url: string };
  let refusingUrl: string;
  /** Records what B's API is asked, then lets the request through. */
  let proxyToB: http.Server;

  before(async () => {
    const historyA = new LoadHistory({ now: () => NOW });
    const historyB = new LoadHistory({ now: () => NOW });
    historyA.record('edge', 'web', NO_LOCALITY, {
      requests: 4,
      errors: 1,
      latencyMsSum: 40,
      latencyCount: 4,
    });
    historyB.record('edge', 'web', NO_LOCALITY, {
      requests: 6,
      errors: 0,
      latencyMsSum: 30,
      latencyCount: 6,
    });
    historyB.record('edge', 'api', NO_LOCALITY, {
      requests: 2,
      errors: 2,
      latencyMsSum: 0,
      latencyCount: 0,
    });
    b = await startApi(historyB);
    proxyToB = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      void fetch(`${b.url}${req.url ?? ''}`).then(async (r) => {
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(await r.text());
      });
    });
    const bUrl = await listen(proxyToB);
    refusingUrl = await listen(refusing);
    a = await startApi(
      historyA,
      new PeerStatus({
        self: () => 'cp-a',
        replicas: () => [
          { id: 'cp-a', apiUrl: 'http://127.0.0.1:1' },
          { id: 'cp-b', apiUrl: bUrl },
          { id: 'cp-e', apiUrl: refusingUrl },
        ],
        timeoutMs: 30_000,
      }),
    );
  });
  after(async () => {
    await Promise.all([a.api.close(), b.api.close()]);
    proxyToB.close();
    refusing.close();
  });

  const get = async (query: string): Promise<LoadHistoryJson> => {
    const res = await fetch(`${a.url}/v1/load/history${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as LoadHistoryJson;
  };
  const last = (h: LoadHistoryJson): Array<[string, number, number, number, number]> =>
    h.clusters.map((c) => [
      c.cluster,
      c.requests.at(-1)!,
      c.errors.at(-1)!,
      c.latency_ms_sum.at(-1)!,
      c.latency_count.at(-1)!,
    ]);

  void test("sums every replica's load bucket by bucket and names the replicas that did not answer", async () => {
    const history = await get('?group=edge&localities=true');
    assert.equal(history.bucket_ms, 30_000);
    assert.equal(history.buckets, 120);
    assert.equal(history.start_ms, (10 - 119) * 30_000);
    assert.deepEqual(last(history), [
      ['api', 2, 2, 0, 0],
      ['web', 10, 1, 70, 10],
    ]);
    assert.equal(
      history.clusters[1]!.requests.slice(0, -1).reduce((x, y) => x + y, 0),
      0,
      'only the current bucket holds load',
    );
    assert.deepEqual(history.unanswered_replicas, [
      {
        replica: 'cp-e',
        api_url: refusingUrl,
        error: 'answered 401: FERRY_UNAUTHENTICATED: unknown token',
      },
    ]);
    assert.deepEqual(
      history.clusters.map((c) => c.localities.map((l) => l.requests.at(-1))),
      [[2], [10]],
      'per locality too',
    );
    assert.equal(seen.at(-1), '/v1/load/history?local=true&group=edge&localities=true');
  });

  void test('local=true is this replica alone, asking no peer', async () => {
    const before = seen.length;
    const history = await get('?local=true');
    assert.deepEqual(last(history), [['web', 4, 1, 40, 4]]);
    assert.equal(history.unanswered_replicas, undefined);
    assert.equal(seen.length, before);
  });
});
