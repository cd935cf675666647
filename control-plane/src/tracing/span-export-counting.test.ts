import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MetricsRegistry } from '../metrics/registry.js';
import { tracingMetrics } from '../metrics/tracing-metrics.js';
import { BoundedSpanProcessor, CountingSpanExporter } from './span-export-counting.js';

/** Records what reaches the batch processor (the seam the bounded processor guards). */
class RecordingProcessor implements SpanProcessor {
  readonly ended: ReadableSpan[] = [];
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.ended.push(span);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** An exporter answering each export with the next scripted result. */
class ScriptedExporter implements SpanExporter {
  constructor(private readonly results: ExportResultCode[]) {}
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: this.results.shift() ?? ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('span export counting', () => {
  test('spans beyond the queue bound are dropped and counted; exported room is reused', () => {
    const registry = new MetricsRegistry();
    const metrics = tracingMetrics(registry);
    const cursor = { handed: 0 };
    const inner = new RecordingProcessor();
    const provider = new BasicTracerProvider({
      spanProcessors: [new BoundedSpanProcessor(inner, cursor, 3, metrics)],
    });
    const tracer = provider.getTracer('test');
    for (let i = 0; i < 5; i++) tracer.startSpan(`s${i}`).end();
    assert.equal(inner.ended.length, 3);
    assert.equal(metrics.spansDropped('queue_full').get(), 2);
    cursor.handed += 3; // the batch processor handed its queue to the exporter
    for (let i = 0; i < 2; i++) tracer.startSpan(`t${i}`).end();
    assert.equal(inner.ended.length, 5);
    assert.equal(metrics.spansDropped('queue_full').get(), 2);
  });

  test('unsampled spans are neither queued nor counted as dropped', () => {
    const metrics = tracingMetrics(new MetricsRegistry());
    const inner = new RecordingProcessor();
    const provider = new BasicTracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [new BoundedSpanProcessor(inner, { handed: 0 }, 1, metrics)],
    });
    for (let i = 0; i < 3; i++) provider.getTracer('test').startSpan('x').end();
    assert.equal(inner.ended.length, 0);
    assert.equal(metrics.spansDropped('queue_full').get(), 0);
  });

  test('exported and failed exports are counted by span', () => {
    const registry = new MetricsRegistry();
    const metrics = tracingMetrics(registry);
    const cursor = { handed: 0 };
    const exporter = new CountingSpanExporter(
      new ScriptedExporter([ExportResultCode.SUCCESS, ExportResultCode.FAILED]),
      cursor,
      metrics,
    );
    const spans = (n: number): ReadableSpan[] => new Array<ReadableSpan>(n);
    exporter.export(spans(4), () => undefined);
    exporter.export(spans(2), () => undefined);
    assert.equal(cursor.handed, 6);
    assert.match(registry.render(), /^ferry_tracing_spans_exported_total 4$/m);
    assert.match(
      registry.render(),
      /^ferry_tracing_spans_dropped_total\{reason="export_failed"\} 2$/m,
    );
  });
});
