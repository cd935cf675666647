/**
 * Connection pools to one upstream host, both ferry-proxy's own: HTTP/1.1 (cleartext and TLS,
 * upstream-http1-pool.ts) and HTTP/2 (prior knowledge over cleartext, ALPN h2 over TLS,
 * upstream-http2-pool.ts). Both are HostDispatchers, so the router and the filters' async
 * client dispatch the same way. Neither has response timeouts of its own: the route and per-try
 * timeouts of the request path own them, as in Envoy.
 */
import { Http1Pool } from './upstream-http1-pool.js';
import { Http2Pool } from './upstream-http2-pool.js';
import { DEFAULT_UPSTREAM_HTTP2, type ClusterModel } from '../config/model.js';
import { upstreamTlsTarget, type UpstreamTlsTarget } from './upstream-tls.js';
import type { ClusterStats } from './cluster-stats.js';
import type { HostDispatcher } from './host-dispatch.js';

export type {
  DispatchedRequest,
  HostDispatchHandler,
  HostDispatchOptions,
  HostDispatcher,
} from './host-dispatch.js';

/** What auto_sni / auto_san_validation took from a request (upstream-tls.ts). */
export interface UpstreamConnectionName {
  readonly sni?: string;
  readonly san?: string;
}

export interface HostAddress {
  readonly host: string;
  readonly port: number;
  /** Name used for SNI/auto_host_rewrite when the cluster does not set one. */
  readonly hostname: string;
}

/** Settings that, when changed between two versions of a cluster, require new pools. */
export function poolSettingsKey(cluster: ClusterModel): string {
  return JSON.stringify([
    cluster.upstreamProtocol,
    cluster.connectTimeoutMs,
    cluster.circuitBreakers.maxConnections,
    cluster.maxRequestsPerConnection,
    cluster.upstreamIdleTimeoutMs,
    cluster.upstreamHttp2 ?? null,
    cluster.tls ?? null,
    cluster.upstreamHostName ?? null,
    cluster.perConnectionBufferLimitBytes,
  ]);
}

/**
 * Creates the dispatcher for one host. `http2` selects the HTTP/2 flavour (the caller decides
 * from upstreamProtocol and, for USE_DOWNSTREAM, the downstream protocol). `name` is what
 * auto_sni / auto_san_validation took from the request: the pool's connections all use it.
 */
export function createHostDispatcher(
  cluster: ClusterModel,
  address: HostAddress,
  http2: boolean,
  stats?: Pick<ClusterStats, 'upstreamCxActive' | 'upstreamCxTotal'>,
  name?: UpstreamConnectionName,
): HostDispatcher {
  const tls = cluster.tls;
  const idleMs = cluster.upstreamIdleTimeoutMs > 0 ? cluster.upstreamIdleTimeoutMs : 3_600_000;
  const connectTimeoutMs = cluster.connectTimeoutMs || 5000;
  const target = tls === undefined ? undefined : upstreamTlsTarget(tls, address.hostname, name);
  const dispatcher = http2
    ? createHttp2Dispatcher(cluster, address, target, connectTimeoutMs, idleMs)
    : new Http1Pool({
        host: address.host,
        port: address.port,
        tls: target,
        connectTimeoutMs,
        maxConnections: cluster.circuitBreakers.maxConnections,
        maxRequestsPerConnection: cluster.maxRequestsPerConnection,
        idleTimeoutMs: idleMs,
        bufferLimitBytes: cluster.perConnectionBufferLimitBytes,
        // Forwarding only: the proxy passes sizes through, the backend's framing is authoritative.
        maxResponseHeadersBytes: 96 * 1024,
      });
  if (stats !== undefined) {
    dispatcher.on('connect', () => {
      stats.upstreamCxActive.add(1);
      stats.upstreamCxTotal.inc();
    });
    dispatcher.on('disconnect', () => stats.upstreamCxActive.add(-1));
  }
  return dispatcher;
}

function createHttp2Dispatcher(
  cluster: ClusterModel,
  address: HostAddress,
  target: UpstreamTlsTarget | undefined,
  connectTimeoutMs: number,
  idleMs: number,
): HostDispatcher {
  const http2 = cluster.upstreamHttp2 ?? DEFAULT_UPSTREAM_HTTP2;
  return new Http2Pool({
    host: address.host,
    port: address.port,
    tls: target,
    connectTimeoutMs,
    maxConnections: cluster.circuitBreakers.maxConnections,
    maxRequestsPerConnection: cluster.maxRequestsPerConnection,
    idleTimeoutMs: idleMs,
    bufferLimitBytes: cluster.perConnectionBufferLimitBytes,
    maxConcurrentStreams: http2.maxConcurrentStreams,
    streamWindowBytes: http2.initialStreamWindowSize,
    connectionWindowBytes: http2.initialConnectionWindowSize,
    keepalive: http2.keepalive,
  });
}
