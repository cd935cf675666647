import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { fail, jsonToBinary, ok, type Result } from '@ferry/proto';
import { serviceDefinition } from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import type { ProxyConfig } from '../config/model.js';
import { AdsClient } from './ads-client.js';
import { ConfigSource, type BuildInput } from './config-source.js';
import { CDS, EDS, LDS } from './resource-set.js';

const logger = createLogger('test', 'silent');

function any(typeUrl: string, json: Record<string, unknown>): { type_url: string; value: Buffer } {
  const result = jsonToBinary(typeUrl.slice('type.googleapis.com/'.length), json);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return { type_url: typeUrl, value: Buffer.from(result.value) };
}

const edsCluster = (name: string): Record<string, unknown> => ({
  name,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {} } },
  connect_timeout: '1s',
});

/** A fake ADS server: queues each stream's requests, lets the test write responses. */
class FakeAds {
  readonly server = new grpc.Server();
  readonly requests: any[] = [];
  private waiters: (() => void)[] = [];
  call: grpc.ServerDuplexStream<any, any> | undefined;
  streams = 0;

  async listen(): Promise<string> {
    this.server.addService(
      serviceDefinition('envoy.service.discovery.v3.AggregatedDiscoveryService'),
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<any, any>) => {
          this.call = call;
          this.streams += 1;
          call.on('data', (r: any) => {
            this.requests.push(r);
            for (const w of this.waiters.splice(0)) w();
          });
          call.on('error', () => undefined);
        },
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<any, any>) => call.end(),
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    return `127.0.0.1:${port}`;
  }

  /** Waits until a request matching `pred` has arrived (3 s liveness bound) and returns it. */
  async request(pred: (r: any) => boolean, what: string): Promise<any> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const found = this.requests.find(pred);
      if (found) {
        this.requests.splice(this.requests.indexOf(found), 1);
        return found;
      }
      if (Date.now() > deadline)
        throw new Error(`no ${what}; got ${JSON.stringify(this.requests)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  send(typeUrl: string, version: string, nonce: string, resources: ReturnType<typeof any>[]): void {
    this.call?.write({ type_url: typeUrl, version_info: version, nonce, resources });
  }

  close(): void {
    this.server.forceShutdown();
  }
}

/** A build that accepts everything except clusters named "bad", like a NACKing translator. */
function build(input: BuildInput): Result<ProxyConfig> {
  const bad = input.clusters.filter((c) => c.name === 'bad');
  if (bad.length) return fail(['Cluster "bad": lb_policy: not supported']);
  return ok({
    version: JSON.stringify(input).length.toString(),
    listeners: [],
    routeConfigs: {},
    clusters: {},
  });
}

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
    assert.equal(cds.node.id, 'n1');
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
    assert.deepEqual([...eds.resource_names].sort(), ['api-svc', 'web']);
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
    assert.equal(nack.error_detail.code, 3);
    assert.match(nack.error_detail.message, /Cluster "bad": lb_policy/);
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
