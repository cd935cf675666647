/**
 * The HTTP connection manager (envoy.filters.network.http_connection_manager) on the request
 * path: for every request a codec delivers (codec/codec.ts), an ActiveStream owns the stream's
 * life — Envoy's request header mutations (XFF, x-forwarded-proto, request id, Via), the route
 * cache, stream idle and request timeouts, the HTTP filter chain (filter-manager.ts) with the
 * router last, the response's `server`/`via` headers, and at the end the stats, the trace and
 * the access log entry.
 *
 * A stream captures the compiled HCM and the config generation's cluster set current when it
 * started and uses only those until it ends: a config apply never changes a request in flight.
 */
import type { HttpConnectionManagerModel } from '../config/model.js';
import type { LocalReplyOptions, StreamInfo } from '../filters/http/filter.js';
import type { RouteMatchResult, RouteTable } from '../router/route-table.js';
import type {
  CounterHandle,
  GaugeHandle,
  HistogramHandle,
  RouteStatusCounters,
} from '../stats/stats.js';
import type { HcmTracer, RequestTrace } from '../tracing/hcm-tracer.js';
import type { ClusterRuntime } from '../upstream/cluster-runtime.js';
import type { AccessLogEntry } from '../access-log/access-log-record.js';
import { accessLogEntryOf, type HttpStreamLogSource } from '../access-log/access-log-entry.js';
import { applyClientIdentity } from './client-identity.js';
import type {
  DownstreamConnectionInfo,
  ResponseEncoder,
  StreamDecoder,
  StreamResetReason,
} from './codec/codec.js';
import {
  FilterManager,
  type CompiledHttpFilter,
  type FilterManagerOwner,
} from './filter-manager.js';
import type { HeaderMap, RequestHeaderMap, ResponseHeaderMap } from './header-map.js';
import { ResponseFlag, type ResponseFlagCode } from './response-flags.js';
import { LOCAL_REPLY_BODY } from './local-reply.js';
import {
  hasFragment,
  needsNormalization,
  normalizePath,
  PathAction,
} from './path-normalization.js';
import { overloadState } from '../overload/overload-manager.js';

/** Envoy's reply to a request refused by the overload manager. */
const OVERLOADED_REPLY = {
  headers: { 'x-envoy-overloaded': 'true' },
  flag: ResponseFlag.OVERLOAD_MANAGER,
  details: 'overload',
} as const;

/** One filter chain's HTTP connection manager, compiled against one config version. */
export interface CompiledHcm {
  readonly listenerName: string;
  readonly hcm: HttpConnectionManagerModel;
  /** Undefined when the RDS route configuration has not arrived (requests get 404 NR). */
  readonly routeTable: RouteTable | undefined;
  /** The HTTP filters, in config order, the router last. */
  readonly filters: readonly CompiledHttpFilter[];
  /** A filter inspects the client's own request headers (StreamInfo.clientRequestHeaders). */
  readonly keepClientHeaders: boolean;
  /** downstream_rq_* by route (labels listener, stat_prefix, virtual_host, route). */
  readonly downstreamRq: RouteStatusCounters;
  readonly downstreamRqTime: HistogramHandle;
  /** downstream_rq_active of the listener. */
  readonly downstreamRqActive: GaugeHandle;
  /** The HCM's tracing, when it has a provider (tracing/hcm-tracer.ts). */
  readonly tracer?: HcmTracer;
  /** per_connection_buffer_limit_bytes of the listener (Envoy's default 1 MiB). */
  readonly bufferLimitBytes: number;
  /** Counters of the request hardening (labels listener, stat_prefix). */
  readonly guardStats: RequestGuardStats;
  /**
   * downstream_flow_control_paused_reading_total / _resumed_reading_total (labels listener,
   * stat_prefix): a stream's filters stopped and restarted reading the client (the router while
   * the upstream connection holds the cluster's buffer limit of request bytes).
   */
  readonly downstreamFlowControl: {
    readonly pausedReading: CounterHandle;
    readonly resumedReading: CounterHandle;
  };
}

/** Envoy's HCM and codec counters for requests refused or changed before routing. */
export interface RequestGuardStats {
  /** downstream_rq_failed_path_normalization. */
  readonly failedPathNormalization: CounterHandle;
  /** downstream_rq_redirected_with_normalized_path. */
  readonly redirectedWithNormalizedPath: CounterHandle;
  /** requests_rejected_with_underscores_in_headers (Envoy's httpN.*), by codec. */
  readonly rejectedWithUnderscores: {
    readonly http1: CounterHandle;
    readonly http2: CounterHandle;
  };
  /** dropped_headers_with_underscores (Envoy's httpN.*), by codec. */
  readonly droppedWithUnderscores: { readonly http1: CounterHandle; readonly http2: CounterHandle };
  /** downstream_rq_too_many_premature_resets (HTTP/2 connections closed for rapid resets). */
  readonly tooManyPrematureResets: CounterHandle;
}

