import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeltaResource } from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import { edsCluster, FakeAdsServer, nackingBuild, packAny } from './ads-test-fixtures.js';
import { ConfigSource } from './config-source.js';
import { DeltaAdsClient } from './delta-ads-client.js';
import { CDS, EDS, LDS, resourcesOf } from './resource-set.js';

const logger = createLogger('test', 'silent');

function resource(
  typeUrl: string,
  name: string,
  version: string,
  json: Record<string, unknown>,
): DeltaResource {
  return { name, version, resource: packAny(typeUrl, json) };
}

const cluster = (name: string, version: string): DeltaResource =>
  resource(CDS, name, version, edsCluster(name));

/** The fake ADS server, with delta responses. */
class FakeDeltaAds extends FakeAdsServer {
  constructor() {
    super('delta');
  }

  send(typeUrl: string, nonce: string, resources: DeltaResource[], removed: string[] = []): void {
    this.write({
      type_url: typeUrl,
      system_version_info: `sys-${nonce}`,
      nonce,
      resources,
      removed_resources: removed,
    });
  }
}

const build = nackingBuild;

const names = (source: ConfigSource, typeUrl: string): string[] =>
  resourcesOf(source.resources, typeUrl)
    .map((r) => String(r.name ?? r.cluster_name))
    .sort();

describe('DeltaAdsClient', () => {
  const fake = new FakeDeltaAds();
  let client: DeltaAdsClient | undefined;
  after(() => {
    client?.close();
    fake.close();
  });

  test('wildcard CDS/LDS, EDS subscribe diffs, updates and removals, NACK, reconnect with versions', async () => {
    const target = await fake.listen();
    const source = new ConfigSource({
      staticListeners: [],
      staticClusters: [],
      build,
      onConfig: () => undefined,
    });
    client = new DeltaAdsClient({
      target,
      node: { id: 'n1', cluster: 'g1' },
      handler: source,
      logger,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    client.start();

    const cds = await fake.request((r) => r.type_url === CDS, 'CDS subscribe');
    assert.equal(cds.node?.id, 'n1');
    assert.deepEqual(cds.resource_names_subscribe, ['*']);
    const lds = await fake.request((r) => r.type_url === LDS, 'LDS subscribe');
    assert.deepEqual(lds.resource_names_subscribe, ['*']);
    assert.equal(lds.node ?? undefined, undefined, 'node only on the first request');
    assert.equal(
      fake.requests.some((r) => r.type_url === EDS),
      false,
      'EDS waits for names',
    );

    fake.send(CDS, 'c1', [cluster('web', 'w1'), cluster('api', 'a1')]);
    const eds = await fake.request((r) => r.type_url === EDS, 'EDS subscribe');
    assert.deepEqual(eds.resource_names_subscribe, ['api', 'web']);
    const ack = await fake.request((r) => r.type_url === CDS, 'CDS ACK');
    assert.equal(ack.response_nonce, 'c1');
    assert.equal(ack.error_detail ?? undefined, undefined);
    assert.deepEqual(names(source, CDS), ['api', 'web']);

    // An update and a removal: only "web" changes, "api" goes; EDS unsubscribes from "api".
    fake.send(CDS, 'c2', [cluster('web', 'w2')], ['api']);
    const unsub = await fake.request((r) => r.type_url === EDS, 'EDS unsubscribe');
    assert.deepEqual(unsub.resource_names_subscribe ?? [], []);
    assert.deepEqual(unsub.resource_names_unsubscribe, ['api']);
    await fake.request((r) => r.type_url === CDS && r.response_nonce === 'c2', 'CDS ACK 2');
    assert.deepEqual(names(source, CDS), ['web']);
    assert.equal(source.resourceVersions(CDS).web, 'w2');

    fake.send(CDS, 'c3', [cluster('bad', 'b1')]);
    const nack = await fake.request((r) => r.type_url === CDS, 'CDS NACK');
    assert.equal(nack.response_nonce, 'c3');
    assert.equal(nack.error_detail?.code, 3);
    assert.match(nack.error_detail?.message ?? '', /Cluster "bad": lb_policy/);
    assert.deepEqual(names(source, CDS), ['web'], 'the rejected update was not applied');

    fake.send(EDS, 'e1', [resource(EDS, 'web', 'ew1', { cluster_name: 'web', endpoints: [] })]);
    await fake.request((r) => r.type_url === EDS && r.response_nonce === 'e1', 'EDS ACK');
    fake.send(LDS, 'l1', []);
    await fake.request((r) => r.type_url === LDS && r.response_nonce === 'l1', 'LDS ACK');
    assert.equal(source.initialFetchDone(), true);

    // The server ends the stream: the client reconnects and says what it holds.
    fake.call?.end();
    const cdsAgain = await fake.request(
      (r) => r.type_url === CDS && r.node?.id === 'n1',
      'CDS after reconnect',
    );
    assert.deepEqual(cdsAgain.initial_resource_versions, { web: 'w2' });
    const edsAgain = await fake.request((r) => r.type_url === EDS, 'EDS after reconnect');
    assert.deepEqual(edsAgain.resource_names_subscribe, ['web']);
    assert.deepEqual(edsAgain.initial_resource_versions, { web: 'ew1' });
    assert.equal(fake.streams, 2);
  });
});
