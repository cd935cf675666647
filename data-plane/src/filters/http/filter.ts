/**
 * HTTP filters: Envoy's StreamDecoderFilter / StreamEncoderFilter in TypeScript, and the factory
 * every filter extension exports.
 *
 * An extension lives in its own folder, `filters/http/<name>/`: `config.ts` exports an
 * HttpFilterFactory (validates the typed_config in the primary and the control plane, builds a
 * per-HCM StreamFilterFactory in the workers), the rest is its runtime. `filters/http/registry.ts`
 * lists every factory; nothing registers itself by being imported.
 *
 * Iteration (http/filter-manager.ts):
 * - decode callbacks run in config order, encode callbacks in reverse; a filter sees headers,
 *   then data, then trailers, one event at a time, and never touches the connection.
 * - `'continue'` passes the event on. `'stop'` from a headers callback holds the stream at this
 *   filter: later data is buffered by the filter manager (bounded by the stream's buffer limit,
 *   reading from the client paused above it) until the filter calls continueDecoding() /
 *   continueEncoding(), which replays headers and buffered data to the next filters.
 * - Data statuses: `'stop-and-buffer'` (the manager keeps the data; above the limit the request
 *   gets 413, a response 500, as Envoy's), `'stop-and-watermark'` (kept, with backpressure
 *   instead of an error above the limit), `'stop-no-buffer'` (the filter owns the bytes and
 *   injects them later with inject*DataToFilterChain).
 * - A local reply (sendLocalReply) ends decoding and runs through every encode filter.
 */
import type { JsonObject, MessageSpec, Issues } from '../../config/translate-common.js';
import type { HeaderMap, RequestHeaderMap, ResponseHeaderMap } from '../../http/header-map.js';
import type { DownstreamConnectionInfo } from '../../http/codec/codec.js';
import type { RouteMatchResult } from '../../router/route-table.js';
import type { ClusterRuntime } from '../../upstream/cluster-runtime.js';
import type { ResponseFlagCode } from '../../http/response-flags.js';
import type { StatsSink } from '../../stats/stats.js';
import type { Logger } from '@ferry/shared';
import type { RequestTrace } from '../../tracing/hcm-tracer.js';

export type FilterHeadersStatus = 'continue' | 'stop';
export type FilterDataStatus =
  'continue' | 'stop-and-buffer' | 'stop-and-watermark' | 'stop-no-buffer';
export type FilterTrailersStatus = 'continue' | 'stop';

/** Envoy's StreamDecoderFilter. */
export interface StreamDecoderFilter {
  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus;
  decodeData?(data: Buffer, endStream: boolean): FilterDataStatus;
  decodeTrailers?(trailers: HeaderMap): FilterTrailersStatus;
}

/** Envoy's StreamEncoderFilter. */
export interface StreamEncoderFilter {
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): FilterHeadersStatus;
  encodeData?(data: Buffer, endStream: boolean): FilterDataStatus;
  encodeTrailers?(trailers: HeaderMap): FilterTrailersStatus;
}

/** One filter instance per stream; it may decode, encode or both. */
export interface StreamFilter extends Partial<StreamDecoderFilter>, Partial<StreamEncoderFilter> {
  /** The stream has ended (completed or reset): release timers and resources. Called once. */
  onDestroy?(): void;
}

export interface LocalReplyOptions {
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Envoy's response flag for the access log (%RESPONSE_FLAGS%). */
  readonly flag?: ResponseFlagCode;
  /** %RESPONSE_CODE_DETAILS% (e.g. "request_payload_too_large"). */
  readonly details?: string;
  /** Last changes to the reply's headers before the encode filters (the router's route headers). */
  readonly modifyHeaders?: (headers: ResponseHeaderMap) => void;
  /**
   * gRPC requests: the grpc-status of the trailers-only reply (Envoy's sendLocalReply
   * grpc_status); absent: derived from `status` as Envoy's httpToGrpcStatus does. The fault
   * filter's grpc_status aborts pass it with status 200.
   */
  readonly grpcStatus?: number;
}

/**
 * Per-stream state filters share with each other and with access logs (Envoy's StreamInfo):
 * dynamic metadata (`%DYNAMIC_METADATA(namespace:key)%`), filter state, and what the router
 * learnt about the upstream.
 */
