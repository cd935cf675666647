/**
 * Rollouts and fleet status across two control-plane replicas on one etcd (real processes on
 * loopback): replica A drives rollouts (it took the rollout lease first, for a rollout in a group
 * no proxy uses, which keeps it held), one proxy is connected to A and one to B, and the node ids
 * are chosen so that stage 1's proxy is B's. Load runs through both proxies the whole time.
 *
 * 1. `ferryctl status` on A lists B's proxy with replica cp-b (A asked B's API for it).
 * 2. A bad change (the route to a backend answering 503) rolled out 1,100%: A puts B's proxy on the
 *    candidate, fails the 5xx gate on the load B's proxy reports to B, and rolls back by itself;
 *    A's own proxy never answered anything but v1.
 * 3. A slow change (the route to a backend that answers after 200 ms) with the latency gate
 *    `max_ratio: 2`: rolled back on the mean request time B's proxy reports over LRS against A's.
 * Every wait is on a condition with a liveness bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import {
  eventually,
  ferryctl,
  freePortRun,
  httpRequest,
  proxyBootstrap,
  routeAllTo,
  staticClusterResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  yamlDocs,
  type Backend,
  type ControlPlane,
  type Json,
} from './harness.js';
import { applyConfig } from './fixtures.js';
import {
  ProxyLoad,
  rolloutConfig,
  rolloutStatus,
  servingFrom,
  startBrokenBackend,
  startServer,
  type RolloutJson,
  type TestServer,
} from './fixtures-rollout.js';

/** The proxies, stage-1 one first: the rollout ranks node ids by sha256 (rollout-plan.ts). */
const [ON_B, ON_A] = ['fleetx-1', 'fleetx-2'].sort((x, y) => {
  const [hx, hy] = [x, y].map((id) => createHash('sha256').update(id).digest('hex'));
  return hx! < hy! ? -1 : 1;
}) as [string, string];
const SLOW_MS = 200;

