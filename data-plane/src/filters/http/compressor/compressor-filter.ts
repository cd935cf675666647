/**
 * The per-request side of envoy.filters.http.compressor (Envoy's compressor_filter.cc).
 *
 * Requests: Accept-Encoding is read (and removed with remove_accept_encoding_header); with
 * request_direction_config a request body is compressed when it is not already encoded, its
 * Content-Length is unknown or at least min_content_length, and its media type is listed.
 *
 * Responses are compressed when compression is on (per-route CompressorPerRoute may switch it),
 * the response has a body (not HEAD, not end of stream with the headers), no Content-Encoding,
 * no `Cache-Control: no-transform`, an allowed media type (or none), a Content-Length of at
 * least min_content_length (or none), no ETag when disable_on_etag_header, and Accept-Encoding
 * picks this filter's coding (accept-encoding.ts, one decision per request shared by every
 * compressor filter of the chain through the stream's filter state). Then Content-Length is
 * removed (the codec chunks the body), Content-Encoding set and a strong ETag removed (weak ones
 * are kept). `Vary: Accept-Encoding` is added to every response that could have been compressed,
 * even when this request's Accept-Encoding did not allow it, so caches keep the variants apart.
 *
 * Bodies stream through zlib chunk by chunk, each chunk flushed so output follows input
 * (common/compression-streams.ts); zlib's input queue above its high-water mark pauses the
 * source (request: read-disable; response: encoder watermark) until it drains.
 */
import type {
  CompressorDirectionModel,
  CompressorFilterModel,
  CompressorPerRouteModel,
} from '../../../config/model.js';
import type { HeaderMap, RequestHeaderMap, ResponseHeaderMap } from '../../../http/header-map.js';
import type { CounterHandle, StatsSink } from '../../../stats/stats.js';
import { ZlibPipe, contentEncodingOf, createCompressor } from '../common/compression-streams.js';
import {
  decimal,
  hasToken,
  mediaType,
  transferEncodingCompressed,
} from '../common/header-values.js';
import {
  DecodeSink,
  EncodeSink,
  type PipeDirection,
  type PipeOwner,
} from '../common/pipe-sinks.js';
import type {
  FilterCallbacks,
  FilterFactoryContext,
  FilterHeadersStatus,
  StreamFilter,
  StreamInfo,
} from '../filter.js';
import { ZlibPipeFilter } from '../common/zlib-pipe-filter.js';
import { chooseEncoding, type ChainCompressor, type EncodingDecision } from './accept-encoding.js';

/** Envoy's default content types (compressor_filter.cc defaultContentEncoding). */
export const DEFAULT_CONTENT_TYPES: readonly string[] = [
  'text/html',
  'text/plain',
  'text/css',
  'application/javascript',
  'application/x-javascript',
  'text/javascript',
  'text/x-javascript',
  'text/ecmascript',
  'text/js',
  'text/jscript',
  'text/x-js',
  'application/ecmascript',
  'application/x-json',
  'application/xml',
  'application/json',
  'image/svg+xml',
  'text/xml',
  'application/xhtml+xml',
  'application/grpc-web',
  'application/grpc-web+proto',
];

/** Filter state keys: the chain's compressors, and the encoding decided for the response. */
const REGISTRY_KEY = 'envoy.filters.http.compressor.registry';
const DECISION_KEY = 'envoy.filters.http.compressor.encoding_decision';

/** One direction's settings, compiled. */
class Direction {
  readonly enabled: boolean;
  readonly minContentLength: number;
  readonly contentTypes: ReadonlySet<string>;
  #lastType: string | undefined;
  #lastTypeAllowed = false;

  constructor(model: CompressorDirectionModel) {
    this.enabled = model.enabled;
    this.minContentLength = model.minContentLength;
    this.contentTypes = new Set(
      model.contentTypes.length > 0 ? model.contentTypes : DEFAULT_CONTENT_TYPES,
    );
  }

