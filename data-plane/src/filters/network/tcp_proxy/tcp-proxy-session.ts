/**
 * One downstream connection proxied by tcp_proxy, as Envoy's TcpProxy::Filter does it:
 *
 * 1. choose the cluster; none of that name → close (NC, downstream_cx_no_route);
 * 2. per attempt: the max_connections circuit breaker (UO, upstream_cx_overflow), a host from
 *    the cluster's load balancer (none → UH, upstream_cx_none_healthy), a connection within the
 *    cluster's connect_timeout (TLS when the cluster has an UpstreamTlsContext); a failed
 *    attempt is retried on a newly picked host up to max_connect_attempts, then the connection
 *    is closed (UF, upstream_cx_connect_attempts_exceeded). Downstream bytes wait in the kernel
 *    meanwhile (the socket is not read until the upstream is connected);
 * 3. splice (tcp-splice.ts) until both directions have ended, or one side fails (the other is
 *    closed after what was already written to it is flushed), or idle_timeout passes without a
 *    byte either way (both are closed at once);
 * 4. release what the session held and log it (access_log: bytes, duration, upstream host,
 *    response flags).
 */
import net from 'node:net';
import type { AccessLogRecord } from '../../../access-log/access-log-record.js';
import { ResponseFlag, type ResponseFlagCode } from '../../../http/response-flags.js';
import type { ClusterRuntime, HostState } from '../../../upstream/cluster-runtime.js';
import { connectUpstreamTls, upstreamTlsTarget } from '../../../upstream/upstream-tls.js';
import { noteUpstreamTraffic } from '../../../upstream/upstream-traffic.js';
import type { TcpProxyModel } from '../../../config/model.js';
import type { NetworkConnection } from '../filter.js';
import type { TcpProxyStats } from './tcp-proxy-stats.js';
import { TcpSplice, type SpliceObserver } from './tcp-splice.js';

/** What a session uses of its chain's tcp_proxy (tcp-proxy-filter.ts implements it). */
export interface TcpProxySessionContext {
  readonly config: TcpProxyModel;
  readonly stats: TcpProxyStats;
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  readonly accessLog: ((record: AccessLogRecord) => void) | undefined;
  /** The cluster for a new session (weighted_clusters are chosen per session). */
  pickClusterName(): string;
}

