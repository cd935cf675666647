import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { until } from '../test-support/until.js';
import { SpanBatcher, type SpanExportTarget } from './span-batcher.js';

/** An exporter that holds each export until the test settles it. */
class ManualExporter implements SpanExportTarget {
  readonly batches: ReadableSpan[][] = [];
  readonly pending: Array<(result: ExportResult) => void> = [];
  shutdowns = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.batches.push(spans);
    this.pending.push(done);
  }
  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
  settle(code: ExportResultCode): void {
    this.pending.shift()!({ code });
  }
}

const span = (i: number): ReadableSpan => ({ name: `s${i}` }) as unknown as ReadableSpan;

function counting() {
  const counts = { dropped: 0, exported: 0 };
  return {
    counts,
    onDropped: (n: number) => (counts.dropped += n),
    onExported: (n: number) => (counts.exported += n),
  };
}

describe('SpanBatcher', () => {
  test('a full batch is exported at once; one export in flight; the queue is bounded', async () => {
    const exporter = new ManualExporter();
    const c = counting();
    const batcher = new SpanBatcher({
      exporter,
      maxBatchSize: 2,
      maxQueueSize: 3,
      scheduleDelayMs: 60_000,
      ...c,
    });
    batcher.add(span(1));
    batcher.add(span(2)); // full batch: exported now
    assert.equal(exporter.batches.length, 1);
    for (let i = 3; i <= 7; i++) batcher.add(span(i)); // 3 queued, 2 dropped
    assert.equal(batcher.queued, 3);
    assert.equal(c.counts.dropped, 2);
    assert.equal(exporter.batches.length, 1, 'no second export while one is in flight');
    exporter.settle(ExportResultCode.SUCCESS);
    await new Promise((r) => setImmediate(r));
    assert.equal(c.counts.exported, 2);
    assert.deepEqual(
      exporter.batches[1]!.map((s) => s.name),
      ['s3', 's4'],
    );
    exporter.settle(ExportResultCode.FAILED); // a failed export drops its spans, counted
    await new Promise((r) => setImmediate(r));
    assert.equal(c.counts.dropped, 4);
    const closing = batcher.close(); // flushes the rest, then shuts down
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      exporter.batches[2]!.map((s) => s.name),
      ['s5'],
    );
    exporter.settle(ExportResultCode.SUCCESS);
    await closing;
    assert.equal(c.counts.exported, 3);
    assert.equal(exporter.shutdowns, 1);
    batcher.add(span(8));
    assert.equal(c.counts.dropped, 5, 'spans after close are dropped and counted');
  });

  test('a partial batch waits for the timer; destroy drops what is queued', async () => {
    const exporter = new ManualExporter();
    const c = counting();
    const batcher = new SpanBatcher({ exporter, scheduleDelayMs: 1, ...c });
    batcher.add(span(1));
    assert.equal(exporter.batches.length, 0);
    // Hold the event loop open: the batch timer is unref'd.
    const hold = setInterval(() => undefined, 1000);
    try {
      await until(() => exporter.batches.length > 0, 'the timer to export the partial batch');
    } finally {
      clearInterval(hold);
    }
    batcher.add(span(2));
    batcher.destroy();
    batcher.destroy();
    assert.equal(c.counts.dropped, 1);
    assert.equal(exporter.shutdowns, 1);
  });
});
