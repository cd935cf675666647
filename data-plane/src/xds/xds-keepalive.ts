/**
 * HTTP/2 keepalive of the proxy's connection to the control plane (docs/architecture.md,
 * "Control-plane replicas", "Noticing a hung control plane"): the xDS cluster's
 * `http2_protocol_options.connection_keepalive` (Envoy's KeepaliveSettings, translated with the
 * cluster by config/translate-cluster.ts) applied to the gRPC channel that ADS, HDS and LRS share.
 *
 * A control plane that stops (SIGSTOP, a hung event loop) or whose packets are dropped leaves the
 * TCP connection open; without PINGs the streams would wait on it forever and never fail over.
 * With them grpc-js sends a PING `interval` after the connection is up and after each reply, and
 * drops the connection when no reply comes within `timeout`; every stream on it then fails and
 * moves to the next control plane (xds-endpoints.ts).
 *
 * Where grpc-js differs from Envoy's codec, and what that means:
 * - `interval_jitter`: Envoy draws a new jitter for each interval; grpc-js takes one fixed
 *   interval per channel. The jitter is drawn once per proxy process instead (every connection of
 *   the proxy uses it), which spreads a fleet's PINGs the same way;
 * - Envoy extends the timeout whenever any frame arrives (a reply stuck behind a large response
 *   does not count as lost); grpc-js does not, so `timeout` must cover receiving the largest xDS
 *   response on the slowest link (the ceiling is gRPC's 4 MB message);
 * - `connection_idle_interval` (a PING before a new stream on an idle connection) has no grpc-js
 *   equivalent and is refused, as on every cluster.
 * The control plane must accept PINGs this often: Ferry's does, at any rate; a gRPC server that
 * enforces a minimum ping interval (grpc-go's default is 5 minutes) answers faster ones with
 * GOAWAY `too_many_pings`.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import type { UpstreamHttp2Model } from '../config/model.js';

/** connection_keepalive as translated: interval and timeout in ms, jitter a fraction (0.15). */
export type XdsKeepalive = NonNullable<UpstreamHttp2Model['keepalive']>;

/**
 * grpc-js channel options for `keepalive`: the PING interval with its jitter drawn from `random`
 * (in [0, 1)), the reply timeout, and PINGs whether or not a call is open (Envoy pings the
 * connection, not a stream).
 */
export function keepaliveChannelOptions(
  keepalive: XdsKeepalive,
  random: () => number = Math.random,
): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': Math.round(keepalive.intervalMs * (1 + keepalive.jitter * random())),
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

/**
 * The longest a proxy takes to notice a control plane that stopped answering: one interval at its
 * largest jitter, then the reply timeout.
 */
export function keepaliveDetectionBoundMs(keepalive: XdsKeepalive): number {
  return Math.ceil(keepalive.intervalMs * (1 + keepalive.jitter)) + keepalive.timeoutMs;
}

/** What grpc-js reports for every call on a connection that is gone, however it went. */
const CONNECTION_DROPPED = 'Connection dropped';

/**
 * The reason a stream ended, for logs and the admin state. grpc-js ends the calls of a connection
 * its keepalive dropped exactly as those of a connection the peer closed ("Connection dropped"),
 * so with keepalive on the reason names both causes.
 */
export function streamEndReason(details: string, keepalive: XdsKeepalive | undefined): string {
  if (keepalive === undefined || !details.endsWith(CONNECTION_DROPPED)) return details;
  return `${details}: the control plane closed the connection, or left a keepalive PING unanswered for ${keepalive.timeoutMs} ms`;
}

/** What the proxy logs at start about its xDS keepalive (primary.ts), when there is something. */
export interface KeepaliveNotice {
  readonly level: 'info' | 'warn';
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/**
 * With keepalive: its values and the bound on noticing a hung control plane. Without, and with
 * several control planes to fail over to: a warning that a hung one would never be left.
 */
export function keepaliveNotice(
  keepalive: XdsKeepalive | undefined,
  targets: readonly string[],
): KeepaliveNotice | undefined {
  if (keepalive)
    return {
      level: 'info',
      fields: {
        interval_ms: keepalive.intervalMs,
        timeout_ms: keepalive.timeoutMs,
        detection_bound_ms: keepaliveDetectionBoundMs(keepalive),
      },
      msg: 'xDS connection keepalive: a control plane that leaves a PING unanswered is left for the next',
    };
  if (targets.length < 2) return undefined;
  return {
    level: 'warn',
    fields: { targets },
    msg: 'the xDS cluster names several control planes but sets no connection_keepalive: one that hangs without closing the connection (stopped process, dropped packets) is never left; set http2_protocol_options.connection_keepalive on the xDS cluster (docs/architecture.md, "Noticing a hung control plane")',
  };
}
