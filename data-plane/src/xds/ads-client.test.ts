import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import { AdsClient } from './ads-client.js';
import { edsCluster, FakeAdsServer, nackingBuild, packAny } from './ads-test-fixtures.js';
import { ConfigSource } from './config-source.js';
import { CDS, EDS, LDS } from './resource-set.js';

const logger = createLogger('test', 'silent');

const any = packAny;

/** The fake ADS server, with SotW responses. */
class FakeAds extends FakeAdsServer {
  constructor() {
    super('sotw');
  }

  send(typeUrl: string, version: string, nonce: string, resources: ReturnType<typeof any>[]): void {
    this.write({ type_url: typeUrl, version_info: version, nonce, resources });
  }
}

const build = nackingBuild;

describe('AdsClient (SotW)', () => {
  const fake = new FakeAds();
  let client: AdsClient | undefined;
  after(() => {
    client?.close();
    fake.close();
  });

  test('subscribes, ACKs, asks for EDS names, NACKs with error_detail, reconnects', async () => {
    const target = await fake.listen();
    const applied: string[] = [];
    const source = new ConfigSource({
      staticListeners: [],
      staticClusters: [],
      build,
      onConfig: (a) => applied.push(a.origin),
    });
    client = new AdsClient({
      target,
      node: { id: 'n1', cluster: 'g1' },
      handler: source,
      logger,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    client.start();

    const cds = await fake.request((r) => r.type_url === CDS, 'CDS request');
    assert.equal(cds.node?.id, 'n1');
    assert.deepEqual(cds.resource_names ?? [], [], 'wildcard');
    const lds = await fake.request((r) => r.type_url === LDS, 'LDS request');
    assert.equal(lds.node ?? undefined, undefined, 'node only on the first request');

    fake.send(CDS, 'v1', 'n-1', [
      any(CDS, edsCluster('web')),
      any(CDS, {
        ...edsCluster('api'),
        eds_cluster_config: { service_name: 'api-svc', eds_config: { ads: {} } },
      }),
    ]);
    const eds = await fake.request((r) => r.type_url === EDS, 'EDS subscription');
    assert.deepEqual([...(eds.resource_names ?? [])].sort(), ['api-svc', 'web']);
    const ack = await fake.request((r) => r.type_url === CDS, 'CDS ACK');
    assert.equal(ack.version_info, 'v1');
    assert.equal(ack.response_nonce, 'n-1');
    assert.equal(ack.error_detail ?? undefined, undefined);
    assert.deepEqual(applied, ['xds']);
    assert.equal(source.initialFetchDone(), false, 'LDS and EDS have not answered yet');

    fake.send(CDS, 'v2', 'n-2', [any(CDS, edsCluster('bad'))]);
    const nack = await fake.request((r) => r.type_url === CDS, 'CDS NACK');
    assert.equal(nack.version_info, 'v1', 'a NACK carries the last accepted version');
    assert.equal(nack.response_nonce, 'n-2');
    assert.equal(nack.error_detail?.code, 3);
    assert.match(nack.error_detail?.message ?? '', /Cluster "bad": lb_policy/);
    assert.deepEqual(applied, ['xds'], 'the rejected config was not applied');
    assert.equal(source.counters.rejections.get(CDS), 1);

    fake.send(LDS, 'l1', 'n-3', []);
    await fake.request((r) => r.type_url === LDS && r.response_nonce === 'n-3', 'LDS ACK');
    fake.send(EDS, 'e1', 'n-4', []);
    await fake.request((r) => r.type_url === EDS && r.response_nonce === 'n-4', 'EDS ACK');
    assert.equal(source.initialFetchDone(), true);

    // The server ends the stream: the client reconnects and reports what it has.
    fake.call?.end();
    await fake.request((r) => r.type_url === CDS && r.node?.id === 'n1', 'CDS after reconnect');
    const edsAgain = await fake.request((r) => r.type_url === EDS, 'EDS after reconnect');
    assert.equal(edsAgain.version_info, 'e1');
    assert.equal(fake.streams, 2);
  });
});
