/**
 * Unit-test fixtures for the server codecs: a loopback server whose connections are served by a
 * codec with recording callbacks, and a raw TCP client that reads what the server writes.
 */
import * as net from 'node:net';
import type {
  CodecSettings,
  DownstreamConnectionInfo,
  ResponseEncoder,
  ServerConnectionCallbacks,
  StreamDecoder,
  StreamResetReason,
} from './codec.js';
import { HeaderMap, ResponseHeaderMap, type RequestHeaderMap } from '../header-map.js';
import { serveHttp1, type Http1ServerConnection } from './codec-http1.js';
import assert from 'node:assert/strict';
import {
  readResponseHeads,
  responsesMismatch,
  type ForwardedRequest,
  type SmugglingVector,
} from '@ferry/shared/testing/http1-smuggling-vectors';

export const DEFAULT_SETTINGS: CodecSettings = {
  maxRequestHeadersBytes: 60 * 1024,
  maxHeadersCount: 100,
  requestHeadersTimeoutMs: 0,
  idleTimeoutMs: 0,
  bufferLimitBytes: 1024 * 1024,
};

/** One stream as the callbacks saw it. */
export class RecordedStream implements StreamDecoder {
  readonly body: Buffer[] = [];
  ended = false;
  trailers: HeaderMap | undefined;
  reset: StreamResetReason | undefined;
  belowWatermark = 0;
  /** Called when the request is complete (default: answer 200 with a summary body). */
  onEnd: (stream: RecordedStream) => void = answerSummary;
  onData: ((stream: RecordedStream, data: Buffer) => void) | undefined;
  onBelowWatermark: (() => void) | undefined;

  constructor(
    readonly head: RequestHeaderMap,
    readonly encoder: ResponseEncoder,
    readonly endStreamAtHead: boolean,
    readonly connectionId: number,
  ) {}

  get bodyText(): string {
    return Buffer.concat(this.body).toString('latin1');
  }

  decodeData(data: Buffer, endStream: boolean): void {
    this.body.push(Buffer.from(data));
    this.onData?.(this, data);
    if (endStream) this.end();
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.end();
  }

  onResetStream(reason: StreamResetReason): void {
    this.reset = reason;
  }

  onBelowWriteBufferLowWatermark(): void {
    this.belowWatermark++;
    this.onBelowWatermark?.();
  }

  end(): void {
    this.ended = true;
    this.onEnd(this);
  }
}

/** 200 with `method path bodyLength` as body: enough for the tests to see what was parsed. */
export function answerSummary(stream: RecordedStream): void {
  const body = Buffer.from(
    `${stream.head.method} ${stream.head.authority} ${stream.head.path} ${stream.bodyText.length}`,
  );
  const headers = new ResponseHeaderMap(200);
  headers.append('content-length', String(body.length));
  stream.encoder.encodeHeaders(headers, false);
  stream.encoder.encodeData(body, true);
}

/** What a stream received, in the shape of the smuggling table's `forwarded` entries. */
export function forwardedRequest(stream: RecordedStream): ForwardedRequest {
  return {
    method: stream.head.method,
    path: stream.head.path,
    authority: stream.head.authority,
    body: stream.bodyText,
  };
}

/** A table entry without its `absent` list, to compare with forwardedRequest(). */
export function withoutAbsent(request: ForwardedRequest): ForwardedRequest {
  const { method, path, authority, body } = request;
  return { method, path, authority, body };
}

/**
 * A served vector's outcome as the table says: the client read its responses, and the streams
 * received exactly its `forwarded` requests, without the headers each must not carry.
 */
export function assertServed(
  vector: SmugglingVector,
  clientText: string,
  streams: readonly RecordedStream[],
): void {
  const forwarded = vector.forwarded ?? [];
  assert.equal(responsesMismatch(vector, readResponseHeads(clientText)), undefined, clientText);
  assert.deepEqual(streams.map(forwardedRequest), forwarded.map(withoutAbsent));
  for (const [i, request] of forwarded.entries())
    for (const name of request.absent ?? [])
      assert.equal(streams[i]!.head.has(name), false, `${name} forwarded`);
}

