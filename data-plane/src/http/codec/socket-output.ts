/**
 * What the HTTP/1 codecs write to a socket, written once per event-loop pass. A connection's
 * output (a response head and body, an upstream request head, chunk framing) is queued on its
 * SocketOutput and handed to the socket after every socket that was ready in this pass has had
 * its input processed: in the loop's check phase (setImmediate), or earlier when the connection
 * ends. Envoy's connections work the same way: a write fills the connection's buffer and
 * activates its write event, which the dispatcher runs after the events already ready.
 *
 * Why: on loopback (a proxy beside its backends, or behind a local load balancer) a `write()`
 * runs the receiver's TCP path and wakes the receiver. Written as each input is processed, a
 * write tends to find a fast peer asleep again since the previous one, and each wake-up is paid
 * in full; written together, the first one wakes the peer and the rest find it awake. The pieces
 * queued for one socket leave in one write as well: copied into one buffer when small, corked
 * (one writev) otherwise.
 *
 * Bytes over 16 KiB are written at once (with what is queued before them): holding them would
 * only delay the flow. Holding output costs no latency beyond the rest of the pass, and the
 * buffer limits count what
 * is queued here (`bufferedBytes`). Pieces must stay unchanged until written: views of a shared
 * read buffer are copied by their producers before they are queued.
 */
import type { Socket } from 'node:net';

/** Queued pieces up to this many bytes in total are copied into one buffer (one write). */
const COALESCE_BYTES = 16 * 1024;

/** Outputs with something queued in this pass, written by the check-phase flush. */
const queued: SocketOutput[] = [];
let flushScheduled = false;

function flushQueued(): void {
  flushScheduled = false;
  // A flush never queues output; the length is read on every step all the same.
  for (let i = 0; i < queued.length; i++) queued[i]!.flush();
  queued.length = 0;
}

export class SocketOutput {
  /** latin1 text or bytes, in order. */
  readonly #pieces: (string | Buffer)[] = [];
  #bytes = 0;
  /** Called once the bytes queued with them have been written to the kernel. */
  #onWritten: (() => void)[] | undefined = undefined;
  #listed = false;

  constructor(readonly socket: Socket) {}

  /** Bytes not yet taken by the kernel: queued here and in the socket's own buffer. */
  get bufferedBytes(): number {
    return this.#bytes + this.socket.writableLength;
  }

  /** Queues latin1 text. */
  writeText(text: string): void {
    if (text.length === 0) return;
    this.#pieces.push(text);
    this.#bytes += text.length;
    this.#list();
  }

  /**
   * Queues bytes; `onWritten` runs once they (and all before them) have been written. Bytes over
   * the coalescing size are written at once, with what is queued before them: a large write
   * wakes its receiver for enough bytes already, and holding it only delays the flow.
   */
  write(data: Buffer, onWritten?: () => void): void {
    if (data.length > 0) {
      this.#pieces.push(data);
      this.#bytes += data.length;
    }
    if (onWritten !== undefined) (this.#onWritten ??= []).push(onWritten);
    if (data.length > COALESCE_BYTES) this.flush();
    else if (data.length > 0 || onWritten !== undefined) this.#list();
  }

  /** Writes what is queued now (the check-phase flush, a large write, or before the end). */
  flush(): void {
    this.#listed = false;
    const pieces = this.#pieces;
    const count = pieces.length;
    const callbacks = this.#onWritten;
    if (count === 0 && callbacks === undefined) return;
    const bytes = this.#bytes;
    this.#bytes = 0;
    this.#onWritten = undefined;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) {
      pieces.length = 0;
      return;
    }
    const onWritten = callbacks === undefined ? undefined : callbackOf(callbacks);
    // socket.write calls back and reports errors asynchronously: nothing is queued meanwhile, and
    // the list is reused.
    if (count === 0) socket.write(EMPTY, onWritten);
    else if (count === 1) {
      const piece = pieces[0]!;
      if (typeof piece === 'string') socket.write(piece, 'latin1', onWritten);
      else socket.write(piece, onWritten);
    } else if (bytes <= COALESCE_BYTES) socket.write(concat(pieces, bytes), onWritten);
    else {
      socket.cork();
      const last = count - 1;
      for (let i = 0; i < count; i++) {
        const piece = pieces[i]!;
        const callback = i === last ? onWritten : undefined;
        if (typeof piece === 'string') socket.write(piece, 'latin1', callback);
        else socket.write(piece, callback);
      }
      socket.uncork();
    }
    pieces.length = 0;
  }

  /** Writes what is queued and `text`, then ends the socket (FIN once written). */
  end(text?: string): void {
    if (text !== undefined) this.writeText(text);
    this.flush();
    if (!this.socket.writableEnded) this.socket.end();
  }

  #list(): void {
    if (this.#listed) return;
    this.#listed = true;
    queued.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushQueued);
    }
  }
}

const EMPTY = Buffer.alloc(0);

function concat(pieces: readonly (string | Buffer)[], bytes: number): Buffer {
  const buffer = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (typeof piece === 'string') offset += buffer.write(piece, offset, 'latin1');
    else {
      buffer.set(piece, offset);
      offset += piece.length;
    }
  }
  return buffer;
}

function callbackOf(callbacks: readonly (() => void)[]): () => void {
  if (callbacks.length === 1) return callbacks[0]!;
  return () => {
    for (const callback of callbacks) callback();
  };
}
