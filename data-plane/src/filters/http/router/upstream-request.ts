/**
 * One upstream attempt of the router (Envoy's UpstreamRequest): the dispatch handler a host's
 * pool calls, the attempt's bookkeeping (pending → active, circuit breaker counts, per-host
 * active requests, locality load, the trace's client span) and its per-try timeout. What the
 * attempt's outcome means (forward, retry, answer locally) is the router's decision
 * (router-filter.ts); this class only reports it.
 */
import type { RequestTrace } from '../../../tracing/hcm-tracer.js';
import type { ClusterRuntime, HostState } from '../../../upstream/cluster-runtime.js';
import type { LocalityLoadStats } from '../../../upstream/cluster-stats.js';
import type {
  DispatchedRequest,
  HostDispatchHandler,
  HostDispatchOptions,
  HostDispatcher,
} from '../../../upstream/upstream-pool.js';

/** What the router hears from its current attempt. */
export interface UpstreamRequestOwner {
  /** The stream is over: a connection that arrives now is aborted. */
  readonly done: boolean;
  /** A final response's headers (`endStream`: nothing follows them); false pauses reading. */
  onUpstreamHeaders(status: number, rawHeaders: (string | Buffer)[], endStream: boolean): boolean;
  /** A body chunk; false pauses reading until resumeReading(). */
  onUpstreamData(chunk: Buffer): boolean;
  /**
   * The response is complete; `startedAt` is when the attempt was dispatched. `trailers`: as the
   * pool reported them (`[name, value, ...]` from the HTTP/1.1 pool, a header object from HTTP/2,
   * null or empty when none).
   */
  onUpstreamComplete(startedAt: number, trailers: unknown): void;
  /** The attempt failed; `connected`: it had been put on a connection. */
  onUpstreamError(err: Error, connected: boolean): void;
  onPerTryTimeout(): void;
}

/** Errors that mean no connection could be made (Envoy's connect failures). */
export function isConnectError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (
    code === 'ECONNREFUSED' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'ENOTFOUND' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'EAI_AGAIN' ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    code.startsWith('ERR_SSL') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN'
  );
}

function onPerTryTimeout(request: UpstreamRequest): void {
  request.perTryTimedOut();
}

export class UpstreamRequest implements HostDispatchHandler {
  readonly host: HostState;
  readonly #owner: UpstreamRequestOwner;
  readonly #cluster: ClusterRuntime;
  readonly #trace: RequestTrace | undefined;
  readonly #isRetry: boolean;
  /** performance.now() when dispatched (upstream_rq_time). */
  #startedAt = 0;
  #connected = false;
  #active = true;
  #dispatched: DispatchedRequest | undefined;
  #resume: (() => void) | undefined;
  #perTryTimer: NodeJS.Timeout | undefined;
  /** The host's locality load stats (LRS clusters), counted while in flight. */
  readonly #load: LocalityLoadStats | undefined;

  /** Counts the attempt as pending on `host` (the caller checked the circuit breakers). */
  constructor(
    owner: UpstreamRequestOwner,
    cluster: ClusterRuntime,
    host: HostState,
    isRetry: boolean,
    trace: RequestTrace | undefined,
  ) {
    this.#owner = owner;
    this.#cluster = cluster;
    this.host = host;
    this.#isRetry = isRetry;
    this.#trace = trace;
    host.activeRequests++;
    this.#load = host.localityLoad;
    this.#load?.active.add(1);
    cluster.circuit.pendingRequests++;
    cluster.stats.upstreamRqPendingActive.add(1);
  }

  get active(): boolean {
    return this.#active;
  }

  start(dispatcher: HostDispatcher, options: HostDispatchOptions, perTryTimeoutMs: number): void {
    if (perTryTimeoutMs > 0) this.#perTryTimer = setTimeout(onPerTryTimeout, perTryTimeoutMs, this);
    this.#startedAt = performance.now();
    dispatcher.dispatch(options, this);
  }

  /** Resumes reading the response after onUpstreamHeaders/onUpstreamData returned false. */
  resumeReading(): void {
    this.#resume?.();
  }

  /** Ends the attempt now (the pool may call onError synchronously: it is ignored then). */
  abort(err: Error): void {
    const dispatched = this.#dispatched;
    this.end();
    dispatched?.abort(err);
  }

  /** Ends the attempt's bookkeeping; exactly once however the attempt ends. */
  end(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#trace?.endAttempt();
    const cluster = this.#cluster;
    if (!this.#connected) {
      cluster.circuit.pendingRequests--;
      cluster.stats.upstreamRqPendingActive.add(-1);
    } else cluster.stats.upstreamRqActive.add(-1);
    this.host.activeRequests--;
    this.#load?.active.add(-1);
    if (this.#perTryTimer !== undefined) clearTimeout(this.#perTryTimer);
    this.#perTryTimer = undefined;
    this.#dispatched = undefined;
    this.#resume = undefined;
    if (this.#isRetry) cluster.circuit.activeRetries--;
  }

  /** The per-try timeout expired (called by a module function: no closure per attempt). */
  perTryTimedOut(): void {
    this.#perTryTimer = undefined;
    this.#cluster.stats.upstreamRqPerTryTimeout.inc();
    this.#owner.onPerTryTimeout();
  }

  // ------------------------------------------------------------ HostDispatchHandler

  onConnect(request: DispatchedRequest): void {
    this.#dispatched = request;
    if (this.#owner.done || !this.#active) {
      request.abort(new Error('downstream request already finished'));
      return;
    }
    if (!this.#connected) {
      this.#connected = true;
      const cluster = this.#cluster;
      cluster.circuit.pendingRequests--;
      cluster.stats.upstreamRqPendingActive.add(-1);
      cluster.stats.upstreamRqTotal.inc();
      cluster.stats.upstreamRqActive.add(1);
    }
  }

  onHeaders(
    statusCode: number,
    rawHeaders: (string | Buffer)[],
    resume: () => void,
    endStream?: boolean,
  ): boolean {
    if (!this.#active) return false;
    if (statusCode < 200) return true; // 1xx: the final response follows.
    this.#trace?.attemptStatus(statusCode);
    this.#cluster.reportOutcome(this.host, statusCode);
    this.#resume = resume;
    return this.#owner.onUpstreamHeaders(statusCode, rawHeaders, endStream === true);
  }

  onData(chunk: Buffer): boolean {
    if (!this.#active) return false;
    return this.#owner.onUpstreamData(chunk);
  }

  onComplete(trailers: unknown): void {
    if (!this.#active) return;
    const startedAt = this.#startedAt;
    this.#load?.recordTime(performance.now() - startedAt);
    this.end();
    this.#owner.onUpstreamComplete(startedAt, trailers);
  }

  onError(err: Error): void {
    if (!this.#active) return;
    this.#trace?.attemptError(err);
    const connected = this.#connected;
    this.end();
    this.#owner.onUpstreamError(err, connected);
  }
}