  /** A present Content-Length must parse and reach min_content_length. */
  longEnough(headers: HeaderMap): boolean {
    const value = headers.get('content-length');
    if (value === undefined) return true;
    const length = decimal(value);
    return length !== undefined && length >= this.minContentLength;
  }

  /** No Content-Type, or a listed media type. */
  contentTypeAllowed(headers: HeaderMap): boolean {
    const type = headers.get('content-type');
    if (type === undefined) return true;
    // An upstream sends the same few Content-Type values over and over: the last answer is kept.
    if (type === this.#lastType) return this.#lastTypeAllowed;
    const allowed = this.contentTypes.has(mediaType(type));
    this.#lastType = type;
    this.#lastTypeAllowed = allowed;
    return allowed;
  }
}

interface CompressorStats {
  readonly compressed: CounterHandle;
  readonly notCompressed: CounterHandle;
  readonly uncompressedBytes: CounterHandle;
  readonly compressedBytes: CounterHandle;
}

function compressorStats(
  sink: StatsSink,
  labels: Readonly<Record<string, string>>,
  direction: PipeDirection,
): CompressorStats {
  const withDirection = { ...labels, direction };
  return {
    compressed: sink.counter('compressor_compressed', withDirection),
    notCompressed: sink.counter('compressor_not_compressed', withDirection),
    uncompressedBytes: sink.counter('compressor_total_uncompressed_bytes', withDirection),
    compressedBytes: sink.counter('compressor_total_compressed_bytes', withDirection),
  };
}

/** Built once per HCM and config version. */
export class CompressorFilter implements ChainCompressor {
  readonly model: CompressorFilterModel;
  readonly encoding: string;
  readonly chooseFirst: boolean;
  readonly request: Direction | undefined;
  readonly response: Direction;
  readonly requestStats: CompressorStats;
  readonly responseStats: CompressorStats;

  constructor(
    model: CompressorFilterModel,
    context: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'listenerName'>,
  ) {
    this.model = model;
    this.encoding = contentEncodingOf(model.library);
    this.chooseFirst = model.chooseFirst;
    this.request =
      model.request !== undefined && model.request.enabled
        ? new Direction(model.request)
        : undefined;
    this.response = new Direction(model.response);
    const labels = {
      listener: context.listenerName,
      stat_prefix: context.statPrefix,
      library: model.libraryName,
    };
    this.requestStats = compressorStats(context.stats, labels, 'request');
    this.responseStats = compressorStats(context.stats, labels, 'response');
  }

  create(callbacks: FilterCallbacks): CompressorStreamFilter {
    return new CompressorStreamFilter(this, callbacks);
  }

  allows(type: string): boolean {
    return this.response.contentTypes.has(type);
  }

  responseEnabled(perRoute: CompressorPerRouteModel | undefined): boolean {
    return perRoute?.responseCompressionEnabled ?? this.response.enabled;
  }

