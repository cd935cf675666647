/**
 * What an access log line is formatted from: the engine's AccessLogEntry (http/forwarder.ts),
 * plus optional fields the engine may add later. Each optional field is read when present and
 * rendered as "not available" ("-" / null / 0 as Envoy does) when absent, so the formatter works
 * today and fills in as soon as the entry carries more.
 */
import type { AccessLogEntry } from '../http/proxy-runtime.js';

export interface AccessLogRecord extends AccessLogEntry {
  /** Wall-clock start of the request (ms since epoch); default: now − durationMs. */
  readonly startTimeMs?: number;
  /** Request body bytes received from downstream (%BYTES_RECEIVED%). */
  readonly bytesReceived?: number;
  /** Response body bytes sent downstream (%BYTES_SENT%). */
  readonly bytesSent?: number;
  /** Downstream peer "ip:port" ("[v6]:port" for IPv6). */
  readonly downstreamRemoteAddress?: string;
  /** A request header by lower-case name (%REQ(X)% beyond :method, :path, :authority). */
  readonly requestHeader?: (name: string) => string | undefined;
  /** A response header by lower-case name (%RESP(X)%). */
  readonly responseHeader?: (name: string) => string | undefined;
  /** stat_prefix of the HttpConnectionManager that served the request (picks its loggers). */
  readonly statPrefix?: string;
}