/** Envoy's connect_timeout default, when a cluster model carries none. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

type Phase = 'connecting' | 'connected' | 'closed';

export class TcpProxySession implements SpliceObserver {
  readonly #filter: TcpProxySessionContext;
  readonly #connection: NetworkConnection;
  readonly #downstream: net.Socket;
  #phase: Phase = 'connecting';
  #cluster: ClusterRuntime | undefined;
  #clusterName = '';
  #host: HostState | undefined;
  #upstream: net.Socket | undefined;
  #splice: TcpSplice | undefined;
  /** The circuit breaker and host counts taken for the current upstream connection. */
  #holdsUpstream = false;
  #upstreamCounted = false;
  #attempts = 0;
  #flag: ResponseFlagCode | undefined;
  #failureReason: string | undefined;
  #downstreamClosed = false;
  #upstreamClosed = true;
  #logged = false;

  constructor(filter: TcpProxySessionContext, connection: NetworkConnection) {
    this.#filter = filter;
    this.#connection = connection;
    this.#downstream = connection.socket;
  }

  start(): void {
    const downstream = this.#downstream;
    this.#filter.stats.downstreamCxTotal.inc();
    // Half-close (Envoy's tcp_proxy enables it): a FIN from one side is passed on and the other
    // direction keeps flowing until its own FIN.
    downstream.allowHalfOpen = true;
    downstream.on('error', () => undefined);
    downstream.once('close', () => this.#onDownstreamClose());
    if (downstream.destroyed) {
      this.#onDownstreamClose();
      return;
    }
    this.#clusterName = this.#filter.pickClusterName();
    this.#cluster = this.#filter.clusters.get(this.#clusterName);
    if (this.#cluster === undefined) {
      this.#filter.stats.downstreamCxNoRoute.inc();
      this.#fail(ResponseFlag.NO_CLUSTER_FOUND);
      return;
    }
    this.#connect(this.#cluster);
  }

  #connect(cluster: ClusterRuntime): void {
    this.#attempts++;
    const stats = cluster.stats;
    if (cluster.circuit.connectionOverflow(cluster.model.circuitBreakers)) {
      stats.upstreamCxOverflow.inc();
      this.#fail(ResponseFlag.UPSTREAM_OVERFLOW);
      return;
    }
    const host = cluster.pickHost(undefined, undefined);
    if (host === undefined) {
      stats.upstreamCxNoneHealthy.inc();
      this.#fail(ResponseFlag.NO_HEALTHY_UPSTREAM);
      return;
    }
    this.#host = host;
    cluster.circuit.activeConnections++;
    host.activeRequests++;
    this.#holdsUpstream = true;
    noteUpstreamTraffic(cluster.name);
    stats.upstreamCxTotal.inc();

    const splice = (this.#splice ??= new TcpSplice(
      this.#downstream,
      this.#connection.bufferLimitBytes,
      cluster.model.perConnectionBufferLimitBytes,
      this,
    ));
    const tlsModel = cluster.model.tls;
    let onTlsVerified = (): void => undefined;
    const upstream =
      tlsModel === undefined
        ? net.connect({
            host: host.host,
            port: host.port,
            allowHalfOpen: true,
            noDelay: true,
            onread: splice.upstreamReadOptions,
          })
        : // 'connected' only once the upstream passed the TLS context's checks.
          connectUpstreamTls(
            upstreamTlsTarget(tlsModel, host.hostname),
            { host: host.host, port: host.port },
            () => onTlsVerified(),
          );
    // Set before any byte can arrive (tls.connect has no option for these).
    upstream.allowHalfOpen = true;
    upstream.setNoDelay(true);
    this.#upstream = upstream;
    this.#upstreamClosed = false;
    upstream.setTimeout(cluster.model.connectTimeoutMs || DEFAULT_CONNECT_TIMEOUT_MS);
    let failed = false;
    const onConnectFailure = (reason: string, timedOut: boolean): void => {
      if (failed || this.#upstream !== upstream || this.#phase !== 'connecting') return;
      failed = true;
      if (timedOut) stats.upstreamCxConnectTimeout.inc();
      stats.upstreamCxConnectFail.inc();
      cluster.reportOutcome(host, timedOut ? 'timeout' : 'connect-failure');
      this.#failureReason = reason;
      upstream.destroy();
    };
    upstream.once('timeout', () => onConnectFailure('connect timeout', true));
    upstream.on('error', (err: NodeJS.ErrnoException) =>
      onConnectFailure(err.code ?? err.message, false),
    );
    const onConnected = (): void => {
      if (this.#upstream !== upstream || this.#phase !== 'connecting') return;
      this.#onConnected(cluster, host, upstream, splice);
    };
    onTlsVerified = onConnected;
    if (tlsModel === undefined) upstream.once('connect', onConnected);
    upstream.once('close', () => {
      if (this.#upstream !== upstream) return;
      if (this.#phase === 'connecting') {
        // Closed by the host before the connection was up (no error, no timeout): a failure too.
        onConnectFailure('connection closed', false);
        this.#onAttemptFailed(cluster);
      } else {
        this.#onUpstreamClose();
      }
    });
  }

  #onConnected(
    cluster: ClusterRuntime,
    host: HostState,
    upstream: net.Socket,
    splice: TcpSplice,
  ): void {
    this.#phase = 'connected';
    upstream.setTimeout(0);
    cluster.stats.upstreamCxActive.add(1);
    this.#upstreamCounted = true;
    cluster.reportOutcome(host, 'connect-success');
    const idle = this.#filter.config.idleTimeoutMs;
    if (idle > 0) {
      // Any byte either way is read from or written to the downstream socket, and each of those
      // restarts its timer: it times out exactly when the session has been idle.
      this.#downstream.setTimeout(idle);
      this.#downstream.once('timeout', () => this.#onIdleTimeout());
    }
    splice.start(upstream, cluster.model.tls === undefined);
  }

  /** A connect attempt ended without a connection (its socket has closed). */
  #onAttemptFailed(cluster: ClusterRuntime): void {
    this.#upstreamClosed = true;
    this.#releaseUpstream(cluster);
    if (this.#downstreamClosed) {
      this.#finish();
      return;
    }
    if (this.#attempts < this.#filter.config.maxConnectAttempts) {
      this.#connect(cluster);
      return;
    }
    cluster.stats.upstreamCxConnectAttemptsExceeded.inc();
    this.#fail(ResponseFlag.UPSTREAM_CONNECTION_FAILURE);
  }

  #releaseUpstream(cluster: ClusterRuntime): void {
    if (this.#holdsUpstream) {
      this.#holdsUpstream = false;
      cluster.circuit.activeConnections--;
      if (this.#host !== undefined) this.#host.activeRequests--;
    }
    if (this.#upstreamCounted) {
      this.#upstreamCounted = false;
      cluster.stats.upstreamCxActive.add(-1);
    }
  }

  /** The session cannot go on: record why and close the downstream connection at once. */
  #fail(flag: ResponseFlagCode): void {
    this.#flag = flag;
    this.#phase = 'closed';
    this.#downstream.destroy();
    if (this.#downstreamClosed) this.#finish();
  }

  #onIdleTimeout(): void {
    if (this.#phase === 'closed') return;
    this.#filter.stats.idleTimeout.inc();
    this.#phase = 'closed';
    this.#upstream?.destroy();
    this.#downstream.destroy();
  }

  #onDownstreamClose(): void {
    this.#downstreamClosed = true;
    if (this.#phase === 'connecting') {
      // The client went away while the upstream was being connected: no retry.
      this.#phase = 'closed';
      this.#upstream?.destroy();
    } else if (this.#phase === 'connected') {
      this.#splice?.onDownstreamClosed();
    }
    if (this.#upstreamClosed) this.#finish();
  }

  #onUpstreamClose(): void {
    this.#upstreamClosed = true;
    if (this.#cluster !== undefined) this.#releaseUpstream(this.#cluster);
    if (this.#phase === 'connected') this.#splice?.onUpstreamClosed();
    if (this.#downstreamClosed) this.#finish();
  }

  // SpliceObserver: byte counts go to the tcp_proxy's and the cluster's stats as they flow.

  onDownstreamBytes(bytes: number): void {
    this.#filter.stats.downstreamCxRxBytesTotal.inc(bytes);
    this.#cluster?.stats.upstreamCxTxBytesTotal.inc(bytes);
  }

  onUpstreamBytes(bytes: number): void {
    this.#filter.stats.downstreamCxTxBytesTotal.inc(bytes);
    this.#cluster?.stats.upstreamCxRxBytesTotal.inc(bytes);
  }

  onDownstreamReadPaused(paused: boolean): void {
    const stats = this.#filter.stats;
    (paused
      ? stats.downstreamFlowControlPausedReadingTotal
      : stats.downstreamFlowControlResumedReadingTotal
    ).inc();
  }

  onUpstreamReadPaused(paused: boolean): void {
    const stats = this.#cluster?.stats;
    if (stats === undefined) return;
    (paused
      ? stats.upstreamFlowControlPausedReadingTotal
      : stats.upstreamFlowControlResumedReadingTotal
    ).inc();
  }

  /** Both sockets are closed: nothing is held any more; log the session once. */
  #finish(): void {
    if (this.#logged) return;
    this.#logged = true;
    this.#phase = 'closed';
    if (this.#cluster !== undefined) this.#releaseUpstream(this.#cluster);
    const accessLog = this.#filter.accessLog;
    if (accessLog === undefined) return;
    const connection = this.#connection;
    const record: AccessLogRecord = {
      tcp: true,
      listener: connection.listenerName,
      statPrefix: this.#filter.config.statPrefix,
      method: '',
      authority: '',
      path: '',
      protocol: '',
      status: 0,
      responseFlags: this.#flag ?? '-',
      durationMs: Date.now() - connection.startTimeMs,
      route: '',
      cluster: this.#cluster !== undefined ? this.#clusterName : '',
      upstreamHost: this.#host?.key ?? '',
      requestId: '',
      attempts: this.#attempts,
      startTimeMs: connection.startTimeMs,
      bytesReceived: this.#splice?.bytesFromDownstream ?? 0,
      bytesSent: this.#splice?.bytesToDownstream ?? 0,
      socket: this.#downstream,
      connectionId: connection.id,
      upstreamTransportFailureReason: this.#failureReason,
      dynamicMetadata: connection.dynamicMetadata,
      ...(connection.serverName !== undefined
        ? { requestedServerName: connection.serverName }
        : {}),
    };
    accessLog(record);
  }
}
