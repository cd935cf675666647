/**
 * The filters' async client (Envoy's Http::AsyncClient): one buffered HTTP request from a filter
 * to a cluster by name, through the same machinery as the router — the cluster's circuit
 * breakers, its load balancer's host choice, the host's connection pools (HTTP/1.1, or HTTP/2
 * when the cluster sets http2_protocol_options; TLS when it has a transport_socket) and the
 * attempt bookkeeping of filters/http/router/upstream-request.ts, so the cluster's stats and
 * outlier detection count these requests like routed ones.
 *
 * Contract:
 * - `sendAsyncRequest` returns a handle; exactly one of `onSuccess` / `onFailure` follows, never
 *   before it returned, unless `cancel()` was called first (then neither).
 * - Any complete response is a success, whatever its status (Envoy's onSuccess); failures are
 *   what left no response: no cluster, overflow, no healthy host, connect failure, reset,
 *   timeout, or a body above `maxResponseBytes`.
 * - `timeoutMs` bounds the whole exchange (0: none). A filter cancels its calls in onDestroy.
 * - No retries, no redirects: the caller owns what a failure means.
 */
import type { ClusterRuntime, HostState } from './cluster-runtime.js';
import { upstreamConnectionName } from './upstream-name.js';
import {
  UpstreamRequest,
  isConnectError,
  type UpstreamRequestOwner,
} from '../filters/http/router/upstream-request.js';

export interface AsyncHttpRequest {
  readonly method: string;
  readonly path: string;
  /** Sent as Host (:authority over HTTP/2). */
  readonly authority: string;
  /** `[name, value, ...]`, lower-case names, without host, content-length or hop-by-hop fields. */
  readonly headers: readonly string[];
  /** The whole body (content-length is set from it), or null for none. */
  readonly body: Buffer | null;
}

export interface AsyncHttpResponse {
  readonly status: number;
  /** `[name, value, ...]`, lower-case names. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** `[name, value, ...]`, lower-case names; empty when the response had none. */
  readonly trailers: readonly string[];
}

/**
 * Why a request got no response: `no_cluster` (no such cluster in the stream's config),
 * `overflow` (a circuit breaker is full), `no_healthy_upstream`, `connect_failure`, `reset`,
 * `timeout`, `response_too_large`.
 */
export type AsyncFailureReason =
  | 'no_cluster'
  | 'overflow'
  | 'no_healthy_upstream'
  | 'connect_failure'
  | 'reset'
  | 'timeout'
  | 'response_too_large';

export interface AsyncRequestCallbacks {
  onSuccess(response: AsyncHttpResponse): void;
  /** `detail`: the transport's error code or message, for logs and responses' details. */
  onFailure(reason: AsyncFailureReason, detail: string): void;
}

export interface AsyncRequestOptions {
  /** Bound on the whole exchange in ms; 0: none. */
  readonly timeoutMs: number;
  /** Response bodies above this fail with `response_too_large` (default 1 MiB). */
  readonly maxResponseBytes?: number;
}

export interface AsyncRequestHandle {
  /** Abandons the request: no callback follows; the upstream request is aborted. */
  cancel(): void;
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Sends `request` to cluster `clusterName` of `clusters` (the stream's `callbacks.clusters`). */
export function sendAsyncRequest(
  clusters: ReadonlyMap<string, ClusterRuntime>,
  clusterName: string,
  request: AsyncHttpRequest,
  options: AsyncRequestOptions,
  callbacks: AsyncRequestCallbacks,
): AsyncRequestHandle {
  const call = new AsyncHttpCall(callbacks, options);
  call.start(clusters.get(clusterName), clusterName, request);
  return call;
}

function onCallTimeout(call: AsyncHttpCall): void {
  call.timedOut();
}

/** Header bytes are latin1 on the wire (the pools hand out Buffers or strings). */
function latin1(raw: string | Buffer): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

/** Flattens trailers as either pool reports them. */
function flatTrailers(trailers: unknown): string[] {
  if (trailers === null || trailers === undefined) return [];
  if (Array.isArray(trailers)) {
    const out: string[] = [];
    for (let i = 0; i + 1 < trailers.length; i += 2)
      out.push(String(trailers[i]).toLowerCase(), String(trailers[i + 1]));
    return out;
  }
  const out: string[] = [];
  // node:http2 header objects: a string, or an array of strings for repeated fields.
  for (const [name, value] of Object.entries(trailers as Record<string, string | string[]>)) {
    if (name.startsWith(':')) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name.toLowerCase(), v);
    else if (typeof value === 'string') out.push(name.toLowerCase(), value);
  }
  return out;
}

class AsyncHttpCall implements UpstreamRequestOwner, AsyncRequestHandle {
  readonly #callbacks: AsyncRequestCallbacks;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  #done = false;
  #cluster: ClusterRuntime | undefined;
  #host: HostState | undefined;
  #upstream: UpstreamRequest | undefined;
  #timer: NodeJS.Timeout | undefined;
  #status = 0;
  #headers: string[] = [];
  #chunks: Buffer[] = [];
  #bodyBytes = 0;
  /** Set while the pool's dispatch runs: a failure it reports synchronously is deferred. */
  #starting = false;

  constructor(callbacks: AsyncRequestCallbacks, options: AsyncRequestOptions) {
    this.#callbacks = callbacks;
    this.#timeoutMs = options.timeoutMs;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  get done(): boolean {
    return this.#done;
  }

