/**
 * Trace context propagation on the request path: W3C Trace Context (`traceparent`,
 * `tracestate`) extracted and injected, B3 (`b3` single header, `x-b3-*` multi headers) accepted
 * on extraction. Hand-written rather than through @opentelemetry/core's propagators because these
 * run for every request of a traced HCM, sampled or not, and the propagator API allocates a
 * Context, a carrier getter and a SpanContext per call; here a request without trace headers costs
 * a few property reads.
 */
import type { HeaderLookup } from '../router/header-mutations.js';

/** An incoming trace context (the downstream's span is our server span's parent). */
export interface ParentContext {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** The upstream's sampling decision; undefined = deferred (B3 without a sampling state). */
  readonly sampled: boolean | undefined;
  /** The raw `tracestate` value to pass on ("" = none). */
  readonly traceState: string;
}

/**
 * A sampling decision without a parent span (B3 `b3: 0`, `b3: 1`, `b3: d` or `x-b3-sampled`
 * alone): the downstream decided, but the trace starts here.
 */
export interface DecisionOnly {
  readonly traceId: '';
  readonly sampled: boolean;
}

const HEX_32 = /^[0-9a-f]{32}$/;
const HEX_16 = /^[0-9a-f]{16}$/;
const HEX_2 = /^[0-9a-f]{2}$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

function single(value: string | undefined): string | undefined {
  // A repeated traceparent/b3 header comes back joined with ',' and fails to parse: invalid
  // (W3C: "vendors MUST discard it").
  return value;
}

/**
 * W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header): version 00 is exactly
 * `00-<32 hex>-<16 hex>-<2 hex>`; a higher version may append `-...` fields, which are ignored;
 * version ff, all-zero ids and upper-case hex are invalid.
 */
export function parseTraceparent(
  value: string,
): { traceId: string; spanId: string; sampled: boolean } | undefined {
  if (value.length < 55) return undefined;
  const version = value.slice(0, 2);
  if (!HEX_2.test(version) || version === 'ff') return undefined;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-')
    return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!HEX_32.test(traceId) || !HEX_16.test(spanId) || !HEX_2.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

function b3Sampled(value: string | undefined): boolean | undefined {
  if (value === '1' || value === 'd' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  return undefined;
}

/** B3 trace ids may be 64-bit; W3C needs 128 (left-padded with zeros, as B3 specifies). */
function b3TraceId(value: string): string | undefined {
  const id = value.toLowerCase();
  if (HEX_32.test(id)) return id === ZERO_TRACE ? undefined : id;
  if (HEX_16.test(id)) return id === ZERO_SPAN ? undefined : ZERO_SPAN + id;
  return undefined;
}

function b3SpanId(value: string): string | undefined {
  const id = value.toLowerCase();
  return HEX_16.test(id) && id !== ZERO_SPAN ? id : undefined;
}

/**
 * B3 single header (https://github.com/openzipkin/b3-propagation#single-header):
 * `{traceId}-{spanId}[-{sampling}[-{parentSpanId}]]`, or the sampling state alone.
 */
export function parseB3Single(value: string): ParentContext | DecisionOnly | undefined {
  if (value.length <= 5) {
    const sampled = b3Sampled(value);
    return sampled === undefined ? undefined : { traceId: '', sampled };
  }
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0]!);
  const spanId = b3SpanId(parts[1]!);
  if (traceId === undefined || spanId === undefined) return undefined;
  let sampled: boolean | undefined;
  if (parts.length >= 3) {
    sampled = b3Sampled(parts[2]);
    if (sampled === undefined) return undefined;
  }
  return { traceId, spanId, sampled, traceState: '' };
}

/** B3 multi headers: x-b3-traceid, x-b3-spanid, x-b3-sampled, x-b3-flags (1 = debug). */
export function parseB3Multi(headers: HeaderLookup): ParentContext | DecisionOnly | undefined {
  const flags = single(headers.get('x-b3-flags'));
  const sampled = flags === '1' ? true : b3Sampled(single(headers.get('x-b3-sampled')));
  const rawTrace = single(headers.get('x-b3-traceid'));
  const rawSpan = single(headers.get('x-b3-spanid'));
  if (rawTrace === undefined || rawSpan === undefined)
    return sampled === undefined ? undefined : { traceId: '', sampled };
  const traceId = b3TraceId(rawTrace);
  const spanId = b3SpanId(rawSpan);
  if (traceId === undefined || spanId === undefined)
    return sampled === undefined ? undefined : { traceId: '', sampled };
  return { traceId, spanId, sampled, traceState: '' };
}

/**
 * The trace context of a downstream request: traceparent (+ tracestate) if valid, else B3 single,
 * else B3 multi. Undefined when there is none (the common case costs three property reads).
 */
export function extractTraceContext(
  headers: HeaderLookup,
): ParentContext | DecisionOnly | undefined {
  const traceparent = single(headers.get('traceparent'));
  if (traceparent !== undefined) {
    const parsed = parseTraceparent(traceparent);
    if (parsed !== undefined) {
      const traceState = headers.get('tracestate') ?? '';
      return { ...parsed, traceState };
    }
  }
  const b3 = single(headers.get('b3'));
  if (b3 !== undefined) {
    const parsed = parseB3Single(b3);
    if (parsed !== undefined) return parsed;
  }
  if (headers.get('x-b3-traceid') !== undefined || headers.get('x-b3-sampled') !== undefined)
    return parseB3Multi(headers);
  return undefined;
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}
