/**
 * undici connector for the OTLP/HTTP exporter's TLS connections: the socket is handed over only
 * once the collector passed the TLS context's checks (upstream-tls.ts), within the connect
 * timeout. Types only from undici, so importing this does not load it (the exporter imports
 * undici on first use).
 */
import type { TLSSocket } from 'node:tls';
import { formatHostPort } from '@ferry/shared';
import type { buildConnector } from 'undici';
import { connectUpstreamTls, type UpstreamTlsTarget } from '../upstream/upstream-tls.js';

/** undici's connect timeout error code (what its own connector reports). */
class ConnectTimeoutError extends Error {
  readonly code = 'UND_ERR_CONNECT_TIMEOUT';
}

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
      const err = new ConnectTimeoutError(
        `connect to ${formatHostPort(options.hostname, Number(options.port))} timed out after ${connectTimeoutMs} ms`,
      );
      socket.destroy();
      finish(err, null);
    }, connectTimeoutMs);
    timer.unref();
  };
}
