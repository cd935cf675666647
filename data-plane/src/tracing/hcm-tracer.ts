/**
 * HcmTracer: the tracing of one HttpConnectionManager, compiled per config (tracing-manager.ts),
 * and RequestTrace, what one downstream request does with it. The connection manager calls
 * `HcmTracer.begin` once the route is known, the router the RequestTrace hooks per upstream
 * attempt, and the connection manager `finish` once. Unsampled requests get an UnsampledTrace: it only injects a `traceparent` with
 * flags 00 (same trace id as the incoming one, if any) and builds no span or attribute object.
 *
 * Spans follow the OpenTelemetry HTTP semantic conventions (server span per request, client span
 * per upstream attempt when spawn_upstream_span is set), plus Envoy's `upstream_cluster`,
 * `response_flags` and `guid:x-request-id` tags.
 */
import type { Attributes } from '@opentelemetry/api';
import type { RouteModel, TracingModel, CustomTagModel } from '../config/model.js';
import type { HeaderMap, RequestHeaderMap } from '../http/header-map.js';
import type { DownstreamConnectionInfo } from '../http/codec/codec.js';
import type { HeaderLookup } from '../router/header-mutations.js';
import { newSpanId, newTraceId } from './ids.js';
import { decideSampling, type RandomSource } from './sampling.js';
import { ProxySpan, type SpanEventInit, type SpanOrigin } from './span.js';
import { extractTraceContext, formatTraceparent, type ParentContext } from './trace-context.js';

/** Where an HcmTracer's finished spans go (a SpanBatcher and its resource). */
export interface SpanSink {
  readonly origin: SpanOrigin;
  add(span: ProxySpan): void;
}

/** The per-request hooks (see the module comment). */
export interface RequestTrace {
  /** The request's trace id (hex), sampled or not: the caller's, or the one this proxy made. */
  readonly traceId: string;
  /** Before each upstream attempt: sets traceparent/tracestate on the upstream request. */
  startAttempt(headers: HeaderMap, host: string, port: number, clusterName: string): void;
  /** The attempt's final response status. */
  attemptStatus(status: number): void;
  /** The attempt failed at the transport level (connect failure, reset, timeout). */
  attemptError(err: Error): void;
  /** The attempt is over (exactly once per startAttempt). */
  endAttempt(): void;
  /**
   * True when the request's server span is recorded: only then is addEvent worth calling (a
   * filter checks this before it builds an event's attributes).
   */
  readonly sampled: boolean;
  /**
   * Adds an event to the request's server span (no-op unless sampled). Call before the stream
   * ends (filters: at the latest in onDestroy, which runs before the span is emitted).
   */
  addEvent(name: string, attributes: Attributes): void;
  /** The downstream request is over; status 0 = no response was sent. */
  finish(
    status: number,
    responseFlag: string | undefined,
    requestId: string,
    cluster: string,
  ): void;
}

class UnsampledTrace implements RequestTrace {
  readonly #traceparent: string;
  readonly #traceState: string;

  constructor(traceparent: string, traceState: string) {
    this.#traceparent = traceparent;
    this.#traceState = traceState;
  }

  get traceId(): string {
    // "00-<trace id>-<span id>-00": built by formatTraceparent, so always well formed.
    return this.#traceparent.slice(3, 35);
  }

  startAttempt(headers: HeaderMap): void {
    headers.set('traceparent', this.#traceparent);
    if (this.#traceState !== '') headers.set('tracestate', this.#traceState);
  }

  get sampled(): boolean {
    return false;
  }

  addEvent(): void {}
  attemptStatus(): void {}
  attemptError(): void {}
  endAttempt(): void {}
  finish(): void {}
}

function errorTypeOf(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code !== '') return code;
  return err.message.includes('timeout') ? 'timeout' : err.name;
}

class SampledTrace implements RequestTrace {
  readonly #tracer: HcmTracer;
  readonly #req: RequestHeaderMap;
  readonly #connection: DownstreamConnectionInfo;
  readonly #routeTags: readonly CustomTagModel[] | undefined;
  readonly #traceId: string;

  get traceId(): string {
    return this.#traceId;
  }

  get sampled(): boolean {
    return true;
  }

  readonly #spanId = newSpanId();
  /** Events of the server span; allocated by the first addEvent. */
  #events: SpanEventInit[] | undefined;
  readonly #parentSpanId: string;
  readonly #traceState: string;
  readonly #startMs: number;
  #attempts = 0;
  #attemptSpanId = '';
  #attemptStartMs = 0;
  #attemptStatus = 0;
  #attemptErrorType = '';
  #attemptHost = '';
  #attemptPort = 0;
  #attemptCluster = '';

