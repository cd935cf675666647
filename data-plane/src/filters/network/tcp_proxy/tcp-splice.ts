/**
 * Moves bytes both ways between a downstream and an upstream socket, with Envoy's flow control
 * and half-close:
 *
 * - Watermarks: a write that takes the destination's queued bytes to its buffer limit (the
 *   listener's per_connection_buffer_limit_bytes downstream, the cluster's upstream) stops
 *   reading from the source until that write has been flushed, so neither side buffers much
 *   more than its limit whatever the peers' speeds.
 * - Reads: a plain-TCP upstream is read with `onread` into one reused buffer; a chunk is passed
 *   to the downstream socket, and only when the kernel did not take it at once (the socket
 *   queued it) does the next read get a fresh buffer. The downstream (accepted) socket, which
 *   Node reads into buffers of its own, and TLS upstreams are read with 'data'.
 * - Half-close: a FIN from one side ends the other side's writing after its queued bytes; the
 *   other direction flows on until its own FIN. Both sockets close themselves once both
 *   directions have ended.
 * - Failures: when one socket closes while the other is open (reset, error, or a local close),
 *   the other stops being read and is closed once what was already written to it is flushed
 *   (Envoy's FlushWrite close).
 */
import type net from 'node:net';

/** How the splice reports bytes and flow control (tcp-proxy-session.ts turns them into stats). */
export interface SpliceObserver {
  onDownstreamBytes(bytes: number): void;
  onUpstreamBytes(bytes: number): void;
  /** Reading from downstream paused (true) or resumed (false). */
  onDownstreamReadPaused(paused: boolean): void;
  onUpstreamReadPaused(paused: boolean): void;
}

/** The largest read buffer (Node's own reads are 64 KiB). */
const MAX_READ_BYTES = 64 * 1024;
const MIN_READ_BYTES = 4 * 1024;

/** Ends `socket` after its queued writes and destroys it then; it is no longer read. */
function closeAfterFlush(socket: net.Socket): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('data');
  socket.pause();
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  if (!socket.writableEnded) socket.end();
}

export class TcpSplice {
  /** Bytes read from downstream (sent upstream) and written to downstream. */
  bytesFromDownstream = 0;
  bytesToDownstream = 0;
  /** For net.connect: reads from the upstream go to this splice, into a reused buffer. */
  readonly upstreamReadOptions: net.OnReadOpts;
  readonly #downstream: net.Socket;
  readonly #downstreamLimit: number;
  readonly #upstreamLimit: number;
  readonly #observer: SpliceObserver;
  readonly #readSize: number;
  #readBuffer: Buffer;
  #upstream: net.Socket | undefined;
  #downstreamPaused = false;
  #upstreamPaused = false;

  /**
   * `downstreamLimit` / `upstreamLimit`: the write watermarks of each side in bytes (Envoy's
   * per_connection_buffer_limit_bytes of the listener and of the cluster).
   */
  constructor(
    downstream: net.Socket,
    downstreamLimit: number,
    upstreamLimit: number,
    observer: SpliceObserver,
  ) {
    this.#downstream = downstream;
    this.#downstreamLimit = Math.max(1, downstreamLimit);
    this.#upstreamLimit = Math.max(1, upstreamLimit);
    this.#observer = observer;
    this.#readSize = Math.min(MAX_READ_BYTES, Math.max(MIN_READ_BYTES, downstreamLimit));
    this.#readBuffer = Buffer.allocUnsafe(this.#readSize);
    this.upstreamReadOptions = {
      buffer: () => this.#readBuffer,
      callback: (bytes: number, buffer: Uint8Array) => this.#onUpstreamRead(bytes, buffer),
    };
  }

  /**
   * Starts moving bytes once the upstream is connected. `readsWithOnread`: the upstream was
   * created with upstreamReadOptions (a plain TCP socket); otherwise it is read with 'data'.
   */
  start(upstream: net.Socket, readsWithOnread: boolean): void {
    this.#upstream = upstream;
    const downstream = this.#downstream;
    downstream.on('data', this.#onDownstreamData);
    // A socket reads from the start: a FIN that came with nothing left to read has been seen
    // ('end' emitted) before the splice started.
    if (downstream.readableEnded) upstream.end();
    else downstream.once('end', () => upstream.end());
    if (upstream.readableEnded) downstream.end();
    else upstream.once('end', () => downstream.end());
    if (!readsWithOnread) upstream.on('data', this.#onUpstreamData);
  }

  /** The downstream socket has closed: the upstream is closed after its queued bytes. */
  onDownstreamClosed(): void {
    if (this.#upstream !== undefined) closeAfterFlush(this.#upstream);
  }

  /** The upstream socket has closed: the downstream is closed after its queued bytes. */
  onUpstreamClosed(): void {
    closeAfterFlush(this.#downstream);
  }

  readonly #onDownstreamData = (chunk: Buffer): void => {
    const upstream = this.#upstream!;
    this.bytesFromDownstream += chunk.length;
    this.#observer.onDownstreamBytes(chunk.length);
    if (upstream.writableLength + chunk.length < this.#upstreamLimit) {
      upstream.write(chunk);
      return;
    }
    upstream.write(chunk, this.#onUpstreamFlushed);
    if (!this.#downstreamPaused) {
      this.#downstreamPaused = true;
      this.#downstream.pause();
      this.#observer.onDownstreamReadPaused(true);
    }
  };

  /** The write that reached the upstream's watermark is flushed: read downstream again. */
  readonly #onUpstreamFlushed = (err?: Error | null): void => {
    if (err || !this.#downstreamPaused) return;
    this.#downstreamPaused = false;
    this.#downstream.resume();
    this.#observer.onDownstreamReadPaused(false);
  };

  /** `onread` callback: returning false stops reading until upstream.resume(). */
  #onUpstreamRead(bytes: number, buffer: Uint8Array): boolean {
    const downstream = this.#downstream;
    if (downstream.destroyed) return false;
    const chunk = (buffer as Buffer).subarray(0, bytes);
    const keepReading = this.#writeDownstream(chunk);
    // Node kept a reference to the chunk (the kernel did not take it all): the next read must
    // not overwrite it.
    if (downstream.writableLength > 0) this.#readBuffer = Buffer.allocUnsafe(this.#readSize);
    return keepReading;
  }

  readonly #onUpstreamData = (chunk: Buffer): void => {
    if (!this.#writeDownstream(chunk)) this.#upstream?.pause();
  };

  /** Writes an upstream chunk downstream; false when reading from upstream must pause. */
  #writeDownstream(chunk: Buffer): boolean {
    const downstream = this.#downstream;
    this.bytesToDownstream += chunk.length;
    this.#observer.onUpstreamBytes(chunk.length);
    if (downstream.writableLength + chunk.length < this.#downstreamLimit) {
      downstream.write(chunk);
      return true;
    }
    downstream.write(chunk, this.#onDownstreamFlushed);
    if (!this.#upstreamPaused) {
      this.#upstreamPaused = true;
      this.#observer.onUpstreamReadPaused(true);
    }
    return false;
  }

  readonly #onDownstreamFlushed = (err?: Error | null): void => {
    if (err || !this.#upstreamPaused) return;
    this.#upstreamPaused = false;
    this.#upstream?.resume();
    this.#observer.onUpstreamReadPaused(false);
  };
}
