/**
 * One active health check of one host (Envoy "Health checking"): the interface every checker
 * implements (`health-checker-<kind>.ts`) and the outcomes they share; health-checker-factory.ts
 * picks the implementation for a HealthCheck's checker kind. A checker only performs one probe
 * and reports its outcome; thresholds, intervals and jitter are health-state.ts's and
 * health-manager.ts's business.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { formatHostPort } from '@ferry/shared';
import type { Socket } from 'node:net';
import { connectUpstreamTls, type UpstreamTlsTarget } from '../upstream/upstream-tls.js';

export interface HealthCheckTarget {
  readonly host: string;
  readonly port: number;
  /** Default Host / :authority for HTTP and gRPC checks (Envoy uses the cluster name). */
  readonly clusterName: string;
  /** The cluster's UpstreamTlsContext: the check runs over TLS with its checks (Envoy's rule). */
  readonly tls?: UpstreamTlsTarget;
}

/**
 * `active`: the host answered and said it is not healthy (unexpected HTTP status, NOT_SERVING):
 * Envoy marks it unhealthy at once unless `retriable`. `network`: no usable answer (refused,
 * reset, timeout): counts towards unhealthy_threshold.
 */
export type CheckOutcome =
  | { readonly healthy: true }
  | {
      readonly healthy: false;
      readonly failure: 'active' | 'network';
      readonly retriable: boolean;
      readonly detail: string;
    };

export interface HealthChecker {
  /**
   * Probes `target` once. Never rejects. When `signal` aborts (the timeout, or the host going
   * away) the probe releases its sockets and resolves with a network failure.
   */
  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome>;
}

export function networkFailure(detail: string): CheckOutcome {
  return { healthy: false, failure: 'network', retriable: false, detail };
}

export function activeFailure(detail: string, retriable = false): CheckOutcome {
  return { healthy: false, failure: 'active', retriable, detail };
}

export const HEALTHY: CheckOutcome = Object.freeze({ healthy: true });

/**
 * Opens the check's connection: plain TCP, or TLS with the cluster's context when it has one
 * (resolved only once the upstream passed its certificate checks). `alpn` overrides the
 * context's ALPN list (HTTP checks need the protocol they speak). Rejects on failure or abort,
 * never leaving the socket open.
 */
export function openCheckConnection(
  target: HealthCheckTarget,
  alpn: readonly string[] | undefined,
  signal: AbortSignal,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const address = { host: target.host, port: target.port };
    const tls = target.tls;
    const ready = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    };
    const socket: Socket =
      tls === undefined
        ? net.connect(address, ready)
        : connectUpstreamTls(tls, { ...address, ...(alpn ? { alpn } : {}) }, ready);
    const onError = (err: Error): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => onError(new Error('timed out'));
    socket.once('error', onError);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** An HTTP/2 session for a check: prior knowledge over TCP, or over the verified TLS `socket`. */
export function connectHttp2(target: HealthCheckTarget, socket?: Socket): http2.ClientHttp2Session {
  const authority = formatHostPort(target.host, target.port);
  return socket === undefined
    ? http2.connect(`http://${authority}`)
    : http2.connect(`https://${authority}`, { createConnection: () => socket });
}