  start(cluster: ClusterRuntime | undefined, clusterName: string, request: AsyncHttpRequest): void {
    if (cluster === undefined) {
      this.#failLater('no_cluster', `cluster ${clusterName} is not in the configuration`);
      return;
    }
    if (cluster.circuit.requestOverflow(cluster.model.circuitBreakers)) {
      cluster.stats.upstreamRqPendingOverflow.inc();
      this.#failLater('overflow', `cluster ${clusterName}: max_requests circuit breaker is full`);
      return;
    }
    const host = cluster.pickHost(undefined, undefined);
    if (host === undefined) {
      this.#failLater('no_healthy_upstream', `cluster ${clusterName} has no healthy host`);
      return;
    }
    if (cluster.circuit.pendingRequests >= cluster.model.circuitBreakers.maxPendingRequests) {
      cluster.stats.upstreamRqPendingOverflow.inc();
      this.#failLater('overflow', `cluster ${clusterName}: max_pending circuit breaker is full`);
      return;
    }
    cluster.circuit.activeRequests++;
    this.#cluster = cluster;
    this.#host = host;
    const model = cluster.model;
    const headers = ['host', request.authority, ...request.headers];
    const body = request.body;
    if (body !== null) headers.push('content-length', String(body.length));
    const name =
      model.upstreamHostName === undefined
        ? undefined
        : upstreamConnectionName(model, new FlatHeaders(headers), request.authority);
    const upstream = new UpstreamRequest(this, cluster, host, false, undefined);
    this.#upstream = upstream;
    if (this.#timeoutMs > 0) this.#timer = setTimeout(onCallTimeout, this.#timeoutMs, this);
    this.#starting = true;
    upstream.start(
      host.dispatcher(model, model.upstreamProtocol === 'HTTP2', cluster.stats, name),
      { path: request.path, method: request.method, headers, body },
      0,
    );
    this.#starting = false;
  }

  cancel(): void {
    if (this.#done) return;
    this.#finish();
    this.#upstream?.abort(new Error('async request cancelled'));
  }

  timedOut(): void {
    this.#timer = undefined;
    if (this.#done) return;
    const cluster = this.#cluster!;
    cluster.stats.upstreamRqTimeout.inc();
    cluster.reportOutcome(this.#host!, 'timeout');
    this.#finish();
    this.#upstream?.abort(new Error('async request timeout'));
    this.#callbacks.onFailure('timeout', `no response within ${this.#timeoutMs} ms`);
  }

  /** Ends the call's bookkeeping; exactly once. */
  #finish(): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#cluster !== undefined) this.#cluster.circuit.activeRequests--;
    this.#cluster = undefined;
    this.#chunks = [];
  }

  #failLater(reason: AsyncFailureReason, detail: string): void {
    queueMicrotask(() => {
      if (this.#done) return;
      this.#done = true;
      this.#callbacks.onFailure(reason, detail);
    });
  }

  // ------------------------------------------------------------ UpstreamRequestOwner

  onUpstreamHeaders(status: number, rawHeaders: (string | Buffer)[]): boolean {
    if (this.#done) return false;
    this.#status = status;
    const headers = this.#headers;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2)
      headers.push(latin1(rawHeaders[i]!).toLowerCase(), latin1(rawHeaders[i + 1]!));
    return true;
  }

  onUpstreamData(chunk: Buffer): boolean {
    if (this.#done) return false;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > this.#maxResponseBytes) {
      const limit = this.#maxResponseBytes;
      this.#finish();
      this.#upstream?.abort(new Error('async response too large'));
      this.#callbacks.onFailure(
        'response_too_large',
        `response body above the ${limit} bytes the caller accepts`,
      );
      return false;
    }
    // The pools hand out views of their read buffers: keep a copy.
    this.#chunks.push(Buffer.from(chunk));
    return true;
  }

  onUpstreamComplete(startedAt: number, trailers: unknown): void {
    if (this.#done) return;
    const cluster = this.#cluster!;
    cluster.stats.upstreamRq.record(this.#status);
    cluster.stats.upstreamRqTime.observe(performance.now() - startedAt);
    const chunks = this.#chunks;
    const body =
      chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    this.#finish();
    this.#callbacks.onSuccess({
      status: this.#status,
      headers: this.#headers,
      body,
      trailers: flatTrailers(trailers),
    });
  }

  onUpstreamError(err: Error, connected: boolean): void {
    if (this.#done) return;
    if (this.#starting) {
      queueMicrotask(() => this.onUpstreamError(err, connected));
      return;
    }
    const cluster = this.#cluster!;
    const code = (err as NodeJS.ErrnoException).code;
    const connectFailure = !connected && (isConnectError(err) || code === 'UND_ERR_SOCKET');
    cluster.reportOutcome(this.#host!, connectFailure ? 'connect-failure' : 'reset');
    if (connectFailure) cluster.stats.upstreamCxConnectFail.inc();
    else cluster.stats.upstreamRqReset.inc();
    this.#finish();
    this.#callbacks.onFailure(connectFailure ? 'connect_failure' : 'reset', code ?? err.message);
  }

  onPerTryTimeout(): void {
    // No per-try timeout is set: the call's own timer bounds it.
  }
}

/** A header lookup over `[name, value, ...]` (auto_sni's header override). */
class FlatHeaders {
  constructor(readonly flat: readonly string[]) {}
  get(name: string): string | undefined {
    for (let i = 0; i + 1 < this.flat.length; i += 2)
      if (this.flat[i] === name) return this.flat[i + 1];
    return undefined;
  }
}
