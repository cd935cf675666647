/**
 * SpanBatcher: the only way spans leave a worker. The request path calls `add` (an array push);
 * batches go to the exporter from a timer or when a batch is full, one export at a time. The queue
 * is bounded: when the collector is slow or down, new spans are dropped and counted rather than
 * held in memory or waited for (the request path never blocks on tracing).
 *
 * One batcher per export target (tracing-manager.ts); `close` flushes what is queued and shuts the
 * exporter down, `destroy` drops it (both idempotent).
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

export type SpanExportTarget = Pick<SpanExporter, 'export' | 'shutdown'>;

export interface SpanBatcherOptions {
  readonly exporter: SpanExportTarget;
  /** Spans kept while waiting for export (default 2048, the SDK's BatchSpanProcessor default). */
  readonly maxQueueSize?: number;
  /** Spans per export request (default 512). */
  readonly maxBatchSize?: number;
  /** How long a partial batch may wait (default 1000 ms). */
  readonly scheduleDelayMs?: number;
  readonly onDropped: (count: number) => void;
  readonly onExported: (count: number) => void;
  readonly onExportError?: (error: Error | undefined) => void;
}

export class SpanBatcher {
  readonly #exporter: SpanExportTarget;
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #onDropped: (count: number) => void;
  readonly #onExported: (count: number) => void;
  readonly #onExportError: ((error: Error | undefined) => void) | undefined;
  #queue: ReadableSpan[] = [];
  #timer: NodeJS.Timeout | undefined;
  #exporting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #destroyed = false;

  constructor(options: SpanBatcherOptions) {
    this.#exporter = options.exporter;
    this.#maxQueue = options.maxQueueSize ?? 2048;
    this.#maxBatch = options.maxBatchSize ?? 512;
    this.#delayMs = options.scheduleDelayMs ?? 1000;
    this.#onDropped = options.onDropped;
    this.#onExported = options.onExported;
    this.#onExportError = options.onExportError;
  }

  /** Queues a finished span; drops (and counts) it when the queue is full or the batcher shut. */
  add(span: ReadableSpan): void {
    if (this.#destroyed || this.#queue.length >= this.#maxQueue) {
      this.#onDropped(1);
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#maxBatch) {
      if (this.#exporting === undefined) this.#exportNext();
    } else if (this.#timer === undefined && this.#exporting === undefined) {
      this.#timer = setTimeout(this.#onTimer, this.#delayMs);
      // The batcher never keeps a process alive; close() flushes on the way out.
      this.#timer.unref();
    }
  }

  get queued(): number {
    return this.#queue.length;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#exporting === undefined) this.#exportNext();
  };

  /** Starts one export of up to maxBatch spans; chains the next while spans remain. */
  #exportNext(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queue.length === 0 || this.#destroyed) return;
    const batch =
      this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    this.#exporting = new Promise<void>((resolve) => {
      let settled = false;
      const done = (result: ExportResult): void => {
        if (settled) return;
        settled = true;
        if (result.code === ExportResultCode.SUCCESS) this.#onExported(batch.length);
        else {
          this.#onDropped(batch.length);
          this.#onExportError?.(result.error);
        }
        resolve();
      };
      try {
        this.#exporter.export(batch, done);
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err as Error });
      }
    }).then(() => {
      this.#exporting = undefined;
      if (this.#queue.length >= this.#maxBatch || (this.#closing && this.#queue.length > 0))
        this.#exportNext();
      else if (this.#queue.length > 0 && !this.#destroyed) {
        this.#timer = setTimeout(this.#onTimer, this.#delayMs);
        this.#timer.unref();
      }
    });
  }

  /** Exports everything queued now and resolves once no export is in flight. */
  async flush(): Promise<void> {
    while (!this.#destroyed && (this.#queue.length > 0 || this.#exporting !== undefined)) {
      if (this.#exporting === undefined) this.#exportNext();
      await this.#exporting;
    }
  }

  /** Flushes, then shuts the exporter down. Spans added meanwhile are still exported. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.flush();
      this.#destroyed = true;
      await this.#exporter.shutdown().catch(() => undefined);
    })();
    return this.#closing;
  }

  /** Drops what is queued (counted) and shuts the exporter down without waiting. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queue.length > 0) this.#onDropped(this.#queue.length);
    this.#queue = [];
    void this.#exporter.shutdown().catch(() => undefined);
  }
}
