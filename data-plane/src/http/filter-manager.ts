/**
 * The HTTP filter chain of one stream (Envoy's FilterManager): runs decode events through the
 * decoder filters in config order and encode events through the encoder filters in reverse,
 * holds a stream where a filter stopped, buffers what Envoy buffers, and resumes when the filter
 * continues. The connection manager (connection-manager.ts) owns the stream's life and feeds
 * this from the codec; the last decoder filter (the router) produces the response through
 * encodeHeaders/encodeData, which run the encoder filters and then the manager's sink.
 *
 * Contract, as Envoy's (envoy/http/filter.h):
 * - 'stop' from decodeHeaders holds headers at that filter; its decodeData still sees the body
 *   (if it has one) and a 'continue' from decodeData resumes: the held headers, then the data,
 *   go on to the next filters. A filter without decodeData that stopped on headers has the body
 *   buffered for it (with backpressure) until it calls continueDecoding().
 * - 'stop-and-buffer' keeps the chunk in the manager's buffer for that filter; above the stream's
 *   buffer limit the request gets 413 (a response: 500), as Envoy's. 'stop-and-watermark' keeps
 *   it and pauses reading instead. 'stop-no-buffer' leaves the bytes with the filter, which
 *   injects them later. A 'continue' after buffering passes the whole buffer on as one chunk.
 * - Once a local reply or the response's end has been encoded, no more decode events run.
 */
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterHeadersStatus,
  LocalReplyOptions,
  StreamFilter,
  StreamFilterFactory,
  StreamInfo,
} from '../filters/http/filter.js';
import type { RouteMatchResult } from '../router/route-table.js';
import type { ClusterRuntime } from '../upstream/cluster-runtime.js';
import { ResponseHeaderMap, type HeaderMap, type RequestHeaderMap } from './header-map.js';

/** One configured HTTP filter of a compiled HCM. */
export interface CompiledHttpFilter {
  /** HttpFilter.name: the key of typed_per_filter_config. */
  readonly name: string;
  readonly factory: StreamFilterFactory;
  /** HCM `disabled: true`: created only when the route enables it. */
  readonly disabledByDefault: boolean;
}

/** What the manager needs from the stream that owns it (the connection manager's stream). */
export interface FilterManagerOwner {
  readonly streamInfo: StreamInfo;
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  readonly bufferLimit: number;
  route(): RouteMatchResult | undefined;
  clearRouteCache(): void;
  /** The end of the encode chain: response headers to the codec (after HCM finalization). */
  sinkHeaders(headers: ResponseHeaderMap, endStream: boolean): void;
  /** Returns false above the downstream watermark. */
  sinkData(data: Buffer, endStream: boolean): boolean;
  sinkTrailers(trailers: HeaderMap): void;
  /** Local reply bookkeeping (flags, details, status) before it is encoded. */
  onLocalReply(status: number, options: LocalReplyOptions | undefined): void;
  readDisable(disabled: boolean): void;
  resetStream(): void;
  /** True once the response headers have gone to the codec. */
  readonly responseStarted: boolean;
}

const EMPTY: readonly Buffer[] = [];

function isGrpc(headers: RequestHeaderMap | undefined): boolean {
  return headers?.get('content-type')?.startsWith('application/grpc') === true;
}

/** Envoy's Grpc::Utility::httpToGrpcStatus. */
function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/**
 * The callbacks object a filter receives: one per filter per stream, so that continueDecoding,
 * perFilterConfig and the buffers know which filter is asking.
 */
class ActiveFilter implements FilterCallbacks {
  readonly filter: StreamFilter;
  /** Index in the decoder list (-1: not a decoder). */
  decodeIndex = -1;
  /** Index in the encoder list (-1: not an encoder). */
  encodeIndex = -1;
  /** Decode: headers are held at this filter (it stopped). */
  decodeHeld = false;
  /** Decode: the held headers have not gone to the next filter yet. */
  decodeHeadersPending = false;
  decodeBuffer: Buffer[] | undefined;
  decodeBufferBytes = 0;
  encodeHeld = false;
  encodeHeadersPending = false;
  encodeBuffer: Buffer[] | undefined;
  encodeBufferBytes = 0;
  onBelowWriteBufferLowWatermark: (() => void) | undefined;

