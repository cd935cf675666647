/**
 * What the proxy's streams to the control plane share (ADS SotW: ads-client.ts, delta:
 * delta-ads-client.ts, HDS: hds-client.ts, LRS: lrs-client.ts): one gRPC bidirectional stream at
 * a time, connection state reported to the handler, and reconnection with jittered exponential
 * backoff (reset by the first response of a stream) while the proxy keeps serving what it has.
 * `close()`/`destroy()` are idempotent and stop reconnecting. `send()` puts the node in the first
 * request of a stream (the xDS rule for ADS).
 * Subclasses supply the protocol: which method to open, the first requests, and responses.
 */
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import type { XdsChannel } from './xds-transport.js';
import { XdsEndpointPicker } from './xds-endpoints.js';
import { streamEndReason } from './xds-keepalive.js';
import { GrpcClient, type DurationMessage, type NodeMessage } from '@ferry/proto/grpc';
import type { Logger } from '@ferry/shared';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface XdsStreamClientOptions {
  /**
   * The control planes (the xDS cluster's endpoints), shared by the proxy's ADS, HDS and LRS
   * streams; each stream opens to `endpoints.pick()` (xds-endpoints.ts). Or, for one control
   * plane, `target`.
   */
  readonly endpoints?: XdsEndpointPicker;
  /** grpc target, e.g. "127.0.0.1:18000" or "dns:///cp.example:18000", when `endpoints` is absent. */
  readonly target?: string;
  /** envoy.config.core.v3.Node in proto-loader form (see nodeMessage). */
  readonly node: NodeMessage;
  readonly handler?: {
    /** The stream is up (true) or failed/ended (false, with the reason). */
    onConnectionState?(connected: boolean, reason?: string): void;
  };
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** Credentials of the xDS cluster's transport_socket (xds-transport.ts); default plaintext. */
  readonly channel?: XdsChannel;
}

/**
 * `Request` and `Response` are the stream's messages (grpc-messages.ts in @ferry/proto): the
 * client sends requests and receives responses, whatever the service names them.
 */
export abstract class XdsStreamClientBase<Request extends object, Response> {
  protected call: ClientDuplexStream<Request, Response> | undefined;
  protected closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private sentNode = false;
  private connectedFlag = false;
  private readonly backoff: BackoffOptions;
  private readonly endpoints: XdsEndpointPicker;
  /** One gRPC client per control plane connected to so far. */
  private readonly clients = new Map<string, GrpcClient>();
  /** The control plane of the current (or last) stream. */
  private streamTarget: string | undefined;

  /**
   * @param description Names the stream in logs ("xDS", "delta xDS", "HDS", "LRS").
   * @param service The gRPC service whose stream method `openCall` opens.
   */
  constructor(
    private readonly base: XdsStreamClientOptions,
    private readonly description: string,
    private readonly service: string = ADS_SERVICE,
  ) {
    if (base.endpoints) this.endpoints = base.endpoints;
    else if (base.target !== undefined)
      this.endpoints = new XdsEndpointPicker([{ target: base.target, priority: 0 }]);
    else throw new RangeError(`${description} client: give endpoints or a target`);
    this.backoff = base.backoff ?? { initialMs: 500, maxMs: 30_000 };
  }

  /** The client of the control plane the stream being opened goes to (see openCall). */
  protected get client(): GrpcClient {
    const target = this.streamTarget ?? this.endpoints.pick();
    let client = this.clients.get(target);
    if (!client) {
      client = new GrpcClient(
        this.service,
        target,
        this.base.channel?.credentials ?? credentials.createInsecure(),
        this.base.channel?.options,
      );
      this.clients.set(target, client);
    }
    return client;
  }

  /** The control plane the current stream goes to, or the last one tried. */
  get target(): string | undefined {
    return this.streamTarget;
  }

