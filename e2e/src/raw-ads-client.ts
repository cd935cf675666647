/**
 * A minimal state-of-the-world ADS client for tests that must decide every ACK and NACK
 * themselves (a real proxy ACKs what it accepts, on its own schedule): grpc-js with the ADS
 * service definition, responses queued in arrival order.
 */
import { credentials, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { parseResourceBinary } from '@ferry/proto';
import { GrpcClient, type DiscoveryRequest, type DiscoveryResponse } from '@ferry/proto/grpc';

export interface AdsResponse {
  readonly version_info: string;
  readonly nonce: string;
  readonly type_url: string;
  readonly resources: ReadonlyArray<{ type_url: string; value: Buffer }>;
}

/** The names of a response's resources, sorted. */
export function resourceNames(response: AdsResponse): string[] {
  return (response.resources ?? [])
    .map((r) => {
      const parsed = parseResourceBinary(r.type_url, r.value);
      if (!parsed.ok) throw new Error(parsed.errors.join('; '));
      return parsed.value.name;
    })
    .sort();
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
    channelCredentials: ChannelCredentials = credentials.createInsecure(),
  ) {
    this.client = new GrpcClient(
      'envoy.service.discovery.v3.AggregatedDiscoveryService',
      address,
      channelCredentials,
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

  /**
   * The first response that satisfies `accept`, ACKing every earlier one (a stream may first get
   * the state before an apply was published: the control plane debounces ~100 ms). The accepted
   * response is not answered: ACK or NACK it. Fails after `timeoutMs` (a liveness bound).
   */
  async until(
    accept: (response: AdsResponse) => boolean,
    what: string,
    timeoutMs = 15000,
  ): Promise<AdsResponse> {
    const deadline = Date.now() + timeoutMs;
    const seen: string[] = [];
    for (;;) {
      const left = deadline - Date.now();
      const response =
        left > 0
          ? await this.next(left).catch((err: Error) => {
              throw new Error(`${what}: ${err.message}; got ${seen.join(', ') || 'nothing'}`);
            })
          : undefined;
      if (response === undefined) throw new Error(`${what}: got ${seen.join(', ')}`);
      if (accept(response)) return response;
      seen.push(`[${resourceNames(response).join(' ')}]@${response.version_info.slice(0, 8)}`);
      this.request(response.type_url, [], response);
    }
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
