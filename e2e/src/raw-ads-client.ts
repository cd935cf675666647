/**
 * A minimal state-of-the-world ADS client for tests that must decide every ACK and NACK
 * themselves (a real proxy ACKs what it accepts, on its own schedule): grpc-js with the ADS
 * service definition, responses queued in arrival order.
 */
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { GrpcClient, type DiscoveryRequest, type DiscoveryResponse } from '@ferry/proto/grpc';

export interface AdsResponse {
  readonly version_info: string;
  readonly nonce: string;
  readonly type_url: string;
  readonly resources: ReadonlyArray<{ type_url: string; value: Buffer }>;
}

export class RawAdsClient {
  private readonly client: GrpcClient;
  private readonly call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  private readonly queued: AdsResponse[] = [];
  private waiter: ((m: AdsResponse) => void) | undefined;
  private failure: Error | undefined;

  constructor(
    address: string,
    private readonly nodeId: string,
    private readonly group = 'default',
  ) {
    this.client = new GrpcClient(
      'envoy.service.discovery.v3.AggregatedDiscoveryService',
      address,
      credentials.createInsecure(),
    );
    this.call = this.client.stream('StreamAggregatedResources');
    this.call.on('data', (response: DiscoveryResponse) => {
      const m: AdsResponse = {
        version_info: response.version_info ?? '',
        nonce: response.nonce ?? '',
        type_url: response.type_url ?? '',
        resources: (response.resources ?? []).map((r) => ({
          type_url: r.type_url,
          value: Buffer.from(r.value),
        })),
      };
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(m);
      else this.queued.push(m);
    });
    this.call.on('error', (err: Error) => (this.failure = err));
  }

  /** A request: the first for a type (no `answer`), an ACK of `answer`, or its NACK. */
  request(typeUrl: string, names: string[], answer?: AdsResponse, nackMessage?: string): void {
    this.call.write({
      node: { id: this.nodeId, cluster: this.group },
      type_url: typeUrl,
      resource_names: names,
      version_info: answer && nackMessage === undefined ? answer.version_info : '',
      response_nonce: answer?.nonce ?? '',
      ...(nackMessage !== undefined ? { error_detail: { code: 3, message: nackMessage } } : {}),
    });
  }

  /** The next response (a liveness bound only: a missing response fails the test). */
  next(timeoutMs = 15000): Promise<AdsResponse> {
    if (this.failure) return Promise.reject(this.failure);
    const m = this.queued.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.nodeId}: no xDS response within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiter = (msg) => {
        clearTimeout(timer);
        resolve(msg);
      };
    });
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