/** Why the connection manager refuses a request before its filter chain runs. */
export const enum Refusal {
  None = 0,
  /** normalize_path found an invalid path, or REJECT_REQUEST an escaped slash: 400. */
  PathRejected = 1,
  /** UNESCAPE_AND_REDIRECT unescaped a slash: 307 to the normalized path. */
  PathRedirect = 2,
  /** headers_with_underscores_action REJECT_REQUEST: HTTP/1 400, HTTP/2 stream reset. */
  Underscores = 3,
}

const NO_FILTERS: readonly CompiledHttpFilter[] = [];

/**
 * The checks and rewrites a request head gets before anything reads it, in Envoy's order: the
 * codec's underscore check, then path normalization (`headers.path` is rewritten). Every request
 * goes through it, upgrades included. It counts the underscore stats; the path stats are counted
 * by the caller when it answers the refusal.
 */
export function guardRequestHead(
  hcm: HttpConnectionManagerModel,
  headers: RequestHeaderMap,
  stats: RequestGuardStats,
): Refusal {
  if (hcm.headersWithUnderscoresAction !== undefined) {
    const refusal = applyUnderscoresAction(headers, hcm.headersWithUnderscoresAction, stats);
    if (refusal !== Refusal.None) return refusal;
  }
  const path = headers.path;
  // CONNECT and OPTIONS * have no path to normalize.
  if (path.charCodeAt(0) !== 0x2f /* '/' */) return Refusal.None;
  const paths = hcm.pathNormalization;
  if (paths === undefined) return hasFragment(path) ? Refusal.PathRejected : Refusal.None;
  if (!needsNormalization(path, paths)) return Refusal.None;
  const normalized = normalizePath(path, paths);
  if (normalized.action === PathAction.Reject) return Refusal.PathRejected;
  headers.path = normalized.path;
  if (normalized.action === PathAction.Continue) return Refusal.None;
  // gRPC clients do not follow redirects: Envoy rejects them instead.
  return isGrpcRequest(headers) ? Refusal.PathRejected : Refusal.PathRedirect;
}

function isGrpcRequest(headers: RequestHeaderMap): boolean {
  return headers.get('content-type')?.startsWith('application/grpc') === true;
}

/**
 * headers_with_underscores_action on a request head: the refusal (REJECT_REQUEST), or None after
 * dropping (DROP_HEADER) every field whose name has an underscore. Pseudo-headers are not in the
 * map, and hop-by-hop fields were removed by the codec.
 */
function applyUnderscoresAction(
  headers: RequestHeaderMap,
  action: 'REJECT_REQUEST' | 'DROP_HEADER',
  stats: RequestGuardStats,
): Refusal {
  const names = headers.names;
  const http2 = headers.protocol === 'HTTP/2';
  for (let i = names.length - 1; i >= 0; i--) {
    if (!names[i]!.includes('_')) continue;
    if (action === 'REJECT_REQUEST') {
      (http2 ? stats.rejectedWithUnderscores.http2 : stats.rejectedWithUnderscores.http1).inc();
      return Refusal.Underscores;
    }
    names.splice(i, 1);
    headers.values.splice(i, 1);
    (http2 ? stats.droppedWithUnderscores.http2 : stats.droppedWithUnderscores.http1).inc();
  }
  return Refusal.None;
}

/** What streams share from the config generation they started in. */
export interface RequestScope {
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  readonly accessLog: ((entry: AccessLogEntry) => void) | undefined;
}

/**
 * Streams with a stream_idle_timeout, checked by one sweep per worker instead of a timer per
 * stream (a request's events only store the sweep's tick). Expiry is late by up to one sweep
 * interval; Envoy's default is 5 minutes. The streams form an intrusive doubly linked list
 * (ActiveStream.idlePrev/idleNext): adding and removing one per request costs no hashing and no
 * allocation. The interval stops once the list has stayed empty for a whole sweep.
 */
class IdleSweep {
  static readonly INTERVAL_MS = 250;
  tick = 0;
  #head: ActiveStream | undefined;
  #timer: NodeJS.Timeout | undefined;

