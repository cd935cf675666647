/**
 * What an access log line is formatted from: one entry per finished HTTP stream, assembled by
 * access-log-entry.ts from the connection manager's stream. Its optional fields are rendered as
 * "not available" ("-" in text, null in JSON, as Envoy does) when absent, so other producers of
 * entries (TCP sessions) need only fill what they know.
 */
import type { Socket } from 'node:net';
import type { HeaderLookup } from '../router/header-mutations.js';

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
  /** The request's headers (after the connection manager's XFF and request id handling). */
  readonly requestHeaders?: HeaderLookup;
  /** The response's headers as sent downstream. */
  readonly responseHeaders?: HeaderLookup | undefined;
  /** The downstream connection (addresses, SNI). */
  readonly socket?: Socket;
  /** %CONNECTION_ID%: unique in the proxy. */
  readonly connectionId?: number;
  /** Why the last upstream attempt failed at the transport level (e.g. ECONNREFUSED). */
  readonly upstreamTransportFailureReason?: string | undefined;
  /** The trace id tracing gave the request (%TRACE_ID%), when the HCM traces. */
  readonly traceId?: string | undefined;
  /** %RESPONSE_CODE_DETAILS%, when the stream set one. */
  readonly responseCodeDetails?: string | undefined;
  /** Envoy's dynamic metadata by namespace (%DYNAMIC_METADATA(ns:key)%). */
  readonly dynamicMetadata?: ReadonlyMap<string, Readonly<Record<string, unknown>>> | undefined;
  /**
   * A TCP session (tcp_proxy): there is no request, so HTTP-only operators (%REQ(...)%,
   * %PROTOCOL%, %RESPONSE_CODE_DETAILS%) are not available and %RESPONSE_CODE% is 0, as in Envoy.
   */
  readonly tcp?: true;
  /** The SNI a listener filter read (a TLS connection passed through): %REQUESTED_SERVER_NAME%. */
  readonly requestedServerName?: string;
}

/** %TRACE_ID% is the entry's `traceId` when tracing gave one, else read from `traceparent`. */
export type AccessLogRecord = AccessLogEntry;
