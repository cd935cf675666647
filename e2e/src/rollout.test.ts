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
import path from 'node:path';
import {
  eventually,
  ferryctl,
  httpRequest,
  routeAllTo,
  tempDir,
  yamlDocs,
  type ControlPlane,
  type Json,
} from './harness.js';
import { useFleet, type Fleet } from './fixtures.js';
import {
  ProxyLoad,
  rolloutConfig,
  rolloutStatus,
  servingFrom,
  startBrokenBackend,
  type RolloutJson,
  type TestServer,
} from './fixtures-rollout.js';

const PROXIES = ['rollout-a', 'rollout-b', 'rollout-c', 'rollout-d'];

describe('progressive rollouts with health gates and automatic rollback', () => {
  let broken: TestServer;
  let dir = '';
  let load: ProxyLoad;
  /** Answers per proxy: "v1", "v2", "503", or "error". */
  const seen = (id: string): string[] => load.seen.get(id)!;

  before(async () => {
    dir = tempDir('rollout');
    broken = await startBrokenBackend();
  });
  // Registered before the fleet's: the load stops before the proxies do.
  after(() => load?.stop());
  const fleet = useFleet({
    controlPlane: { args: ['--lrs-interval-ms', '200'] },
    backends: ['v1', 'v2'],
    proxies: PROXIES,
    config: (f) => baseConfig(f),
  });
  const cp = (): ControlPlane => fleet.cp;
  const port = (): number => fleet.port;
  function baseConfig(f: Fleet): Json[] {
    return rolloutConfig(f.port, 'v1', {
      v1: f.backend('v1').port,
      v2: f.backend('v2').port,
      broken: broken.port,
    });
  }
  before(async () => {
    // Every proxy serves v1 before anything is rolled out.
    for (const [offset] of PROXIES.entries())
      await servingFrom(port() + offset, 'v1', `proxy ${offset} serving v1`);
    load = new ProxyLoad(PROXIES, port());
  });
  after(() => broken?.close());

  /** node id → the RDS version it ACKed (ferryctl status). */
  async function rdsAcked(): Promise<Map<string, string>> {
    const res = await ferryctl(cp().apiUrl, ['status', '-o', 'json']);
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

  const rollouts = (): Promise<RolloutJson[]> => rolloutStatus(cp());

  test('a bad change stops at stage 1 and rolls back by itself; the others never see it', async () => {
    fs.writeFileSync(path.join(dir, 'bad.yaml'), yamlDocs([routeAllTo('main', 'broken')]));
    fs.writeFileSync(
      path.join(dir, 'bad-rollout.yaml'),
      'stages: [1, 100%]\nbake: 30s\ngates:\n  max_error_ratio: 0.05\n  min_requests: 10\n',
    );
    const marks = new Map(PROXIES.map((id) => [id, seen(id).length]));
    const versionsBefore = await rdsAcked();
    const started = await ferryctl(cp().apiUrl, [
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
    assert.ok(seen(canary).slice(marks.get(canary)).includes('503'));
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${port() + canaryOffset}/`);
      return res.status === 200 && res.body.startsWith('v1 ') ? true : undefined;
    }, 'the canary serving v1 again');
    // The others answered v1 and only v1 all along.
    for (const id of PROXIES.filter((p) => p !== canary)) {
      const answers = seen(id).slice(marks.get(id));
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
    const history = await ferryctl(cp().apiUrl, ['history']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`rollout ${done.name} started`));
    assert.match(history.stdout, new RegExp(`rollout ${done.name}: stage 1/2 reached`));
    assert.match(history.stdout, new RegExp(`rollout ${done.name} rolled back: gate failed`));
    const route = await ferryctl(cp().apiUrl, ['get', 'routes', 'main', '-o', 'json']);
    assert.match(route.stdout, /"cluster": "v1"/, 'the stored route is unchanged');
    const listed = await ferryctl(cp().apiUrl, ['rollout', 'status']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${done.name}\\s+default\\s+ROLLED_BACK\\s+1/2 `, 'm'));
  });

  test('a good change is promoted through the stages to all four proxies', async () => {
    fs.writeFileSync(path.join(dir, 'good.yaml'), yamlDocs([routeAllTo('main', 'v2')]));
    const started = await ferryctl(cp().apiUrl, [
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
    const paused = await ferryctl(cp().apiUrl, ['rollout', 'pause']);
    if (paused.code !== 0)
      assert.fail(`${paused.stderr.trim()}; the rollouts: ${JSON.stringify(await rollouts())}`);
    assert.match(paused.stdout, /PAUSED, stage 1\/2/);
    const canary = atStage1.updated_nodes[0]!;
    const canaryOffset = PROXIES.indexOf(canary);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${port() + canaryOffset}/`);
      return res.body.startsWith('v2 ') ? true : undefined;
    }, 'the canary serving v2');
    for (const [offset, id] of PROXIES.entries()) {
      if (id === canary) continue;
      const res = await httpRequest(`http://127.0.0.1:${port() + offset}/`);
      assert.ok(res.body.startsWith('v1 '), `${id} still on v1 while paused: ${res.body}`);
    }
    const status = await ferryctl(cp().apiUrl, ['status', '-o', 'json']);
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
    const refused = await ferryctl(cp().apiUrl, ['apply', '-f', '-'], yamlDocs(baseConfig(fleet)));
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, new RegExp(`rollout ${name} in progress`));
    const resumed = await ferryctl(cp().apiUrl, ['rollout', 'resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const progressing = (await rollouts()).find((r) => r.name === name);
    assert.equal(progressing?.state, 'PROGRESSING', JSON.stringify(progressing));
    // Advancing by bake time is the controller's unit tests' job; here the operator promotes.
    const promoted = await ferryctl(cp().apiUrl, ['rollout', 'promote']);
    assert.equal(promoted.code, 0, promoted.stderr);
    const done = await eventually(
      async () => (await rollouts()).find((r) => r.name === name && r.state !== 'PROGRESSING'),
      'the good rollout to finish',
      60_000,
    );
    assert.equal(done.state, 'PROMOTED', JSON.stringify(done));
    for (const [offset, id] of PROXIES.entries()) {
      await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${port() + offset}/`);
        return res.body.startsWith('v2 ') ? true : undefined;
      }, `${id} serving v2`);
    }
    const history = await ferryctl(cp().apiUrl, ['history']);
    assert.match(history.stdout, new RegExp(`rollout ${name} paused at stage 1/2`));
    assert.match(history.stdout, new RegExp(`rollout ${name} resumed at stage 1/2`));
    assert.match(history.stdout, new RegExp(`rollout ${name} promoted`));
    const route = await ferryctl(cp().apiUrl, ['get', 'routes', 'main', '-o', 'json']);
    assert.match(route.stdout, /"cluster": "v2"/, 'the promoted route is stored');
  });
});