  add(stream: ActiveStream): void {
    const head = this.#head;
    stream.idleNext = head;
    stream.idlePrev = undefined;
    if (head !== undefined) head.idlePrev = stream;
    this.#head = stream;
    stream.idleListed = true;
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#sweep, IdleSweep.INTERVAL_MS);
      this.#timer.unref();
    }
  }

  delete(stream: ActiveStream): void {
    if (!stream.idleListed) return;
    stream.idleListed = false;
    const prev = stream.idlePrev;
    const next = stream.idleNext;
    if (prev === undefined) this.#head = next;
    else prev.idleNext = next;
    if (next !== undefined) next.idlePrev = prev;
    stream.idlePrev = undefined;
    stream.idleNext = undefined;
  }

  readonly #sweep = (): void => {
    const tick = ++this.tick;
    if (this.#head === undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    let stream: ActiveStream | undefined = this.#head;
    while (stream !== undefined) {
      // checkIdle may remove the stream (a timeout finishes it), and finishing it may end other
      // streams of its connection: read the successor first, and start over from the head if
      // that one was removed meanwhile (streams already checked this tick are not yet idle).
      const next: ActiveStream | undefined = stream.idleNext;
      stream.checkIdle(tick);
      stream = next === undefined || next.idleListed ? next : this.#head;
    }
  };
}

const idleSweep = new IdleSweep();

function onRequestTimeout(stream: ActiveStream): void {
  stream.requestTimedOut();
}

