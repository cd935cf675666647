/**
 * The dispatch surface of ferry-proxy's upstream HTTP/1.1 pool: the subset of undici's legacy
 * Dispatcher / DispatchHandler that the router uses, so that one router drives both this pool
 * and the HTTP/2 pool (upstream-http2-pool.ts). Errors carry stable codes the router classifies
 * (connect failure, reset, protocol error).
 */
import type { HostDispatchHandler, HostDispatchOptions } from './host-dispatch.js';

/** One request as the router dispatches it (host-dispatch.ts's HostDispatchOptions). */
export type Http1DispatchOptions = HostDispatchOptions;

/**
 * The router's side of one request: onConnect when the request is put on a connection (Envoy's
 * pending → active) with the dispatched request, whose abort() cancels it; onHeaders for the final response head (1xx
 * are skipped) and onData for body bytes (views of the socket's buffers), either returning
 * false to pause reading until `resume`; then exactly one of onComplete (trailers as
 * `[name, value, ...]` or null) or onError.
 */
export type Http1DispatchHandler = HostDispatchHandler;

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
