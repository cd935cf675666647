/**
 * Where formatted access log lines go: a file opened for append (FileSink, through a
 * FileHandle) or process.stdout (StreamSink, a Writable), written asynchronously in
 * batches so the request path only appends a string to an array.
 *
 * - Lines are joined and written once FLUSH_INTERVAL_MS after the first pending one, or at once
 *   when BATCH_BYTES are pending (Envoy buffers the same way: 64 KiB or its file flush interval).
 *   Under load that is one write per ~64 KiB instead of one per event-loop turn: each write is a
 *   libuv threadpool round trip, and per-turn writes cost the request path ~15% of its
 *   throughput. A chunk is whole lines, so files that several workers append to (O_APPEND) never
 *   get interleaved or partial lines.
 * - Backpressure: a stream's write() returned false and 'drain' has not come, or a file's write
 *   is still in flight: nothing more is written meanwhile and lines keep buffering, up to MAX_PENDING_BYTES, beyond which they are dropped and counted
 *   (a stuck disk or a closed pipe must not grow the heap without bound or stall requests).
 * - A write error (e.g. the directory does not exist) is logged once; later lines are dropped
 *   (a file's until a reopen() succeeds).
 * - reopen() (files; logrotate's SIGUSR1 or admin /reopen_logs): every line written before the
 *   call goes to the file that was open (it may have been renamed meanwhile), every line after it
 *   to a fresh open of the path. Nothing is lost across it.
 */
import fsp, { type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Logger } from '@ferry/shared';

const BATCH_BYTES = 64 * 1024;
/** How long a line may wait in memory before it is written (when fewer than BATCH_BYTES wait). */
const FLUSH_INTERVAL_MS = 100;
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

export interface AccessLogSink {
  write(line: string): void;
  /** Lines dropped (backpressure overflow or a failed stream), since the sink was created. */
  readonly dropped: number;
  /** Files: closes the current file once its lines are written and opens the path again. */
  reopen(): void;
  /** Writes what is pending and releases the stream (a file is closed; stdout is not). Idempotent. */
  close(): Promise<void>;
}

/**
 * Lines to a stream the sink does not own (process.stdout): written in batches, never ended;
 * reopen() has nothing to reopen.
 */
export class StreamSink implements AccessLogSink {
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  private failed = false;
  private closing: Promise<void> | undefined;
  dropped = 0;

  constructor(
    private readonly stream: Writable,
    private readonly what: string,
    private readonly logger: Logger,
  ) {
    stream.on('error', (err: Error) => {
      if (!this.failed)
        this.logger.warn(
          { err, access_log: this.what },
          'access log write failed; dropping its lines',
        );
      this.failed = true;
      this.dropped += this.pending.length;
      this.pending = [];
      this.pendingBytes = 0;
    });
  }

  write(line: string): void {
    if (this.failed || this.closing) {
      this.dropped += 1;
      return;
    }
    if (this.pendingBytes >= MAX_PENDING_BYTES) {
      this.dropped += 1;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.waitingDrain) return;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(this.onTimer, FLUSH_INTERVAL_MS);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (!this.waitingDrain) this.flush();
  };

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.failed) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.stream.write(chunk)) {
      this.waitingDrain = true;
      this.stream.once('drain', () => {
        this.waitingDrain = false;
        this.flush();
      });
    }
  }

  reopen(): void {}

  /** Writes what is pending and waits until the stream took it; the stream stays open. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (!this.waitingDrain) this.flush();
    if (this.failed || !this.waitingDrain) return;
    const stream = this.stream;
    await new Promise<void>((resolve) => {
      stream.once('drain', () => resolve());
      stream.once('error', () => resolve());
    });
    // flush() ran on 'drain' before this resolves (its listener was registered first).
  }
}

/**
 * A file opened for append (O_APPEND: several workers' whole-chunk writes never interleave),
 * written through a FileHandle rather than an fs.WriteStream: a stream's writes run through the
 * same Writable functions as the proxied sockets, and a flush every 100 ms among socket traffic
 * made V8 deoptimize those hot functions again and again (seen with --trace-deopt).
 *
 * Same batching and bounds as StreamSink; one write is in flight at a time
 * and lines keep buffering meanwhile (that is the backpressure).
 */
