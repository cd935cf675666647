/**
 * ProxySpan: a finished span as the OTLP exporters read it (sdk-trace's ReadableSpan), built by
 * the request path only for sampled requests. Deliberately not the SDK's Span: that one carries a
 * tracer, a span processor chain, limits checks and an HrTime clock per span; ferry-proxy creates
 * a span only when it has ended, with plain fields, and converts times and contexts lazily when an
 * export serialises it (off the request path).
 */
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanStatus,
} from '@opentelemetry/api';
import { TraceState, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const ERROR: SpanStatus = Object.freeze({ code: SpanStatusCode.ERROR });

/** performance.now() milliseconds → HrTime since the epoch. */
function hrTime(monotonicMs: number): HrTime {
  const epochMs = performance.timeOrigin + monotonicMs;
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

/** An event of a span as the request path records it (time: a performance.now() value). */
export interface SpanEventInit {
  readonly name: string;
  readonly attributes: Attributes;
  readonly timeMs: number;
}

/** What every span of one exporter shares (one object: the OTLP encoder groups by identity). */
export interface SpanOrigin {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
}

export class ProxySpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
  readonly links = NO_LINKS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly #traceId: string;
  readonly #spanId: string;
  readonly #parentSpanId: string;
  readonly #parentIsRemote: boolean;
  readonly #traceState: string;
  readonly #startMs: number;
  readonly #endMs: number;
  readonly #error: boolean;
  readonly #events: readonly SpanEventInit[] | undefined;

  constructor(
    origin: SpanOrigin,
    init: {
      readonly name: string;
      readonly kind: 'server' | 'client';
      readonly traceId: string;
      readonly spanId: string;
      /** "" for a root span. */
      readonly parentSpanId: string;
      /** The parent came from the downstream (true) or is our own server span (false). */
      readonly parentIsRemote: boolean;
      readonly traceState: string;
      /** performance.now() values. */
      readonly startMs: number;
      readonly endMs: number;
      readonly attributes: Attributes;
      readonly error: boolean;
      /** Events in the order added (absent: none). */
      readonly events?: readonly SpanEventInit[];
    },
  ) {
    this.resource = origin.resource;
    this.instrumentationScope = origin.scope;
    this.name = init.name;
    this.kind = init.kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT;
    this.#traceId = init.traceId;
    this.#spanId = init.spanId;
    this.#parentSpanId = init.parentSpanId;
    this.#parentIsRemote = init.parentIsRemote;
    this.#traceState = init.traceState;
    this.#startMs = init.startMs;
    this.#endMs = init.endMs;
    this.attributes = init.attributes;
    this.#error = init.error;
    this.#events = init.events;
  }

  /** Converted when an export reads them (off the request path). */
  get events(): TimedEvent[] {
    const events = this.#events;
    if (events === undefined) return NO_EVENTS;
    return events.map((e) => ({ name: e.name, attributes: e.attributes, time: hrTime(e.timeMs) }));
  }

  spanContext(): SpanContext {
    return {
      traceId: this.#traceId,
      spanId: this.#spanId,
      traceFlags: TraceFlags.SAMPLED,
      ...(this.#traceState !== '' ? { traceState: new TraceState(this.#traceState) } : {}),
    };
  }

  get parentSpanContext(): SpanContext | undefined {
    if (this.#parentSpanId === '') return undefined;
    return {
      traceId: this.#traceId,
      spanId: this.#parentSpanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: this.#parentIsRemote,
    };
  }

  get status(): SpanStatus {
    return this.#error ? ERROR : UNSET;
  }

  get startTime(): HrTime {
    return hrTime(this.#startMs);
  }

  get endTime(): HrTime {
    return hrTime(this.#endMs);
  }

  get duration(): HrTime {
    const ms = Math.max(0, this.#endMs - this.#startMs);
    const seconds = Math.floor(ms / 1000);
    return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
  }
}
