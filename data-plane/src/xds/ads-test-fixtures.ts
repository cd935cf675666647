/**
 * Fixtures of the ADS client unit tests (SotW and delta): a fake ADS server on loopback that
 * queues each stream's requests and lets the test write responses, resource packing, and a
 * build that NACKs like the translator. Test-only.
 */
import * as grpc from '@grpc/grpc-js';
import { fail, jsonToBinary, ok, type Result } from '@ferry/proto';
import {
  serviceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '@ferry/proto/grpc';
import type { ProxyConfig } from '../config/model.js';
import type { BuildInput } from './config-source.js';

/** A resource as a google.protobuf.Any (`type_url`, binary `value`). */
export function packAny(
  typeUrl: string,
  json: Record<string, unknown>,
): { type_url: string; value: Buffer } {
  const result = jsonToBinary(typeUrl.slice('type.googleapis.com/'.length), json);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return { type_url: typeUrl, value: Buffer.from(result.value) };
}

export const edsCluster = (name: string): Record<string, unknown> => ({
  name,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {} } },
  connect_timeout: '1s',
});

/** A build that accepts everything except clusters named "bad", like a NACKing translator. */
export function nackingBuild(input: BuildInput): Result<ProxyConfig> {
  if (input.clusters.some((c) => c.name === 'bad'))
    return fail(['Cluster "bad": lb_policy: not supported']);
  return ok({
    version: JSON.stringify(input).length.toString(),
    listeners: [],
    routeConfigs: {},
    clusters: {},
  });
}

/** A request of either variant: the fields of both, as the tests read them. */
export type AdsRequest = DiscoveryRequest & DeltaDiscoveryRequest;

type AdsServerCall = grpc.ServerDuplexStream<
  AdsRequest,
  DiscoveryResponse | DeltaDiscoveryResponse
>;

/**
 * A fake ADS server speaking one variant (`sotw`: StreamAggregatedResources, `delta`:
 * DeltaAggregatedResources; the other method ends its streams at once). Queues each stream's
 * requests; `write` sends a response on the latest stream.
 */
export class FakeAdsServer {
  readonly server = new grpc.Server();
  readonly requests: AdsRequest[] = [];
  #waiters: (() => void)[] = [];
  call: AdsServerCall | undefined;
  streams = 0;

  constructor(private readonly variant: 'sotw' | 'delta') {}

  async listen(): Promise<string> {
    const serve = (call: AdsServerCall): void => {
      this.call = call;
      this.streams += 1;
      call.on('data', (r: AdsRequest) => {
        this.requests.push(r);
        for (const w of this.#waiters.splice(0)) w();
      });
      call.on('error', () => undefined);
    };
    const refuse = (call: AdsServerCall): void => {
      call.end();
    };
    this.server.addService(
      serviceDefinition('envoy.service.discovery.v3.AggregatedDiscoveryService'),
      {
        StreamAggregatedResources: this.variant === 'sotw' ? serve : refuse,
        DeltaAggregatedResources: this.variant === 'delta' ? serve : refuse,
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
  async request(pred: (r: AdsRequest) => boolean, what: string): Promise<AdsRequest> {
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
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  write(response: DiscoveryResponse | DeltaDiscoveryResponse): void {
    this.call?.write(response);
  }

  close(): void {
    this.server.forceShutdown();
  }
}
