/**
 * One listening socket (one ListenerModel address) and what runs on its connections, in Envoy's
 * order: accept → listener filters (listener/listener-filter-manager.ts: e.g. tls_inspector
 * reads SNI/ALPN without consuming bytes) → filter chain match (the most specific chain, else
 * the default chain, else the connection is closed) → the chain's transport socket (TLS is
 * terminated here when the chain has a DownstreamTlsContext) → the chain's network filters
 * (listener/network-filter-manager.ts) → the terminal filter, which owns the connection from
 * then on: tcp_proxy, or the HttpConnectionManager (until the request path has its own, the
 * HttpHandOff below serves it on node:http / node:http2).
 *
 * A config apply swaps the `binding` without touching the socket; a new connection uses the
 * binding current when it is accepted, and keeps it to the end.
 */
import type { ServerConnectionCallbacks } from './codec/codec.js';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type * as http from 'node:http';
import type { HttpConnectionManagerModel, ListenerModel } from '../config/model.js';
import type { NetworkConnection } from '../filters/network/filter.js';
import { connectionIdOf } from './codec/connection-id.js';
import {
  TRANSPORT_RAW_BUFFER,
  unmapIpv4,
  type ConnectionProperties,
} from '../listener/connection-properties.js';
import { ListenerFilterRun } from '../listener/listener-filter-manager.js';
import type { FilterChainRuntime, ListenerRuntime } from '../listener/listener-runtime.js';
import { NetworkFilterRun } from '../listener/network-filter-manager.js';
import type { ConnectionStats } from '../stats/stats.js';
import { HttpHandOff, type DownstreamRequest, type DownstreamResponse } from './http-hand-off.js';

export { chainIndexOf, type DownstreamRequest, type DownstreamResponse } from './http-hand-off.js';

/** What a listener serves with; ProxyRuntime's compiled listener implements it. */
export interface ListenerBinding {
  readonly model: ListenerModel;
  /** Listener filters, filter chain matching and each chain's filters (compileListenerRuntime). */
  readonly runtime: ListenerRuntime;
  /** downstream_cx_active / downstream_cx_total of the listener. */
  readonly connectionStats?: ConnectionStats;
}

/**
 * Where the HTTP hand-off's requests go. A request's filter chain is
 * `binding.runtime.chains[chainIndexOf(req.socket)]`.
 */