describe('rollouts and status across two replicas', { timeout: 300_000 }, () => {
  let etcd: EtcdCluster;
  let a: ControlPlane;
  let b: ControlPlane;
  let v1: Backend;
  let broken: TestServer;
  let slow: TestServer;
  let port = 0;
  let dir = '';
  let load: ProxyLoad | undefined;
  /** Answers per proxy: "v1", "503", "slow" or "error". */
  const seen = (id: string): string[] => load!.seen.get(id)!;

  before(async () => {
    dir = tempDir('rollout-replicas');
    etcd = await startEtcd();
    const store = `etcd://${etcd.endpoints.join(',')}/e2e/${randomUUID()}`;
    v1 = await startBackend('v1');
    broken = await startBrokenBackend();
    slow = await startServer((req, res) => {
      req.resume();
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('slow');
      }, SLOW_MS);
    });
    const replica = (id: string): Promise<ControlPlane> =>
      startControlPlane({ store, args: ['--replica-id', id, '--lrs-interval-ms', '200'] });
    a = await replica('cp-a');
    // A takes the rollout lease for a rollout no proxy takes part in; it holds the lease while
    // that rollout is active, so it drives the ones below although B serves their canary.
    const hold = (name: string): Json => staticClusterResource(name, [v1.port]);
    fs.writeFileSync(path.join(dir, 'hold.yaml'), yamlDocs([hold('hold-1')]));
    fs.writeFileSync(path.join(dir, 'hold-2.yaml'), yamlDocs([hold('hold-2')]));
    const held = await ferryctl(a.apiUrl, [
      'apply',
      '-f',
      path.join(dir, 'hold.yaml'),
      '--group',
      'hold',
    ]);
    assert.equal(held.code, 0, held.stderr);
    const holding = await ferryctl(a.apiUrl, [
      'apply',
      '-f',
      path.join(dir, 'hold-2.yaml'),
      '--group',
      'hold',
      '--stages',
      '1',
    ]);
    assert.equal(holding.code, 0, holding.stderr);
    await eventually(
      () => (a.logs.some((l) => l.includes('this replica now drives rollouts')) ? true : undefined),
      'replica A driving rollouts',
    );
    b = await replica('cp-b');

    port = await freePortRun(2);
    await applyConfig(
      b,
      rolloutConfig(port, 'v1', { v1: v1.port, broken: broken.port, slow: slow.port }),
    );
    const placed = [
      [ON_A, a],
      [ON_B, b],
    ] as const;
    await Promise.all(
      placed.map(async ([nodeId, cp], offset) => {
        await startProxy({
          bootstrap: proxyBootstrap({ nodeId, xdsAddress: cp.xdsAddress }),
          args: ['--listener-port-offset', String(offset)],
        });
        await servingFrom(port + offset, 'v1', `${nodeId} serving v1`);
      }),
    );
    load = new ProxyLoad([ON_A, ON_B], port);
  });

  after(async () => {
    await load?.stop();
    await stopAll();
    await v1?.close();
    await broken?.close();
    await slow?.close();
    await etcd?.stop();
  });

  /** Starts a rollout of `docs` through A with the spec `spec`; resolves when it stopped. */
  async function rolledOut(name: string, docs: Json[], spec: string): Promise<RolloutJson> {
    fs.writeFileSync(path.join(dir, `${name}.yaml`), yamlDocs(docs));
    fs.writeFileSync(path.join(dir, `${name}-rollout.yaml`), spec);
    const started = await ferryctl(a.apiUrl, [
      'apply',
      '-f',
      path.join(dir, `${name}.yaml`),
      '--rollout',
      path.join(dir, `${name}-rollout.yaml`),
    ]);
    assert.equal(started.code, 0, started.stderr);
    const rollout = /rollout (rollout-\d+)/.exec(started.stdout)?.[1];
    assert.ok(rollout, started.stdout);
    return eventually(
      async () =>
        (await rolloutStatus(a, 'default')).find(
          (r) => r.name === rollout && r.state !== 'PROGRESSING',
        ),
      `rollout ${name} to stop`,
      90_000,
    );
  }

  test("ferryctl status on A lists B's proxy with replica B", async () => {
    // A learns of B (its membership record, renewed every second) once B is up.
    const body = await eventually(async () => {
      const res = await ferryctl(a.apiUrl, ['status', '-o', 'json']);
      assert.equal(res.code, 0, res.stderr);
      const parsed = JSON.parse(res.stdout) as {
        nodes: { node_id: string; replica?: string; connected: boolean }[];
        unanswered_replicas?: unknown[];
      };
      return parsed.nodes.some((n) => n.node_id === ON_B) ? parsed : undefined;
    }, "B's proxy listed by A");
    const connected = body.nodes
      .filter((n) => n.connected && n.node_id.startsWith('fleetx-'))
      .map((n) => [n.node_id, n.replica])
      .sort();
    assert.deepEqual(
      connected,
      [
        [ON_A, 'cp-a'],
        [ON_B, 'cp-b'],
      ].sort(),
    );
    assert.deepEqual(body.unanswered_replicas, []);
    const table = await ferryctl(a.apiUrl, ['status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^${ON_B}\\s+default\\s+cp-b\\s+yes\\s`, 'm'));
  });

  test("a bad change whose canary is on B fails its 5xx gate on A's evaluation and rolls back", async () => {
    const mark = seen(ON_A).length;
    const done = await rolledOut(
      'bad',
      [routeAllTo('main', 'broken')],
      'stages: [1, 100%]\nbake: 60s\ngates:\n  max_error_ratio: 0.05\n  min_requests: 10\n',
    );
    assert.equal(done.state, 'ROLLED_BACK', JSON.stringify(done));
    assert.deepEqual(done.updated_nodes, [ON_B], "stage 1 is B's proxy");
    assert.match(done.reason, /gate failed at stage 1\/2: error ratio of updated proxies/);
    assert.ok(
      a.logs.some((l) => l.includes('"msg":"rollout rolled back"')),
      'A rolled it back',
    );
    assert.ok(!b.logs.some((l) => l.includes('"msg":"rollout rolled back"')), 'B did not');
    assert.ok(seen(ON_B).includes('503'), "B's proxy served the candidate");
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${port + 1}/`);
      return res.status === 200 && res.body.startsWith('v1 ') ? true : undefined;
    }, "B's proxy serving v1 again");
    const answers = seen(ON_A).slice(mark);
    assert.ok(answers.length > 0, "A's proxy was driven");
    assert.deepEqual([...new Set(answers)], ['v1'], "A's proxy answered only from v1");
  });

  test("the latency gate rolls back a slow change on the time B's proxy reports over LRS", async () => {
    const done = await rolledOut(
      'slow',
      [routeAllTo('main', 'slow')],
      'stages: [1, 100%]\nbake: 60s\ngates:\n  min_requests: 10\n  latency:\n    max_ratio: 2.0\n',
    );
    assert.equal(done.state, 'ROLLED_BACK', JSON.stringify(done));
    assert.deepEqual(done.updated_nodes, [ON_B]);
    assert.match(
      done.reason,
      /gate failed at stage 1\/2: mean upstream request time of updated proxies \d+\.\d ms \(\d+ requests\) is \d+\.\d+× the baseline's/,
    );
    // B keeps the metric per node as LRS carried it: a sum of ms over the timed requests.
    const load = await httpRequest(`${b.apiUrl}/v1/load?cluster=slow`);
    const metric = (
      JSON.parse(load.body) as {
        clusters: {
          nodes: {
            node: string;
            localities: {
              load_metric_stats: {
                metric_name: string;
                num_requests_finished_with_metric: number;
                total_metric_value: number;
              }[];
            }[];
          }[];
        }[];
      }
    ).clusters[0]?.nodes.find((n) => n.node === ON_B)?.localities[0]?.load_metric_stats[0];
    assert.equal(metric?.metric_name, 'ferry.upstream_rq_time_ms', load.body);
    assert.ok(
      metric.total_metric_value >= SLOW_MS * metric.num_requests_finished_with_metric,
      `each request took at least ${SLOW_MS} ms: ${JSON.stringify(metric)}`,
    );
  });
});