  constructor(
    readonly manager: FilterManager,
    readonly name: string,
    /** Position in the HCM's http_filters (the index of the route's FilterPlan.configs). */
    readonly chainIndex: number,
    factory: StreamFilterFactory,
  ) {
    this.filter = factory.create(this);
  }

  get streamInfo(): StreamInfo {
    return this.manager.owner.streamInfo;
  }
  get clusters(): ReadonlyMap<string, ClusterRuntime> {
    return this.manager.owner.clusters;
  }
  get bufferLimit(): number {
    return this.manager.owner.bufferLimit;
  }
  route(): RouteMatchResult | undefined {
    return this.manager.owner.route();
  }
  clearRouteCache(): void {
    this.manager.owner.clearRouteCache();
  }
  perFilterConfig(): unknown {
    const route = this.manager.owner.route();
    return route === undefined
      ? undefined
      : route.memo(this.manager.filters, buildFilterPlan).configs[this.chainIndex];
  }
  sendLocalReply(status: number, body: string, options?: LocalReplyOptions): void {
    this.manager.sendLocalReply(status, body, options);
  }
  continueDecoding(): void {
    this.manager.continueDecoding(this);
  }
  decodingBuffer(): readonly Buffer[] {
    return this.decodeBuffer ?? EMPTY;
  }
  injectDecodedDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.manager.decodeDataFrom(this.decodeIndex + 1, data, endStream);
  }
  readDisable(disabled: boolean): void {
    this.manager.owner.readDisable(disabled);
  }
  setDecoderBufferLimit(limit: number): void {
    this.manager.decoderBufferLimit = limit;
  }
  onEncoderFilterAboveWriteBufferHighWatermark(): void {
    this.manager.encoderAboveWatermark();
  }
  onEncoderFilterBelowWriteBufferLowWatermark(): void {
    this.manager.encoderBelowWatermark();
  }
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    this.manager.encodeHeadersFrom(0, headers, endStream);
  }
  encodeData(data: Buffer, endStream: boolean): boolean {
    return this.manager.encodeDataFrom(0, data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.manager.encodeTrailersFrom(0, trailers);
  }
  resetStream(): void {
    this.manager.owner.resetStream();
  }
  continueEncoding(): void {
    this.manager.continueEncoding(this);
  }
  encodingBuffer(): readonly Buffer[] {
    return this.encodeBuffer ?? EMPTY;
  }
  injectEncodedDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.manager.encodeDataFrom(this.encodeIndex + 1, data, endStream);
  }
}

/**
 * Which of an HCM's filters run on one route and each one's per-route config: resolved once per
 * route and filter chain (kept with the route, RouteMatchResult.memo), not per filter per
 * request. typed_per_filter_config may enable or disable filters for the route: a filter with
 * `disabled: true` in the HCM runs only where an entry for it is not disabled; any other runs
 * unless the route's entry disables it (Envoy's FilterChainFactory rules).
 */
interface FilterPlan {
  /** Chain indices of the filters to create, in config order. */
  readonly enabled: readonly number[];
  /** By chain index: the most specific per-route config (undefined: none). */
  readonly configs: readonly unknown[];
}

function buildFilterPlan(
  route: RouteMatchResult | undefined,
  filters: readonly CompiledHttpFilter[],
): FilterPlan {
  const enabled: number[] = [];
  const configs: unknown[] = [];
  for (let i = 0; i < filters.length; i++) {
    const compiled = filters[i]!;
    const perRoute = route?.perFilterConfig(compiled.name);
    configs.push(perRoute?.config);
    if (
      compiled.disabledByDefault
        ? perRoute === undefined || perRoute.disabled
        : perRoute?.disabled === true
    )
      continue;
    enabled.push(i);
  }
  return { enabled, configs };
}

/** The plans of requests without a route, by filter chain. */
const unroutedPlans = new WeakMap<readonly CompiledHttpFilter[], FilterPlan>();

function filterPlanOf(
  route: RouteMatchResult | undefined,
  filters: readonly CompiledHttpFilter[],
): FilterPlan {
  if (route !== undefined) return route.memo(filters, buildFilterPlan);
  let plan = unroutedPlans.get(filters);
  if (plan === undefined) {
    plan = buildFilterPlan(undefined, filters);
    unroutedPlans.set(filters, plan);
  }
  return plan;
}

