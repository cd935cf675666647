/**
 * ferry-proxy's workers accept new connections themselves (docs/architecture.md, "Process
 * model"), real processes on loopback: with the primary stopped (SIGSTOP), a two-worker proxy
 * still answers requests on new connections, each on a connection of its own. Under node:cluster's
 * round robin the primary accepts every connection and hands it to a worker, so these requests
 * would wait for the primary; `NODE_CLUSTER_SCHED_POLICY=rr` brings that back, and the second
 * test shows it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  eventually,
  freePort,
  httpListener,
  httpRequest,
  startBackend,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Backend,
  type Proxy,
} from './harness.js';

/** One GET on a fresh connection; resolves with the status, or `undefined` after `timeoutMs`. */
function getOnNewConnection(url: string, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve(undefined);
    });
    req.once('error', () => resolve(undefined));
  });
}

async function startTwoWorkerProxy(
  nodeId: string,
  backend: Backend,
  env: Record<string, string> = {},
): Promise<{ proxy: Proxy; url: string }> {
  const port = await freePort();
  const proxy = await startProxy({
    bootstrap: staticBootstrap({
      nodeId,
      listeners: [httpListener('http', port, { cluster: 'web' })],
      clusters: [staticClusterResource('web', [backend.port])],
    }),
    concurrency: 2,
    env,
  });
  const url = `http://127.0.0.1:${port}/accept`;
  await eventually(
    async () =>
      (await httpRequest(url).catch(() => undefined))?.status === 200 ? true : undefined,
    'the proxy serves its listener',
  );
  return { proxy, url };
}

describe('workers accept new connections without the primary', () => {
  let backend: Backend;

  before(async () => {
    backend = await startBackend('web');
  });

  after(async () => {
    await stopAll();
    await backend.close();
  });

  test('a stopped primary does not hold up new connections', async () => {
    const { proxy, url } = await startTwoWorkerProxy('accept-1', backend);
    const before = backend.requests.length;
    proxy.proc.kill('SIGSTOP');
    try {
      // Sequential, one connection each: every one is a new accept on the shared socket.
      const statuses: Array<number | undefined> = [];
      for (let i = 0; i < 20; i++) statuses.push(await getOnNewConnection(url, 10_000));
      assert.deepEqual(statuses, new Array<number>(20).fill(200));
    } finally {
      proxy.proc.kill('SIGCONT');
    }
    assert.equal(backend.requests.length - before, 20);
    await proxy.stop();
  });

  test('with node round robin (the operator opted in) new connections wait for the primary', async () => {
    const { proxy, url } = await startTwoWorkerProxy('accept-rr', backend, {
      NODE_CLUSTER_SCHED_POLICY: 'rr',
    });
    proxy.proc.kill('SIGSTOP');
    try {
      // The kernel completes the handshake, but no worker gets the connection while the primary
      // is stopped: the request is not answered within the bound.
      assert.equal(await getOnNewConnection(url, 1_500), undefined);
    } finally {
      proxy.proc.kill('SIGCONT');
    }
    // Once the primary runs again, new connections are served.
    assert.equal(await getOnNewConnection(url, 10_000), 200);
    await proxy.stop();
  });
});