export interface StreamInfo {
  /** performance.now() when the request started. */
  readonly startTimeMs: number;
  readonly connection: DownstreamConnectionInfo;
  /** Dynamic metadata by namespace (e.g. "envoy.filters.http.rbac"); created on first use. */
  readonly dynamicMetadata: Map<string, Record<string, unknown>>;
  /** Filter state objects by name; created on first use. */
  readonly filterState: Map<string, unknown>;
  /** %RESPONSE_CODE_DETAILS%; set by whoever ends the stream. */
  responseCodeDetails: string;
  /** Envoy's response flags so far, joined by ',' (%RESPONSE_FLAGS%); undefined: none. */
  readonly responseFlags: string | undefined;
  /** Records a response flag (a delay injected, a reset, a timeout, ...). */
  addResponseFlag(flag: ResponseFlagCode): void;
  /** The trusted client address after XFF processing (no port). */
  readonly downstreamRemoteIp: string;
  /** x-request-id of the request ("" when none). */
  readonly requestId: string;
  /**
   * The request's headers as the client sent them, `[name, value, ...]`, before the connection
   * manager's own changes (x-forwarded-for, x-forwarded-proto, x-request-id, x-envoy-*, via);
   * kept only on a chain with a filter that asks (StreamFilterFactory.inspectsClientHeaders),
   * else undefined.
   */
  readonly clientRequestHeaders: readonly string[] | undefined;
  /** The upstream cluster chosen by the router ("" before). */
  upstreamCluster: string;
  /** The upstream host of the last attempt, `ip:port` ("" before). */
  upstreamHost: string;
  /** Upstream attempts made so far. */
  attemptCount: number;
  /** Why the last upstream attempt failed at the transport level (e.g. ECONNREFUSED). */
  upstreamTransportFailureReason: string | undefined;
  /** The request's trace when the HCM traces (the router marks its upstream attempts). */
  readonly trace: RequestTrace | undefined;
}

/** What every filter may ask of its stream. */
export interface StreamFilterCallbacks {
  readonly streamInfo: StreamInfo;
  /** The route for the current request headers (cached; undefined: no route). */
  route(): RouteMatchResult | undefined;
  /** Headers that affect routing changed: the next route() matches again. */
  clearRouteCache(): void;
  /** The cluster runtimes of the config the stream started with. */
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  /**
   * The HttpFilter.name of the filter these callbacks belong to (Envoy's filterConfigName()): the
   * key of its typed_per_filter_config entries — every level's configs are
   * `route()?.perFilterConfigs(name)` — and the namespace of its dynamic metadata.
   */
  readonly name: string;
  /**
   * The most specific typed_per_filter_config for this filter (weighted cluster, route, virtual
   * host, route configuration), as its factory's validatePerRoute returned it; undefined: none.
   * Entries that only enable or disable the filter carry no config and are skipped, as in
   * Envoy's mostSpecificPerFilterConfig (RouteMatchResult.perFilterConfig(name)).
   */
  perFilterConfig(): unknown;
  /** Answers the request locally; the reply runs through every encode filter. */
  sendLocalReply(status: number, body: string, options?: LocalReplyOptions): void;
  /** The stream's buffer limit (per_connection_buffer_limit_bytes of the listener). */
  readonly bufferLimit: number;
}

/** Envoy's StreamDecoderFilterCallbacks. */
export interface DecoderFilterCallbacks extends StreamFilterCallbacks {
  /** Resumes decoding after this filter returned 'stop' (headers, buffered data, trailers). */
  continueDecoding(): void;
  /** Data the manager buffered for this filter ('stop-and-buffer'/'stop-and-watermark'). */
  decodingBuffer(): readonly Buffer[];
  /** Passes data this filter held ('stop-no-buffer') on to the next decode filters. */
  injectDecodedDataToFilterChain(data: Buffer, endStream: boolean): void;
  /** Stops/resumes reading the request body from the client. */
  readDisable(disabled: boolean): void;
  /**
   * Envoy's setDecoderBufferLimit: this stream's limit for request data the manager buffers
   * ('stop-and-buffer', 413 above it) becomes `limit` bytes instead of `bufferLimit`. The buffer
   * filter raises it to max_request_bytes.
   */
  setDecoderBufferLimit(limit: number): void;
  /** The response, for the filter that produces one (the router): enters the encode chain. */
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void;
  /** Returns false above the downstream write watermark; onBelowWriteBufferLowWatermark follows. */
  encodeData(data: Buffer, endStream: boolean): boolean;
  encodeTrailers(trailers: HeaderMap): void;
  /** Called by the manager when downstream drained after encodeData returned false. */
  onBelowWriteBufferLowWatermark?: () => void;
  /** Abandons the stream (resets downstream), e.g. an upstream failure after headers were sent. */
  resetStream(): void;
}

