/**
 * The per-request side of envoy.filters.http.buffer (Envoy's buffer_filter.cc): the request is
 * held until its body is complete, so the router sees the whole request at once (and can retry
 * it). Headers stop; body chunks are kept by the filter manager ('stop-and-buffer') under the
 * stream buffer limit this filter raises to max_request_bytes; the last chunk (or the trailers)
 * releases everything, with Content-Length set to the body size when the request had none.
 * A body over max_request_bytes is answered 413 "Payload Too Large"
 * (request_payload_too_large), as Envoy's connection manager answers a full buffer.
 */
import type { BufferFilterModel, BufferPerRouteModel } from '../../../config/model.js';
import type { RequestHeaderMap } from '../../../http/header-map.js';
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamFilter,
} from '../filter.js';

export const PAYLOAD_TOO_LARGE_BODY = 'Payload Too Large';
export const PAYLOAD_TOO_LARGE_DETAILS = 'request_payload_too_large';

export class BufferStreamFilter implements StreamFilter {
  /** Set while this request is being buffered. */
  #headers: RequestHeaderMap | undefined;
  #maxBytes = 0;
  #bytes = 0;

  constructor(
    private readonly config: BufferFilterModel,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    if (endStream) return 'continue';
    const perRoute = this.callbacks.perFilterConfig() as BufferPerRouteModel | undefined;
    if (perRoute?.disabled === true) return 'continue';
    this.#maxBytes = (perRoute?.buffer ?? this.config).maxRequestBytes;
    this.#headers = headers;
    this.callbacks.setDecoderBufferLimit(this.#maxBytes);
    return 'stop';
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (this.#headers === undefined) return 'continue';
    this.#bytes += data.length;
    // The manager enforces the same limit on what it buffers; checking the running total here
    // keeps the 413 independent of how the stream's other buffers are accounted.
    if (this.#bytes > this.#maxBytes) {
      this.#headers = undefined;
      this.callbacks.sendLocalReply(413, PAYLOAD_TOO_LARGE_BODY, {
        details: PAYLOAD_TOO_LARGE_DETAILS,
      });
      return 'stop-no-buffer';
    }
    if (!endStream) return 'stop-and-buffer';
    this.#release();
    return 'continue';
  }

  decodeTrailers(): FilterTrailersStatus {
    if (this.#headers !== undefined) this.#release();
    return 'continue';
  }

  #release(): void {
    const headers = this.#headers!;
    this.#headers = undefined;
    if (!headers.has('content-length')) headers.set('content-length', String(this.#bytes));
  }
}
