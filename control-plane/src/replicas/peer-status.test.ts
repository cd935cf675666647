/**
 * Asking the other replicas for their proxies (peer-status.ts), against real HTTP servers on
 * loopback standing in for their management APIs: one answers, one never does, one is gone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { nodeStatusJson } from '../api/wire-json.js';
import { PeerStatus } from './peer-status.js';
import { listen, NODE } from './peer-status-fixtures.js';

void describe('peer status', () => {
  const seen: Array<{ url: string; authorization: string | undefined }> = [];
  const answering = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ revision: 3, nodes: [nodeStatusJson(NODE)] }));
  });
  // Accepts and never answers.
  const silent = http.createServer(() => {});
  const refusing = http.createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'FERRY_UNAUTHENTICATED', message: 'unknown token' }));
  });
  let urls: { answering: string; silent: string; refusing: string; gone: string };

  before(async () => {
    const gone = http.createServer();
    urls = {
      answering: await listen(answering),
      silent: await listen(silent),
      refusing: await listen(refusing),
      gone: await listen(gone),
    };
    await new Promise((resolve) => gone.close(resolve));
  });
  after(() => {
    answering.close();
    silent.closeAllConnections();
    silent.close();
    refusing.close();
  });

  /** `timeoutMs` is a safety bound but for the silent peer's test. */
  const peers = (replicas: Array<{ id: string; apiUrl: string }>, timeoutMs = 30_000): PeerStatus =>
    new PeerStatus({ replicas: () => replicas, self: () => 'cp-a', timeoutMs });

  void test("a peer's proxies come back as it reported them, asked with the caller's token", async () => {
    const result = await peers([
      { id: 'cp-a', apiUrl: 'http://127.0.0.1:1' },
      { id: 'cp-b', apiUrl: urls.answering },
    ]).collect(
      { authorization: 'Bearer t0k', viaCertificate: false },
      { nodeId: 'edge-7', resources: true },
    );
    assert.deepEqual(result, { nodes: [NODE], unanswered: [] });
    assert.deepEqual(seen.at(-1), {
      url: '/v1/status?local=true&node=edge-7&resources=true',
      authorization: 'Bearer t0k',
    });
  });

  void test('a peer that does not answer within the bound is reported as such', async () => {
    const result = await peers([{ id: 'cp-c', apiUrl: urls.silent }], 300).collect(
      { authorization: undefined, viaCertificate: false },
      {},
    );
    assert.deepEqual(result, {
      nodes: [],
      unanswered: [{ replica: 'cp-c', apiUrl: urls.silent, error: 'no answer within 300 ms' }],
    });
  });

  void test('peers that cannot be asked, refuse or are gone are reported with why', async () => {
    const result = await peers([
      { id: 'cp-b', apiUrl: urls.answering },
      { id: 'cp-d', apiUrl: urls.gone },
      { id: 'cp-e', apiUrl: urls.refusing },
      { id: 'cp-f', apiUrl: '' },
    ]).collect({ authorization: undefined, viaCertificate: false }, {});
    assert.deepEqual(
      result.nodes.map((n) => [n.nodeId, n.replica]),
      [['edge-7', 'cp-b']],
    );
    const why = new Map(result.unanswered.map((u) => [u.replica, u.error]));
    assert.match(why.get('cp-d') ?? '', /^not reachable: .*ECONNREFUSED/);
    assert.equal(why.get('cp-e'), 'answered 401: FERRY_UNAUTHENTICATED: unknown token');
    assert.match(why.get('cp-f') ?? '', /names no management API address/);
    assert.equal(result.unanswered.find((u) => u.replica === 'cp-d')?.apiUrl, urls.gone);
  });

  void test('a caller who proved itself with a client certificate is not forwarded', async () => {
    const before = seen.length;
    const result = await peers([{ id: 'cp-b', apiUrl: urls.answering }]).collect(
      { authorization: undefined, viaCertificate: true },
      {},
    );
    assert.equal(seen.length, before, 'not asked');
    assert.match(
      result.unanswered[0]?.error ?? '',
      /client certificate, which cannot be forwarded/,
    );
  });
});