  constructor(
    tracer: HcmTracer,
    req: RequestHeaderMap,
    connection: DownstreamConnectionInfo,
    route: RouteModel | undefined,
    traceId: string,
    parentSpanId: string,
    traceState: string,
    startMs: number,
  ) {
    this.#tracer = tracer;
    this.#req = req;
    this.#connection = connection;
    this.#routeTags = route?.tracing?.customTags;
    this.#traceId = traceId;
    this.#parentSpanId = parentSpanId;
    this.#traceState = traceState;
    this.#startMs = startMs;
  }

  startAttempt(headers: HeaderMap, host: string, port: number, clusterName: string): void {
    let parent = this.#spanId;
    if (this.#tracer.model.spawnUpstreamSpan) {
      this.#attempts++;
      this.#attemptSpanId = parent = newSpanId();
      this.#attemptStartMs = performance.now();
      this.#attemptStatus = 0;
      this.#attemptErrorType = '';
      this.#attemptHost = host;
      this.#attemptPort = port;
      this.#attemptCluster = clusterName;
    }
    headers.set('traceparent', formatTraceparent(this.#traceId, parent, true));
    if (this.#traceState !== '') headers.set('tracestate', this.#traceState);
  }

  addEvent(name: string, attributes: Attributes): void {
    (this.#events ??= []).push({ name, attributes, timeMs: performance.now() });
  }

  attemptStatus(status: number): void {
    this.#attemptStatus = status;
  }

  attemptError(err: Error): void {
    this.#attemptErrorType = errorTypeOf(err);
  }

  endAttempt(): void {
    if (this.#attemptSpanId === '') return;
    const origin = this.#tracer.originOrDrop();
    if (origin === undefined) {
      this.#attemptSpanId = '';
      return;
    }
    const status = this.#attemptStatus;
    const attributes: Attributes = {
      'http.request.method': this.#req.method,
      'server.address': this.#attemptHost,
      'server.port': this.#attemptPort,
      'network.peer.address': this.#attemptHost,
      upstream_cluster: this.#attemptCluster,
    };
    if (status > 0) attributes['http.response.status_code'] = status;
    if (this.#attempts > 1) attributes['http.request.resend_count'] = this.#attempts - 1;
    // No final status: the attempt failed or was abandoned (route timeout, downstream gone).
    const error = status >= 500 || status === 0;
    if (error)
      attributes['error.type'] =
        status >= 500 ? String(status) : this.#attemptErrorType || 'aborted';
    this.#tracer.emit(
      new ProxySpan(origin, {
        name: this.#req.method,
        kind: 'client',
        traceId: this.#traceId,
        spanId: this.#attemptSpanId,
        parentSpanId: this.#spanId,
        parentIsRemote: false,
        traceState: this.#traceState,
        startMs: this.#attemptStartMs,
        endMs: performance.now(),
        attributes,
        error,
      }),
    );
    this.#attemptSpanId = '';
  }

  finish(
    status: number,
    responseFlag: string | undefined,
    requestId: string,
    cluster: string,
  ): void {
    const origin = this.#tracer.originOrDrop();
    if (origin === undefined) return;
    const req = this.#req;
    const method = req.method;
    const url = req.path;
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const maxPath = this.#tracer.model.maxPathTagLength;
    const connection = this.#connection;
    const authority = req.authority;
    const portAt = authority.lastIndexOf(':');
    const hasPort = portAt > authority.lastIndexOf(']') && portAt >= 0;
    const attributes: Attributes = {
      'http.request.method': method,
      'url.path': path.length > maxPath ? path.slice(0, maxPath) : path,
      'url.scheme': connection.encrypted ? 'https' : 'http',
      'server.address': hasPort ? authority.slice(0, portAt) : authority,
      'network.protocol.version': req.protocol === 'HTTP/2' ? '2' : req.protocol.slice(5),
      component: 'proxy',
    };
    if (hasPort) {
      const port = Number(authority.slice(portAt + 1));
      if (Number.isInteger(port)) attributes['server.port'] = port;
    }
    if (queryAt >= 0) attributes['url.query'] = url.slice(queryAt + 1);
    const peer = connection.socket.remoteAddress;
    if (peer !== undefined) attributes['network.peer.address'] = peer;
    const userAgent = req.get('user-agent');
    if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
    const id = requestId !== '' ? requestId : req.get('x-request-id');
    if (typeof id === 'string' && id !== '') attributes['guid:x-request-id'] = id;
    if (status > 0) attributes['http.response.status_code'] = status;
    if (cluster !== '') attributes.upstream_cluster = cluster;
    if (responseFlag !== undefined) attributes.response_flags = responseFlag;
    const error = status >= 500 || status === 0;
    if (error)
      attributes['error.type'] = status >= 500 ? String(status) : (responseFlag ?? '_OTHER');
    this.#tracer.applyCustomTags(attributes, req, this.#routeTags);
    this.#tracer.emit(
      new ProxySpan(origin, {
        name: method,
        kind: 'server',
        traceId: this.#traceId,
        spanId: this.#spanId,
        parentSpanId: this.#parentSpanId,
        parentIsRemote: true,
        traceState: this.#traceState,
        startMs: this.#startMs,
        endMs: performance.now(),
        attributes,
        error,
        ...(this.#events !== undefined ? { events: this.#events } : {}),
      }),
    );
  }
}

function setTag(attributes: Attributes, tag: CustomTagModel, headers: HeaderLookup): void {
  if (tag.kind === 'literal') {
    attributes[tag.tag] = tag.value;
    return;
  }
  const text = headers.get(tag.name);
  if (text !== undefined) attributes[tag.tag] = text;
  else if (tag.defaultValue !== '') attributes[tag.tag] = tag.defaultValue;
}

export class HcmTracer {
  readonly model: TracingModel;
  readonly #sink: SpanSink | undefined;
  readonly #random: RandomSource;
  readonly #onDropped: (count: number) => void;

  /**
   * `sink` undefined: the collector cluster has no usable endpoint; requests are still sampled
   * and propagated, their spans counted as dropped.
   */
  constructor(
    model: TracingModel,
    sink: SpanSink | undefined,
    random: RandomSource,
    onDropped: (count: number) => void,
  ) {
    this.model = model;
    this.#sink = sink;
    this.#random = random;
    this.#onDropped = onDropped;
  }

  /** The origin of emitted spans, or undefined when they have nowhere to go (counted dropped). */
  originOrDrop(): SpanOrigin | undefined {
    if (this.#sink !== undefined) return this.#sink.origin;
    this.#onDropped(1);
    return undefined;
  }

  /** Called once per downstream request, when its route is known (undefined: none matched). */
  begin(
    req: RequestHeaderMap,
    connection: DownstreamConnectionInfo,
    route: RouteModel | undefined,
    startMs: number,
  ): RequestTrace {
    const headers = req;
    const parent = extractTraceContext(headers);
    const override = route?.tracing;
    const model = this.model;
    const sampled = decideSampling(
      parent?.sampled,
      headers.get('x-client-trace-id') !== undefined,
      {
        client: override?.clientSamplingPercent ?? model.clientSamplingPercent,
        random: override?.randomSamplingPercent ?? model.randomSamplingPercent,
        overall: override?.overallSamplingPercent ?? model.overallSamplingPercent,
      },
      this.#random,
    );
    const remote =
      parent !== undefined && parent.traceId !== '' ? (parent as ParentContext) : undefined;
    const traceId = remote !== undefined ? remote.traceId : newTraceId();
    const traceState = remote !== undefined ? remote.traceState : '';
    if (!sampled) {
      // Not participating: pass the downstream's span on as the parent, or start a trace id.
      const spanId = remote !== undefined ? remote.spanId : newSpanId();
      return new UnsampledTrace(formatTraceparent(traceId, spanId, false), traceState);
    }
    return new SampledTrace(
      this,
      req,
      connection,
      route,
      traceId,
      remote !== undefined ? remote.spanId : '',
      traceState,
      startMs,
    );
  }

  /** Only after originOrDrop() returned an origin. */
  emit(span: ProxySpan): void {
    this.#sink?.add(span);
  }

  /** HCM custom_tags, then the route's (a route tag replaces the HCM tag of the same name). */
  applyCustomTags(
    attributes: Attributes,
    headers: HeaderLookup,
    routeTags: readonly CustomTagModel[] | undefined,
  ): void {
    for (const tag of this.model.customTags) setTag(attributes, tag, headers);
    if (routeTags !== undefined) for (const tag of routeTags) setTag(attributes, tag, headers);
  }
}
