/**
 * What an access log line is formatted from: the request path's AccessLogEntry
 * (http/proxy-runtime.ts). Its optional fields are rendered as "not available" ("-" in text, null
 * in JSON, as Envoy does) when absent, so other producers of entries need only fill what they know.
 */
import type { AccessLogEntry } from '../http/proxy-runtime.js';

/** %TRACE_ID% is the entry's `traceId` when tracing gave one, else read from `traceparent`. */
export type AccessLogRecord = AccessLogEntry;
