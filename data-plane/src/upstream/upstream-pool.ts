/**
 * Connection pools to one upstream host. HTTP/1.1 (cleartext and TLS) uses ferry-proxy's own
 * pool (upstream-http1-pool.ts); HTTP/2 uses undici's H2CClient over cleartext (prior knowledge)
 * or a Pool with ALPN h2 over TLS. All are HostDispatchers, so the router dispatches the same way.
 *
 * Timeouts that undici would enforce by itself (headers/body 300 s) are disabled: the route and
 * per-try timeouts of the request path own them, as in Envoy.
 */
import { H2CClient, Pool, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { Http1Pool } from './upstream-http1-pool.js';
import type { ConnectionOptions } from 'node:tls';
import type { ClusterModel, UpstreamTlsModel } from '../config/model.js';
import type { ClusterStats } from './cluster-stats.js';

/** One upstream request as the router hands it to a host's pool. */
export interface HostDispatchOptions {
  readonly path: string;
  readonly method: string;
  /** `[name, value, ...]`, `host` included, no hop-by-hop fields. */
  readonly headers: string[];
  readonly body: Readable | null;
}

/**
 * The router's side of one upstream request (undici's DispatchHandler shape): onConnect when the
 * request is put on a connection (pending → active), onHeaders/onData returning false to pause
 * reading until `resume()`, then exactly one of onComplete or onError.
 */
export interface HostDispatchHandler {
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(err: Error): void;
}

/** A connection pool to one upstream host. */
export interface HostDispatcher {
  dispatch(options: HostDispatchOptions, handler: HostDispatchHandler): boolean;
  /** Finishes in-flight requests, then closes. */
  close(): Promise<void>;
  destroy(): Promise<void>;
  /** 'connect' / 'disconnect' for every connection established / lost (upstream_cx_active). */
  on(event: 'connect' | 'disconnect', listener: () => void): unknown;
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
  ]);
}

function originOf(address: HostAddress, secure: boolean): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${secure ? 'https' : 'http'}://${host}:${address.port}`;
}

function tlsVersion(version: string): 'TLSv1.2' | 'TLSv1.3' | undefined {
  return version === 'TLSv1.2' || version === 'TLSv1.3' ? version : undefined;
}

/**
 * tls.connect options for an UpstreamTlsContext, as Envoy documents it: SNI is `sni`, else the
 * host's name (never an IP address); the chain is verified against trusted_ca when there is one
 * and not at all without one; the certificate's names are checked only when SAN matchers are
 * configured (ferry-proxy NACKs those), never against the SNI; the client certificate is
 * presented if configured. Used by the clusters' connection pools and the tracing exporters.
 */
export function upstreamTlsOptions(tls: UpstreamTlsModel, hostname: string): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: tls.trustedCaPem !== undefined };
  const name = tls.sni !== '' ? tls.sni : hostname;
  if (name !== '' && !/^[\d.:]+$/.test(name)) options.servername = name;
  if (tls.trustedCaPem !== undefined) {
    options.ca = tls.trustedCaPem;
    options.checkServerIdentity = () => undefined;
  }
  if (tls.certificate !== undefined) {
    options.cert = tls.certificate.certificateChainPem;
    options.key = tls.certificate.privateKeyPem;
  }
  const minVersion = tlsVersion(tls.minVersion);
  if (minVersion !== undefined) options.minVersion = minVersion;
  const maxVersion = tlsVersion(tls.maxVersion);
  if (maxVersion !== undefined) options.maxVersion = maxVersion;
  return options;
}

/**
 * Creates the dispatcher for one host. `http2` selects the HTTP/2 flavour (the caller decides
 * from upstreamProtocol and, for USE_DOWNSTREAM, the downstream protocol).
 */
export function createHostDispatcher(
  cluster: ClusterModel,
  address: HostAddress,
  http2: boolean,
  stats?: Pick<ClusterStats, 'upstreamCxActive' | 'upstreamCxTotal'>,
): HostDispatcher {
  const tls = cluster.tls;
  const idleMs = cluster.upstreamIdleTimeoutMs > 0 ? cluster.upstreamIdleTimeoutMs : 3_600_000;
  const connectTimeoutMs = cluster.connectTimeoutMs || 5000;
  const tlsOptions = tls === undefined ? undefined : upstreamTlsOptions(tls, address.hostname);
  const dispatcher = http2
    ? createHttp2Dispatcher(cluster, address, tlsOptions, connectTimeoutMs, idleMs)
    : new Http1Pool({
        host: address.host,
        port: address.port,
        tls: tlsOptions,
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

function createHttp2Dispatcher(
  cluster: ClusterModel,
  address: HostAddress,
  tlsOptions: ConnectionOptions | undefined,
  connectTimeoutMs: number,
  idleMs: number,
): HostDispatcher {
  const connect: Record<string, unknown> = { timeout: connectTimeoutMs, ...tlsOptions };
  const common = {
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: Math.min(idleMs, 60_000),
    keepAliveMaxTimeout: idleMs,
    maxHeaderSize: 96 * 1024,
  };
  let dispatcher: Dispatcher;
  if (tlsOptions === undefined) {
    dispatcher = new H2CClient(originOf(address, false), {
      ...common,
      connect: connect as { timeout: number },
      maxConcurrentStreams: 100,
    });
  } else {
    dispatcher = new Pool(originOf(address, true), {
      ...common,
      connections: Math.max(1, cluster.circuitBreakers.maxConnections),
      pipelining: 1,
      allowH2: true,
      maxRequestsPerClient:
        cluster.maxRequestsPerConnection > 0 ? cluster.maxRequestsPerConnection : undefined,
      connect,
    });
    const servername = tlsOptions.servername;
    if (servername !== undefined) {
      // undici takes a request's SNI from its Host header (reconnecting when it changes); Envoy
      // sends the cluster's configured sni whatever the Host. Pin it on every request.
      dispatcher = dispatcher.compose(
        (dispatch) => (opts, handler) =>
          dispatch({ ...opts, servername } as Dispatcher.DispatchOptions, handler),
      );
    }
  }
  // undici's Dispatcher takes the same dispatch options and legacy handler (HostDispatcher is
  // that subset).
  return dispatcher;
}
