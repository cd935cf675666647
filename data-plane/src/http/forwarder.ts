/**
 * The request path: route one downstream request, then answer it locally (redirect, direct
 * response, errors) or forward it to an upstream host with retries, timeouts and circuit
 * breakers, streaming both bodies with backpressure.
 *
 * A ProxiedRequest captures the compiled chain (route table, HCM settings) and the cluster set
 * current when the request started and uses only those until it ends: a config apply never
 * changes or resets a request in flight. It is also the undici dispatch handler of its current
 * attempt (one object per request instead of a closure per callback).
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HttpConnectionManagerModel, RetryPolicyModel } from '../config/model.js';
import type { HeaderFormatterContext, HeaderLookup } from '../router/header-mutations.js';
import type { RouteMatchResult, RouteRequest, RouteTable } from '../router/route-table.js';
import type { ClusterRuntime, HostState } from '../upstream/cluster-runtime.js';
import {
  membershipOf,
  type HealthCheckFilter,
} from '../filters/http/health_check/health-check-filter.js';
import { formatHashCookie } from '../upstream/hash-policy.js';
import { hashForRequest, type GeneratedCookie } from '../upstream/load-balancer.js';
import { HeaderMap, copyForwardableHeaders } from './header-map.js';
import type { DownstreamRequest, DownstreamResponse } from './listener-server.js';
import { LOCAL_REPLY_BODY, sendLocalReply } from './local-reply.js';
import { ResponseFlag, type ResponseFlagCode } from './response-flags.js';
import { applyClientIdentity } from './client-identity.js';
import type { GaugeHandle, HistogramHandle, RouteStatusCounters } from '../stats/stats.js';
import type { HcmTracer, RequestTrace } from '../tracing/hcm-tracer.js';
import type { LocalityLoadStats } from '../upstream/cluster-stats.js';

/** One compiled filter chain's HTTP connection manager, as the request path needs it. */
export interface CompiledChain {
  readonly listenerName: string;
  readonly hcm: HttpConnectionManagerModel;
  /** Undefined when the RDS route configuration has not arrived (requests get 404 NR). */
  readonly routeTable: RouteTable | undefined;
  /** downstream_rq_* by route (labels listener, stat_prefix, virtual_host, route). */
  readonly downstreamRq: RouteStatusCounters;
  readonly downstreamRqTime: HistogramHandle;
  /** downstream_rq_active of the listener. */
  readonly downstreamRqActive: GaugeHandle;
  /** envoy.filters.http.health_check of this HCM, when it lists one. */
  readonly healthCheck?: HealthCheckFilter;
  /** The HCM's tracing, when it has a provider (tracing/hcm-tracer.ts). */
  readonly tracer?: HcmTracer;
}

export interface AccessLogEntry {
  readonly listener: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly protocol: string;
  readonly status: number;
  /** Envoy's response flags joined by ',' ("-" when none). */
  readonly responseFlags: string;
  readonly durationMs: number;
  readonly route: string;
  readonly cluster: string;
  readonly upstreamHost: string;
  readonly requestId: string;
  readonly attempts: number;
  /** The HCM's stat_prefix (picks the chain's access loggers when chains log differently). */
  readonly statPrefix?: string;
  /** Wall-clock start of the request (ms since epoch). */
  readonly startTimeMs?: number;
  /** Request body bytes received from downstream. */
  readonly bytesReceived?: number;
  /** Response body bytes sent downstream. */
  readonly bytesSent?: number;
  /** ms from the start until the last request byte was received. */
  readonly requestDurationMs?: number | undefined;
  /** ms from the start until the response headers were sent (absent: no response started). */
  readonly responseDurationMs?: number | undefined;
  /** The downstream request's headers, as received. */
  readonly requestHeaders?: IncomingMessage['headers'];
  /** The upstream response's headers as sent downstream (absent for local replies). */
  readonly responseHeaders?: HeaderLookup | undefined;
  /** The downstream connection (addresses, SNI, identity for %CONNECTION_ID%). */
  readonly socket?: DownstreamRequest['socket'];
  /** Why the last upstream attempt failed at the transport level (e.g. ECONNREFUSED). */
  readonly upstreamTransportFailureReason?: string | undefined;
  /** The trace id tracing gave the request (%TRACE_ID%), when the HCM traces. */
  readonly traceId?: string | undefined;
}