export interface ListenerHandlers<B extends ListenerBinding> {
  request(binding: B, req: DownstreamRequest, res: DownstreamResponse): void;
  upgrade(binding: B, req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A request the HTTP/1 parser rejected (answered 400/408/431 here). */
  protocolError(binding: B, status: number): void;
  /** The codec callbacks of filter chain `index` of `binding` (undefined: no such chain). */
  streamCallbacks(binding: B, index: number): ServerConnectionCallbacks | undefined;
}

/** Bound on a TLS handshake (a chain with a DownstreamTlsContext). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A connection waiting for its TLS handshake: what it was matched with. */
interface PendingHandshake {
  readonly runtime: ListenerRuntime;
  readonly chain: FilterChainRuntime;
  readonly properties: ConnectionProperties;
  readonly startTimeMs: number;
}

/** The first HCM of a listener: its limits apply to the listener's HTTP servers. */
function hcmOf(model: ListenerModel): HttpConnectionManagerModel | undefined {
  for (const chain of model.filterChains) if (chain.http !== undefined) return chain.http;
  return model.defaultFilterChain?.http;
}

export class ListenerServer<B extends ListenerBinding> {
  binding: B;
  readonly #net: net.Server;
  readonly #handlers: ListenerHandlers<B>;
  /** Made when the listener first has an HTTP chain (a TCP-only listener needs none). */
  #http: HttpHandOff | undefined;
  /** One tls.Server per TLS chain of a listener version (made on its first connection). */
  #tlsServers = new WeakMap<FilterChainRuntime, tls.Server>();
  readonly #handshakes = new WeakMap<net.Socket, PendingHandshake>();
  readonly #sockets = new Set<net.Socket>();
  #draining = false;
  #closed = false;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(binding: B, handlers: ListenerHandlers<B>) {
    this.binding = binding;
    this.#handlers = handlers;
    // Half-open: a client's FIN (possibly before any terminal filter runs) must not end our
    // side of the connection; the terminal decides (tcp_proxy passes it on, node:http answers).
    this.#net = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) =>
      this.#onConnection(socket),
    );
    this.#net.on('error', () => undefined);
    this.#applyLimits();
  }

  /** Binds the socket; rejects if the address cannot be bound. */
  listen(): Promise<void> {
    const { host, port } = this.binding.model.address;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#net.once('error', onError);
      this.#net.listen({ host, port, backlog: 1024 }, () => {
        this.#net.off('error', onError);
        resolve();
      });
    });
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const address = this.#net.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Swaps the compiled listener; new connections use it, open ones keep theirs. */
  update(binding: B): void {
    this.binding = binding;
    this.#tlsServers = new WeakMap();
    this.#applyLimits();
  }

  #applyLimits(): void {
    const hcm = hcmOf(this.binding.model);
    if (hcm !== undefined) this.#httpHandOff().applyLimits(hcm);
  }

  #httpHandOff(): HttpHandOff {
    const handlers = this.#handlers;
    this.#http ??= new HttpHandOff({
      request: (req, res) => handlers.request(this.binding, req, res),
      upgrade: (req, socket, head) => handlers.upgrade(this.binding, req, socket, head),
      protocolError: (status) => handlers.protocolError(this.binding, status),
      streamCallbacks: (index) => handlers.streamCallbacks(this.binding, index),
    });
    return this.#http;
  }

  #onConnection(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const startTimeMs = Date.now();
    const binding = this.binding;
    // The handles of the binding the connection arrived on, so add and subtract pair up.
    const stats = binding.connectionStats;
    stats?.total.inc();
    stats?.active.add(1);
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      stats?.active.add(-1);
    });
    socket.on('error', () => undefined);
    if (socket.remoteAddress === undefined) {
      // Already gone (reset before it was handled): nothing to match on.
      socket.destroy();
      return;
    }
    const runtime = binding.runtime;
    const properties: ConnectionProperties = {
      localAddress: unmapIpv4(socket.localAddress ?? ''),
      localPort: socket.localPort ?? 0,
      remoteAddress: unmapIpv4(socket.remoteAddress),
      remotePort: socket.remotePort ?? 0,
      serverName: '',
      transportProtocol: TRANSPORT_RAW_BUFFER,
      applicationProtocols: [],
    };
    new ListenerFilterRun(socket, runtime, properties, (outcome) => {
      if (outcome === 'close') {
        socket.destroy();
        return;
      }
      const chain = runtime.select(properties);
      if (chain === undefined) {
        runtime.stats.noFilterChainMatch.inc();
        socket.destroy();
        return;
      }
      if (chain.tls === undefined)
        this.#startChain(socket, socket, runtime, chain, properties, startTimeMs);
      else this.#handshake(socket, { runtime, chain, properties, startTimeMs });
    }).start();
  }

  #handshake(socket: net.Socket, pending: PendingHandshake): void {
    let server = this.#tlsServers.get(pending.chain);
    if (server === undefined) {
      server = this.#createTlsServer(pending.chain);
      this.#tlsServers.set(pending.chain, server);
    }
    this.#handshakes.set(socket, pending);
    server.emit('connection', socket);
  }

  #createTlsServer(chain: FilterChainRuntime): tls.Server {
    const settings = chain.tls!;
    const server = tls.createServer({
      ...settings.options,
      ...(settings.alpnProtocols.length > 0 ? { ALPNProtocols: [...settings.alpnProtocols] } : {}),
      requestCert: settings.requireClientCertificate,
      rejectUnauthorized: settings.requireClientCertificate,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    });
    server.on('secureConnection', (tlsSocket: tls.TLSSocket) => {
      // The TLSSocket wraps the accepted socket (Node keeps it as `_parent`).
      const raw = (tlsSocket as unknown as { _parent?: net.Socket })._parent;
      const pending = raw !== undefined ? this.#handshakes.get(raw) : undefined;
      if (raw === undefined || pending === undefined) {
        tlsSocket.destroy();
        return;
      }
      this.#handshakes.delete(raw);
      tlsSocket.on('error', () => undefined);
      this.#startChain(
        raw,
        tlsSocket,
        pending.runtime,
        pending.chain,
        pending.properties,
        pending.startTimeMs,
      );
    });
    server.on('tlsClientError', (_err, tlsSocket) => tlsSocket.destroy());
    return server;
  }

  /** Runs the chain's network filters; `socket` is `raw` or the TLS socket over it. */
  #startChain(
    raw: net.Socket,
    socket: net.Socket,
    runtime: ListenerRuntime,
    chain: FilterChainRuntime,
    properties: ConnectionProperties,
    startTimeMs: number,
  ): void {
    const terminal =
      chain.terminal ?? (chain.model.http !== undefined ? this.#httpHandOff() : undefined);
    if (terminal === undefined) {
      // A chain without filters closes its connections (as Envoy does).
      socket.destroy();
      return;
    }
    const connection: NetworkConnection = {
      // The id node:http's adapter gives the socket it serves (the TLS socket under TLS).
      id: connectionIdOf(socket),
      socket,
      encrypted: socket !== raw,
      serverName: properties.serverName !== '' ? properties.serverName : undefined,
      localAddress: properties.localAddress,
      localPort: properties.localPort,
      remoteAddress: properties.remoteAddress,
      remotePort: properties.remotePort,
      transportProtocol: properties.transportProtocol,
      applicationProtocols: properties.applicationProtocols,
      startTimeMs,
      bufferLimitBytes: runtime.model.perConnectionBufferLimitBytes,
      listenerName: runtime.model.name,
      filterChain: chain.model,
      filterChainIndex: chain.index,
    };
    new NetworkFilterRun(connection, chain.filters, terminal).start();
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Number of open downstream connections. */
  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Stops accepting, asks every HTTP connection to finish (HTTP/1: `connection: close` on the
   * next response and idle ones closed; HTTP/2: GOAWAY), lets TCP sessions run on, and resolves
   * once all connections are gone or at the deadline, when the rest are destroyed.
   */
  async close(deadlineMs: number): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#net.close();
    }
    this.#draining = true;
    const deadline = Date.now() + Math.max(0, deadlineMs);
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      this.#http?.drain();
      await new Promise<void>((resolve) => {
        this.#drainTimer = setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now())));
      });
      if (this.#sockets.size === 0) break;
    }
    this.destroy();
  }

  destroy(): void {
    this.#closed = true;
    this.#draining = true;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    if (this.#net.listening) this.#net.close();
    this.#http?.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }
}
