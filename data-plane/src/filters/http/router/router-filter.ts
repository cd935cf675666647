/**
 * envoy.filters.http.router, the terminal decoder filter: routes the request, then answers it
 * locally (redirect, direct response, errors) or forwards it to a host of the route's cluster
 * with retries (retry-state.ts), timeouts and circuit breakers, streaming both bodies with
 * backpressure. The response goes back through the filter chain's encode path.
 *
 * One RouterFilter per stream. It reads only the cluster set of the config the stream started
 * with, so a config apply never changes or resets a request in flight. Each attempt is an
 * UpstreamRequest (upstream-request.ts); whether to retry is RetryState's rule (retry-state.ts).
 */
import { PassThrough } from 'node:stream';
import type { RetryPolicyModel } from '../../../config/model.js';
import { HeaderMap, ResponseHeaderMap, copyForwardableHeaders } from '../../../http/header-map.js';
import type { RequestHeaderMap } from '../../../http/header-map.js';
import { LOCAL_REPLY_BODY } from '../../../http/local-reply.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import type { HeaderFormatterContext } from '../../../router/header-mutations.js';
import type { RouteMatchResult } from '../../../router/route-table.js';
import type { ClusterRuntime, HostState } from '../../../upstream/cluster-runtime.js';
import { formatHashCookie } from '../../../upstream/hash-policy.js';
import { hashForRequest, type GeneratedCookie } from '../../../upstream/load-balancer.js';
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterHeadersStatus,
  LocalReplyOptions,
  StreamFilter,
} from '../filter.js';
import { StreamFormatterContext } from '../common/request-headers.js';
import { RetryState, type FailureKind } from './retry-state.js';
import { upstreamConnectionName } from '../../../upstream/upstream-name.js';
import { CERT_VERIFY_FAILED } from '../../../upstream/upstream-tls.js';
import { UpstreamRequest, isConnectError, type UpstreamRequestOwner } from './upstream-request.js';
import {
  deadlineQueueFor,
  type DeadlineEntry,
  type DeadlineQueue,
} from '../../../http/deadline-queue.js';

/** Envoy's router marks circuit-breaker overflow replies so downstreams can shed load. */
const OVERLOADED: Readonly<Record<string, string>> = { 'x-envoy-overloaded': 'true' };

const EMPTY = Buffer.alloc(0);

/** Request bodies up to this size are kept for replay on retry (Envoy buffers likewise). */
const RETRY_BUFFER_LIMIT = 64 * 1024;

/**
 * Envoy's transport failure reason for an upstream certificate that fails verification, and the
 * response code details it gives the 503 (`%UPSTREAM_TRANSPORT_FAILURE_REASON%`,
 * `%RESPONSE_CODE_DETAILS%`).
 */
const TLS_VERIFY_FAILURE_REASON =
  'TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end';
const TLS_VERIFY_FAILED_DETAILS = `upstream_reset_before_response_started{connection_failure,${TLS_VERIFY_FAILURE_REASON}}`;

/** Envoy's SslRedirectRoute: the https URL for a require_tls redirect. */
function httpsLocation(headers: RequestHeaderMap): string {
  const authority = headers.authority.endsWith(':80')
    ? headers.authority.slice(0, -3)
    : headers.authority;
  return `https://${authority}${headers.path}`;
}

