/**
 * Follows each xDS response from the write to its ACK or NACK: the push-to-ACK
 * latency histogram, and — when tracing is on — one `xds.push` span per response, linked to the
 * apply that caused it (PushOrigin) and ended by the answer: `xds.outcome` = ack, nack (status
 * ERROR with the error_detail), superseded (a newer response went out first) or disconnected.
 *
 * The state lives on the stream's per-type subscription (`PushState`), so tracking a push costs
 * two field writes and, with tracing on, the span itself; nothing else is allocated per push.
 * A recorded push also leaves its trace id there (the span's own string), which the fleet's
 * status rows show, so that the dashboard can link a proxy's last push to its trace.
 */
import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import type { XdsMetrics } from '../metrics/xds-metrics.js';
import { ATTR } from '../tracing/tracing.js';
import type { NodeHandle } from './fleet.js';
import type { PushOrigin } from './snapshot-tracing.js';

/** Per stream and type: the latest response not answered yet. */
export interface PushState {
  /** performance.now() when it was written; -1 when no response awaits an answer. */
  pushSentAt: number;
  /** Its span (tracing on). */
  pushSpan: Span | undefined;
  /** The trace id of the last push that was recorded (sampled); undefined before one. */
  pushTraceId: string | undefined;
}

/** Span options of a push whose snapshot has no origin (tracing was off when it was built). */
const UNLINKED: PushOrigin = { spanOptions: {} };

export class PushTracker {
  constructor(
    private readonly metrics: XdsMetrics,
    private readonly tracer: Tracer | undefined,
  ) {}

  /** A response (the last part of a split delta response) was written. */
  sent(
    state: PushState,
    handle: NodeHandle,
    stream: string,
    typeUrl: string,
    version: string,
    nonce: string,
    resources: number,
    origin: PushOrigin | undefined,
  ): void {
    state.pushSentAt = performance.now();
    if (!this.tracer) return;
    if (state.pushSpan) this.end(state, 'superseded');
    // A root of its own (not a child of whatever context is active): a push is its own trace,
    // linked to the applies it carries.
    const span = this.tracer.startSpan('xds.push', (origin ?? UNLINKED).spanOptions, ROOT_CONTEXT);
    state.pushSpan = span;
    if (!span.isRecording()) return;
    state.pushTraceId = span.spanContext().traceId;
    if (origin?.revision !== undefined) span.setAttribute(ATTR.revision, origin.revision);
    span.setAttribute(ATTR.nodeId, handle.node.id);
    span.setAttribute(ATTR.group, handle.group);
    span.setAttribute(ATTR.stream, stream);
    span.setAttribute(ATTR.typeUrl, typeUrl);
    span.setAttribute(ATTR.version, version);
    span.setAttribute(ATTR.nonce, nonce);
    span.setAttribute(ATTR.pushResources, resources);
  }

  /** The client ACKed the latest response of this type. */
  acked(state: PushState, typeUrl: string): void {
    if (state.pushSentAt < 0) return;
    this.metrics.pushAckSeconds(typeUrl).observe((performance.now() - state.pushSentAt) / 1000);
    state.pushSentAt = -1;
    if (state.pushSpan) this.end(state, 'ack');
  }

  /** The client NACKed it (error_detail). */
  nacked(state: PushState, error: string): void {
    state.pushSentAt = -1;
    const span = state.pushSpan;
    if (!span) return;
    span.setAttribute(ATTR.nackError, error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.end(state, 'nack');
  }

  /** The stream ended; an unanswered response never will be. */
  finished(state: PushState): void {
    state.pushSentAt = -1;
    if (state.pushSpan) this.end(state, 'disconnected');
  }

  private end(state: PushState, outcome: 'ack' | 'nack' | 'superseded' | 'disconnected'): void {
    const span = state.pushSpan!;
    state.pushSpan = undefined;
    span.setAttribute(ATTR.pushOutcome, outcome);
    span.end();
  }
}