  removeAcceptEncoding(perRoute: CompressorPerRouteModel | undefined): boolean {
    return perRoute?.removeAcceptEncodingHeader ?? this.model.response.removeAcceptEncodingHeader;
  }
}

/** The compressor filters of one stream's chain, in order (Envoy's CompressorRegistry). */
function registry(info: StreamInfo): CompressorFilter[] {
  let list = info.filterState.get(REGISTRY_KEY) as CompressorFilter[] | undefined;
  if (list === undefined) {
    list = [];
    info.filterState.set(REGISTRY_KEY, list);
  }
  return list;
}

function insertVary(headers: ResponseHeaderMap): void {
  const vary = headers.get('vary');
  if (vary === undefined) headers.set('vary', 'Accept-Encoding');
  else if (!hasToken(vary, 'accept-encoding') && !hasToken(vary, '*'))
    headers.set('vary', `${vary}, Accept-Encoding`);
}

/** A strong ETag no longer identifies the (re-encoded) bytes; a weak one still holds. */
function sanitizeEtag(headers: ResponseHeaderMap): void {
  const etag = headers.get('etag');
  if (etag !== undefined && etag.length > 2 && !/^[wW]\//.test(etag)) headers.remove('etag');
}

export class CompressorStreamFilter extends ZlibPipeFilter implements StreamFilter, PipeOwner {
  #acceptEncoding: string | undefined;
  #head = false;

  constructor(
    private readonly filter: CompressorFilter,
    private readonly callbacks: FilterCallbacks,
  ) {
    super();
    registry(callbacks.streamInfo).push(filter);
  }

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    const filter = this.filter;
    this.#acceptEncoding = headers.get('accept-encoding');
    this.#head = headers.method === 'HEAD';
    const perRoute = this.callbacks.perFilterConfig() as CompressorPerRouteModel | undefined;
    if (filter.responseEnabled(perRoute) && filter.removeAcceptEncoding(perRoute))
      headers.remove('accept-encoding');
    const request = filter.request;
    if (
      !endStream &&
      request !== undefined &&
      request.longEnough(headers) &&
      request.contentTypeAllowed(headers) &&
      !headers.has('content-encoding') &&
      !transferEncodingCompressed(headers.get('transfer-encoding'), filter.encoding)
    ) {
      headers.remove('content-length');
      headers.set('content-encoding', filter.encoding);
      filter.requestStats.compressed.inc();
      const { stream, flushKind } = createCompressor(filter.model.library);
      this.requestPipe = new ZlibPipe(stream, new DecodeSink(this.callbacks, this), { flushKind });
    } else {
      filter.requestStats.notCompressed.inc();
    }
    return 'continue';
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): FilterHeadersStatus {
    const filter = this.filter;
    const response = filter.response;
    const perRoute = this.callbacks.perFilterConfig() as CompressorPerRouteModel | undefined;
    const enabledAndLongEnough = filter.responseEnabled(perRoute) && response.longEnough(headers);
    const compressible =
      enabledAndLongEnough &&
      headers.status !== 101 &&
      response.contentTypeAllowed(headers) &&
      !hasToken(headers.get('cache-control'), 'no-transform') &&
      !(filter.model.response.disableOnEtagHeader && headers.has('etag')) &&
      !headers.has('content-encoding');
    if (
      !endStream &&
      !this.#head &&
      compressible &&
      this.#accepted(headers) &&
      !transferEncodingCompressed(headers.get('transfer-encoding'), filter.encoding)
    ) {
      sanitizeEtag(headers);
      headers.remove('content-length');
      headers.set('content-encoding', filter.encoding);
      filter.responseStats.compressed.inc();
      const { stream, flushKind } = createCompressor(filter.model.library);
      this.responsePipe = new ZlibPipe(stream, new EncodeSink(this.callbacks, this), {
        flushKind,
      });
    } else {
      filter.responseStats.notCompressed.inc();
    }
    if (compressible) insertVary(headers);
    return 'continue';
  }

  onDestroy(): void {
    const filter = this.filter;
    const request = this.requestPipe;
    if (request !== undefined) {
      request.destroy();
      filter.requestStats.uncompressedBytes.inc(request.inputBytes);
      filter.requestStats.compressedBytes.inc(request.outputBytes);
    }
    const response = this.responsePipe;
    if (response !== undefined) {
      response.destroy();
      filter.responseStats.uncompressedBytes.inc(response.inputBytes);
      filter.responseStats.compressedBytes.inc(response.outputBytes);
    }
  }

  pipeFailed(): void {
    // zlib refused to compress (out of memory or a bug): the body cannot be completed.
    this.callbacks.resetStream();
  }

  /** Whether the Accept-Encoding decision (shared by the chain's compressors) picks this one. */
  #accepted(headers: ResponseHeaderMap): boolean {
    if (this.#acceptEncoding === undefined) return false;
    const state = this.callbacks.streamInfo.filterState;
    let decision = state.get(DECISION_KEY) as EncodingDecision | undefined;
    if (decision === undefined) {
      decision = chooseEncoding(
        this.#acceptEncoding,
        registry(this.callbacks.streamInfo),
        mediaType(headers.get('content-type')),
      );
      state.set(DECISION_KEY, decision);
    }
    return decision.encoding === this.filter.encoding;
  }
}
