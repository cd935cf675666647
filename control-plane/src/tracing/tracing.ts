/**
 * The control plane's tracing (docs/architecture.md, "Observability"): what the API, the snapshot
 * cache and the xDS streams need to record the life of a write, apply → validate → store.commit →
 * snapshot.build → xds.push (one per node and type, ended by its ACK or NACK).
 *
 * Components take an optional `Tracer`; when tracing is off they get none and do no span work at
 * all. tracing-otlp.ts builds the real one (OpenTelemetry SDK, OTLP export).
 *
 * How the apply's context reaches the push: the API commits inside a context that carries the
 * apply span (`withApplySpan`). The store delivers a local commit's watch event on a microtask
 * queued by the commit (store-watch-hub.ts), so the snapshot cache's watch callback runs in that
 * context and reads it with `applySpanContext()`. Every API write commits with an expected
 * revision, so no other API write can commit between a commit and the delivery of its event.
 * Commits by other processes arrive from the store's poll timer, and the control plane's own
 * records (health quorum reports), without an apply span. Such a commit landing before the
 * delivery of an apply's is delivered in the same context as it (best effort: the build it
 * triggers may be attributed to that apply, or the apply's may lose its link; both rare).
 */
import {
  context,
  createContextKey,
  defaultTextMapGetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

export interface ControlPlaneTracing {
  readonly tracer: Tracer;
  /** Exports the spans still queued (bounded by the export timeout) and stops; idempotent. */
  shutdown(): Promise<void>;
}

const APPLY_SPAN = createContextKey('ferry.apply_span');

/** `parent` with the apply (or delete, rollback) span that the next commit belongs to. */
export function withApplySpan(parent: Context, applySpan: SpanContext): Context {
  return parent.setValue(APPLY_SPAN, applySpan);
}

/** The span of the write whose commit is being delivered, if the active context carries one. */
export function applySpanContext(active: Context = context.active()): SpanContext | undefined {
  return active.getValue(APPLY_SPAN) as SpanContext | undefined;
}

/** Span attribute names used by the control plane (Ferry-specific, so under `ferry.`/`xds.`). */
export const ATTR = {
  group: 'ferry.group',
  resources: 'ferry.resources',
  dryRun: 'ferry.dry_run',
  revision: 'ferry.revision',
  outcome: 'ferry.outcome',
  errors: 'ferry.errors',
  types: 'ferry.types',
  nodeId: 'xds.node.id',
  typeUrl: 'xds.type_url',
  version: 'xds.version',
  nonce: 'xds.nonce',
  stream: 'xds.stream',
  pushResources: 'xds.resources',
  pushOutcome: 'xds.outcome',
  nackError: 'xds.nack.error',
} as const;

const W3C = new W3CTraceContextPropagator();

/**
 * The context of an incoming W3C `traceparent`/`tracestate` (HTTP headers or gRPC metadata, keys
 * lower case), so that ferryctl or a CI job can be an apply's parent. ROOT_CONTEXT without one.
 */
export function incomingTraceContext(
  carrier: Readonly<Record<string, string | string[] | undefined>>,
): Context {
  return W3C.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

/**
 * The W3C `traceparent` value of a write's span, recorded with the revision it commits
 * (ApplyOptions.traceparent); undefined without a span or when it is not sampled (its trace is
 * exported nowhere, so nothing could link to it).
 */
export function traceparentOf(span: SpanContext | undefined): string | undefined {
  if (span === undefined || !isSpanContextValid(span)) return undefined;
  if ((span.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return `00-${span.traceId}-${span.spanId}-01`;
}

/** The (remote) span context of a stored `traceparent`; undefined when it does not parse. */
export function spanContextOfTraceparent(traceparent: string): SpanContext | undefined {
  return trace.getSpanContext(W3C.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter));
}

/** The trace id of a stored `traceparent` (version 00: `00-<trace-id>-<span-id>-<flags>`). */
export function traceIdOfTraceparent(traceparent: string): string | undefined {
  return spanContextOfTraceparent(traceparent)?.traceId;
}
