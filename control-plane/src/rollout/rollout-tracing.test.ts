/**
 * Every rollout step is traced: a `rollout` span per step, and the snapshot build its commit
 * triggers is that span's child (the pushes link to the build, as for an apply).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { CDS, cluster, put } from '../xds/test-support.js';
import { RolloutController } from './rollout-controller.js';
import { DEFAULT_GATES } from './rollout-record.js';

void test('rollout steps are spans, parents of the snapshot builds they cause', async () => {
  // As the control plane runs with tracing on (tracing-otlp.ts).
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('test');
  const store = new MemoryStore();
  await store.apply(put('default', cluster('c1')));
  const cache = new SnapshotCache({ store, debounceMs: 0, tracer });
  await cache.start();
  const node = {
    node: { id: 'p1', cluster: 'default' },
    group: 'default',
    connected: true,
    types: new Map(),
  };
  const controller = new RolloutController({
    store,
    cache,
    fleet: { views: () => [node] },
    tracer,
  });
  const candidate = cluster('c1', { connectTimeoutSeconds: 3 });
  await controller.begin(
    {
      name: 'rollout-1',
      group: 'default',
      state: 'PROGRESSING',
      changes: [
        { typeUrl: CDS, name: 'c1', put: { value: candidate.bytes, version: candidate.version } },
      ],
      stages: [{ count: 1 }],
      selectors: [],
      bakeMs: 0,
      gates: DEFAULT_GATES,
      stage: 0,
      updatedNodes: [],
      stageStartedAt: 0,
      reason: '',
      createdBy: 'alice',
      createdAt: 0,
      updatedAt: 0,
      message: '',
      baseRevision: 1,
    },
    'alice',
  );
  await controller.tick(); // stage 1: p1
  await controller.act('default', 'abort', 'bob');
  const spans = exporter.getFinishedSpans();
  const steps = spans.filter((s) => s.name === 'rollout');
  assert.deepEqual(
    steps.map((s) => s.attributes['ferry.rollout.step']),
    ['started', 'stage 1', 'aborted'],
  );
  assert.equal(steps[1]?.attributes['ferry.rollout.updated_proxies'], 1);
  assert.equal(steps[1]?.attributes['ferry.group'], 'default');
  const stageSpan = steps[1].spanContext().spanId;
  const builds = spans.filter((s) => s.name === 'snapshot.build');
  assert.ok(
    builds.some((b) => b.parentSpanContext?.spanId === stageSpan),
    'the stage push is built under the stage span',
  );
  await controller.close();
  cache.close();
  context.disable();
});