export class ActiveStream
  implements StreamDecoder, FilterManagerOwner, StreamInfo, HttpStreamLogSource
{
  readonly #chain: CompiledHcm;
  /** Whether the filters have reading from the client disabled (for the flow-control counters). */
  #readDisabled = false;
  readonly #scope: RequestScope;
  readonly #encoder: ResponseEncoder;
  readonly #filters: FilterManager;
  readonly requestHeaders: RequestHeaderMap;
  readonly connection: DownstreamConnectionInfo;
  readonly startTimeMs = performance.now();

  // StreamInfo
  responseCodeDetails = '';
  responseFlags: string | undefined = undefined;
  readonly downstreamRemoteIp: string;
  readonly requestId: string;
  readonly clientRequestHeaders: readonly string[] | undefined;
  upstreamCluster = '';
  upstreamHost = '';
  attemptCount = 0;
  upstreamTransportFailureReason: string | undefined = undefined;
  readonly trace: RequestTrace | undefined;
  #dynamicMetadata: Map<string, Record<string, unknown>> | undefined;
  #filterState: Map<string, unknown> | undefined;

  #route: RouteMatchResult | undefined;
  #routeResolved = false;
  status = 0;
  responseHeaders: ResponseHeaderMap | undefined;
  bytesReceived = 0;
  bytesSent = 0;
  requestEndMs = -1;
  responseStartMs = -1;
  #aboveWatermark = false;
  #done = false;
  /** The IdleSweep tick of the last activity (stream_idle_timeout). */
  #lastActiveTick = 0;
  #idleTicks = 0;
  #requestTimer: NodeJS.Timeout | undefined;
  /** IdleSweep's list links (only while the stream has a stream_idle_timeout). */
  idlePrev: ActiveStream | undefined = undefined;
  idleNext: ActiveStream | undefined = undefined;
  idleListed = false;
  /** A refusal decided before the filter chain (answered by start()). */
  #refusal = Refusal.None;

  constructor(
    chain: CompiledHcm,
    scope: RequestScope,
    headers: RequestHeaderMap,
    encoder: ResponseEncoder,
    connection: DownstreamConnectionInfo,
  ) {
    this.#chain = chain;
    this.#scope = scope;
    this.requestHeaders = headers;
    this.#encoder = encoder;
    this.connection = connection;
    const hcm = chain.hcm;
    chain.downstreamRqActive.add(1);
    this.#refusal = guardRequestHead(hcm, headers, chain.guardStats);
    this.clientRequestHeaders = chain.keepClientHeaders ? headers.toFlat() : undefined;
    const identity = applyClientIdentity(headers, connection.socket, hcm, headers.scheme);
    this.requestId = identity.requestId;
    this.downstreamRemoteIp = identity.trustedClientIp;
    this.trace = chain.tracer?.begin(headers, connection, this.route()?.route, this.startTimeMs);
    // A refused request is answered before (and without) the HTTP filters, as in Envoy.
    this.#filters = new FilterManager(
      this,
      this.#refusal === Refusal.None ? chain.filters : NO_FILTERS,
    );
  }

  /** Runs the request headers through the filter chain (called once, after construction). */
  start(endStream: boolean): void {
    const hcm = this.#chain.hcm;
    if (endStream) this.requestEndMs = 0;
    if (hcm.streamIdleTimeoutMs > 0) {
      this.#idleTicks = Math.max(1, Math.ceil(hcm.streamIdleTimeoutMs / IdleSweep.INTERVAL_MS));
      this.#lastActiveTick = idleSweep.tick;
      idleSweep.add(this);
    }
    if (hcm.requestTimeoutMs > 0 && !endStream)
      this.#requestTimer = setTimeout(onRequestTimeout, hcm.requestTimeoutMs, this);
    if (this.#refusal !== Refusal.None) this.#refuse();
    else if (overloadState.stopAcceptingRequests)
      this.#filters.sendLocalReply(503, LOCAL_REPLY_BODY.overloaded, OVERLOADED_REPLY);
    else this.#filters.decodeHeaders(this.requestHeaders, endStream);
  }

  /** Answers a request refused by path normalization or the underscore check. */
  #refuse(): void {
    const stats = this.#chain.guardStats;
    const headers = this.requestHeaders;
    switch (this.#refusal) {
      case Refusal.PathRejected:
        stats.failedPathNormalization.inc();
        this.#filters.refuse(headers, 400, { details: 'path_normalization_failed' });
        return;
      case Refusal.PathRedirect:
        stats.redirectedWithNormalizedPath.inc();
        this.#filters.refuse(headers, 307, {
          details: 'path_normalization_failed',
          headers: { location: headers.path },
        });
        return;
      case Refusal.Underscores:
        if (headers.protocol === 'HTTP/2') {
          // Envoy's HTTP/2 codec resets the stream.
          this.responseCodeDetails = 'http2.unexpected_underscore';
          this.addResponseFlag(ResponseFlag.DOWNSTREAM_PROTOCOL_ERROR);
          this.#encoder.resetStream();
          this.#finish();
          return;
        }
        // Envoy's HTTP/1 codec answers 400 and closes the connection.
        this.#encoder.closeConnectionAfterResponse();
        this.#filters.refuse(headers, 400, {
          details: 'http1.unexpected_underscore',
          flag: ResponseFlag.DOWNSTREAM_PROTOCOL_ERROR,
        });
        return;
    }
  }

  // ------------------------------------------------------------ StreamInfo

  get dynamicMetadata(): Map<string, Record<string, unknown>> {
    return (this.#dynamicMetadata ??= new Map());
  }
  get dynamicMetadataIfAny(): ReadonlyMap<string, Record<string, unknown>> | undefined {
    return this.#dynamicMetadata;
  }
  get filterState(): Map<string, unknown> {
    return (this.#filterState ??= new Map());
  }
  get traceId(): string | undefined {
    return this.trace?.traceId;
  }

  addResponseFlag(flag: ResponseFlagCode): void {
    this.responseFlags = this.responseFlags === undefined ? flag : `${this.responseFlags},${flag}`;
  }

  // ------------------------------------------------------------ FilterManagerOwner

  get streamInfo(): StreamInfo {
    return this;
  }
  get clusters(): ReadonlyMap<string, ClusterRuntime> {
    return this.#scope.clusters;
  }
  get bufferLimit(): number {
    return this.#chain.bufferLimitBytes;
  }
  get responseStarted(): boolean {
    return this.#encoder.headersSent;
  }

  route(): RouteMatchResult | undefined {
    if (!this.#routeResolved) {
      this.#routeResolved = true;
      this.#route = this.#chain.routeTable?.match(this.requestHeaders);
    }
    return this.#route;
  }

  clearRouteCache(): void {
    this.#routeResolved = false;
    this.#route = undefined;
  }

  readDisable(disabled: boolean): void {
    if (disabled !== this.#readDisabled) {
      this.#readDisabled = disabled;
      const counters = this.#chain.downstreamFlowControl;
      (disabled ? counters.pausedReading : counters.resumedReading).inc();
    }
    this.#encoder.readDisable(disabled);
  }

  resetStream(): void {
    if (this.#done) return;
    if (this.responseFlags === undefined)
      this.addResponseFlag(ResponseFlag.UPSTREAM_CONNECTION_TERMINATION);
    this.#encoder.resetStream();
    this.#finish();
  }

  onLocalReply(status: number, options: LocalReplyOptions | undefined): void {
    if (options?.flag !== undefined) this.addResponseFlag(options.flag);
    this.responseCodeDetails = options?.details ?? '';
  }

  /** Envoy's HCM response finalization, after the encode filters: server and via headers. */
  sinkHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.#done) return;
    const hcm = this.#chain.hcm;
    if (hcm.serverHeaderTransformation === 'OVERWRITE') {
      if (hcm.serverName !== '') headers.set('server', hcm.serverName);
      else headers.remove('server');
    } else if (hcm.serverHeaderTransformation === 'APPEND_IF_ABSENT' && hcm.serverName !== '') {
      if (!headers.has('server')) headers.append('server', hcm.serverName);
    }
    if (hcm.via !== '') headers.append('via', hcm.via);
    // Envoy: a response sent before the request is complete closes an HTTP/1 connection rather
    // than waiting for (or misreading) the rest of the request.
    if (this.requestEndMs < 0) this.#encoder.closeConnectionAfterResponse();
    this.status = headers.status;
    this.responseHeaders = headers;
    // %RESPONSE_DURATION% is the access log's alone: no clock read per request without one.
    if (this.#scope.accessLog !== undefined)
      this.responseStartMs = performance.now() - this.startTimeMs;
    this.#lastActiveTick = idleSweep.tick;
    this.#encoder.encodeHeaders(headers, endStream);
    if (endStream) this.#finish();
  }

  sinkData(data: Buffer, endStream: boolean): boolean {
    if (this.#done) return false;
    this.bytesSent += data.length;
    this.#lastActiveTick = idleSweep.tick;
    const writable = this.#encoder.encodeData(data, endStream);
    if (endStream) {
      this.#finish();
      return true;
    }
    if (!writable) this.#aboveWatermark = true;
    return writable;
  }

  sinkTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    this.#encoder.encodeTrailers(trailers);
    this.#finish();
  }

  // ------------------------------------------------------------ StreamDecoder (codec events)

  decodeData(data: Buffer, endStream: boolean): void {
    if (this.#done) return;
    this.bytesReceived += data.length;
    this.#lastActiveTick = idleSweep.tick;
    if (endStream) this.#onRequestEnd();
    this.#filters.decodeData(data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    this.#onRequestEnd();
    this.#filters.decodeTrailers(trailers);
  }

  onResetStream(_reason: StreamResetReason): void {
    if (this.#done) return;
    // The client went away before the response completed.
    this.addResponseFlag(ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION);
    this.#finish();
  }

  onBelowWriteBufferLowWatermark(): void {
    if (!this.#aboveWatermark || this.#done) return;
    this.#aboveWatermark = false;
    this.#filters.onBelowWriteBufferLowWatermark();
  }

  #onRequestEnd(): void {
    this.requestEndMs = performance.now() - this.startTimeMs;
    if (this.#requestTimer !== undefined) {
      clearTimeout(this.#requestTimer);
      this.#requestTimer = undefined;
    }
  }

  // ------------------------------------------------------------ timeouts

  /** Called by the idle sweep: stream_idle_timeout expired → 408 (or a reset once answering). */
  checkIdle(tick: number): void {
    if (tick - this.#lastActiveTick < this.#idleTicks) return;
    this.#timeout('stream_idle_timeout');
  }

  /** request_timeout expired (a module function calls this: no closure per stream). */
  requestTimedOut(): void {
    this.#requestTimer = undefined;
    this.#timeout('request_overall_timeout');
  }

  #timeout(details: string): void {
    if (this.#done) return;
    if (this.#encoder.headersSent) {
      this.addResponseFlag(ResponseFlag.STREAM_IDLE_TIMEOUT);
      this.#encoder.resetStream();
      this.#finish();
      return;
    }
    this.#filters.sendLocalReply(408, LOCAL_REPLY_BODY.streamTimeout, {
      flag: ResponseFlag.STREAM_IDLE_TIMEOUT,
      details,
    });
  }

  // ------------------------------------------------------------ completion

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#requestTimer !== undefined) clearTimeout(this.#requestTimer);
    if (this.#idleTicks > 0) idleSweep.delete(this);
    this.#filters.destroy();
    const chain = this.#chain;
    const durationMs = performance.now() - this.startTimeMs;
    const status = this.status;
    const route = this.#route;
    if (status > 0) chain.downstreamRq.record(status, route);
    chain.downstreamRqTime.observe(durationMs);
    chain.downstreamRqActive.add(-1);
    this.trace?.finish(status, this.responseFlags, this.requestId, this.upstreamCluster);
    const accessLog = this.#scope.accessLog;
    if (accessLog !== undefined) accessLog(accessLogEntryOf(this, durationMs));
  }

  // ------------------------------------------------------------ HttpStreamLogSource

  get listenerName(): string {
    return this.#chain.listenerName;
  }
  get statPrefix(): string {
    return this.#chain.hcm.statPrefix;
  }
  get routeName(): string {
    return this.#route?.route.name ?? '';
  }
}
