/**
 * What the HTTP/1 and HTTP/2 pool tests share (upstream-http1-pool.test.ts,
 * upstream-http2-pool.test.ts): a recording dispatch handler, teardown steps and loopback
 * listeners. Test-only.
 */
import * as net from 'node:net';
import type { Writable } from 'node:stream';
import type { DispatchedRequest, HostDispatchHandler } from './host-dispatch.js';

/** Records what the pool reports for one request; `done` settles on onComplete or onError. */
export class Recorder implements HostDispatchHandler {
  connected = false;
  /** The request as the pool put it on a connection (onConnect). */
  request: DispatchedRequest | undefined;
  status = 0;
  headers: string[] = [];
  body = '';
  trailers: string[] | null = null;
  completed = false;
  error: (Error & { code?: string }) | undefined;
  pauseOnData = false;
  resume: (() => void) | undefined;
  private settle: (() => void) | undefined;
  readonly done = new Promise<void>((resolve) => (this.settle = resolve));

  onConnect(request: DispatchedRequest): void {
    this.connected = true;
    this.request = request;
  }
  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void): boolean {
    this.status = statusCode;
    this.headers = rawHeaders.map(String);
    this.resume = resume;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.body += chunk.toString('latin1');
    return !this.pauseOnData;
  }
  onComplete(trailers: unknown): void {
    this.trailers = trailers as string[] | null;
    this.completed = true;
    this.settle!();
  }
  onError(err: Error): void {
    this.error = err;
    this.settle!();
  }
}

/** Steps that stop what a test file started, run last-added first (from the file's `after`). */
export class Teardown {
  private readonly steps: (() => Promise<unknown>)[] = [];

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step();
  }
}

/** Listens on 127.0.0.1 on a free port; resolves with the port. */
export async function listenOnLoopback(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** Closes `server` after destroying the connections (sockets, HTTP/2 sessions) it accepted. */
export function closeServer(
  server: net.Server,
  accepted: readonly { destroy(): void }[],
): Promise<void> {
  for (const connection of accepted) connection.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A loopback TCP server that accepts connections and never sends a byte (a TLS handshake or an
 * HTTP/2 preface to it never completes: connect timeouts). Stopped by `teardown`.
 */
export async function silentServer(teardown: Teardown): Promise<number> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
  });
  const port = await listenOnLoopback(server);
  teardown.add(() => closeServer(server, accepted));
  return port;
}

/**
 * Writes `chunk` into `body` as the router writes a request body into its sink, until write()
 * returns false: where the router stops reading the downstream (readDisable). Yields between
 * writes so the connection can flush; resolves with the bytes written, fails past `maxBytes`.
 */
export async function writeUntilBackedUp(
  body: Writable,
  chunk: Buffer,
  maxBytes = 64 * 1024 * 1024,
): Promise<number> {
  let written = 0;
  for (;;) {
    written += chunk.length;
    if (!body.write(chunk)) return written;
    if (written > maxBytes) throw new Error(`the body never backed up in ${maxBytes} bytes`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
