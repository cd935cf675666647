/**
 * What the router sees of a connection pool to one upstream host: ferry-proxy's HTTP/1.1 pool
 * (upstream-http1-pool.ts) and HTTP/2 pool (upstream-http2-pool.ts) both have this shape (the
 * subset of undici's legacy Dispatcher the router was first written against).
 */
import type { Readable } from 'node:stream';

/** One upstream request as the router hands it to a host's pool. */
export interface HostDispatchOptions {
  readonly path: string;
  readonly method: string;
  /** `[name, value, ...]`, `host` included, no hop-by-hop fields. */
  readonly headers: string[];
  /**
   * A stream (the router's request body, with backpressure), or a whole Buffer the pool writes
   * at once (the async client's: no stream machinery per call); null: no body.
   */
  readonly body: Readable | Buffer | null;
}

/** A request a pool has put on a connection, as its handler may act on it. */
export interface DispatchedRequest {
  /**
   * Cancels the request (HTTP/1.1: its connection closes; HTTP/2: its stream is reset); the
   * handler's onError follows with `err` (UND_ERR_ABORTED without one) unless it already ended.
   */
  abort(err?: Error): void;
}

/**
 * The router's side of one upstream request (undici's DispatchHandler shape): onConnect when the
 * request is put on a connection (pending → active), onHeaders (regular fields only, no
 * pseudo-headers) and onData returning false to pause reading until `resume()`, then exactly
 * one of onComplete (trailers as `[name, value, ...]`, or null) or onError.
 */
export interface HostDispatchHandler {
  onConnect(request: DispatchedRequest): void;
  /** `endStream`: the response has no body or trailers (an HTTP/2 HEADERS frame with END_STREAM). */
  onHeaders(
    statusCode: number,
    rawHeaders: (string | Buffer)[],
    resume: () => void,
    endStream?: boolean,
  ): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(err: Error): void;
}

/** A connection pool to one upstream host. */
export interface HostDispatcher {
  dispatch(options: HostDispatchOptions, handler: HostDispatchHandler): boolean;
  /** Finishes in-flight requests, then closes. */
  close(): Promise<void>;
  destroy(): Promise<void>;
  /** 'connect' / 'disconnect' for every connection established / lost (upstream_cx_active). */
  on(event: 'connect' | 'disconnect', listener: () => void): unknown;
}