/** Envoy's StreamEncoderFilterCallbacks. */
export interface EncoderFilterCallbacks extends StreamFilterCallbacks {
  continueEncoding(): void;
  encodingBuffer(): readonly Buffer[];
  injectEncodedDataToFilterChain(data: Buffer, endStream: boolean): void;
  /**
   * Envoy's onEncoderFilterAboveWriteBufferHighWatermark: response data this filter holds (e.g.
   * queued in a compressor) went above its limit; the manager stops reading the response from
   * upstream until onEncoderFilterBelowWriteBufferLowWatermark. Calls are counted: reading
   * resumes when every "above" had its "below".
   */
  onEncoderFilterAboveWriteBufferHighWatermark(): void;
  onEncoderFilterBelowWriteBufferLowWatermark(): void;
}

export interface FilterCallbacks extends DecoderFilterCallbacks, EncoderFilterCallbacks {}

/** Worker-side context a factory may use when it builds its per-HCM StreamFilterFactory. */
export interface FilterFactoryContext {
  readonly stats: StatsSink;
  readonly logger: Logger;
  /** stat_prefix of the HCM (Envoy prefixes filter stats with it). */
  readonly statPrefix: string;
  readonly listenerName: string;
  /** The proxy-wide "failing health checks" flag (admin POST /healthcheck/fail). */
  readonly serverHealth: { readonly failing: boolean };
  /** The node's cluster (Envoy's local service cluster, e.g. rate limit source_cluster); "" unknown. */
  readonly localServiceCluster?: string;
  /** The node's id (the ratelimit filter names it to Ferry's RateLimitService); "" unknown. */
  readonly localNodeId?: string;
}

/** Built once per HCM and config version (in a worker); creates the per-stream filters. */
export interface StreamFilterFactory {
  create(callbacks: FilterCallbacks): StreamFilter;
  /**
   * Called at config apply, before any request, with each per-route config (validatePerRoute's
   * result) this filter has in its HCM's route configuration: work a route needs (e.g. compiling
   * a route's rule set) is done here rather than on the route's first request.
   */
  prepareRoute?(perRoute: unknown): void;
  /**
   * The filter reads StreamInfo.clientRequestHeaders: the connection manager keeps a copy of
   * every request's headers from before its changes, for the streams of this filter's chain.
   */
  readonly inspectsClientHeaders?: boolean;
}

/**
 * An HTTP filter extension. `validate` and `validatePerRoute` run where config is translated
 * (the proxy's primary, the control plane) and must return plain data (it crosses IPC to the
 * workers); `createFilterFactory` runs in each worker at config apply.
 */
export interface HttpFilterFactory<Config = unknown, PerRoute = unknown> {
  /** typed_config type URL. */
  readonly typeUrl: string;
  /** Well-known names; used when an HttpFilter has no typed_config. */
  readonly names: readonly string[];
  /** Terminal filters must be last in the chain (Envoy: the router). */
  readonly terminal: boolean;
  /** What the filter does in ferry-proxy, for docs/envoy-reference.md. */
  readonly note: string;
  /** The messages of its config (and per-route config), for the allow-list reference. */
  readonly specs: readonly MessageSpec[];
  /** Type URLs accepted in typed_per_filter_config (none: per-route config is NACKed). */
  readonly perRouteTypeUrls?: readonly string[];
  /**
   * Checks the typed_config (proto3 JSON, already decoded strictly) and returns the config the
   * workers receive. Errors go to `issues` with `path` prefixed.
   */
  validate(config: JsonObject, path: string, issues: Issues): Config;
  /** Checks a typed_per_filter_config entry whose type is one of perRouteTypeUrls. */
  validatePerRoute?(typeUrl: string, config: JsonObject, path: string, issues: Issues): PerRoute;
  /**
   * Checks the filter's config together with one of its per-route configs found in a route
   * configuration its HCM uses (inline or over RDS), for what only the pair can tell (e.g. two
   * rule sets that compile alone but not combined). Errors go to `issues` under `path`; they
   * reject both the listener and the RDS route configuration.
   */
  checkPerRoute?(config: Config, perRoute: PerRoute, path: string, issues: Issues): void;
  /** Worker side: the per-HCM factory of per-stream filters. */
  createFilterFactory(config: Config, context: FilterFactoryContext): StreamFilterFactory;
}