/** What requests share from the config generation they started in. */
export interface RequestScope {
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  readonly accessLog: ((entry: AccessLogEntry) => void) | undefined;
}

/** Envoy's router marks circuit-breaker overflow replies so downstreams can shed load. */
const OVERLOADED: Record<string, string> = { 'x-envoy-overloaded': 'true' };

/** Envoy's default retry backoff base (retry_back_off.base_interval). */
const DEFAULT_BACKOFF_BASE_MS = 25;

/** Request bodies up to this size are kept for replay on retry (Envoy buffers likewise). */
const RETRY_BUFFER_LIMIT = 64 * 1024;

/**
 * Request headers as the router sees them: repeated headers joined with ',' (Envoy's
 * HeaderMap::get semantics for matchers). Node joins most repeated headers with ', ', so a
 * value containing ', ' is re-read from the raw list (rare; the common path stays a lookup).
 */
class RequestHeaderLookup implements HeaderLookup {
  constructor(
    private readonly headers: IncomingMessage['headers'],
    private readonly rawHeaders: readonly string[],
  ) {}
  get(name: string): string | undefined {
    const value = this.headers[name];
    if (Array.isArray(value)) return value.join(',');
    if (value === undefined || !value.includes(', ')) return value;
    let joined: string | undefined;
    const raw = this.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name)
        joined = joined === undefined ? raw[i + 1]! : `${joined},${raw[i + 1]!}`;
    }
    return joined ?? value;
  }
}

type FailureKind = 'connect-failure' | 'reset' | 'timeout' | 'status';

