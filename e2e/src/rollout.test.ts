/**
 * Progressive rollouts, real processes on loopback: a control plane (LRS every 200 ms), four
 * ferry-proxy processes with their own node ids in one group, three backends (v1 and v2 answer
 * 200, "broken" answers 503), configured with ferryctl. Load runs through every proxy the whole
 * time and every answer is recorded per proxy.
 *
 * 1. A bad change (the route to the 503 cluster) rolled out in stages 1,100% stops at stage 1:
 *    the 5xx gate fails on the updated proxy's LRS reports, the rollout rolls back by itself,
 *    the canary answers from v1 again, and the three other proxies never answered anything but
 *    v1. History shows started, stage 1 reached, rolled back.
 * 2. A good change (the route to v2) reaches stage 1; paused there, `ferryctl status` shows the
 *    canary on the candidate and the others on stable, and an ordinary apply to the group is
 *    refused; resumed and promoted by the operator, all four proxies answer from v2.
 * Every wait is on a condition with a liveness bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  eventually,
  ferryctl,
  freePortRun,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  staticClusterResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type Backend,
  type ControlPlane,
  type Json,
} from './harness.js';

const PROXIES = ['rollout-a', 'rollout-b', 'rollout-c', 'rollout-d'];

interface RolloutJson {
  name: string;
  state: string;
  stage: number;
  updated_nodes: string[];
  reason: string;
}

function yamlDocs(docs: Json[]): string {
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

function routeTo(cluster: string): Json {
  return routeConfigResource('main', [
    { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] },
  ]);
}

describe('progressive rollouts with health gates and automatic rollback', () => {
  let cp: ControlPlane;
  let v1: Backend;
  let v2: Backend;
  let broken: http.Server;
  let port = 0;
  let dir = '';
  /** Answers per proxy: "v1", "v2", "503", or "error". */
  const seen = new Map<string, string[]>(PROXIES.map((id) => [id, []]));
  let driving = true;
  let driver: Promise<void> | undefined;

  before(async () => {
    dir = tempDir('rollout');
    v1 = await startBackend('v1');
    v2 = await startBackend('v2');
    broken = http.createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('broken');
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const brokenPort = (broken.address() as { port: number }).port;
    cp = await startControlPlane({ args: ['--lrs-interval-ms', '200'] });
    port = await freePortRun(PROXIES.length);
    const lrs = { lrs_server: { self: {} } };
    fs.writeFileSync(
      path.join(dir, 'base.yaml'),
      yamlDocs([
        staticClusterResource('v1', [v1.port], lrs),
        staticClusterResource('v2', [v2.port], lrs),
        staticClusterResource('broken', [brokenPort], lrs),
        routeTo('v1'),
        listenerResource('http', port, [{ filters: [hcmFilter({ rds: 'main' })] }]),
      ]),
    );
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', path.join(dir, 'base.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    for (const [offset, nodeId] of PROXIES.entries()) {
      await startProxy({
        bootstrap: proxyBootstrap({ nodeId, xdsAddress: cp.xdsAddress }),
        args: ['--listener-port-offset', String(offset)],
      });
    }
    // Every proxy serves v1 before anything is rolled out.
    for (const [offset] of PROXIES.entries()) {
      await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${port + offset}/`);
        return res.status === 200 && res.body.startsWith('v1 ') ? true : undefined;
      }, `proxy ${offset} serving v1`);
    }
    driver = drive();
  });

  after(async () => {
    driving = false;
    await driver;
    await stopAll();
    await Promise.all([v1?.close(), v2?.close()]);
    await new Promise<void>((resolve) => (broken ? broken.close(() => resolve()) : resolve()));
  });

  /** One request after another through each proxy until the test ends. */
  async function drive(): Promise<void> {
    await Promise.all(
      PROXIES.map(async (id, offset) => {
        const answers = seen.get(id)!;
        while (driving) {
          try {
            const res = await httpRequest(`http://127.0.0.1:${port + offset}/`);
            answers.push(res.status === 503 ? '503' : (res.body.split(' ')[0] ?? ''));
          } catch {
            answers.push('error');
          }
        }
      }),
    );
  }

  /** node id → the RDS version it ACKed (ferryctl status). */
  async function rdsAcked(): Promise<Map<string, string>> {
    const res = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const nodes = (
      JSON.parse(res.stdout) as {
        nodes: { node_id: string; types: { type_url: string; version_acked: string }[] }[];
      }
    ).nodes;
    return new Map(
      nodes.map((n) => [
        n.node_id,
        n.types.find((t) => t.type_url.endsWith('RouteConfiguration'))?.version_acked ?? '',
      ]),
    );
  }

  async function rollouts(): Promise<RolloutJson[]> {
    const res = await ferryctl(cp.apiUrl, ['rollout', 'status', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    return (JSON.parse(res.stdout) as { rollouts: RolloutJson[] }).rollouts;
  }

  test('a bad change stops at stage 1 and rolls back by itself; the others never see it', async () => {
    fs.writeFileSync(path.join(dir, 'bad.yaml'), yamlDocs([routeTo('broken')]));
    fs.writeFileSync(
      path.join(dir, 'bad-rollout.yaml'),
      'stages: [1, 100%]\nbake: 30s\ngates:\n  max_error_ratio: 0.05\n  min_requests: 10\n',
    );
    const marks = new Map(PROXIES.map((id) => [id, seen.get(id)!.length]));
    const versionsBefore = await rdsAcked();
    const started = await ferryctl(cp.apiUrl, [
      'apply',
      '-f',
      path.join(dir, 'bad.yaml'),
      '--rollout',
      path.join(dir, 'bad-rollout.yaml'),
    ]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /rollout rollout-\d+ in group "default": PROGRESSING/);
    const done = await eventually(
      async () => (await rollouts()).find((r) => r.state !== 'PROGRESSING'),
      'the bad rollout to stop',
      60_000,
    );
    assert.equal(done.state, 'ROLLED_BACK', JSON.stringify(done));
    assert.equal(done.stage, 0, 'stopped at stage 1');
    assert.equal(done.updated_nodes.length, 1);
    assert.match(done.reason, /gate failed at stage 1\/2: error ratio of updated proxies/);
    const canary = done.updated_nodes[0]!;
    const canaryOffset = PROXIES.indexOf(canary);
    // The canary got the candidate (its 503s are what failed the gate) and is back on v1.
    assert.ok(seen.get(canary)!.slice(marks.get(canary)).includes('503'));
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${port + canaryOffset}/`);
      return res.status === 200 && res.body.startsWith('v1 ') ? true : undefined;
    }, 'the canary serving v1 again');
    // The others answered v1 and only v1 all along.
    for (const id of PROXIES.filter((p) => p !== canary)) {
      const answers = seen.get(id)!.slice(marks.get(id));
      assert.ok(answers.length > 0, `${id} was driven`);
      assert.deepEqual(
        [...new Set(answers)],
        ['v1'],
        `${id} answered only from v1 during the rollout`,
      );
    }
    // Their route configuration version never moved either.
    const versionsAfter = await rdsAcked();
    for (const id of PROXIES.filter((p) => p !== canary))
      assert.equal(versionsAfter.get(id), versionsBefore.get(id), `${id} RDS version`);
    const history = await ferryctl(cp.apiUrl, ['history']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`rollout ${done.name} started`));
    assert.match(history.stdout, new RegExp(`rollout ${done.name}: stage 1/2 reached`));
    assert.match(history.stdout, new RegExp(`rollout ${done.name} rolled back: gate failed`));
    const route = await ferryctl(cp.apiUrl, ['get', 'routes', 'main', '-o', 'json']);
    assert.match(route.stdout, /"cluster": "v1"/, 'the stored route is unchanged');
  });

  test('a good change is promoted through the stages to all four proxies', async () => {
    fs.writeFileSync(path.join(dir, 'good.yaml'), yamlDocs([routeTo('v2')]));
    const started = await ferryctl(cp.apiUrl, [
      'apply',
      '-f',
      path.join(dir, 'good.yaml'),
      '--stages',
      '1,100%',
      '--bake',
      '10m',
    ]);
    assert.equal(started.code, 0, started.stderr);
    const name = /rollout (rollout-\d+)/.exec(started.stdout)?.[1];
    assert.ok(name, started.stdout);
    // Hold it at stage 1 to look at it: the 10 min bake keeps it there however slow the machine.
    const atStage1 = await eventually(
      async () => (await rollouts()).find((r) => r.name === name && r.updated_nodes.length === 1),
      'stage 1 reached',
      30_000,
    );
    const paused = await ferryctl(cp.apiUrl, ['rollout', 'pause']);
    if (paused.code !== 0)
      assert.fail(`${paused.stderr.trim()}; the rollouts: ${JSON.stringify(await rollouts())}`);
    assert.match(paused.stdout, /PAUSED, stage 1\/2/);
    const canary = atStage1.updated_nodes[0]!;
    const canaryOffset = PROXIES.indexOf(canary);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${port + canaryOffset}/`);
      return res.body.startsWith('v2 ') ? true : undefined;
    }, 'the canary serving v2');
    for (const [offset, id] of PROXIES.entries()) {
      if (id === canary) continue;
      const res = await httpRequest(`http://127.0.0.1:${port + offset}/`);
      assert.ok(res.body.startsWith('v1 '), `${id} still on v1 while paused: ${res.body}`);
    }
    const status = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
    const nodes = (JSON.parse(status.stdout) as { nodes: { node_id: string; rollout?: string }[] })
      .nodes;
    for (const id of PROXIES) {
      const rollout = nodes.find((n) => n.node_id === id)?.rollout ?? '';
      assert.match(
        rollout,
        new RegExp(`^${name} stage 1/2 \\(paused\\): ${id === canary ? 'candidate' : 'stable'}$`),
      );
    }
    // One rollout per group: an ordinary apply is refused while it is active.
    const refused = await ferryctl(cp.apiUrl, ['apply', '-f', path.join(dir, 'base.yaml')]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, new RegExp(`rollout ${name} in progress`));
    const resumed = await ferryctl(cp.apiUrl, ['rollout', 'resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const progressing = (await rollouts()).find((r) => r.name === name);
    assert.equal(progressing?.state, 'PROGRESSING', JSON.stringify(progressing));
    // Advancing by bake time is the controller's unit tests' job; here the operator promotes.
    const promoted = await ferryctl(cp.apiUrl, ['rollout', 'promote']);
    assert.equal(promoted.code, 0, promoted.stderr);
    const done = await eventually(
      async () => (await rollouts()).find((r) => r.name === name && r.state !== 'PROGRESSING'),
      'the good rollout to finish',
      60_000,
    );
    assert.equal(done.state, 'PROMOTED', JSON.stringify(done));
    for (const [offset, id] of PROXIES.entries()) {
      await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${port + offset}/`);
        return res.body.startsWith('v2 ') ? true : undefined;
      }, `${id} serving v2`);
    }
    const history = await ferryctl(cp.apiUrl, ['history']);
    assert.match(history.stdout, new RegExp(`rollout ${name} paused at stage 1/2`));
    assert.match(history.stdout, new RegExp(`rollout ${name} resumed at stage 1/2`));
    assert.match(history.stdout, new RegExp(`rollout ${name} promoted`));
    const route = await ferryctl(cp.apiUrl, ['get', 'routes', 'main', '-o', 'json']);
    assert.match(route.stdout, /"cluster": "v2"/, 'the promoted route is stored');
  });
});
