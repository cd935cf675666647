/**
 * HTTP/2 keepalive of the xDS server's connections (docs/architecture.md, "Control-plane
 * replicas", "Noticing a hung control plane"), both directions:
 * - the server PINGs each connection every `intervalMs` and closes it when no reply comes within
 *   `timeoutMs`, so the streams of a proxy that vanished without closing its connection (a
 *   partition, a stopped host) are released and it is shown disconnected within
 *   interval + timeout instead of holding a stream and its state until TCP gives up;
 * - proxies PING the server as their xDS cluster's `connection_keepalive` says. The server
 *   (../grpc-lite/server.ts, on node:http2) answers every PING whatever its rate: it has no
 *   minimum ping interval and no ping strikes (gRPC C-core's
 *   `grpc.http2.min_ping_interval_without_data_ms` and `grpc.keepalive_permit_without_calls`
 *   have no counterpart), so nothing here needs to permit them and no proxy is sent GOAWAY
 *   `too_many_pings`. server-keepalive.test.ts pins that.
 * Flags: --xds-keepalive-interval-ms, --xds-keepalive-timeout-ms.
 */
export interface XdsServerKeepalive {
  /** Time between the server's PINGs on each connection (after the previous reply). */
  readonly intervalMs: number;
  /** How long a PING waits for its reply before the connection is closed. */
  readonly timeoutMs: number;
}

/**
 * A dead proxy is released within 40 s. One PING per proxy every 30 s is ~330 PINGs/s for 10,000
 * proxies on a replica, next to nothing beside a push; one timer serves every connection.
 */
export const DEFAULT_XDS_SERVER_KEEPALIVE: XdsServerKeepalive = Object.freeze({
  intervalMs: 30_000,
  timeoutMs: 10_000,
});