function concat(buffer: Buffer[], last: Buffer | undefined): Buffer {
  if (last !== undefined && last.length > 0) buffer.push(last);
  return buffer.length === 1 ? buffer[0]! : Buffer.concat(buffer);
}

/** The filter lists of a manager under construction (never written to). */
const NO_ACTIVE_FILTERS: ActiveFilter[] = [];

export class FilterManager {
  readonly owner: FilterManagerOwner;
  /** The HCM's filters (the key of the route's FilterPlan). */
  readonly filters: readonly CompiledHttpFilter[];
  readonly #decoders: ActiveFilter[] = NO_ACTIVE_FILTERS;
  /** Encoders in encode order (the last configured filter first). */
  readonly #encoders: ActiveFilter[] = NO_ACTIVE_FILTERS;
  readonly #all: ActiveFilter[] = NO_ACTIVE_FILTERS;
  #requestHeaders: RequestHeaderMap | undefined;
  #requestTrailers: HeaderMap | undefined;
  /** The request's end has been seen (by headers, data or trailers) at the codec. */
  #requestEnded = false;
  #responseHeaders: ResponseHeaderMap | undefined;
  #responseTrailers: HeaderMap | undefined;
  #responseEnded = false;
  /** No further decode events: a local reply or the response ended the stream's decoding. */
  #decodingDone = false;
  #localReplied = false;
  #destroyed = false;
  /** A watermark-buffering filter asked the manager to pause reading. */
  #readDisabledForBuffer = false;
  /** setDecoderBufferLimit's value (undefined: the stream's buffer limit). */
  decoderBufferLimit: number | undefined;
  /** Encoder filters above their write watermark (each "above" until its "below"). */
  #encoderWatermarks = 0;

  constructor(owner: FilterManagerOwner, filters: readonly CompiledHttpFilter[]) {
    this.owner = owner;
    this.filters = filters;
    // The HCM resolves the route before the chain is built, as Envoy does.
    const enabled = filterPlanOf(owner.route(), filters).enabled;
    // The lists are made at their final length: an array grown by push from empty gets V8's
    // smallest backing store (17 slots), three of them per request for a one-filter chain.
    const all = new Array<ActiveFilter>(enabled.length);
    let decoderCount = 0;
    let encoderCount = 0;
    for (let i = 0; i < enabled.length; i++) {
      const index = enabled[i]!;
      const compiled = filters[index]!;
      const active = new ActiveFilter(this, compiled.name, index, compiled.factory);
      all[i] = active;
      if (active.filter.decodeHeaders !== undefined) active.decodeIndex = decoderCount++;
      if (active.filter.encodeHeaders !== undefined) encoderCount++;
    }
    const decoders = new Array<ActiveFilter>(decoderCount);
    const encoders = new Array<ActiveFilter>(encoderCount);
    let encodeIndex = 0;
    for (let i = all.length - 1; i >= 0; i--) {
      const active = all[i]!;
      if (active.decodeIndex >= 0) decoders[active.decodeIndex] = active;
      if (active.filter.encodeHeaders === undefined) continue;
      active.encodeIndex = encodeIndex;
      encoders[encodeIndex++] = active;
    }
    this.#all = all;
    this.#decoders = decoders;
    this.#encoders = encoders;
  }

  get localReplied(): boolean {
    return this.#localReplied;
  }

