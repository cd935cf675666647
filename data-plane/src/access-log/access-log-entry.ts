/**
 * The access log entry of one finished HTTP stream, assembled from what the connection manager
 * and the router recorded on it. Built only when the config logs requests (the connection
 * manager does not call this otherwise).
 */
import type { DownstreamConnectionInfo } from '../http/codec/codec.js';
import type { RequestHeaderMap, ResponseHeaderMap } from '../http/header-map.js';
import type { AccessLogEntry } from './access-log-record.js';

/** What a finished stream exposes to its access log (the connection manager's stream). */
export interface HttpStreamLogSource {
  readonly listenerName: string;
  readonly statPrefix: string;
  readonly requestHeaders: RequestHeaderMap;
  readonly responseHeaders: ResponseHeaderMap | undefined;
  readonly connection: DownstreamConnectionInfo;
  readonly status: number;
  readonly responseFlags: string | undefined;
  readonly responseCodeDetails: string;
  readonly routeName: string;
  readonly upstreamCluster: string;
  readonly upstreamHost: string;
  readonly attemptCount: number;
  readonly requestId: string;
  /** performance.now() at the start. */
  readonly startTimeMs: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** ms from the start to the request's end (-1: not received completely). */
  readonly requestEndMs: number;
  /** ms from the start to the response headers (-1: none sent). */
  readonly responseStartMs: number;
  readonly upstreamTransportFailureReason: string | undefined;
  readonly traceId: string | undefined;
  readonly dynamicMetadataIfAny: ReadonlyMap<string, Readonly<Record<string, unknown>>> | undefined;
}

export function accessLogEntryOf(stream: HttpStreamLogSource, durationMs: number): AccessLogEntry {
  const headers = stream.requestHeaders;
  return {
    listener: stream.listenerName,
    method: headers.method,
    authority: headers.authority.toLowerCase(),
    path: headers.path,
    protocol: headers.protocol,
    status: stream.status,
    responseFlags: stream.responseFlags ?? '-',
    durationMs,
    route: stream.routeName,
    cluster: stream.upstreamCluster,
    upstreamHost: stream.upstreamHost,
    requestId: stream.requestId,
    attempts: stream.attemptCount,
    statPrefix: stream.statPrefix,
    startTimeMs: performance.timeOrigin + stream.startTimeMs,
    bytesReceived: stream.bytesReceived,
    bytesSent: stream.bytesSent,
    requestDurationMs: stream.requestEndMs >= 0 ? stream.requestEndMs : undefined,
    responseDurationMs: stream.responseStartMs >= 0 ? stream.responseStartMs : undefined,
    requestHeaders: headers,
    responseHeaders: stream.responseHeaders,
    socket: stream.connection.socket,
    connectionId: stream.connection.id,
    upstreamTransportFailureReason: stream.upstreamTransportFailureReason,
    traceId: stream.traceId,
    responseCodeDetails: stream.responseCodeDetails === '' ? undefined : stream.responseCodeDetails,
    dynamicMetadata: stream.dynamicMetadataIfAny,
  };
}