  /** Opens the gRPC method (e.g. `this.client.StreamAggregatedResources()`). */
  protected abstract openCall(): ClientDuplexStream<Request, Response>;
  /** A new stream is open: reset per-stream protocol state and send the first requests. */
  protected abstract onStreamOpened(): void;
  /** A response on the current stream (connection state and backoff already updated). */
  protected abstract onResponse(response: Response): void;
  /** The current stream ended (failed, ended by the server, or closed): stop per-stream work. */
  protected onStreamClosed(): void {}

  /** Streaming now, or waiting to reconnect. */
  protected get active(): boolean {
    return this.call !== undefined || this.retryTimer !== undefined;
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  start(): void {
    if (this.closed || this.call) return;
    this.openStream();
  }

  /** Ends the stream and stops reconnecting. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const call = this.call;
    this.call = undefined;
    if (call) quiet(call);
    this.onStreamClosed();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  destroy(): void {
    this.close();
  }

  /** Writes a request on the current stream; the first one of a stream carries the node. */
  protected send(request: Request): void {
    if (!this.call) return;
    if (this.sentNode) {
      this.call.write(request);
      return;
    }
    this.sentNode = true;
    this.call.write({ ...request, node: this.base.node });
  }

  /** Writes a message as it is (for streams whose first message carries the node elsewhere). */
  protected write(message: Request): void {
    this.call?.write(message);
  }

  private openStream(): void {
    const target = this.endpoints.pick();
    this.streamTarget = target;
    const call = this.openCall();
    this.call = call;
    this.sentNode = false;
    call.on('data', (response: Response) => {
      if (call !== this.call) return;
      if (!this.connectedFlag) {
        this.connectedFlag = true;
        this.endpoints.succeeded(target);
        this.base.handler?.onConnectionState?.(true);
      }
      this.attempt = 0;
      this.onResponse(response);
    });
    const keepalive = this.base.channel?.keepalive;
    call.on('error', (err: Error) =>
      this.onStreamEnd(call, target, streamEndReason(err.message, keepalive)),
    );
    call.on('end', () => this.onStreamEnd(call, target, 'stream ended by the server'));
    call.on('status', (status: { code: number; details: string }) => {
      if (status.code !== 0)
        this.onStreamEnd(call, target, streamEndReason(status.details, keepalive));
    });
    this.onStreamOpened();
  }

  private onStreamEnd(
    call: ClientDuplexStream<Request, Response>,
    target: string,
    reason: string,
  ): void {
    if (call !== this.call) return;
    this.call = undefined;
    // The next stream goes to another control plane when the xDS cluster has several.
    this.endpoints.failed(target);
    quiet(call);
    this.onStreamClosed();
    this.connectedFlag = false;
    this.base.handler?.onConnectionState?.(false, reason);
    if (this.closed) return;
    const delay = this.nextDelay();
    const next = this.endpoints.pick();
    this.base.logger.warn(
      { target, reason, retry_in_ms: delay, next_target: next },
      next === target
        ? `${this.description} stream to ${target} failed (${reason}); keeping the last good config and reconnecting`
        : `${this.description} stream to ${target} failed (${reason}); keeping the last good config and failing over to ${next}`,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.openStream();
    }, delay);
    this.retryTimer.unref();
  }

  /** Full jitter: a random delay up to an exponentially growing cap. */
  private nextDelay(): number {
    const cap = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(cap / 2 + (Math.random() * cap) / 2);
  }
}

/** Cancels a call and swallows its late events. */
function quiet<Request, Response>(call: ClientDuplexStream<Request, Response>): void {
  call.removeAllListeners();
  call.on('error', () => undefined);
  call.cancel();
}

/** A proto-loader google.protobuf.Duration `{ seconds, nanos }` in ms; undefined unless > 0. */
export function durationMs(duration: DurationMessage | undefined): number | undefined {
  if (!duration || typeof duration !== 'object') return undefined;
  const ms = Number(duration.seconds ?? 0) * 1000 + Math.floor(Number(duration.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
