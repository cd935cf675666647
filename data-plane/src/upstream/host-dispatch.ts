/**
 * What the router sees of a connection pool to one upstream host: ferry-proxy's HTTP/1.1 pool
 * (upstream-http1-pool.ts) and undici's HTTP/2 clients (upstream-pool.ts) both have this shape.
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
  /**
   * undici's HTTP/2 client holds a request marked non-idempotent (its default for every method
   * but GET and HEAD) until no other request runs on the connection: one POST at a time. A
   * request with a whole Buffer body that its caller never retries on another stream (the async
   * client's calls) sets it so that calls share the connection as HTTP/2 streams. Ignored by the
   * HTTP/1.1 pool (one request per connection).
   */
  readonly idempotent?: boolean;
}

/**
 * The router's side of one upstream request (undici's DispatchHandler shape): onConnect when the
 * request is put on a connection (pending → active), onHeaders/onData returning false to pause
 * reading until `resume()`, then exactly one of onComplete or onError.
 */
export interface HostDispatchHandler {
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void): boolean;
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
