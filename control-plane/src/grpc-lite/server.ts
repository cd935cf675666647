/**
 * A lean gRPC server on `node:http2`: services registered as with grpc-js's `Server.addService`,
 * calls served by `LiteServerCall` (server-call.ts). Per connection it keeps only what
 * `node:http2` keeps; keepalive is one timer for the whole server, not one per connection.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureServerOptions } from 'node:http2';
import { status, type ServiceDefinition } from '@grpc/grpc-js';
import {
  LiteServerCall,
  type LiteCallGate,
  type LiteMethod,
  type LiteServiceImplementation,
} from './server-call.js';
import { KeepaliveRounds } from './keepalive-rounds.js';
import { encodeGrpcMessage, parseTimeout } from './wire.js';

export interface GrpcLiteKeepalive {
  /** Time between the server's PINGs on each connection. */
  readonly intervalMs: number;
  /** How long a PING waits for its reply before the connection is closed. */
  readonly timeoutMs: number;
}

export interface GrpcLiteServerOptions {
  /** Largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageLength?: number;
  readonly keepalive?: GrpcLiteKeepalive;
  /**
   * TLS (`key`, `cert`, and for client certificates `ca`, `requestCert: true`,
   * `rejectUnauthorized`); plaintext HTTP/2 when absent.
   */
  readonly tls?: SecureServerOptions;
  /** `node:http2` session options (settings, `maxSessionMemory`, ...). */
  readonly http2?: http2.ServerOptions;
  /** Runs in front of every call's handler (server-call.ts, `LiteCallGate`). */
  readonly gate?: LiteCallGate;
  /**
   * Errors of the listening socket after listen() (an accept that failed, e.g. out of file
   * descriptors): the server keeps serving its sessions and accepting. Ignored when absent.
   */
  readonly onError?: (error: Error) => void;
}

