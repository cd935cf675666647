/**
 * A revision's stored trace context (ApplyOptions.traceparent) joins every replica's publish of it
 * to the write's trace: a replica that did not make the write sees the revision arrive without
 * the write's span in its context (another process's commit), and its `snapshot.build` is then
 * the stored span's child. A revision stored without one is published in a trace of its own, and
 * a replica catching up on history at start joins no old write's trace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { cluster, put } from '../xds/test-support.js';
import { spanContextOfTraceparent, traceIdOfTraceparent, traceparentOf } from './tracing.js';

const STORED = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const exporter = new InMemorySpanExporter();
const tracer = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
}).getTracer('test');

before(() => {
  // As the control plane runs with tracing on (tracing-otlp.ts).
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
after(() => context.disable());

/** Resolves with the `snapshot.build` spans of the next publish of group "default". */
function nextBuilds(cache: SnapshotCache): Promise<ReadableSpan[]> {
  exporter.reset();
  return new Promise((resolve) => {
    const listener = {
      snapshotChanged(): void {
        cache.unwatchGroup('default', listener);
        resolve(exporter.getFinishedSpans().filter((s) => s.name === 'snapshot.build'));
      },
    };
    cache.watchGroup('default', listener);
  });
}

test('a publish of a revision stored with a trace context is that span’s child', async (t) => {
  const store = new MemoryStore();
  const cache = new SnapshotCache({ store, debounceMs: 0, tracer });
  t.after(() => {
    cache.close();
    return store.close();
  });
  await cache.start();

  let builds = nextBuilds(cache);
  await store.apply(put('default', cluster('c1')), { traceparent: STORED });
  const [joined] = await builds;
  assert.ok(joined, 'a snapshot.build span');
  assert.equal(joined.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(joined.parentSpanContext?.spanId, '00f067aa0ba902b7');

  builds = nextBuilds(cache);
  await store.apply(put('default', cluster('c2')));
  const [own] = await builds;
  assert.ok(own, 'a snapshot.build span');
  assert.equal(own.parentSpanContext, undefined, 'no stored context: a trace of its own');
  assert.notEqual(own.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('catching up at start joins no stored trace', async (t) => {
  const store = new MemoryStore();
  await store.apply(put('default', cluster('c1')), { traceparent: STORED });
  const cache = new SnapshotCache({ store, debounceMs: 0, tracer });
  t.after(() => {
    cache.close();
    return store.close();
  });
  exporter.reset();
  await cache.start();
  const builds = exporter.getFinishedSpans().filter((s) => s.name === 'snapshot.build');
  assert.equal(builds.length, 1);
  assert.equal(builds[0]!.parentSpanContext, undefined);
});

test('traceparent round trip: only sampled, valid span contexts are recorded', () => {
  const stored = spanContextOfTraceparent(STORED);
  assert.ok(stored);
  assert.equal(traceparentOf(stored), STORED);
  assert.equal(traceIdOfTraceparent(STORED), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(traceparentOf({ ...stored, traceFlags: 0 }), undefined, 'not sampled');
  assert.equal(traceparentOf(undefined), undefined);
  assert.equal(spanContextOfTraceparent('00-zz-00f067aa0ba902b7-01'), undefined);
  assert.equal(traceIdOfTraceparent('garbage'), undefined);
});
