/**
 * The dispatch surface of ferry-proxy's upstream HTTP/1.1 pool: the subset of undici's legacy
 * Dispatcher / DispatchHandler that the router uses, so that one router drives both this pool
 * and undici's HTTP/2 clients. Errors carry stable codes the router classifies (connect failure,
 * reset, protocol error).
 */
import type { Readable } from 'node:stream';

export interface Http1DispatchOptions {
  /** origin-form path and query. */
  readonly path: string;
  readonly method: string;
  /** `[name, value, ...]` including host; the pool owns Connection / Transfer-Encoding. */
  readonly headers: string[];
  /** The request body; null for none. Without content-length in `headers` it is sent chunked. */
  readonly body: Readable | null;
}

export interface Http1DispatchHandler {
  /** The request was put on a connection (Envoy's pending → active); `abort` cancels it. */
  onConnect(abort: (err?: Error) => void): void;
  /** The final response head (1xx are skipped). Returning false pauses reading until `resume`. */
  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void): boolean;
  /** Body bytes (views of the socket's buffers). Returning false pauses reading. */
  onData(chunk: Buffer): boolean;
  /** The response is complete; trailers are `[name, value, ...]` or null. */
  onComplete(trailers: string[] | null): void;
  /** The request failed; nothing else is called afterwards. */
  onError(err: Error): void;
}

/**
 * Error codes:
 * - ECONNREFUSED, ECONNRESET, TLS codes: as the socket reported them;
 * - UND_ERR_CONNECT_TIMEOUT: no connection within the connect timeout;
 * - UND_ERR_SOCKET: the connection closed before the response was complete (on a reused
 *   connection before any response byte: the request may be retried);
 * - UPSTREAM_PROTOCOL_ERROR: a malformed or ambiguous response (never forwarded);
 * - UND_ERR_ABORTED: aborted through onConnect's abort without a reason;
 * - UND_ERR_CLOSED / UND_ERR_DESTROYED: dispatched after close, or failed by destroy;
 * - UND_ERR_INVALID_ARG: a request header that cannot be sent (CR, LF or NUL in it).
 */
export class UpstreamHttp1Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamHttp1Error';
  }
}

/** What the router and cluster runtime need from a host's connection pool, any protocol. */
export interface HostDispatcher {
  dispatch(options: Http1DispatchOptions, handler: Http1DispatchHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
  on(event: 'connect' | 'disconnect', listener: () => void): unknown;
}
