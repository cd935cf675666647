/**
 * Where formatted access log lines go: a Writable (a file opened for append, or process.stdout),
 * written asynchronously in batches so the request path only appends a string to an array.
 *
 * - Lines written during one event-loop turn are joined and written once, on setImmediate, or
 *   at once when BATCH_BYTES are pending.
 * - Backpressure: after a write() returns false nothing more is written until 'drain'; lines
 *   keep buffering meanwhile, up to MAX_PENDING_BYTES, beyond which they are dropped and counted
 *   (a stuck disk or a closed pipe must not grow the heap without bound or stall requests).
 * - A stream error (e.g. the directory does not exist) is logged once; later lines are dropped.
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Logger } from '@ferry/shared';

const BATCH_BYTES = 64 * 1024;
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

export interface AccessLogSink {
  write(line: string): void;
  /** Lines dropped (backpressure overflow or a failed stream). */
  readonly dropped: number;
  /** Writes what is pending and releases the stream (a file is closed; stdout is not). Idempotent. */
  close(): Promise<void>;
}

export class BufferedStreamSink implements AccessLogSink {
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private waitingDrain = false;
  private failed = false;
  private closing: Promise<void> | undefined;
  dropped = 0;

  /**
   * @param stream the destination
   * @param owned true when close() should end the stream (files), false for process.stdout
   */
  constructor(
    private readonly stream: Writable,
    private readonly owned: boolean,
    private readonly what: string,
    private readonly logger: Logger,
  ) {
    stream.on('error', (err: Error) => {
      if (!this.failed)
        this.logger.warn({ err, access_log: what }, 'access log write failed; dropping its lines');
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
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onImmediate);
    }
  }

  private readonly onImmediate = (): void => {
    this.scheduled = false;
    if (!this.waitingDrain) this.flush();
  };

  private flush(): void {
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

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (!this.waitingDrain) this.flush();
    if (this.failed) return;
    if (this.waitingDrain)
      await new Promise<void>((resolve) => {
        this.stream.once('drain', () => resolve());
        this.stream.once('error', () => resolve());
      });
    // flush() ran on 'drain' before this resolves (its listener was registered first).
    if (!this.owned) return;
    await new Promise<void>((resolve) => {
      this.stream.once('error', () => resolve());
      this.stream.end(() => resolve());
    });
  }
}

/** A file opened for append (O_APPEND: several workers' whole-chunk writes never interleave). */
export function openFileSink(path: string, logger: Logger): AccessLogSink {
  return new BufferedStreamSink(fs.createWriteStream(path, { flags: 'a' }), true, path, logger);
}

export function stdoutSink(logger: Logger, stream: Writable = process.stdout): AccessLogSink {
  return new BufferedStreamSink(stream, false, 'stdout', logger);
}