/** grpc-js's default receive limit. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024;

export class GrpcLiteServer {
  private readonly methods = new Map<string, LiteMethod>();
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly maxReceive: number;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** close()'s promise, and its resolver while it waits for the last session. */
  private closed: Promise<void> | null = null;
  private onLastSession: (() => void) | null = null;
  /** Sessions whose keepalive PING is unanswered, with when it was sent. */
  private readonly pinging = new Map<http2.ServerHttp2Session, number>();
  private rounds: KeepaliveRounds<http2.ServerHttp2Session> | null = null;
  constructor(private readonly options: GrpcLiteServerOptions = {}) {
    this.maxReceive = options.maxReceiveMessageLength ?? DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH;
    const sessionOptions: http2.ServerOptions = { ...options.http2 };
    this.server =
      options.tls !== undefined
        ? http2.createSecureServer({ ...sessionOptions, ...options.tls, allowHTTP1: false })
        : http2.createServer(sessionOptions);
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.server.on('session', (session) => this.onSession(session));
    // Session failures (bad frames, resets) close that session only; node reports them here.
    this.server.on('sessionError', () => undefined);
  }

  /** Registers every method of `service` with its handler in `implementation`. */
  addService(service: ServiceDefinition, implementation: LiteServiceImplementation): void {
    for (const [name, definition] of Object.entries(service)) {
      const handler =
        implementation[name] ?? implementation[definition.originalName ?? ''] ?? undefined;
      if (typeof handler !== 'function') {
        throw new Error(`grpc-lite: no handler for method ${definition.path} (${name})`);
      }
      if (this.methods.has(definition.path)) {
        throw new Error(`grpc-lite: method ${definition.path} is already registered`);
      }
      this.methods.set(definition.path, {
        path: definition.path,
        requestStream: definition.requestStream,
        responseStream: definition.responseStream,
        requestDeserialize: definition.requestDeserialize,
        responseSerialize: definition.responseSerialize as (value: never) => Buffer,
        handler,
        maxReceiveLength: this.maxReceive,
        gate: this.options.gate,
      });
    }
  }

  /** Listens on `port` (0 for a free one) and resolves with the port bound. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.server.on('error', (error: Error) => this.listenError(error));
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Serves gRPC on a connection accepted elsewhere, e.g. a TLS socket a listener has already
   * verified (grpc-js's connection injector). The server must be plaintext (no `tls` option);
   * `getAuthContext()` reads the TLS peer from the socket.
   */
  injectConnection(socket: Duplex): void {
    if (this.options.tls !== undefined) {
      throw new Error('grpc-lite: injectConnection needs a server without the tls option');
    }
    this.server.emit('connection', socket);
  }

  /** An error of a socket that listens for this server (its own, or one injecting into it). */
  listenError(error: Error): void {
    this.options.onError?.(error);
  }

  /**
   * Stops accepting connections and closes every session once its open streams have ended;
   * resolves when all are gone. Idempotent.
   */
  close(): Promise<void> {
    if (this.closed !== null) return this.closed;
    this.closing = true;
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = null;
    // Resolves when the sessions are gone, not on the net server's close: sessions injected
    // (injectConnection) are not the net server's connections.
    this.closed = new Promise<void>((resolve) => {
      if (this.sessions.size === 0) resolve();
      else this.onLastSession = resolve;
    });
    if (this.server.listening) this.server.close();
    for (const session of this.sessions) session.close();
    return this.closed;
  }

  /** Stops accepting connections and ends every session now, resetting open streams. */
  forceClose(): void {
    this.closing = true;
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = null;
    if (this.server.listening) this.server.close();
    for (const session of this.sessions) session.destroy();
  }

  /** Connected HTTP/2 sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private onSession(session: http2.ServerHttp2Session): void {
    // A connection accepted while closing would hold close() open.
    if (this.closing) {
      session.destroy();
      return;
    }
    this.sessions.add(session);
    (session as OwnedSession)[kOwner] = this;
    session.once('close', onSessionClose);
    if (this.options.keepalive !== undefined && this.keepaliveTimer === null) {
      this.startKeepalive(this.options.keepalive);
    }
  }

  /** @internal */
  forgetSession(session: http2.ServerHttp2Session): void {
    this.sessions.delete(session);
    this.pinging.delete(session);
    if (this.sessions.size === 0 && this.onLastSession !== null) {
      this.onLastSession();
      this.onLastSession = null;
    }
  }

  /**
   * One timer for all sessions. Every tick closes the sessions whose PING has waited longer than
   * `timeoutMs`, and PINGs its share of a round: a round goes through every session once, spread
   * evenly over `intervalMs` (keepalive-rounds.ts), so each tick PINGs about tick / interval of
   * the sessions rather than all of them in one turn of the event loop. A session's PINGs are
   * about `intervalMs` apart; answered PINGs leave the map, so the timeout check touches only
   * unanswered ones.
   */
  private startKeepalive(keepalive: GrpcLiteKeepalive): void {
    // A quarter of the shorter period: a dead peer is dropped at most timeoutMs / 4 late.
    const tick = Math.max(50, Math.min(keepalive.intervalMs, keepalive.timeoutMs) / 4);
    this.rounds = new KeepaliveRounds(keepalive.intervalMs, tick);
    this.keepaliveTimer = setInterval(() => this.keepaliveTick(keepalive), tick);
    this.keepaliveTimer.unref();
  }

  private keepaliveTick(keepalive: GrpcLiteKeepalive): void {
    const now = Date.now();
    for (const [session, sentAt] of this.pinging) {
      if (now - sentAt > keepalive.timeoutMs) {
        this.pinging.delete(session);
        session.destroy();
      }
    }
    this.rounds?.tick(this.sessions, now, (session) => this.ping(session, now));
  }

  private ping(session: http2.ServerHttp2Session, now: number): void {
    if (this.pinging.has(session) || session.destroyed || session.closed) return;
    this.pinging.set(session, now);
    try {
      session.ping((error) => {
        if (error === null) this.pinging.delete(session);
      });
    } catch {
      session.destroy();
    }
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const contentType = headers['content-type'];
    if (
      typeof contentType !== 'string' ||
      !(contentType === 'application/grpc' || contentType.startsWith('application/grpc+'))
    ) {
      // gRPC over HTTP/2: a request that is not gRPC gets HTTP 415.
      stream.on('error', ignore);
      stream.respond({ ':status': 415 }, { endStream: true });
      stream.resume();
      return;
    }
    const path = headers[':path'] ?? '';
    const method = headers[':method'] === 'POST' ? this.methods.get(path) : undefined;
    if (method === undefined) {
      refuse(
        stream,
        status.UNIMPLEMENTED,
        headers[':method'] === 'POST'
          ? `The server does not implement the method ${path}`
          : `method ${headers[':method']} is not POST`,
      );
      return;
    }
    // Messages compressed with an encoding the server lacks: UNIMPLEMENTED, naming what it
    // accepts (gRPC's compression spec). It advertises identity only, so clients do not compress.
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      refuse(
        stream,
        status.UNIMPLEMENTED,
        `grpc-encoding "${String(encoding)}" is not supported; send uncompressed messages (identity)`,
      );
      return;
    }
    const call = new LiteServerCall(stream, method, headers);
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') {
      const ms = parseTimeout(timeout);
      if (Number.isNaN(ms)) {
        call.sendStatus({ code: status.INTERNAL, details: `malformed grpc-timeout "${timeout}"` });
        return;
      }
      call.setDeadline(ms);
    }
    call.start();
  }
}

function ignore(): void {}

/** Ends a stream before any call exists: headers-only response with the status in them. */
function refuse(stream: http2.ServerHttp2Stream, code: status, message: string): void {
  stream.on('error', ignore);
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-accept-encoding': 'identity',
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(message),
    },
    { endStream: true },
  );
  stream.resume();
}

const kOwner = Symbol('grpc-lite server');
type OwnedSession = http2.ServerHttp2Session & { [kOwner]?: GrpcLiteServer };

/** A module function, not a closure per connection. */
function onSessionClose(this: http2.ServerHttp2Session): void {
  (this as OwnedSession)[kOwner]?.forgetSession(this);
}