export interface CodecServer {
  readonly port: number;
  readonly streams: RecordedStream[];
  readonly protocolErrors: number[];
  /** The status of the protocol error on each connection that had one, by connection id. */
  readonly protocolErrorsByConnection: Map<number, number>;
  /** Connection ids by the client's port. */
  readonly connectionIdByClientPort: Map<number, number>;
  readonly connections: Http1ServerConnection[];
  readonly sockets: net.Socket[];
  settings: CodecSettings;
  /** Set before a stream is created: configure it (manual answers, hooks). */
  onStream: ((stream: RecordedStream) => void) | undefined;
  upgrade: ServerConnectionCallbacks['upgrade'];
  close(): Promise<void>;
}

export async function startHttp1Server(
  settings: Partial<CodecSettings> = {},
): Promise<CodecServer> {
  const streams: RecordedStream[] = [];
  const protocolErrors: number[] = [];
  const protocolErrorsByConnection = new Map<number, number>();
  const connections: Http1ServerConnection[] = [];
  const sockets: net.Socket[] = [];
  let nextId = 1;
  const state: CodecServer = {
    port: 0,
    streams,
    protocolErrors,
    protocolErrorsByConnection,
    connectionIdByClientPort: new Map(),
    connections,
    sockets,
    settings: { ...DEFAULT_SETTINGS, ...settings },
    onStream: undefined,
    upgrade: undefined,
    close: () => Promise.resolve(),
  };
  const callbacks: ServerConnectionCallbacks = {
    settings: () => state.settings,
    newStream(head, encoder, connection, endStream) {
      const stream = new RecordedStream(head, encoder, endStream, connection.id);
      streams.push(stream);
      state.onStream?.(stream);
      if (endStream) queueMicrotask(() => stream.end());
      return stream;
    },
    protocolError(status, connection) {
      protocolErrors.push(status);
      protocolErrorsByConnection.set(connection.id, status);
    },
  };
  Object.defineProperty(callbacks, 'upgrade', { get: () => state.upgrade, enumerable: true });
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const info: DownstreamConnectionInfo = {
      id: nextId++,
      socket,
      encrypted: false,
      serverName: undefined,
    };
    state.connectionIdByClientPort.set(socket.remotePort!, info.id);
    connections.push(serveHttp1(socket, callbacks, info));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  });
}

/** A raw client connection collecting everything the server writes. */
export class RawClient {
  readonly socket: net.Socket;
  private received: Buffer[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawClient> {
    const client = new RawClient(port);
    await new Promise<void>((resolve, reject) => {
      client.socket.once('connect', resolve);
      client.socket.once('error', reject);
    });
    return client;
  }

  get text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Waits (bounded) until `condition` holds for what was received. */
  async until(
    condition: (client: RawClient) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; received: ${JSON.stringify(this.text.slice(0, 500))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  untilClosed(timeoutMs?: number): Promise<void> {
    return this.until((c) => c.closed, 'the server to close the connection', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  trailers: Record<string, string>;
}

/**
 * Splits what a client received into responses (Content-Length, chunked or until the end);
 * `noBody` says which responses (by index) answer HEAD. Stops at the first incomplete one.
 */
export function parseResponses(
  text: string,
  noBody: ReadonlySet<number> = new Set(),
): ParsedResponse[] {
  const responses: ParsedResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const lines = text.slice(at, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1] ?? 'NaN');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    at = headEnd + 4;
    const response: ParsedResponse = { status, headers, body: '', trailers: {} };
    if (status < 200 && status !== 101) {
      continue;
    }
    if (noBody.has(responses.length) || status === 204 || status === 304) {
      responses.push(response);
      continue;
    }
    if (headers['transfer-encoding'] === 'chunked') {
      let complete = false;
      while (at < text.length) {
        const lineEnd = text.indexOf('\r\n', at);
        if (lineEnd < 0) break;
        const size = parseInt(text.slice(at, lineEnd), 16);
        if (size === 0) {
          const end = text.indexOf('\r\n\r\n', lineEnd - 2);
          if (end < 0) break;
          for (const line of text
            .slice(lineEnd + 2, end)
            .split('\r\n')
            .filter((l) => l !== '')) {
            const colon = line.indexOf(':');
            response.trailers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
          }
          at = end + 4;
          complete = true;
          break;
        }
        response.body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        at = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (text.length - at < length) break;
      response.body = text.slice(at, at + length);
      at += length;
    } else {
      response.body = text.slice(at);
      at = text.length;
    }
    responses.push(response);
  }
  return responses;
}

/** Waits (bounded) for a condition that other I/O makes true. */
export async function eventually(
  condition: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
