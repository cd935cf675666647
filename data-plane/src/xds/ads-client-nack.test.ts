/**
 * What the ADS clients (SotW and delta) send back for a partly rejected response, with the real
 * translation and strict decoding: the good resources are applied, and the NACK names each
 * rejected one in error_detail.message and in a google.rpc.BadRequest in error_detail.details.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryToJson, jsonToBinary } from '@ferry/proto';
import type { AnyMessage, StatusMessage } from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import { buildProxyConfig, decodeResourceBinary } from '../config/translate.js';
import type { ProxyConfig } from '../config/model.js';
import { AdsClient, BAD_REQUEST_TYPE_URL } from './ads-client.js';
import { FakeAdsServer, packAny } from './ads-test-fixtures.js';
import { ConfigSource } from './config-source.js';
import { DeltaAdsClient } from './delta-ads-client.js';
import { CDS, type JsonObject } from './resource-set.js';

const logger = createLogger('test', 'silent');

function cluster(name: string, port: number, extra: JsonObject = {}): JsonObject {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: {
                address: { socket_address: { address: '127.0.0.1', port_value: port } },
              },
            },
          ],
        },
      ],
    },
    ...extra,
  };
}

/**
 * A Cluster named `name` whose connect_timeout is -1s: it does not pass the strict decoder's
 * validation rules, but its name can still be read. (jsonToBinary validates, so the bad field
 * is appended as raw bytes: field 4, a Duration with seconds = -1.)
 */
function undecodable(name: string): AnyMessage {
  const head = jsonToBinary('envoy.config.cluster.v3.Cluster', { name });
  if (!head.ok) throw new Error(head.errors.join('; '));
  const negativeTimeout = Buffer.from('220b08ffffffffffffffffff01', 'hex');
  return { type_url: CDS, value: Buffer.concat([Buffer.from(head.value), negativeTimeout]) };
}

const UNSUPPORTED = { lb_policy: 'CLUSTER_PROVIDED' };

function configSource(): ConfigSource {
  return new ConfigSource({
    staticListeners: [],
    staticClusters: [],
    build: (input, previous?: ProxyConfig) =>
      buildProxyConfig(input as Parameters<typeof buildProxyConfig>[0], previous),
    onConfig: () => undefined,
  });
}

/** The field violations of a NACK's google.rpc.BadRequest. */
function violations(status: StatusMessage | undefined): { field: string; description: string }[] {
  const details = status?.details ?? [];
  assert.equal(details.length, 1, 'one detail');
  assert.equal(details[0]?.type_url, BAD_REQUEST_TYPE_URL);
  const json = binaryToJson('google.rpc.BadRequest', details[0].value) as {
    field_violations?: { field: string; description: string }[];
  };
  return json.field_violations ?? [];
}

function portOf(source: ConfigSource, name: string): number | undefined {
  const c = source.applied?.config.clusters[name];
  const match = /"port":(\d+)/.exec(JSON.stringify(c));
  return match ? Number(match[1]) : undefined;
}

describe('ADS clients: NACK of a partly rejected response', () => {
  const servers: FakeAdsServer[] = [];
  const clients: { close(): void }[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const s of servers) s.close();
  });

  test('SotW: applies the good clusters, NACKs with the last version and a BadRequest', async () => {
    const fake = new FakeAdsServer('sotw');
    servers.push(fake);
    const target = await fake.listen();
    const source = configSource();
    const client = new AdsClient({
      target,
      node: { id: 'n1', cluster: 'g1' },
      handler: source,
      logger,
      decode: decodeResourceBinary,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    clients.push(client);
    client.start();
    await fake.request((r) => r.type_url === CDS, 'CDS request');
    fake.write({
      type_url: CDS,
      version_info: 'v1',
      nonce: 'n-1',
      resources: [packAny(CDS, cluster('a', 81)), packAny(CDS, cluster('b', 82))],
    });
    const ack = await fake.request((r) => r.type_url === CDS && r.response_nonce === 'n-1', 'ACK');
    assert.equal(ack.error_detail ?? undefined, undefined);

    fake.write({
      type_url: CDS,
      version_info: 'v2',
      nonce: 'n-2',
      resources: [
        packAny(CDS, cluster('a', 91)),
        packAny(CDS, cluster('b', 92, UNSUPPORTED)),
        undecodable('c'),
      ],
    });
    const nack = await fake.request(
      (r) => r.type_url === CDS && r.response_nonce === 'n-2',
      'NACK',
    );
    assert.equal(nack.version_info, 'v1', 'the last version accepted as a whole');
    assert.equal(nack.error_detail?.code, 3);
    const message = nack.error_detail?.message ?? '';
    assert.match(message, /Cluster "b": lb_policy: CLUSTER_PROVIDED is not supported/);
    assert.match(message, /Cluster "c": resources\[2\]\.connect_timeout: must be > 0s/);
    const v = violations(nack.error_detail);
    assert.deepEqual(
      v.map((x) => x.field),
      ['Cluster "c"', 'Cluster "b"'],
    );
    assert.match(v[1]!.description, /^Cluster "b": lb_policy/);
    assert.equal(portOf(source, 'a'), 91, 'the good cluster change is applied');
    assert.equal(portOf(source, 'b'), 82, 'the rejected cluster keeps its accepted version');
    assert.equal(source.applied?.config.clusters.c, undefined, 'a rejected new cluster is absent');
  });

  test('delta: applies the good clusters, NACKs with a BadRequest naming the bad ones', async () => {
    const fake = new FakeAdsServer('delta');
    servers.push(fake);
    const target = await fake.listen();
    const source = configSource();
    const client = new DeltaAdsClient({
      target,
      node: { id: 'n2', cluster: 'g1' },
      handler: source,
      logger,
      decode: decodeResourceBinary,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    clients.push(client);
    client.start();
    await fake.request((r) => r.type_url === CDS, 'CDS request');
    fake.write({
      type_url: CDS,
      system_version_info: 's1',
      nonce: 'n-1',
      resources: [
        { name: 'a', version: 'a1', resource: packAny(CDS, cluster('a', 81)) },
        { name: 'b', version: 'b1', resource: packAny(CDS, cluster('b', 82)) },
      ],
    });
    const ack = await fake.request((r) => r.type_url === CDS && r.response_nonce === 'n-1', 'ACK');
    assert.equal(ack.error_detail ?? undefined, undefined);

    fake.write({
      type_url: CDS,
      system_version_info: 's2',
      nonce: 'n-2',
      resources: [
        { name: 'a', version: 'a2', resource: packAny(CDS, cluster('a', 91)) },
        { name: 'b', version: 'b2', resource: packAny(CDS, cluster('b', 92, UNSUPPORTED)) },
        { name: 'c', version: 'c1', resource: undecodable('c') },
      ],
    });
    const nack = await fake.request(
      (r) => r.type_url === CDS && r.response_nonce === 'n-2',
      'NACK',
    );
    assert.deepEqual(
      violations(nack.error_detail).map((x) => x.field),
      ['Cluster "c"', 'Cluster "b"'],
    );
    assert.deepEqual(source.resourceVersions(CDS), { a: 'a2', b: 'b1' });
    assert.equal(portOf(source, 'a'), 91);
    assert.equal(portOf(source, 'b'), 82);
  });
});
