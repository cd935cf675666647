/**
 * The per-request side of envoy.filters.http.decompressor (Envoy's decompressor_filter.cc).
 *
 * Requests: with response decompression on and advertise_accept_encoding, the library's coding
 * is added to Accept-Encoding (Envoy's addEncodingToAcceptEncoding: any earlier entry for it,
 * q-value included, is replaced). A request or response body is decompressed when that
 * direction is on, the message has a body, its first Content-Encoding is the library's coding
 * (case-insensitive) and `Cache-Control: no-transform` is absent (or ignore_no_transform_header).
 * Then Content-Length is removed and that coding is taken off Content-Encoding.
 *
 * Decompression bombs: output may not exceed max_inflate_ratio (gzip; brotli: Envoy's fixed 100)
 * times the compressed bytes received so far, and memory stays bounded because zlib's input
 * queue pauses the source (common/compression-streams.ts). Where Envoy stops inflating and
 * forwards a truncated body, ferry-proxy fails the stream instead, so nobody mistakes a cut
 * body for a whole one: a request gets 413 "Payload Too Large"
 * (details decompressor_inflate_ratio_exceeded), a response is reset; a corrupt body likewise
 * gets 400 "Bad Request" (decompressor_invalid_data) or a reset. Envoy's
 * x-envoy-decompressor-<name>-*-bytes trailers are not added.
 */
import type { DecompressorDirectionModel, DecompressorFilterModel } from '../../../config/model.js';
import type { HeaderMap, RequestHeaderMap, ResponseHeaderMap } from '../../../http/header-map.js';
import type { CounterHandle, StatsSink } from '../../../stats/stats.js';
import {
  ZlibPipe,
  contentEncodingOf,
  createDecompressor,
  type PipeSink,
} from '../common/compression-streams.js';
import { hasToken } from '../common/header-values.js';
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
} from '../filter.js';
import { ZlibPipeFilter } from '../common/zlib-pipe-filter.js';

export const INFLATE_RATIO_DETAILS = 'decompressor_inflate_ratio_exceeded';
export const INVALID_DATA_DETAILS = 'decompressor_invalid_data';

/**
 * Envoy's Http::HeaderUtility::addEncodingToAcceptEncoding: `encoding` appended with the
 * default q-value, every other entry kept as it was.
 */
export function addEncodingToAcceptEncoding(header: string, encoding: string): string {
  const kept: string[] = [];
  for (const part of header.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const semicolon = entry.indexOf(';');
    const coding = (semicolon < 0 ? entry : entry.slice(0, semicolon)).trim();
    if (coding !== encoding) kept.push(entry);
  }
  kept.push(encoding);
  return kept.join(',');
}

/** The first coding of Content-Encoding (the last one applied, so the first to undo). */
function firstCoding(value: string): string {
  const comma = value.indexOf(',');
  return (comma < 0 ? value : value.slice(0, comma)).trim().toLowerCase();
}

interface DecompressorStats {
  readonly decompressed: CounterHandle;
  readonly notDecompressed: CounterHandle;
  readonly compressedBytes: CounterHandle;
  readonly uncompressedBytes: CounterHandle;
}

function decompressorStats(
  sink: StatsSink,
  labels: Readonly<Record<string, string>>,
  direction: PipeDirection,
): DecompressorStats {
  const withDirection = { ...labels, direction };
  return {
    decompressed: sink.counter('decompressor_decompressed', withDirection),
    notDecompressed: sink.counter('decompressor_not_decompressed', withDirection),
    compressedBytes: sink.counter('decompressor_total_compressed_bytes', withDirection),
    uncompressedBytes: sink.counter('decompressor_total_uncompressed_bytes', withDirection),
  };
}

/** Built once per HCM and config version. */
export class DecompressorFilter {
  readonly model: DecompressorFilterModel;
  readonly encoding: string;
  readonly requestStats: DecompressorStats;
  readonly responseStats: DecompressorStats;

  constructor(
    model: DecompressorFilterModel,
    context: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'listenerName'>,
  ) {
    this.model = model;
    this.encoding = contentEncodingOf(model.library);
    const labels = {
      listener: context.listenerName,
      stat_prefix: context.statPrefix,
      library: model.libraryName,
    };
    this.requestStats = decompressorStats(context.stats, labels, 'request');
    this.responseStats = decompressorStats(context.stats, labels, 'response');
  }

  create(callbacks: FilterCallbacks): DecompressorStreamFilter {
    return new DecompressorStreamFilter(this, callbacks);
  }

  /** Whether `headers` are to be decompressed; if so, rewrites them for the decoded body. */
  begin(direction: DecompressorDirectionModel, headers: HeaderMap): boolean {
    if (!direction.enabled) return false;
    if (
      !direction.ignoreNoTransformHeader &&
      hasToken(headers.get('cache-control'), 'no-transform')
    )
      return false;
    const codings = headers.get('content-encoding');
    if (codings === undefined || firstCoding(codings) !== this.encoding) return false;
    headers.remove('content-length');
    const comma = codings.indexOf(',');
    const rest = comma < 0 ? '' : codings.slice(comma + 1).trim();
    if (rest === '') headers.remove('content-encoding');
    else headers.set('content-encoding', rest);
    return true;
  }
}

export class DecompressorStreamFilter extends ZlibPipeFilter implements StreamFilter, PipeOwner {
  constructor(
    private readonly filter: DecompressorFilter,
    private readonly callbacks: FilterCallbacks,
  ) {
    super();
  }

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    const filter = this.filter;
    const model = filter.model;
    if (model.response.enabled && model.request.advertiseAcceptEncoding)
      headers.set(
        'accept-encoding',
        addEncodingToAcceptEncoding(headers.get('accept-encoding') ?? '', filter.encoding),
      );
    if (endStream) return 'continue';
    this.requestPipe = this.#begin(model.request, headers, new DecodeSink(this.callbacks, this));
    return 'continue';
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): FilterHeadersStatus {
    if (endStream) return 'continue';
    this.responsePipe = this.#begin(
      this.filter.model.response,
      headers,
      new EncodeSink(this.callbacks, this),
    );
    return 'continue';
  }

  onDestroy(): void {
    const filter = this.filter;
    for (const [pipe, stats] of [
      [this.requestPipe, filter.requestStats],
      [this.responsePipe, filter.responseStats],
    ] as const) {
      if (pipe === undefined) continue;
      pipe.destroy();
      stats.compressedBytes.inc(pipe.inputBytes);
      stats.uncompressedBytes.inc(pipe.outputBytes);
    }
  }

  pipeFailed(direction: PipeDirection, reason: 'corrupt' | 'ratio'): void {
    if (direction === 'response') {
      // The response head has gone on; only a reset tells the client the body is not whole.
      this.callbacks.resetStream();
      return;
    }
    if (reason === 'ratio')
      this.callbacks.sendLocalReply(413, 'Payload Too Large', { details: INFLATE_RATIO_DETAILS });
    else this.callbacks.sendLocalReply(400, 'Bad Request', { details: INVALID_DATA_DETAILS });
  }

  #begin(
    direction: DecompressorDirectionModel,
    headers: HeaderMap,
    sink: PipeSink,
  ): ZlibPipe | undefined {
    const filter = this.filter;
    const stats = sink instanceof DecodeSink ? filter.requestStats : filter.responseStats;
    if (!filter.begin(direction, headers)) {
      stats.notDecompressed.inc();
      return undefined;
    }
    stats.decompressed.inc();
    const library = filter.model.library;
    return new ZlibPipe(createDecompressor(library), sink, {
      maxInflateRatio: library.maxInflateRatio,
    });
  }
}