interface Batch {
  readonly chunk: string;
  readonly lines: number;
}

export class FileSink implements AccessLogSink {
  readonly #path: string;
  readonly #logger: Logger;
  #handle: Promise<FileHandle | undefined>;
  #pending: string[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Pending lines should be written now (timer fired, batch full, reopen or close). */
  #due = false;
  #busy = false;
  #failed = false;
  #closing = false;
  /** Lines written before each reopen(), still to go to the file open at that time. */
  readonly #reopens: Batch[] = [];
  #drained: Promise<void> = Promise.resolve();
  dropped = 0;

  constructor(path: string, logger: Logger) {
    this.#path = path;
    this.#logger = logger;
    this.#handle = this.#open();
  }

  write(line: string): void {
    if (this.#failed || this.#closing || this.#pendingBytes >= MAX_PENDING_BYTES) {
      this.dropped += 1;
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (this.#pendingBytes >= BATCH_BYTES) {
      this.#due = true;
      this.#kick();
    } else if (this.#timer === undefined)
      this.#timer = setTimeout(this.#onTimer, FLUSH_INTERVAL_MS);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#due = true;
    this.#kick();
  };

  reopen(): void {
    if (this.#closing) return;
    this.#reopens.push(this.#take());
    this.#failed = false;
    this.#kick();
  }

  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#due = true;
      this.#kick();
    }
    return this.#drained.then(async () => {
      const handle = await this.#handle;
      this.#handle = Promise.resolve(undefined);
      await handle?.close().catch(() => undefined);
    });
  }

  #take(): Batch {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending.length;
    const chunk = lines === 1 ? this.#pending[0]! : this.#pending.join('');
    this.#pending = [];
    this.#pendingBytes = 0;
    return { chunk, lines };
  }

  #kick(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#drained = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        const before = this.#reopens.shift();
        if (before !== undefined) {
          // Lines written before the reopen go to the file that was open then.
          const old = await this.#handle;
          if (old !== undefined) await this.#writeAll(old, before);
          this.#handle = this.#open();
          await old?.close().catch(() => undefined);
          continue;
        }
        if (!this.#due || this.#pending.length === 0) break;
        this.#due = false;
        const batch = this.#take();
        const handle = await this.#handle;
        if (handle === undefined) this.dropped += batch.lines;
        else await this.#writeAll(handle, batch);
      }
    } finally {
      this.#busy = false;
    }
    if (this.#pending.length > 0 && this.#timer === undefined && !this.#closing)
      this.#timer = setTimeout(this.#onTimer, FLUSH_INTERVAL_MS);
  }

  async #open(): Promise<FileHandle | undefined> {
    try {
      return await fsp.open(this.#path, 'a');
    } catch (err) {
      this.#fail(err);
      return undefined;
    }
  }

  async #writeAll(handle: FileHandle, batch: Batch): Promise<void> {
    if (batch.lines === 0) return;
    if (this.#failed) {
      this.dropped += batch.lines;
      return;
    }
    const bytes = Buffer.from(batch.chunk);
    try {
      for (let offset = 0; offset < bytes.length;) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
        offset += bytesWritten;
      }
    } catch (err) {
      this.#fail(err);
      this.dropped += batch.lines;
    }
  }

  #fail(err: unknown): void {
    if (!this.#failed)
      this.#logger.warn(
        { err, access_log: this.#path },
        'access log write failed; dropping its lines until it is reopened',
      );
    this.#failed = true;
    this.dropped += this.#pending.length;
    this.#pending = [];
    this.#pendingBytes = 0;
  }
}

/** A file opened for append, written through a FileHandle (FileSink). */
export function openFileSink(path: string, logger: Logger): AccessLogSink {
  return new FileSink(path, logger);
}

export function stdoutSink(logger: Logger, stream: Writable = process.stdout): AccessLogSink {
  return new StreamSink(stream, 'stdout', logger);
}
