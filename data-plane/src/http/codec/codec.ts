/**
 * The codec seam of the request path (Envoy's Http::ServerConnection / RequestDecoder /
 * ResponseEncoder): a codec turns a connection's bytes into request events and response events
 * back into bytes; the connection manager (http/connection-manager.ts) owns everything else.
 *
 * Implementations beside this file:
 * - codec-http1.ts: ferry-proxy's own HTTP/1.1 codec on llhttp, for HTTP/1.x connections;
 * - codec-node.ts: node:http2's compatibility API (and node:http where still used) adapted to
 *   the same events, for HTTP/2.
 *
 * Contract, for every codec:
 * - `newStream` is called once per request, when its headers are complete; the head carries
 *   no hop-by-hop fields (Connection and what it nominates, Keep-Alive, Proxy-Connection,
 *   Transfer-Encoding, Upgrade, HTTP2-Settings; `TE` other than "trailers") and `Host` /
 *   `:authority` has moved into `head.authority`. Framing (Content-Length, chunked) is the
 *   codec's business and has been validated strictly before `newStream`.
 * - body bytes arrive through `StreamDecoder.decodeData`, in order; the last call (or
 *   `decodeTrailers`) has endStream set. A request without a body has `endStream` true in
 *   `newStream` and gets no decodeData call.
 * - `onResetStream` is called at most once, when the stream can no longer complete (the client
 *   went away, the connection failed or was destroyed); nothing is called after it.
 * - HTTP/1: one stream at a time per connection; the next pipelined request is parsed only after
 *   the current response has been completely encoded.
 */
import type { Socket } from 'node:net';
import type { HeaderMap, RequestHeaderMap, ResponseHeaderMap } from '../header-map.js';

/** The downstream connection a stream arrived on (access logs, formatters, XFF, tracing). */
export interface DownstreamConnectionInfo {
  /** Unique within the proxy (%CONNECTION_ID%). */
  readonly id: number;
  /** The socket (a tls.TLSSocket for TLS): addresses, SNI, peer certificate. */
  readonly socket: Socket;
  readonly encrypted: boolean;
  /** SNI of a TLS connection, else undefined. */
  readonly serverName: string | undefined;
}

/** The connection manager's side of one stream (Envoy's RequestDecoder + StreamCallbacks). */
export interface StreamDecoder {
  decodeData(data: Buffer, endStream: boolean): void;
  decodeTrailers(trailers: HeaderMap): void;
  /** The stream ended abnormally (client reset/closed, connection error or destroy). */
  onResetStream(reason: StreamResetReason): void;
  /** encodeData returned false earlier; the connection has drained and takes more. */
  onBelowWriteBufferLowWatermark(): void;
}

export type StreamResetReason = 'remote-close' | 'connection-error' | 'local-reset';

/** The codec's side of one stream: how the connection manager answers it. */
export interface ResponseEncoder {
  /** True once encodeHeaders has been called. */
  readonly headersSent: boolean;
  /**
   * Writes the status line and headers. Without content-length the body is chunked (HTTP/1.1)
   * or delimited by closing (HTTP/1.0). HEAD responses and 1xx/204/304 never carry a body
   * whatever the headers say. With endStream the response is complete.
   */
  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void;
  /** Returns false when the connection's write buffer is above its limit (backpressure). */
  encodeData(data: Buffer, endStream: boolean): boolean;
  /** Ends the response with trailers (HTTP/1.1 chunked trailer section; HTTP/2 trailers). */
  encodeTrailers(trailers: HeaderMap): void;
  /** Stops (true) or resumes (false) reading this stream's request body (backpressure). */
  readDisable(disabled: boolean): void;
  /** Abandons the stream: HTTP/1 destroys the connection, HTTP/2 resets the stream. */
  resetStream(): void;
  /** The connection closes once this response is complete (`connection: close` in HTTP/1). */
  closeConnectionAfterResponse(): void;
}

/** Limits a codec reads per request from the listener's current config. */
export interface CodecSettings {
  /** max_request_headers_kb × 1024: bigger request heads get 431. */
  readonly maxRequestHeadersBytes: number;
  /** common_http_protocol_options.max_headers_count: more get 431 (0: no limit). */
  readonly maxHeadersCount: number;
  /** request_headers_timeout: the head must be complete within it (0: none) → 408. */
  readonly requestHeadersTimeoutMs: number;
  /** common_http_protocol_options.idle_timeout: an idle keep-alive connection closes. */
  readonly idleTimeoutMs: number;
  /** per_connection_buffer_limit_bytes: the write-buffer watermark (Envoy default 1 MiB). */
  readonly bufferLimitBytes: number;
  /**
   * http_protocol_options.accept_http_10: false answers HTTP/1.0 requests with 426 as Envoy
   * does. Absent: HTTP/1.0 is accepted.
   */
  readonly acceptHttp10?: boolean;
}

/** What a server codec reports to (one per listener; reads the listener's current binding). */
export interface ServerConnectionCallbacks {
  /** The codec's settings for the next request on this connection. */
  settings(): CodecSettings;
  /** A complete request head: returns the stream's decoder. */
  newStream(
    head: RequestHeaderMap,
    encoder: ResponseEncoder,
    connection: DownstreamConnectionInfo,
    endStream: boolean,
  ): StreamDecoder;
  /**
   * A request the codec rejected before any stream existed (malformed, too large, timeout):
   * the codec has answered `status` itself and closes the connection; counted by the caller.
   */
  protocolError(status: number, connection: DownstreamConnectionInfo): void;
  /**
   * An HTTP/2 connection was closed (GOAWAY ENHANCE_YOUR_CALM) because its client reset too
   * many streams prematurely (the rapid-reset defence, http-hand-off.ts): counted by the caller.
   */
  prematureResetClose?(): void;
  /**
   * An HTTP/1.1 Upgrade (other than h2c, which is ignored as Envoy does) or CONNECT request: the
   * codec has let go of the socket (no listener, timer or parser of its own remains) and hands
   * it over with the validated head and the bytes that followed it. The head keeps Connection
   * and Upgrade so that it can be replayed upstream; `head.authority` is the CONNECT target.
   * Without this callback the codec refuses such requests itself: CONNECT with 404 (Envoy's
   * answer when no route has a connect_matcher), other upgrades with 403 (Envoy's
   * upgrade_failed), then reports them through protocolError.
   */
  upgrade?(
    head: RequestHeaderMap,
    socket: Socket,
    rest: Buffer,
    connection: DownstreamConnectionInfo,
  ): void;
}