  // ------------------------------------------------------------------ decode path

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): void {
    this.#requestHeaders = headers;
    if (endStream) this.#requestEnded = true;
    this.#decodeHeadersFrom(0, endStream);
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (endStream) this.#requestEnded = true;
    this.decodeDataFrom(0, data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.#requestEnded = true;
    this.#requestTrailers = trailers;
    this.#decodeTrailersFrom(0);
  }

  /** Returns false when iteration stopped (a filter held the headers or the stream ended). */
  #decodeHeadersFrom(start: number, endStream: boolean): boolean {
    const headers = this.#requestHeaders!;
    const decoders = this.#decoders;
    for (let i = start; i < decoders.length; i++) {
      if (this.#decodingDone) return false;
      const active = decoders[i]!;
      const status: FilterHeadersStatus = active.filter.decodeHeaders!(headers, endStream);
      if (this.#decodingDone) return false;
      if (status !== 'continue') {
        active.decodeHeld = true;
        active.decodeHeadersPending = true;
        return false;
      }
    }
    return true;
  }

  /** Data entering the chain at decoder `start` (0 from the codec; i+1 from filter i). */
  decodeDataFrom(start: number, data: Buffer, endStream: boolean): void {
    const decoders = this.#decoders;
    for (let i = start; i < decoders.length; i++) {
      if (this.#decodingDone) return;
      const active = decoders[i]!;
      const decodeData = active.filter.decodeData;
      if (decodeData === undefined) {
        if (active.decodeHeld) {
          this.#bufferDecoded(active, data, 'stop-and-watermark');
          return;
        }
        continue;
      }
      const status: FilterDataStatus = decodeData.call(active.filter, data, endStream);
      if (this.#decodingDone) return;
      if (status === 'continue') {
        if (active.decodeBuffer !== undefined) {
          data = concat(active.decodeBuffer, data);
          this.#clearDecodeBuffer(active);
        }
        if (active.decodeHeld) {
          active.decodeHeld = false;
          if (active.decodeHeadersPending) {
            active.decodeHeadersPending = false;
            if (!this.#decodeHeadersFrom(i + 1, false)) {
              // A later filter held the headers: it gets the data next.
              this.decodeDataFrom(i + 1, data, endStream);
              return;
            }
          }
        }
        continue;
      }
      active.decodeHeld = true;
      if (status !== 'stop-no-buffer') this.#bufferDecoded(active, data, status);
      return;
    }
  }

  /**
   * Trailers reach a filter that stopped on headers or data too (Envoy's StopSingleIteration);
   * a 'continue' from it resumes iteration like continueDecoding. A stopped filter without
   * decodeTrailers holds them until it continues.
   */
  #decodeTrailersFrom(start: number): void {
    const trailers = this.#requestTrailers!;
    const decoders = this.#decoders;
    for (let i = start; i < decoders.length; i++) {
      if (this.#decodingDone) return;
      const active = decoders[i]!;
      const decodeTrailers = active.filter.decodeTrailers;
      if (decodeTrailers === undefined) {
        if (active.decodeHeld) return;
        continue;
      }
      const status = decodeTrailers.call(active.filter, trailers);
      if (this.#decodingDone) return;
      if (status !== 'continue') {
        active.decodeHeld = true;
        return;
      }
      if (active.decodeHeld) {
        this.continueDecoding(active);
        return;
      }
    }
  }

  #bufferDecoded(active: ActiveFilter, data: Buffer, status: FilterDataStatus): void {
    if (data.length > 0) {
      (active.decodeBuffer ??= []).push(data);
      active.decodeBufferBytes += data.length;
    }
    if (active.decodeBufferBytes <= (this.decoderBufferLimit ?? this.owner.bufferLimit)) return;
    if (status === 'stop-and-buffer') {
      // Envoy: "buffer limit exceeded" on a request → 413.
      this.sendLocalReply(413, 'Payload Too Large', { details: 'request_payload_too_large' });
      return;
    }
    if (!this.#readDisabledForBuffer) {
      this.#readDisabledForBuffer = true;
      this.owner.readDisable(true);
    }
  }

  #clearDecodeBuffer(active: ActiveFilter): void {
    active.decodeBuffer = undefined;
    active.decodeBufferBytes = 0;
    if (this.#readDisabledForBuffer) {
      this.#readDisabledForBuffer = false;
      this.owner.readDisable(false);
    }
  }

  continueDecoding(active: ActiveFilter): void {
    if (this.#decodingDone || !active.decodeHeld) return;
    active.decodeHeld = false;
    const i = active.decodeIndex;
    const buffered = active.decodeBuffer;
    const trailers = this.#requestTrailers;
    if (active.decodeHeadersPending) {
      active.decodeHeadersPending = false;
      const headersEnd = this.#requestEnded && buffered === undefined && trailers === undefined;
      if (!this.#decodeHeadersFrom(i + 1, headersEnd)) {
        if (buffered !== undefined && !this.#decodingDone) {
          this.#clearDecodeBuffer(active);
          this.decodeDataFrom(i + 1, concat(buffered, undefined), this.#requestEnded && !trailers);
        }
        return;
      }
    }
    if (buffered !== undefined) {
      this.#clearDecodeBuffer(active);
      this.decodeDataFrom(
        i + 1,
        concat(buffered, undefined),
        this.#requestEnded && trailers === undefined,
      );
    }
    if (trailers !== undefined && !this.#decodingDone) this.#decodeTrailersFrom(i + 1);
  }

  // ------------------------------------------------------------------ encode path

  encodeHeadersFrom(start: number, headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.#destroyed) return;
    this.#responseHeaders = headers;
    if (endStream) this.#endResponse();
    this.#encodeHeadersFrom(start, endStream);
  }

  #encodeHeadersFrom(start: number, endStream: boolean): boolean {
    const headers = this.#responseHeaders!;
    const encoders = this.#encoders;
    for (let i = start; i < encoders.length; i++) {
      const active = encoders[i]!;
      const status = active.filter.encodeHeaders!(headers, endStream);
      if (this.#destroyed) return false;
      if (status !== 'continue') {
        active.encodeHeld = true;
        active.encodeHeadersPending = true;
        return false;
      }
    }
    this.owner.sinkHeaders(headers, endStream);
    return true;
  }

  encodeDataFrom(start: number, data: Buffer, endStream: boolean): boolean {
    if (this.#destroyed) return false;
    if (endStream) this.#endResponse();
    const encoders = this.#encoders;
    for (let i = start; i < encoders.length; i++) {
      const active = encoders[i]!;
      const encodeData = active.filter.encodeData;
      if (encodeData === undefined) {
        if (active.encodeHeld) {
          this.#bufferEncoded(active, data, 'stop-and-watermark');
          return this.#encoderWatermarks === 0;
        }
        continue;
      }
      const status = encodeData.call(active.filter, data, endStream);
      if (this.#destroyed) return false;
      if (status === 'continue') {
        if (active.encodeBuffer !== undefined) {
          data = concat(active.encodeBuffer, data);
          active.encodeBuffer = undefined;
          active.encodeBufferBytes = 0;
        }
        if (active.encodeHeld) {
          active.encodeHeld = false;
          if (active.encodeHeadersPending) {
            active.encodeHeadersPending = false;
            if (!this.#encodeHeadersFrom(i + 1, false)) {
              return this.encodeDataFrom(i + 1, data, endStream);
            }
          }
        }
        continue;
      }
      active.encodeHeld = true;
      if (status !== 'stop-no-buffer') this.#bufferEncoded(active, data, status);
      return this.#encoderWatermarks === 0;
    }
    return this.owner.sinkData(data, endStream) && this.#encoderWatermarks === 0;
  }

  encodeTrailersFrom(start: number, trailers: HeaderMap): void {
    if (this.#destroyed) return;
    this.#responseTrailers = trailers;
    this.#endResponse();
    this.#encodeTrailersFrom(start);
  }

  /** As #decodeTrailersFrom, on the encode path. */
  #encodeTrailersFrom(start: number): void {
    const trailers = this.#responseTrailers!;
    const encoders = this.#encoders;
    for (let i = start; i < encoders.length; i++) {
      const active = encoders[i]!;
      const encodeTrailers = active.filter.encodeTrailers;
      if (encodeTrailers === undefined) {
        if (active.encodeHeld) return;
        continue;
      }
      const status = encodeTrailers.call(active.filter, trailers);
      if (this.#destroyed) return;
      if (status !== 'continue') {
        active.encodeHeld = true;
        return;
      }
      if (active.encodeHeld) {
        this.continueEncoding(active);
        return;
      }
    }
    this.owner.sinkTrailers(trailers);
  }

  #bufferEncoded(active: ActiveFilter, data: Buffer, status: FilterDataStatus): void {
    if (data.length > 0) {
      (active.encodeBuffer ??= []).push(data);
      active.encodeBufferBytes += data.length;
    }
    if (active.encodeBufferBytes > this.owner.bufferLimit && status === 'stop-and-buffer') {
      // Envoy: a response over the buffer limit becomes a 500 if nothing was sent yet.
      this.#responseEnded = false;
      this.sendLocalReply(500, 'Internal Server Error', {
        details: 'response_payload_too_large',
      });
    }
  }

  continueEncoding(active: ActiveFilter): void {
    if (this.#destroyed || !active.encodeHeld) return;
    active.encodeHeld = false;
    const i = active.encodeIndex;
    const buffered = active.encodeBuffer;
    const trailers = this.#responseTrailers;
    if (active.encodeHeadersPending) {
      active.encodeHeadersPending = false;
      const headersEnd = this.#responseEnded && buffered === undefined && trailers === undefined;
      if (!this.#encodeHeadersFrom(i + 1, headersEnd)) {
        if (buffered !== undefined) {
          active.encodeBuffer = undefined;
          active.encodeBufferBytes = 0;
          this.encodeDataFrom(i + 1, concat(buffered, undefined), this.#responseEnded && !trailers);
        }
        return;
      }
    }
    if (buffered !== undefined) {
      active.encodeBuffer = undefined;
      active.encodeBufferBytes = 0;
      this.encodeDataFrom(
        i + 1,
        concat(buffered, undefined),
        this.#responseEnded && trailers === undefined,
      );
    }
    if (trailers !== undefined && !this.#destroyed) this.#encodeTrailersFrom(i + 1);
  }

  #endResponse(): void {
    this.#responseEnded = true;
    // A response that ended while the request was still being decoded ends decoding too.
    this.#decodingDone = true;
  }

  // ------------------------------------------------------------------ local replies

  /**
   * Answers locally through every encode filter (Envoy's sendLocalReply). After response headers
   * went downstream, the only signal left is a reset.
   */
  sendLocalReply(status: number, body: string, options?: LocalReplyOptions): void {
    if (this.#destroyed) return;
    if (this.owner.responseStarted || this.#localReplied) {
      this.owner.resetStream();
      return;
    }
    this.#localReplied = true;
    this.#decodingDone = true;
    this.owner.onLocalReply(status, options);
    if (isGrpc(this.#requestHeaders)) {
      this.#sendGrpcLocalReply(status, body, options);
      return;
    }
    const headers = new ResponseHeaderMap(status);
    const payload = body === '' ? undefined : Buffer.from(body);
    if (payload !== undefined) headers.set('content-type', 'text/plain');
    headers.set('content-length', String(payload?.length ?? 0));
    const extra = options?.headers;
    if (extra !== undefined) for (const name in extra) headers.set(name, extra[name]!);
    options?.modifyHeaders?.(headers);
    const head = this.#requestHeaders?.method === 'HEAD';
    if (payload === undefined || head) {
      this.encodeHeadersFrom(0, headers, true);
    } else {
      this.encodeHeadersFrom(0, headers, false);
      this.encodeDataFrom(0, payload, true);
    }
  }

  /**
   * Answers a request the connection manager refused before decoding started (a manager built
   * without filters: Envoy answers these before the filter chain exists).
   */
  refuse(headers: RequestHeaderMap, status: number, options: LocalReplyOptions): void {
    this.#requestHeaders = headers;
    this.sendLocalReply(status, '', options);
  }

  encoderAboveWatermark(): void {
    this.#encoderWatermarks++;
  }

  encoderBelowWatermark(): void {
    if (this.#encoderWatermarks === 0) return;
    if (--this.#encoderWatermarks === 0) this.onBelowWriteBufferLowWatermark();
  }

  /**
   * Envoy's local reply to a gRPC request: trailers-only (HTTP 200, grpc-status mapped from the
   * HTTP status unless given, grpc-message the body), so gRPC clients see a status, not a
   * protocol error.
   */
  #sendGrpcLocalReply(status: number, body: string, options?: LocalReplyOptions): void {
    const headers = new ResponseHeaderMap(200);
    headers.set('content-type', 'application/grpc');
    headers.set('grpc-status', String(options?.grpcStatus ?? grpcStatusOf(status)));
    if (body !== '') headers.set('grpc-message', encodeURIComponent(body));
    const extra = options?.headers;
    if (extra !== undefined) for (const name in extra) headers.set(name, extra[name]!);
    options?.modifyHeaders?.(headers);
    this.encodeHeadersFrom(0, headers, true);
  }

  /** The downstream drained: tell the filter producing the response (the router). */
  onBelowWriteBufferLowWatermark(): void {
    for (const active of this.#decoders) active.onBelowWriteBufferLowWatermark?.();
  }

  /** The stream ended (complete or reset): every filter's onDestroy, once. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#decodingDone = true;
    for (const active of this.#all) active.filter.onDestroy?.();
  }
}