/** A Content-Length of 1 to 15 digits as a number; -1 otherwise (the body is not delimited by it). */
function contentLengthValue(value: string): number {
  const length = value.length;
  if (length === 0 || length > 15) return -1;
  let n = 0;
  for (let i = 0; i < length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

function retryNow(router: RouterFilter): void {
  router.retryNow();
}

export class RouterFilter implements StreamFilter, UpstreamRequestOwner, DeadlineEntry {
  readonly #callbacks: FilterCallbacks;
  #headers: RequestHeaderMap | undefined;
  #match: RouteMatchResult | undefined;
  #cluster: ClusterRuntime | undefined;
  #retry: RetryState | undefined;
  #upstreamPath = '';
  #authority = '';
  #hash: number | undefined;
  /** Hash cookies generated for this request (cookie policy with ttl), sent as Set-Cookie. */
  #generatedCookies: GeneratedCookie[] | undefined;
  #formatterContext: HeaderFormatterContext | undefined;
  #hasBody = false;
  /** Body chunks kept for replay, or undefined once the body outgrew RETRY_BUFFER_LIMIT. */
  #bodyChunks: Buffer[] | undefined;
  #bodyBytes = 0;
  #bodyEnded = false;
  #bodySink: PassThrough | undefined;
  #bodyPaused = false;

  #attempts = 0;
  /** The host of the last attempt. */
  #host: HostState | undefined;
  /** The current attempt goes over HTTP/2 (its response trailers are forwarded). */
  #upstreamH2 = false;
  /** The current attempt (undefined between attempts and after the last). */
  #upstream: UpstreamRequest | undefined;
  /** The current attempt's response is a retriable one being read and dropped. */
  #discarding = false;
  #backoffTimer: NodeJS.Timeout | undefined;
  /** A per-try timeout aborted the current attempt: its error is a timeout. */
  #perTryTimedOut = false;

  /** Final response status from upstream (0: none yet). */
  #status = 0;
  /** Body bytes the response's content-length still announces (-1: not delimited by one). */
  #responseBytesLeft = -1;
  #responseStarted = false;
  /** The response was ended downstream (last chunk, or onComplete). */
  #responseEnded = false;
  /** The stream is over for the router (response complete, local reply, reset). */
  #done = false;

  // The route timeout, an entry of the worker's deadline queue for its duration (no Node timer
  // per request).
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineQueue: DeadlineQueue | undefined = undefined;

  constructor(callbacks: FilterCallbacks) {
    this.#callbacks = callbacks;
    callbacks.onBelowWriteBufferLowWatermark = this.#onDownstreamDrain;
  }

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    this.#headers = headers;
    const callbacks = this.#callbacks;
    const match = callbacks.route();
    if (match === undefined) {
      this.#localReply(404, '', { flag: ResponseFlag.NO_ROUTE_FOUND, details: 'route_not_found' });
      return 'stop';
    }
    this.#match = match;
    const virtualHost = match.virtualHost;
    if (virtualHost.requireTls !== 'NONE' && this.#requiresTlsRedirect(virtualHost.requireTls)) {
      this.#localReply(301, '', {
        headers: { location: httpsLocation(headers) },
        details: 'direct_response',
      });
      return 'stop';
    }
    const action = match.action;
    if (action.kind === 'direct_response') {
      this.#localReply(action.status, action.body ?? '', {
        flag: ResponseFlag.DIRECT_RESPONSE,
        details: 'direct_response',
        modifyHeaders: this.#routeResponseHeaders(),
      });
      return 'stop';
    }
    if (action.kind === 'redirect') {
      const location = match.redirectLocation(headers, headers.scheme);
      this.#localReply(action.responseCode, '', {
        headers: { location },
        details: 'direct_response',
        modifyHeaders: this.#routeResponseHeaders(),
      });
      return 'stop';
    }
    const clusterName = match.clusterName;
    const cluster = clusterName === undefined ? undefined : callbacks.clusters.get(clusterName);
    if (cluster === undefined) {
      this.#localReply(503, LOCAL_REPLY_BODY.noCluster, {
        flag: ResponseFlag.NO_CLUSTER_FOUND,
        details: 'cluster_not_found',
      });
      return 'stop';
    }
    this.#cluster = cluster;
    callbacks.streamInfo.upstreamCluster = cluster.name;
    if (cluster.circuit.requestOverflow(cluster.model.circuitBreakers)) {
      cluster.stats.upstreamRqPendingOverflow.inc();
      this.#localReply(503, LOCAL_REPLY_BODY.overflow, {
        flag: ResponseFlag.UPSTREAM_OVERFLOW,
        headers: OVERLOADED,
      });
      return 'stop';
    }
    cluster.circuit.activeRequests++;
    const retryPolicy: RetryPolicyModel | undefined = action.retryPolicy ?? virtualHost.retryPolicy;
    if (retryPolicy !== undefined) this.#retry = new RetryState(retryPolicy);
    this.#prepareUpstreamRequest(headers, match, endStream);
    if (action.hashPolicy.length > 0) {
      const generated: GeneratedCookie[] = [];
      this.#hash = hashForRequest(
        action.hashPolicy,
        headers,
        callbacks.streamInfo.downstreamRemoteIp,
        generated,
      );
      if (generated.length > 0) this.#generatedCookies = generated;
    }
    if (action.timeoutMs > 0) deadlineQueueFor(action.timeoutMs, true).add(this);
    this.#attempt(false);
    return 'stop';
  }

  /** Envoy's require_tls: ALL redirects unless x-forwarded-proto is https; EXTERNAL_ONLY too, for external requests. */
  #requiresTlsRedirect(mode: 'EXTERNAL_ONLY' | 'ALL'): boolean {
    const headers = this.#headers!;
    if (headers.get('x-forwarded-proto') === 'https') return false;
    return mode === 'ALL' || headers.get('x-envoy-internal') !== 'true';
  }

  /** The upstream request's path, authority, header mutations and body plumbing. */
  #prepareUpstreamRequest(
    headers: RequestHeaderMap,
    match: RouteMatchResult,
    endStream: boolean,
  ): void {
    const rewrittenHost = match.hostRewrite(headers);
    this.#authority = rewrittenHost ?? headers.authority;
    this.#upstreamPath = match.rewritePath(headers.path);
    if (match.hasHeaderMutations) match.applyRequestHeaders(headers, this.#formatContext());
    this.#hasBody = !endStream;
    if (this.#hasBody) {
      this.#bodyChunks = [];
    } else {
      this.#bodyEnded = true;
    }
  }

  /** The formatter context of %VARIABLE% header values (rebuilt once a host is chosen). */
  #formatContext(): HeaderFormatterContext {
    const upstream = this.#host?.key ?? '';
    const cached = this.#formatterContext;
    if (cached !== undefined && cached.upstreamRemoteAddress === upstream) return cached;
    return (this.#formatterContext = new StreamFormatterContext(
      this.#callbacks.streamInfo,
      this.#headers!,
      upstream,
    ));
  }

  /** The route's response header mutations for a local reply (made only for those replies). */
  #routeResponseHeaders(): (headers: ResponseHeaderMap) => void {
    return (headers) => {
      const match = this.#match;
      if (match?.hasHeaderMutations === true)
        match.applyResponseHeaders(headers, this.#formatContext());
    };
  }

  // ------------------------------------------------------------ request body

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (this.#done) return 'stop-no-buffer';
    this.#bodyBytes += data.length;
    if (this.#bodyChunks !== undefined) {
      if (this.#bodyBytes <= RETRY_BUFFER_LIMIT) this.#bodyChunks.push(data);
      else this.#bodyChunks = undefined;
    }
    const sink = this.#bodySink;
    if (sink !== undefined && data.length > 0 && !sink.write(data) && !this.#bodyPaused) {
      this.#bodyPaused = true;
      this.#callbacks.readDisable(true);
      sink.once('drain', (this.#onSinkDrain ??= () => this.#sinkDrained()));
    }
    if (endStream) this.#onBodyEnd();
    return 'stop-no-buffer';
  }

  decodeTrailers(): 'stop' {
    // Request trailers are not forwarded (neither upstream pool sends any).
    this.#onBodyEnd();
    return 'stop';
  }

  /** The body sink's 'drain' listener, made when the request body first has to wait. */
  #onSinkDrain: (() => void) | undefined;

  #sinkDrained(): void {
    this.#bodyPaused = false;
    this.#callbacks.readDisable(false);
  }

  #onBodyEnd(): void {
    this.#bodyEnded = true;
    this.#bodySink?.end();
  }

  /** A fresh body stream for an attempt: replays what was buffered, then follows the request. */
  #bodyForAttempt(): PassThrough | null {
    if (!this.#hasBody) return null;
    const sink = new PassThrough();
    sink.on('error', () => undefined);
    if (this.#bodyChunks !== undefined) for (const chunk of this.#bodyChunks) sink.write(chunk);
    if (this.#bodyEnded) sink.end();
    this.#bodySink = sink;
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      this.#callbacks.readDisable(false);
    }
    return sink;
  }

  /** A retry needs the whole body so far: only possible while it fits the replay buffer. */
  #bodyReplayable(): boolean {
    return !this.#hasBody || this.#bodyChunks !== undefined;
  }

  // ------------------------------------------------------------ attempts

  #pickHost(cluster: ClusterRuntime): HostState | undefined {
    const retry = this.#retry;
    const excluded = retry?.excludedHosts;
    let host = cluster.pickHost(this.#hash, undefined);
    if (host === undefined || excluded === undefined || !excluded.has(host.key)) return host;
    // A host the retry predicate rejects: reselect up to host_selection_retry_max_attempts
    // times, asking the load balancer to avoid the rejected hosts; then use the last pick.
    for (let i = 0; i < retry!.hostSelectionRetryMaxAttempts && excluded.has(host.key); i++)
      host = cluster.pickHost(this.#hash, excluded) ?? host;
    return host;
  }

  /** Starts an attempt; `isRetry`: it holds a max_retries slot, released when it ends. */
  #attempt(isRetry: boolean): void {
    const cluster = this.#cluster!;
    const host = this.#pickHost(cluster);
    if ((host === undefined || this.#pendingOverflow(cluster)) && isRetry)
      cluster.circuit.activeRetries--;
    if (host === undefined) {
      this.#localReply(503, LOCAL_REPLY_BODY.noHealthyUpstream, {
        flag: ResponseFlag.NO_HEALTHY_UPSTREAM,
        details: 'no_healthy_upstream',
      });
      return;
    }
    if (this.#pendingOverflow(cluster)) {
      cluster.stats.upstreamRqPendingOverflow.inc();
      this.#localReply(503, LOCAL_REPLY_BODY.overflow, {
        flag: ResponseFlag.UPSTREAM_OVERFLOW,
        headers: OVERLOADED,
      });
      return;
    }
    this.#attempts++;
    const info = this.#callbacks.streamInfo;
    info.attemptCount = this.#attempts;
    info.upstreamHost = host.key;
    this.#host = host;
    this.#retry?.onHostChosen(host.key);
    this.#discarding = false;
    this.#perTryTimedOut = false;
    const upstream = new UpstreamRequest(this, cluster, host, isRetry, info.trace);
    this.#upstream = upstream;
    const headers = this.#headers!;
    const authority =
      this.#match!.autoHostRewrite && host.hostname !== '' ? host.hostname : this.#authority;
    headers.set('host', authority);
    info.trace?.startAttempt(headers, host.host, host.port, cluster.name);
    const useH2 =
      cluster.model.upstreamProtocol === 'HTTP2' ||
      (cluster.model.upstreamProtocol === 'USE_DOWNSTREAM' && headers.protocol === 'HTTP/2');
    this.#upstreamH2 = useH2;
    const flat = headers.toFlat();
    headers.remove('host');
    // auto_sni / auto_san_validation: the pool for the name this request carries.
    const name =
      cluster.model.upstreamHostName === undefined
        ? undefined
        : upstreamConnectionName(cluster.model, headers, authority);
    upstream.start(
      host.dispatcher(cluster.model, useH2, cluster.stats, name),
      {
        path: this.#upstreamPath,
        method: headers.method,
        headers: flat,
        body: this.#bodyForAttempt(),
      },
      this.#retry?.policy.perTryTimeoutMs ?? 0,
    );
  }

  #pendingOverflow(cluster: ClusterRuntime): boolean {
    return cluster.circuit.pendingRequests >= cluster.model.circuitBreakers.maxPendingRequests;
  }

  // ------------------------------------------------------------ the attempt's outcome

  get done(): boolean {
    return this.#done;
  }

  onUpstreamHeaders(
    statusCode: number,
    rawHeaders: (string | Buffer)[],
    headersEndStream: boolean,
  ): boolean {
    if (this.#done) return false;
    if (this.#shouldRetryStatus(statusCode)) {
      this.#cluster!.stats.retryUpstreamRq.record(statusCode);
      // Keep the connection: read and drop this response's body, retry once it is complete.
      this.#discarding = true;
      return true;
    }
    const headers = new ResponseHeaderMap(statusCode);
    copyForwardableHeaders(rawHeaders, headers);
    const match = this.#match!;
    if (match.hasHeaderMutations) match.applyResponseHeaders(headers, this.#formatContext());
    // Envoy's router adds the generated hash cookie to the upstream response.
    if (this.#generatedCookies !== undefined)
      for (const cookie of this.#generatedCookies)
        headers.append('set-cookie', formatHashCookie(cookie));
    this.#status = statusCode;
    this.#callbacks.streamInfo.responseCodeDetails = 'via_upstream';
    const contentLength = headers.get('content-length');
    this.#responseBytesLeft = contentLength === undefined ? -1 : contentLengthValue(contentLength);
    this.#responseStarted = true;
    // An announced empty body ends here (and an HTTP/2 response without body or trailers, such
    // as gRPC's trailers-only one); the codec knows HEAD and bodiless statuses.
    const endStream = headersEndStream || this.#responseBytesLeft === 0;
    if (endStream) this.#responseEnded = true;
    this.#callbacks.encodeHeaders(headers, endStream);
    return true;
  }

  onUpstreamData(chunk: Buffer): boolean {
    if (this.#discarding) return true;
    if (this.#done || this.#responseEnded) return !this.#done;
    if (this.#responseBytesLeft >= 0) {
      this.#responseBytesLeft -= chunk.length;
      if (this.#responseBytesLeft <= 0) {
        // The last chunk: end with it, so headers and body can leave in one write.
        this.#responseEnded = true;
        this.#callbacks.encodeData(chunk, true);
        return true;
      }
    }
    return this.#callbacks.encodeData(chunk, false);
  }

  readonly #onDownstreamDrain = (): void => {
    this.#upstream?.resumeReading();
  };

  onUpstreamComplete(startedAt: number, trailers: unknown): void {
    if (this.#discarding) {
      this.#scheduleRetry();
      return;
    }
    if (!this.#responseStarted) return;
    const cluster = this.#cluster!;
    cluster.stats.upstreamRq.record(this.#status);
    cluster.stats.upstreamRqTime.observe(performance.now() - startedAt);
    if (this.#responseEnded || this.#done) return;
    this.#responseEnded = true;
    // HTTP/2 trailers are forwarded (gRPC's grpc-status); HTTP/1.1 ones are dropped, as Envoy
    // does without http_protocol_options.enable_trailers.
    if (this.#upstreamH2 && Array.isArray(trailers) && trailers.length > 0) {
      const map = new HeaderMap();
      copyForwardableHeaders(trailers as string[], map);
      if (map.names.length > 0) {
        this.#callbacks.encodeTrailers(map);
        return;
      }
    }
    this.#callbacks.encodeData(EMPTY, true);
  }

  onUpstreamError(err: Error, connected: boolean): void {
    if (this.#done) return;
    const cluster = this.#cluster!;
    if (this.#discarding) {
      // The retriable response broke while being dropped: retry all the same.
      this.#scheduleRetry();
      return;
    }
    if (this.#responseEnded) return; // The whole announced body was delivered.
    const code = (err as NodeJS.ErrnoException).code;
    if (this.#responseStarted) {
      // Mid-body failure: the only honest signal left is to reset the downstream stream.
      cluster.stats.upstreamRqReset.inc();
      this.#callbacks.streamInfo.addResponseFlag(
        code === 'UPSTREAM_STREAM_RESET' || code === 'UPSTREAM_REFUSED_STREAM'
          ? ResponseFlag.UPSTREAM_REMOTE_RESET
          : ResponseFlag.UPSTREAM_CONNECTION_TERMINATION,
      );
      this.#done = true;
      this.#callbacks.resetStream();
      return;
    }
    const kind: FailureKind = this.#perTryTimedOut
      ? 'timeout'
      : !connected && (isConnectError(err) || code === 'UND_ERR_SOCKET')
        ? 'connect-failure'
        : 'reset';
    // An HTTP/2 stream the upstream reset (Envoy's remote reset, UR); REFUSED_STREAM (or above
    // a GOAWAY's last stream id) also means it was not processed (retry_on refused-stream).
    const refused = code === 'UPSTREAM_REFUSED_STREAM';
    const remoteReset = refused || code === 'UPSTREAM_STREAM_RESET';
    this.#callbacks.streamInfo.upstreamTransportFailureReason =
      code === CERT_VERIFY_FAILED ? TLS_VERIFY_FAILURE_REASON : (code ?? err.message);
    cluster.reportOutcome(this.#host!, kind);
    if (kind === 'connect-failure') cluster.stats.upstreamCxConnectFail.inc();
    if (this.#canRetry(kind, refused)) {
      this.#scheduleRetry();
      return;
    }
    if (code === 'UPSTREAM_PROTOCOL_ERROR') {
      // Envoy answers a malformed upstream response with 502 UPE; nothing of it is forwarded.
      cluster.stats.upstreamRqReset.inc();
      this.#localReply(502, LOCAL_REPLY_BODY.protocolError, {
        flag: ResponseFlag.UPSTREAM_PROTOCOL_ERROR,
        details: 'upstream_reset_before_response_started{protocol_error}',
      });
    } else if (kind === 'timeout') {
      cluster.stats.upstreamRqTimeout.inc();
      this.#localReply(504, LOCAL_REPLY_BODY.timeout, {
        flag: ResponseFlag.UPSTREAM_REQUEST_TIMEOUT,
        details: 'upstream_per_try_timeout',
      });
    } else if (kind === 'connect-failure') {
      this.#localReply(503, LOCAL_REPLY_BODY.connectFailure, {
        flag: ResponseFlag.UPSTREAM_CONNECTION_FAILURE,
        ...(code === CERT_VERIFY_FAILED ? { details: TLS_VERIFY_FAILED_DETAILS } : {}),
      });
    } else if (remoteReset) {
      cluster.stats.upstreamRqReset.inc();
      this.#localReply(503, LOCAL_REPLY_BODY.remoteReset, {
        flag: ResponseFlag.UPSTREAM_REMOTE_RESET,
        details: refused
          ? 'upstream_reset_before_response_started{remote_refused_stream_reset}'
          : 'upstream_reset_before_response_started{remote_reset}',
      });
    } else {
      cluster.stats.upstreamRqReset.inc();
      this.#localReply(503, LOCAL_REPLY_BODY.reset, {
        flag: ResponseFlag.UPSTREAM_CONNECTION_TERMINATION,
      });
    }
  }

  onPerTryTimeout(): void {
    // Envoy's per-try timeout only applies before the response starts.
    if (this.#responseStarted) return;
    const upstream = this.#upstream;
    if (upstream?.active !== true) return;
    this.#perTryTimedOut = true;
    // Ended here, so the pool's own error for the abort is ignored; the timeout is the outcome.
    const err = new Error('per-try timeout');
    upstream.abort(err);
    this.onUpstreamError(err, true);
  }

  // ------------------------------------------------------------ retries and timeouts

  #retriesLeft(): boolean {
    return this.#retry?.retriesLeft === true && this.#bodyReplayable();
  }

  #shouldRetryStatus(status: number): boolean {
    const retry = this.#retry;
    if (retry === undefined || !this.#retriesLeft()) return false;
    return retry.retriableStatus(status) && this.#reserveRetry();
  }

  #canRetry(kind: FailureKind, refusedStream: boolean): boolean {
    const retry = this.#retry;
    if (retry === undefined || !this.#retriesLeft()) return false;
    return retry.retriableFailure(kind, refusedStream) && this.#reserveRetry();
  }

  /** Takes a slot from the max_retries circuit breaker; false (and counted) when it is full. */
  #reserveRetry(): boolean {
    const cluster = this.#cluster!;
    if (cluster.circuit.retryOverflow(cluster.model.circuitBreakers)) {
      cluster.stats.upstreamRqRetryOverflow.inc();
      return false;
    }
    return true;
  }

  #scheduleRetry(): void {
    if (this.#done) return;
    const cluster = this.#cluster!;
    cluster.stats.upstreamRqRetry.inc();
    cluster.circuit.activeRetries++;
    this.#backoffTimer = setTimeout(retryNow, this.#retry!.nextBackoffMs(), this);
  }

  /** The retry backoff elapsed (called by a module function: no closure per stream). */
  retryNow(): void {
    this.#backoffTimer = undefined;
    if (this.#done) {
      this.#cluster!.circuit.activeRetries--;
      return;
    }
    this.#attempt(true);
  }

  /** The route timeout expired. */
  onDeadline(): void {
    this.#cluster?.stats.upstreamRqTimeout.inc();
    const upstream = this.#upstream;
    if (upstream?.active === true) {
      this.#cluster!.reportOutcome(upstream.host, 'timeout');
      upstream.abort(new Error('route timeout'));
    }
    this.#localReply(504, LOCAL_REPLY_BODY.timeout, {
      flag: ResponseFlag.UPSTREAM_REQUEST_TIMEOUT,
      details: 'upstream_response_timeout',
    });
  }

  // ------------------------------------------------------------ completion

  #localReply(status: number, body: string, options: LocalReplyOptions): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearTimers();
    this.#callbacks.sendLocalReply(status, body, options);
  }

  #clearTimers(): void {
    this.deadlineQueue?.remove(this);
    if (this.#backoffTimer !== undefined) {
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      this.#cluster!.circuit.activeRetries--;
    }
  }

  /** The stream is over (response complete, local reply or reset): release everything. */
  onDestroy(): void {
    this.#done = true;
    this.#clearTimers();
    const upstream = this.#upstream;
    // The client went away (or the stream was reset) before the response completed. (After
    // the response's last byte, the attempt completes normally.)
    if (upstream?.active === true && !this.#responseEnded)
      upstream.abort(new Error('downstream closed'));
    if (this.#cluster !== undefined) this.#cluster.circuit.activeRequests--;
  }
}
