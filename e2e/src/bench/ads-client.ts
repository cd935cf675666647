/**
 * A simulated proxy: one HTTP/2 connection with one ADS stream (state of the world), behaving
 * like Envoy on startup: CDS (wildcard), then EDS for the clusters it got, LDS (wildcard), then
 * RDS for the route configurations its listeners name. Every response is ACKed with its
 * version_info and nonce (xDS protocol: ACK/NACK); a changed set of names is re-requested with the
 * type's last version and nonce.
 *
 * Kept lean for 10,000 instances in one process: no timers, a few strings per type, and resource
 * contents decoded once per version by the shared codec.
 */
import { performance } from 'node:perf_hooks';
import { MessageDeframer } from './grpc-framing.js';
import { openGrpcStream, type GrpcStream, type H2ClientKind } from './h2-stream.js';
import { ADS_PATH, TYPE_URL, type DecodedResponse, type XdsCodec } from './xds-codec.js';

/** Totals shared by every client of a run; the benchmark reads deltas between phases. */
export interface ClientCounters {
  /** HTTP/2 DATA payload bytes received (gRPC frames, including their 5-byte prefixes). */
  bytesReceived: number;
  bytesSent: number;
  responses: number;
  requests: number;
}

export interface AdsClientEvents {
  /** The client wrote the ACK of `response` (its type and version) at `atMs` (performance.now()). */
  onAck(
    client: AdsClient,
    typeUrl: string,
    version: string,
    atMs: number,
    response: DecodedResponse,
  ): void;
  /** Every subscribed type has an ACKed version: the initial config is in. Called once. */
  onReady(client: AdsClient): void;
  /** The connection or stream ended or failed before `close()`. Called at most once. */
  onFailed(client: AdsClient, error: Error): void;
}

export interface AdsClientOptions {
  /** `host:port` of the control plane's xDS server. */
  readonly address: string;
  readonly nodeId: string;
  readonly nodeCluster: string;
  readonly codec: XdsCodec;
  readonly counters: ClientCounters;
  readonly events: AdsClientEvents;
  /** The HTTP/2 client under the stream (h2-stream.ts); `raw` when not given. */
  readonly h2?: H2ClientKind;
}

interface TypeState {
  /** Requested names; `undefined` = not subscribed yet; `[]` = wildcard. */
  names: string[] | undefined;
  ackedVersion: string;
  nonce: string;
}

const SUBSCRIBED_TYPES = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route];

export class AdsClient {
  readonly nodeId: string;
  /** performance.now() when `start()` was called and when the initial config was ACKed. */
  startedAtMs = 0;
  readyAtMs = 0;
  private readonly options: AdsClientOptions;
  private readonly types = new Map<string, TypeState>();
  private readonly deframer = new MessageDeframer();
  private stream: GrpcStream | undefined;
  private nodeSent = false;
  private ended = false;

  constructor(options: AdsClientOptions) {
    this.options = options;
    this.nodeId = options.nodeId;
    for (const typeUrl of SUBSCRIBED_TYPES)
      this.types.set(typeUrl, { names: undefined, ackedVersion: '', nonce: '' });
  }

  /** The version this client last ACKed for `typeUrl` ('' before any). */
  ackedVersion(typeUrl: string): string {
    return this.types.get(typeUrl)?.ackedVersion ?? '';
  }

  /** Started and neither failed nor destroyed. */
  isLive(): boolean {
    return this.startedAtMs > 0 && !this.ended;
  }

  start(): void {
    this.startedAtMs = performance.now();
    this.stream = openGrpcStream(this.options.h2 ?? 'raw', this.options.address, ADS_PATH, {
      onData: (chunk) => this.onData(chunk),
      onFailed: (error) => this.fail(error),
    });
    this.subscribe(TYPE_URL.cluster, []);
  }

  /** Closes the connection now; no failure is reported afterwards. Idempotent. */
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream?.destroy();
  }

  private fail(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.stream?.destroy();
    this.options.events.onFailed(this, error);
  }

  private onData(chunk: Buffer): void {
    this.options.counters.bytesReceived += chunk.length;
    let messages: Buffer[];
    try {
      messages = this.deframer.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const message of messages) {
      if (this.ended) return;
      this.options.counters.responses++;
      try {
        this.onResponse(this.options.codec.decodeResponse(message));
      } catch (err) {
        this.fail(err as Error);
      }
    }
  }

  private onResponse(response: DecodedResponse): void {
    const state = this.types.get(response.typeUrl);
    if (!state?.names) return; // not a type this client asked for: nothing to ACK
    const wasReady = this.isReady();
    state.nonce = response.nonce;
    state.ackedVersion = response.versionInfo;
    this.send(response.typeUrl, response.versionInfo, response.nonce, state.names);
    this.options.events.onAck(
      this,
      response.typeUrl,
      response.versionInfo,
      performance.now(),
      response,
    );
    if (response.typeUrl === TYPE_URL.cluster) {
      this.subscribe(TYPE_URL.endpoint, [...this.options.codec.resourceNames(response)].sort());
      this.subscribe(TYPE_URL.listener, []);
    } else if (response.typeUrl === TYPE_URL.listener) {
      this.subscribe(TYPE_URL.route, this.options.codec.routeNamesOfListeners(response));
    }
    if (!wasReady && this.isReady()) {
      this.readyAtMs = performance.now();
      this.options.events.onReady(this);
    }
  }

  /** Requests `names` for `typeUrl` unless exactly those are already requested. */
  private subscribe(typeUrl: string, names: string[]): void {
    const state = this.types.get(typeUrl)!;
    if (state.names && sameNames(state.names, names)) return;
    state.names = names;
    this.send(typeUrl, state.ackedVersion, state.nonce, names);
  }

  private isReady(): boolean {
    for (const state of this.types.values()) if (!state.ackedVersion) return false;
    return true;
  }

  private send(
    typeUrl: string,
    versionInfo: string,
    responseNonce: string,
    resourceNames: readonly string[],
  ): void {
    if (!this.stream || this.ended) return;
    const stream = this.stream;
    const framed = this.options.codec.frameRequest(
      {
        typeUrl,
        versionInfo,
        responseNonce,
        resourceNames,
        node: this.nodeSent
          ? undefined
          : { id: this.options.nodeId, cluster: this.options.nodeCluster },
      },
      stream.headroom,
    );
    this.nodeSent = true;
    this.options.counters.requests++;
    this.options.counters.bytesSent += framed.length - stream.headroom;
    stream.write(framed);
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