function isConnectError(err: NodeJS.ErrnoException): boolean {
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

export class ProxiedRequest implements Dispatcher.DispatchHandler {
  readonly #chain: CompiledChain;
  readonly #scope: RequestScope;
  readonly #req: DownstreamRequest;
  readonly #res: DownstreamResponse;
  readonly #startedAt = performance.now();
  readonly #routeRequest: RouteRequest;
  readonly #http2: boolean;
  #match: RouteMatchResult | undefined;
  #cluster: ClusterRuntime | undefined;
  #retryPolicy: RetryPolicyModel | undefined;
  #headers: HeaderMap | undefined;
  #upstreamPath = '';
  #authority = '';
  #hash: number | undefined;
  /** Hash cookies generated for this request (cookie policy with ttl), sent as Set-Cookie. */
  #generatedCookies: GeneratedCookie[] | undefined;
  #requestId = '';
  #formatterContext: HeaderFormatterContext | undefined;
  #hasBody = false;
  /** Body chunks kept for replay, or undefined once the body outgrew RETRY_BUFFER_LIMIT. */
  #bodyChunks: Buffer[] | undefined = [];
  #bodyBytes = 0;
  /** Stats/access log: ms from start to the end of the request body, response headers. */
  #requestEndMs = -1;
  #responseStartMs = -1;
  #bytesSent = 0;
  #responseHeaders: HeaderMap | undefined;
  #transportFailure: string | undefined;
  #bodyEnded = false;
  #bodySink: PassThrough | undefined;

  // Current attempt.
  #attempts = 0;
  /** performance.now() when the current attempt was dispatched (upstream_rq_time). */
  #attemptStartedAt = 0;
  #host: HostState | undefined;
  #abortAttempt: ((err?: Error) => void) | undefined;
  #attemptConnected = false;
  #attemptActive = false;
  #discarding = false;
  #isRetry = false;
  #triedHosts: Set<string> | undefined;
  #resumeUpstream: (() => void) | undefined;
  #perTryTimer: NodeJS.Timeout | undefined;
  #routeTimer: NodeJS.Timeout | undefined;
  #backoffTimer: NodeJS.Timeout | undefined;
  #pendingRetryReason: FailureKind | undefined;

  /** Body bytes the response's content-length still announces (-1: not delimited by one). */
  #responseBytesLeft = -1;
  /** The downstream response was ended from onData with its last chunk. */
  #responseEnded = false;

  #done = false;
  #status = 0;
  #flags: ResponseFlagCode | undefined;
  /** Set when the chain traces: begun once the route is known, or at a local reply before. */
  #trace: RequestTrace | undefined;
  /** The current attempt's locality load stats (LRS clusters), as counted in flight. */
  #attemptLoad: LocalityLoadStats | undefined;

  constructor(
    chain: CompiledChain,
    scope: RequestScope,
    req: DownstreamRequest,
    res: DownstreamResponse,
  ) {
    this.#chain = chain;
    this.#scope = scope;
    this.#req = req;
    this.#res = res;
    this.#http2 = req.httpVersionMajor === 2;
    const headers = req.headers;
    const rawAuthority = this.#http2 ? headers[':authority'] : headers.host;
    const authority = typeof rawAuthority === 'string' ? rawAuthority : (headers.host ?? '');
    this.#authority = authority;
    this.#routeRequest = {
      authority: authority.toLowerCase(),
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: new RequestHeaderLookup(headers, req.rawHeaders),
    };
  }

  /** Entry point: called once per downstream request. */
  start(): void {
    const req = this.#req;
    const res = this.#res;
    res.once('close', this.#onDownstreamClose);
    this.#chain.downstreamRqActive.add(1);
    const hcm = this.#chain.hcm;
    if (hcm.maxHeadersCount > 0 && req.rawHeaders.length / 2 > hcm.maxHeadersCount) {
      this.#reply(431, '', undefined);
      return;
    }
    // envoy.filters.http.health_check runs before the router: it may answer the request itself.
    const healthReply = this.#chain.healthCheck?.evaluate(
      { ...this.#routeRequest, scheme: this.#scheme() },
      membershipOf(this.#scope.clusters),
    );
    if (healthReply !== undefined) {
      const flag = healthReply.failedLocalHealthCheck
        ? ResponseFlag.FAILED_LOCAL_HEALTH_CHECK
        : undefined;
      this.#reply(healthReply.status, '', flag);
      return;
    }
    const table = this.#chain.routeTable;
    const match = table?.match(this.#routeRequest);
    if (this.#chain.tracer !== undefined)
      this.#trace = this.#chain.tracer.begin(this.#req, match?.route, this.#startedAt);
    if (match === undefined) {
      this.#reply(404, '', ResponseFlag.NO_ROUTE_FOUND);
      return;
    }
    this.#match = match;
    const action = match.action;
    if (action.kind === 'direct_response') {
      this.#reply(action.status, action.body ?? '', ResponseFlag.DIRECT_RESPONSE, match);
      return;
    }
    if (action.kind === 'redirect') {
      const location = match.redirectLocation(this.#routeRequest, this.#scheme());
      this.#reply(action.responseCode, '', undefined, match, { location });
      return;
    }
    const clusterName = match.clusterName;
    const cluster = clusterName === undefined ? undefined : this.#scope.clusters.get(clusterName);
    if (cluster === undefined) {
      this.#reply(503, LOCAL_REPLY_BODY.noCluster, ResponseFlag.NO_CLUSTER_FOUND);
      return;
    }
    this.#cluster = cluster;
    if (cluster.circuit.requestOverflow(cluster.model.circuitBreakers)) {
      cluster.stats.upstreamRqPendingOverflow.inc();
      this.#reply(
        503,
        LOCAL_REPLY_BODY.overflow,
        ResponseFlag.UPSTREAM_OVERFLOW,
        undefined,
        OVERLOADED,
      );
      return;
    }
    cluster.circuit.activeRequests++;
    this.#retryPolicy = action.retryPolicy ?? match.virtualHost.retryPolicy;
    const trustedClientIp = this.#prepareUpstreamRequest(match);
    if (action.hashPolicy.length > 0) {
      const generated: GeneratedCookie[] = [];
      this.#hash = hashForRequest(
        action.hashPolicy,
        this.#routeRequest,
        trustedClientIp,
        generated,
      );
      if (generated.length > 0) this.#generatedCookies = generated;
    }
    if (action.timeoutMs > 0) {
      this.#routeTimer = setTimeout(this.#onRouteTimeout, action.timeoutMs);
    }
    this.#attempt();
  }

  #scheme(): string {
    return (this.#req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  }

  /** Builds the upstream headers, path and body plumbing; returns the trusted client IP. */
  #prepareUpstreamRequest(match: RouteMatchResult): string {
    const req = this.#req;
    const headers = new HeaderMap();
    copyForwardableHeaders(req.rawHeaders, headers);
    const hcm = this.#chain.hcm;
    const identity = applyClientIdentity(headers, req, hcm, this.#scheme());
    this.#requestId = identity.requestId;
    const rewrittenHost = match.hostRewrite(this.#routeRequest.headers);
    if (rewrittenHost !== undefined) this.#authority = rewrittenHost;
    this.#upstreamPath = match.rewritePath(this.#routeRequest.path);
    if (match.hasHeaderMutations) {
      match.applyRequestHeaders(headers, this.#formatContext(headers));
    }
    this.#headers = headers;
    const contentLength = req.headers['content-length'];
    this.#hasBody =
      (contentLength !== undefined && contentLength !== '0') ||
      req.headers['transfer-encoding'] !== undefined ||
      (this.#http2 && !(req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders);
    if (this.#hasBody) {
      req.on('data', this.#onBodyData);
      req.once('end', this.#onBodyEnd);
      req.pause();
    } else {
      this.#bodyEnded = true;
    }
    return identity.trustedClientIp;
  }

  #formatContext(headers: HeaderLookup): HeaderFormatterContext {
    if (this.#formatterContext !== undefined) return this.#formatterContext;
    const socket = this.#req.socket;
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    const host = this.#host;
    this.#formatterContext = {
      downstreamRemoteAddress: remote,
      downstreamDirectRemoteAddress: remote,
      downstreamLocalAddress: `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`,
      protocol: this.#http2 ? 'HTTP/2' : `HTTP/${this.#req.httpVersion}`,
      upstreamRemoteAddress: host === undefined ? '' : host.key,
      requestHeaders: headers,
    };
    return this.#formatterContext;
  }

  readonly #onBodyData = (chunk: Buffer): void => {
    this.#bodyBytes += chunk.length;
    if (this.#bodyChunks !== undefined) {
      if (this.#bodyBytes <= RETRY_BUFFER_LIMIT) this.#bodyChunks.push(chunk);
      else this.#bodyChunks = undefined;
    }
    const sink = this.#bodySink;
    if (sink !== undefined && !sink.write(chunk)) {
      this.#req.pause();
      sink.once('drain', () => this.#req.resume());
    }
  };

  readonly #onBodyEnd = (): void => {
    this.#bodyEnded = true;
    this.#requestEndMs = performance.now() - this.#startedAt;
    this.#bodySink?.end();
  };

  /** A fresh body stream for an attempt: replays what was buffered, then follows the request. */
  #bodyForAttempt(): PassThrough | null {
    if (!this.#hasBody) return null;
    const sink = new PassThrough();
    sink.on('error', () => undefined);
    if (this.#bodyChunks !== undefined) for (const chunk of this.#bodyChunks) sink.write(chunk);
    if (this.#bodyEnded) sink.end();
    this.#bodySink = sink;
    this.#req.resume();
    return sink;
  }

  /** A retry needs the whole body so far: only possible while it fits the replay buffer. */
  #bodyReplayable(): boolean {
    return !this.#hasBody || this.#bodyChunks !== undefined;
  }

  #attempt(): void {
    const cluster = this.#cluster!;
    const retryPolicy = this.#retryPolicy;
    const exclude = retryPolicy?.previousHostsPredicate === true ? this.#triedHosts : undefined;
    const host =
      cluster.pickHost(this.#hash, exclude) ??
      (exclude !== undefined ? cluster.pickHost(this.#hash, undefined) : undefined);
    if (host === undefined) {
      this.#reply(503, LOCAL_REPLY_BODY.noHealthyUpstream, ResponseFlag.NO_HEALTHY_UPSTREAM);
      return;
    }
    if (cluster.circuit.pendingRequests >= cluster.model.circuitBreakers.maxPendingRequests) {
      cluster.stats.upstreamRqPendingOverflow.inc();
      this.#reply(
        503,
        LOCAL_REPLY_BODY.overflow,
        ResponseFlag.UPSTREAM_OVERFLOW,
        undefined,
        OVERLOADED,
      );
      return;
    }
    this.#attempts++;
    this.#host = host;
    if (retryPolicy?.previousHostsPredicate === true)
      (this.#triedHosts ??= new Set()).add(host.key);
    host.activeRequests++;
    this.#attemptLoad = host.localityLoad;
    this.#attemptLoad?.active.add(1);
    cluster.circuit.pendingRequests++;
    cluster.stats.upstreamRqPendingActive.add(1);
    this.#attemptConnected = false;
    this.#attemptActive = true;
    this.#discarding = false;
    const headers = this.#headers!;
    const authority =
      this.#match!.autoHostRewrite && host.hostname !== '' ? host.hostname : this.#authority;
    headers.set('host', authority);
    this.#trace?.startAttempt(headers, host.host, host.port, cluster.name);
    const useH2 =
      cluster.model.upstreamProtocol === 'HTTP2' ||
      (cluster.model.upstreamProtocol === 'USE_DOWNSTREAM' && this.#http2);
    const dispatcher = host.dispatcher(cluster.model, useH2, cluster.stats);
    const perTry = retryPolicy?.perTryTimeoutMs ?? 0;
    if (perTry > 0) this.#perTryTimer = setTimeout(this.#onPerTryTimeout, perTry);
    this.#attemptStartedAt = performance.now();
    dispatcher.dispatch(
      {
        path: this.#upstreamPath,
        method: this.#req.method as Dispatcher.HttpMethod,
        headers: headers.toFlat(),
        body: this.#bodyForAttempt(),
        idempotent: false,
        blocking: false,
      },
      this,
    );
  }

  /** Ends the bookkeeping of the current attempt (exactly once per attempt). */
  #endAttempt(): void {
    if (!this.#attemptActive) return;
    this.#attemptActive = false;
    this.#trace?.endAttempt();
    const cluster = this.#cluster!;
    if (!this.#attemptConnected) {
      cluster.circuit.pendingRequests--;
      cluster.stats.upstreamRqPendingActive.add(-1);
    } else cluster.stats.upstreamRqActive.add(-1);
    this.#host!.activeRequests--;
    this.#attemptLoad?.active.add(-1);
    this.#attemptLoad = undefined;
    if (this.#perTryTimer !== undefined) clearTimeout(this.#perTryTimer);
    this.#perTryTimer = undefined;
    this.#abortAttempt = undefined;
    this.#resumeUpstream = undefined;
    if (this.#isRetry) {
      this.#isRetry = false;
      cluster.circuit.activeRetries--;
    }
  }

  // ------------------------------------------------------------ undici dispatch handler

  onConnect(abort: (err?: Error) => void): void {
    this.#abortAttempt = abort;
    if (this.#done) {
      abort(new Error('downstream request already finished'));
      return;
    }
    if (!this.#attemptConnected) {
      this.#attemptConnected = true;
      const cluster = this.#cluster!;
      cluster.circuit.pendingRequests--;
      cluster.stats.upstreamRqPendingActive.add(-1);
      cluster.stats.upstreamRqTotal.inc();
      cluster.stats.upstreamRqActive.add(1);
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.#done || !this.#attemptActive) return false;
    if (statusCode < 200) return true; // 1xx: the final response follows.
    this.#trace?.attemptStatus(statusCode);
    this.#cluster!.reportOutcome(this.#host!, statusCode);
    this.#resumeUpstream = resume;
    if (this.#shouldRetryStatus(statusCode)) {
      this.#cluster!.stats.retryUpstreamRq.record(statusCode);
      // Keep the connection: read and drop this response's body, retry once it is complete.
      this.#discarding = true;
      this.#pendingRetryReason = 'status';
      return true;
    }
    const res = this.#res;
    const headers = new HeaderMap();
    copyForwardableHeaders(rawHeaders, headers);
    const hcm = this.#chain.hcm;
    if (hcm.serverHeaderTransformation === 'OVERWRITE') {
      if (hcm.serverName !== '') headers.set('server', hcm.serverName);
      else headers.remove('server');
    } else if (hcm.serverHeaderTransformation === 'APPEND_IF_ABSENT' && hcm.serverName !== '') {
      if (!headers.has('server')) headers.append('server', hcm.serverName);
    }
    if (hcm.via !== '') headers.append('via', hcm.via);
    const match = this.#match!;
    if (match.hasHeaderMutations)
      match.applyResponseHeaders(headers, this.#formatContext(this.#routeRequest.headers));
    // Envoy's router adds the generated hash cookie to the upstream response.
    if (this.#generatedCookies !== undefined)
      for (const cookie of this.#generatedCookies)
        headers.append('set-cookie', formatHashCookie(cookie));
    this.#status = statusCode;
    this.#responseHeaders = headers;
    this.#responseStartMs = performance.now() - this.#startedAt;
    const contentLength = headers.get('content-length');
    this.#responseBytesLeft =
      contentLength !== undefined && /^\d{1,15}$/.test(contentLength) ? Number(contentLength) : -1;
    if (this.#http2) {
      const object: Record<string, string | string[]> = {};
      for (let i = 0; i < headers.names.length; i++) {
        const name = headers.names[i]!;
        const existing = object[name];
        const value = headers.values[i]!;
        if (existing === undefined) object[name] = value;
        else if (Array.isArray(existing)) existing.push(value);
        else object[name] = [existing, value];
      }
      res.writeHead(statusCode, object);
    } else {
      (res as { writeHead(status: number, headers: string[]): unknown }).writeHead(
        statusCode,
        headers.toFlat(),
      );
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#discarding) return true;
    if (this.#done) return false;
    this.#bytesSent += chunk.length;
    if (this.#responseBytesLeft >= 0) {
      this.#responseBytesLeft -= chunk.length;
      if (this.#responseBytesLeft === 0) {
        // The last chunk: end with it, so headers and body leave in one write (no separate
        // write + end round through the stream machinery). onComplete follows in this tick.
        this.#responseEnded = true;
        (this.#res as { end(chunk: Buffer): unknown }).end(chunk);
        return true;
      }
    }
    const writable = (this.#res as { write(chunk: Buffer): boolean }).write(chunk);
    if (!writable) this.#res.once('drain', this.#onDownstreamDrain);
    return writable;
  }

  readonly #onDownstreamDrain = (): void => {
    this.#resumeUpstream?.();
  };

  onComplete(): void {
    if (this.#discarding) {
      this.#endAttempt();
      this.#scheduleRetry();
      return;
    }
    this.#endAttempt();
    if (this.#done) return;
    if (!this.#responseEnded) this.#res.end();
    this.#finish(this.#status, undefined);
  }

  onError(err: Error): void {
    if (this.#attemptActive) this.#trace?.attemptError(err);
    const wasConnected = this.#attemptConnected;
    const attemptWasActive = this.#attemptActive;
    this.#endAttempt();
    if (this.#done || !attemptWasActive) return;
    const cluster = this.#cluster!;
    if (this.#discarding) {
      // The retriable response broke while being dropped: retry all the same.
      this.#scheduleRetry();
      return;
    }
    if (this.#responseEnded) {
      // The whole announced body was delivered; a failure after that does not concern it.
      this.#finish(this.#status, undefined);
      return;
    }
    if (this.#res.headersSent) {
      // Mid-body failure: the only honest signal left is to reset the downstream stream.
      cluster.stats.upstreamRqReset.inc();
      this.#finish(this.#status, ResponseFlag.UPSTREAM_CONNECTION_TERMINATION);
      this.#res.destroy();
      return;
    }
    const kind: FailureKind =
      this.#pendingRetryReason === 'timeout'
        ? 'timeout'
        : !wasConnected && isConnectError(err)
          ? 'connect-failure'
          : !wasConnected && (err as NodeJS.ErrnoException).code === 'UND_ERR_SOCKET'
            ? 'connect-failure'
            : 'reset';
    this.#pendingRetryReason = undefined;
    this.#transportFailure = (err as NodeJS.ErrnoException).code ?? err.message;
    cluster.reportOutcome(this.#host!, kind);
    if (kind === 'connect-failure') cluster.stats.upstreamCxConnectFail.inc();
    if (this.#canRetry(kind)) {
      this.#scheduleRetry();
      return;
    }
    if (kind === 'timeout') {
      cluster.stats.upstreamRqTimeout.inc();
      this.#reply(504, LOCAL_REPLY_BODY.timeout, ResponseFlag.UPSTREAM_REQUEST_TIMEOUT);
    } else if (kind === 'connect-failure') {
      this.#reply(503, LOCAL_REPLY_BODY.connectFailure, ResponseFlag.UPSTREAM_CONNECTION_FAILURE);
    } else {
      cluster.stats.upstreamRqReset.inc();
      this.#reply(503, LOCAL_REPLY_BODY.reset, ResponseFlag.UPSTREAM_CONNECTION_TERMINATION);
    }
  }

  // ------------------------------------------------------------ retries and timeouts

  #retriesLeft(): boolean {
    const policy = this.#retryPolicy;
    return policy !== undefined && this.#attempts <= policy.numRetries && this.#bodyReplayable();
  }

  #shouldRetryStatus(status: number): boolean {
    const policy = this.#retryPolicy;
    if (policy === undefined || !this.#retriesLeft()) return false;
    const on = policy.retryOn;
    const retriable =
      (status >= 500 && on.includes('5xx')) ||
      ((status === 502 || status === 503 || status === 504) && on.includes('gateway-error')) ||
      (on.includes('retriable-status-codes') && policy.retriableStatusCodes.includes(status));
    return retriable && this.#reserveRetry();
  }

  #canRetry(kind: FailureKind): boolean {
    const policy = this.#retryPolicy;
    if (policy === undefined || !this.#retriesLeft()) return false;
    const on = policy.retryOn;
    // Envoy's RetryStateImpl::wouldRetryFromReset: a per-try timeout is a local reset, and any
    // reset (connect failures included) is retried under reset, 5xx and gateway-error.
    const retriable =
      on.includes('reset') ||
      on.includes('5xx') ||
      on.includes('gateway-error') ||
      (kind === 'connect-failure' && on.includes('connect-failure'));
    return retriable && this.#reserveRetry();
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
    const policy = this.#retryPolicy!;
    const base = policy.backoffBaseMs > 0 ? policy.backoffBaseMs : DEFAULT_BACKOFF_BASE_MS;
    const max = policy.backoffMaxMs > 0 ? policy.backoffMaxMs : base * 10;
    // Envoy's JitteredExponentialBackOffStrategy: uniform in [0, min(base * 2^(n-1), max)].
    const ceiling = Math.min(base * 2 ** Math.max(0, this.#attempts - 1), max);
    const delay = Math.floor(Math.random() * ceiling);
    cluster.circuit.activeRetries++;
    this.#backoffTimer = setTimeout(this.#retryNow, delay);
  }

  readonly #retryNow = (): void => {
    this.#backoffTimer = undefined;
    if (this.#done) {
      this.#cluster!.circuit.activeRetries--;
      return;
    }
    this.#isRetry = true;
    this.#attempt();
    // #attempt may have answered locally without dispatching; release the retry slot then.
    if (!this.#attemptActive && this.#isRetry) {
      this.#isRetry = false;
      this.#cluster!.circuit.activeRetries--;
    }
  };

  readonly #onPerTryTimeout = (): void => {
    this.#perTryTimer = undefined;
    this.#cluster!.stats.upstreamRqPerTryTimeout.inc();
    if (this.#res.headersSent) {
      // Envoy's per-try timeout only applies before the response starts.
      return;
    }
    this.#pendingRetryReason = 'timeout';
    this.#abortAttempt?.(new Error('per-try timeout'));
  };

  readonly #onRouteTimeout = (): void => {
    this.#routeTimer = undefined;
    this.#cluster?.stats.upstreamRqTimeout.inc();
    if (this.#attemptActive) this.#cluster!.reportOutcome(this.#host!, 'timeout');
    // End the attempt first: undici may call onError synchronously from abort().
    const abort = this.#abortAttempt;
    this.#endAttempt();
    abort?.(new Error('route timeout'));
    this.#reply(504, LOCAL_REPLY_BODY.timeout, ResponseFlag.UPSTREAM_REQUEST_TIMEOUT);
  };

  readonly #onDownstreamClose = (): void => {
    if (this.#done) return;
    // The client went away before the response completed.
    const abort = this.#abortAttempt;
    this.#endAttempt();
    abort?.(new Error('downstream closed'));
    this.#finish(this.#status || 0, ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION);
  };

  // ------------------------------------------------------------ completion

  #reply(
    status: number,
    body: string,
    flag: ResponseFlagCode | undefined,
    match?: RouteMatchResult,
    extraHeaders?: Record<string, string>,
  ): void {
    if (this.#done) return;
    this.#finish(status, flag);
    if (match?.hasHeaderMutations === true) {
      const headers = new HeaderMap();
      for (const [name, value] of Object.entries(extraHeaders ?? {})) headers.set(name, value);
      match.applyResponseHeaders(headers, this.#formatContext(this.#routeRequest.headers));
      extraHeaders = {};
      for (let i = 0; i < headers.names.length; i++)
        extraHeaders[headers.names[i]!] = headers.values[i]!;
    }
    if (this.#req.method === 'HEAD') body = '';
    this.#bytesSent = Buffer.byteLength(body);
    this.#responseStartMs = performance.now() - this.#startedAt;
    sendLocalReply(this.#res, status, body, extraHeaders);
  }

  #finish(status: number, flag: ResponseFlagCode | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#status = status;
    this.#flags = flag;
    if (this.#routeTimer !== undefined) clearTimeout(this.#routeTimer);
    if (this.#backoffTimer !== undefined) {
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      this.#cluster!.circuit.activeRetries--;
    }
    if (this.#hasBody) {
      this.#req.off('data', this.#onBodyData);
      this.#req.resume(); // let Node read (and drop) the rest of an unsent body
    }
    const durationMs = performance.now() - this.#startedAt;
    const chain = this.#chain;
    if (status > 0) chain.downstreamRq.record(status, this.#match);
    chain.downstreamRqTime.observe(durationMs);
    chain.downstreamRqActive.add(-1);
    const cluster = this.#cluster;
    if (cluster !== undefined) {
      cluster.circuit.activeRequests--;
      if (status > 0 && flag === undefined) {
        cluster.stats.upstreamRq.record(status);
        cluster.stats.upstreamRqTime.observe(performance.now() - this.#attemptStartedAt);
      }
    }
    if (chain.tracer !== undefined)
      (this.#trace ??= chain.tracer.begin(this.#req, undefined, this.#startedAt)).finish(
        status,
        flag,
        this.#requestId,
        cluster?.name ?? '',
      );
    const accessLog = this.#scope.accessLog;
    if (accessLog !== undefined) {
      accessLog({
        listener: chain.listenerName,
        method: this.#routeRequest.method,
        authority: this.#routeRequest.authority,
        path: this.#routeRequest.path,
        protocol: this.#http2 ? 'HTTP/2' : `HTTP/${this.#req.httpVersion}`,
        status,
        responseFlags: flag ?? '-',
        durationMs,
        route: this.#match?.route.name ?? '',
        cluster: cluster?.name ?? '',
        upstreamHost: this.#host?.key ?? '',
        requestId: this.#requestId,
        attempts: this.#attempts,
        statPrefix: chain.hcm.statPrefix,
        startTimeMs: performance.timeOrigin + this.#startedAt,
        bytesReceived: this.#bodyBytes,
        bytesSent: this.#bytesSent,
        requestDurationMs:
          this.#requestEndMs >= 0 ? this.#requestEndMs : this.#hasBody ? undefined : 0,
        responseDurationMs: this.#responseStartMs >= 0 ? this.#responseStartMs : undefined,
        requestHeaders: this.#req.headers,
        responseHeaders: this.#responseHeaders,
        // HTTP/2: the session's socket (req.socket is a new proxy object per stream).
        socket: this.#http2
          ? ((this.#req as Http2ServerRequest).stream.session?.socket ?? this.#req.socket)
          : this.#req.socket,
        upstreamTransportFailureReason: this.#transportFailure,
        traceId: this.#trace?.traceId,
      });
    }
  }

  /** The response flag recorded for this request (tests, access log). */
  get responseFlag(): ResponseFlagCode | undefined {
    return this.#flags;
  }
}
