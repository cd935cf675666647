/**
 * Connection pools to one upstream host. HTTP/1.1 (cleartext and TLS) uses ferry-proxy's own
 * pool (upstream-http1-pool.ts); HTTP/2 uses undici's H2CClient over cleartext (prior knowledge)
 * or a Pool with ALPN h2 over TLS. All are HostDispatchers, so the router dispatches the same way.
 *
 * Timeouts that undici would enforce by itself (headers/body 300 s) are disabled: the route and
 * per-try timeouts of the request path own them, as in Envoy.
 */
import { H2CClient, Pool, errors, type Dispatcher, type buildConnector } from 'undici';
import { Http1Pool } from './upstream-http1-pool.js';
import type { TLSSocket } from 'node:tls';
import type { ClusterModel } from '../config/model.js';
import { connectUpstreamTls, upstreamTlsTarget, type UpstreamTlsTarget } from './upstream-tls.js';
import type { ClusterStats } from './cluster-stats.js';
import type { HostDispatcher } from './host-dispatch.js';

export type { HostDispatchHandler, HostDispatchOptions, HostDispatcher } from './host-dispatch.js';

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
    cluster.tls ?? null,
    cluster.upstreamHostName ?? null,
  ]);
}

function originOf(address: HostAddress, secure: boolean): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${secure ? 'https' : 'http'}://${host}:${address.port}`;
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

/**
 * undici connector for TLS with ALPN h2/http/1.1: the socket is handed over only once the
 * upstream passed the TLS context's checks (upstream-tls.ts), within the connect timeout.
 */
export function tlsConnector(
  target: UpstreamTlsTarget,
  connectTimeoutMs: number,
  alpn: readonly string[],
): buildConnector.connector {
  return (options, callback) => {
    let done = false;
    const finish = (err: Error | null, verified: TLSSocket | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('error', onError);
      if (verified !== null) callback(null, verified);
      else callback(err ?? new Error('TLS connect failed'), null);
    };
    const socket = connectUpstreamTls(
      target,
      // undici gives IPv6 literals in URL form ([::1]).
      { host: options.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(options.port), alpn },
      (verified) => finish(null, verified),
    );
    const onError = (err: Error): void => finish(err, null);
    socket.on('error', onError);
    const timer = setTimeout(() => {
      const err = new errors.ConnectTimeoutError(
        `connect to ${options.hostname}:${options.port} timed out after ${connectTimeoutMs} ms`,
      );
      socket.destroy();
      finish(err, null);
    }, connectTimeoutMs);
    timer.unref();
  };
}

function createHttp2Dispatcher(
  cluster: ClusterModel,
  address: HostAddress,
  target: UpstreamTlsTarget | undefined,
  connectTimeoutMs: number,
  idleMs: number,
): HostDispatcher {
  const common = {
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: Math.min(idleMs, 60_000),
    keepAliveMaxTimeout: idleMs,
    maxHeaderSize: 96 * 1024,
  };
  let dispatcher: Dispatcher;
  if (target === undefined) {
    dispatcher = new H2CClient(originOf(address, false), {
      ...common,
      connect: { timeout: connectTimeoutMs },
      maxConcurrentStreams: 100,
    });
  } else {
    // The connector pins the SNI whatever the request's Host (Envoy sends the cluster's, or
    // auto_sni's per pool), so undici's Host-derived servername is not used.
    dispatcher = new Pool(originOf(address, true), {
      ...common,
      connections: Math.max(1, cluster.circuitBreakers.maxConnections),
      pipelining: 1,
      allowH2: true,
      maxRequestsPerClient:
        cluster.maxRequestsPerConnection > 0 ? cluster.maxRequestsPerConnection : undefined,
      connect: tlsConnector(target, connectTimeoutMs, ['h2', 'http/1.1']),
    });
  }
  // undici's Dispatcher takes the same dispatch options and legacy handler (HostDispatcher is
  // that subset).
  return dispatcher;
}
