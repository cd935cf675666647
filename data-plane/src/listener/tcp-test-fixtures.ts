/**
 * Test support for the listener and tcp_proxy tests: Envoy listener resources with tcp_proxy
 * chains, loopback TCP and TLS echo backends, and a client exchange.
 * Not used by product code.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { JsonObject } from '../config/translate.js';

const T = 'type.googleapis.com/';

export const TLS_INSPECTOR: JsonObject = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` },
};

/** A tcp_proxy network filter (stat_prefix "tcp" unless given). */
export function tcpProxy(fields: JsonObject): JsonObject {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
      stat_prefix: 'tcp',
      ...fields,
    },
  };
}

/** A Listener on 127.0.0.1, port 0 (the runtime reports the bound port). */
export function tcpListener(
  name: string,
  chains: JsonObject[],
  extra: JsonObject = {},
): JsonObject {
  return {
    '@type': 'envoy.config.listener.v3.Listener',
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: chains,
    ...extra,
  };
}

/** A file access log with a text format. */
export function fileAccessLog(path: string, format: string): JsonObject {
  return {
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
      path,
      log_format: { text_format: format },
    },
  };
}

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** A DownstreamTlsContext transport socket (TLS terminated by the listener). */
export function downstreamTls(pair: KeyPair, alpn: string[] = []): JsonObject {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
      common_tls_context: {
        tls_certificates: [
          {
            certificate_chain: { inline_string: pair.cert },
            private_key: { inline_string: pair.key },
          },
        ],
        ...(alpn.length > 0 ? { alpn_protocols: alpn } : {}),
      },
    },
  };
}

export interface EchoServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes it received, per connection in accept order. */
  readonly received: number[];
  /** TLS: the SNI of each connection in accept order. */
  readonly servernames: (string | false)[];
  close(): Promise<void>;
}

/**
 * A TCP (or, with `pair`, TLS) server that echoes every byte with `prefix` before the first
 * and ends its side when the client ends (half-close).
 */
export async function echoServer(prefix = '', pair?: KeyPair): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const received: number[] = [];
  const servernames: (string | false)[] = [];
  let accepted = 0;
  const onSocket = (socket: net.Socket): void => {
    const index = accepted++;
    received[index] = 0;
    servernames[index] = (socket as tls.TLSSocket).servername ?? false;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (prefix !== '') socket.write(prefix);
    socket.on('data', (chunk: Buffer) => {
      received[index]! += chunk.length;
      socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  };
  const server =
    pair === undefined
      ? net.createServer({ allowHalfOpen: true }, onSocket)
      : tls.createServer({ cert: pair.cert, key: pair.key, allowHalfOpen: true }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    received,
    servernames,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * `promise`, failed with what it waited for when it has not settled within `timeoutMs`: a
 * liveness bound (a broken proxy fails its test instead of hanging it), not a timing assertion.
 */
export function bounded<T>(promise: Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next `event` of `emitter` (its first argument), bounded. */
export function next<T = unknown>(
  emitter: { once(event: string, listener: (value: T) => void): unknown },
  event: string,
  what = `'${event}'`,
): Promise<T> {
  return bounded(new Promise<T>((resolve) => emitter.once(event, resolve)), what);
}

export interface Exchange {
  readonly data: Buffer;
  /** The proxy ended the connection cleanly ('end') rather than only closing it. */
  readonly ended: boolean;
}

/** Sends `payload` on `socket`, half-closes, and collects everything until the socket closes. */
export function exchangeOn(socket: net.Socket, payload: string | Buffer): Promise<Exchange> {
  const exchange = new Promise<Exchange>((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (ended = true));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), ended }));
    socket.end(payload);
  });
  return bounded(exchange, 'the proxy to close the connection');
}

/** A plain TCP client connection to 127.0.0.1:`port`, connected. */
export function connect(port: number): Promise<net.Socket> {
  const connected = new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
  return bounded(connected, `a connection to port ${port}`);
}
