import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { XdsEndpointPicker } from './xds-endpoints.js';
import { AdsClient } from './ads-client.js';
import { DeltaAdsClient } from './delta-ads-client.js';
import { edsCluster, FakeAdsServer, nackingBuild, packAny } from './ads-test-fixtures.js';
import { ConfigSource } from './config-source.js';
import { CDS, LDS } from './resource-set.js';

const ep = (target: string, priority = 0): { target: string; priority: number } => ({
  target,
  priority,
});

describe('XdsEndpointPicker', () => {
  test('stays on the current endpoint while it works, round robin to the next when it fails', () => {
    let now = 0;
    const picker = new XdsEndpointPicker([ep('a:1'), ep('b:1'), ep('c:1')], {
      random: () => 0,
      now: () => now,
    });
    assert.equal(picker.pick(), 'a:1');
    assert.equal(picker.pick(), 'a:1', 'sticky while healthy');
    picker.failed('a:1');
    assert.equal(picker.pick(), 'b:1');
    picker.failed('b:1');
    assert.equal(picker.pick(), 'c:1');
    picker.succeeded('c:1');
    now += 1000;
    assert.equal(picker.pick(), 'c:1');
    picker.failed('c:1');
    // a and b failed recently, c just now: every endpoint is down, so all are tried again.
    assert.equal(picker.pick(), 'a:1');
  });

  test('the random start spreads proxies over one priority level', () => {
    const firsts = [0, 0.34, 0.67].map((r) =>
      new XdsEndpointPicker([ep('a:1'), ep('b:1'), ep('c:1')], { random: () => r }).pick(),
    );
    assert.deepEqual(firsts, ['a:1', 'b:1', 'c:1']);
  });

  test('priority 1 only while every priority 0 endpoint is failing; back to 0 when its mark expires', () => {
    let now = 0;
    const picker = new XdsEndpointPicker([ep('backup:1', 1), ep('a:1', 0), ep('b:1', 0)], {
      random: () => 0,
      now: () => now,
      failureMemoryMs: 10_000,
    });
    assert.deepEqual(picker.targets, ['a:1', 'b:1', 'backup:1']);
    assert.equal(picker.pick(), 'a:1');
    picker.failed('a:1');
    assert.equal(picker.pick(), 'b:1', 'priority 0 still has a healthy endpoint');
    picker.failed('b:1');
    assert.equal(picker.pick(), 'backup:1');
    picker.succeeded('backup:1');
    now += 5_000;
    assert.equal(picker.pick(), 'backup:1', 'stays while the stream works');
    picker.failed('backup:1');
    now += 5_001;
    // a's and b's marks are 10 s old: priority 0 again.
    assert.equal(picker.pick(), 'a:1');
  });

  test('one endpoint is always picked; no endpoint is an error', () => {
    const picker = new XdsEndpointPicker([ep('only:1')]);
    picker.failed('only:1');
    assert.equal(picker.pick(), 'only:1');
    assert.throws(() => new XdsEndpointPicker([]), /no endpoint/);
  });
});

describe('xDS stream failover', () => {
  const live = new FakeAdsServer('sotw');
  const first = new FakeAdsServer('delta');
  const second = new FakeAdsServer('delta');
  let client: AdsClient | undefined;
  let delta: DeltaAdsClient | undefined;
  after(() => {
    client?.close();
    delta?.close();
    for (const server of [live, first, second]) server.close();
  });

  test('a control plane that cannot be reached is passed over for the next one, which gets the last accepted version', async () => {
    const dead = `127.0.0.1:${await refusedPort()}`;
    const target = await live.listen();
    const source = new ConfigSource({
      staticListeners: [],
      staticClusters: [],
      build: nackingBuild,
      onConfig: () => undefined,
    });
    const endpoints = new XdsEndpointPicker([ep(dead), ep(target)], { random: () => 0 });
    client = new AdsClient({
      endpoints,
      node: { id: 'n1', cluster: 'g1' },
      handler: source,
      logger: createLogger('test', 'silent'),
      backoff: { initialMs: 10, maxMs: 50 },
    });
    client.setAcceptedVersion(CDS, 'v7');
    client.start();
    const cds = await live.request((r) => r.type_url === CDS, 'CDS request on the live server');
    assert.equal(cds.version_info, 'v7', 'resumes with the version it holds');
    assert.equal(client.target, target);
    live.write({ type_url: CDS, version_info: 'v8', nonce: 'n-1', resources: [] });
    await live.request((r) => r.type_url === CDS && r.version_info === 'v8', 'ACK of v8');
    assert.equal(endpoints.pick(), target, 'HDS and LRS follow to the working one');
  });

  test('a stream the control plane ends moves to the next one, which is told the resources held (delta)', async () => {
    const targets = [await first.listen(), await second.listen()];
    const source = new ConfigSource({
      staticListeners: [],
      staticClusters: [],
      build: nackingBuild,
      onConfig: () => undefined,
    });
    const endpoints = new XdsEndpointPicker([ep(targets[0]!), ep(targets[1]!)], {
      random: () => 0,
    });
    delta = new DeltaAdsClient({
      endpoints,
      node: { id: 'n2', cluster: 'g1' },
      handler: source,
      logger: createLogger('test', 'silent'),
      backoff: { initialMs: 10, maxMs: 50 },
    });
    delta.start();
    await first.request((r) => r.type_url === CDS, 'CDS subscribe on the first');
    first.write({
      type_url: CDS,
      system_version_info: 's1',
      nonce: 'c1',
      resources: [{ name: 'web', version: 'w1', resource: packAny(CDS, edsCluster('web')) }],
      removed_resources: [],
    });
    await first.request((r) => r.type_url === CDS && r.response_nonce === 'c1', 'CDS ACK');
    first.call?.end();
    const resumed = await second.request(
      (r) => r.type_url === CDS && r.node?.id === 'n2',
      'CDS on the second control plane',
    );
    assert.deepEqual(resumed.initial_resource_versions, { web: 'w1' });
    const lds = await second.request((r) => r.type_url === LDS, 'LDS on the second');
    assert.deepEqual(lds.initial_resource_versions ?? {}, {});
    assert.equal(delta.target, targets[1]);
  });
});
