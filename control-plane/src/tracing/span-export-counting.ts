/**
 * Counting around the SDK's BatchSpanProcessor, so that `GET /metrics` shows spans exported and
 * spans lost (the exporter never blocks: its queue is bounded and drops are counted).
 *
 * The batch processor drops silently when its queue is full. To count exactly, the queue bound is
 * enforced here instead: the spans handed to the batch processor minus the spans it has handed to
 * the exporter are the ones in its queue, and a span that would exceed `maxQueueSize` is dropped
 * (and counted) before it reaches the processor, which therefore never drops on its own.
 */
import { TraceFlags, type Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type {
  ReadableSpan,
  Span,
  SpanExporter,
  SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { TracingMetrics } from '../metrics/tracing-metrics.js';

/** Spans handed to the exporter, shared by the exporter wrapper and the processor wrapper. */
export interface ExportCursor {
  handed: number;
}

export class CountingSpanExporter implements SpanExporter {
  constructor(
    private readonly exporter: SpanExporter,
    private readonly cursor: ExportCursor,
    private readonly metrics: TracingMetrics,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.cursor.handed += spans.length;
    this.exporter.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.metrics.spansExported.inc(spans.length);
      else this.metrics.spansDropped('export_failed').inc(spans.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve();
  }
}

export class BoundedSpanProcessor implements SpanProcessor {
  private passed = 0;

  /** `batch` must export through a CountingSpanExporter sharing `cursor`. */
  constructor(
    private readonly batch: SpanProcessor,
    private readonly cursor: ExportCursor,
    private readonly maxQueueSize: number,
    private readonly metrics: TracingMetrics,
  ) {}

  onStart(span: Span, parentContext: Context): void {
    this.batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    // The batch processor ignores unsampled spans too; they are not lost, just not wanted.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.passed - this.cursor.handed >= this.maxQueueSize) {
      this.metrics.spansDropped('queue_full').inc();
      return;
    }
    this.passed += 1;
    this.batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }
}
