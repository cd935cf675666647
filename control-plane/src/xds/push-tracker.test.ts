import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MetricsRegistry } from '../metrics/registry.js';
import { xdsMetrics } from '../metrics/xds-metrics.js';
import { FleetTracker } from './fleet.js';
import { PushTracker, type PushState } from './push-tracker.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

function setup(traced: boolean, sampled = true) {
  const registry = new MetricsRegistry();
  const metrics = xdsMetrics(registry);
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(sampled ? {} : { sampler: new AlwaysOffSampler() }),
  });
  const tracker = new PushTracker(metrics, traced ? provider.getTracer('test') : undefined);
  const fleet = new FleetTracker({ connectedProxies: (g) => metrics.connectedProxies(g) });
  const handle = fleet.connect({ id: 'node-1', cluster: 'edge' }, 'ads-sotw', 'peer');
  const state = (): PushState => ({ pushSentAt: -1, pushSpan: undefined, pushTraceId: undefined });
  return { registry, metrics, exporter, tracker, handle, state };
}

describe('PushTracker', () => {
  test('observes push-to-ACK latency once per response, by type; NACKs are not latency', () => {
    const { registry, tracker, handle, state } = setup(false);
    const cds = state();
    const lds = state();
    tracker.sent(cds, handle, 'ads-sotw', CDS, 'v1', '1', 1, undefined);
    tracker.acked(cds, CDS);
    tracker.acked(cds, CDS); // a second ACK of the same nonce is not another observation
    tracker.sent(lds, handle, 'ads-sotw', LDS, 'v1', '2', 1, undefined);
    tracker.nacked(lds, 'bad listener');
    tracker.acked(lds, LDS); // nothing pending after the NACK
    const text = registry.render();
    assert.match(text, /^ferry_xds_push_ack_seconds_count\{type="cds"\} 1$/m);
    assert.match(text, /^ferry_xds_push_ack_seconds_bucket\{type="cds",le="\+Inf"\} 1$/m);
    assert.doesNotMatch(text, /ferry_xds_push_ack_seconds_count\{type="lds"\}/);
  });

  test('tracing on: one xds.push span per response, ended by ack, nack, superseded or disconnect', async () => {
    const { exporter, tracker, handle, state } = setup(true);
    const a = state();
    tracker.sent(a, handle, 'ads-sotw', CDS, 'v1', '1', 2, undefined);
    tracker.sent(a, handle, 'ads-sotw', CDS, 'v2', '2', 2, undefined); // supersedes nonce 1
    tracker.acked(a, CDS);
    const b = state();
    tracker.sent(b, handle, 'ads-sotw', LDS, 'v1', '3', 1, undefined);
    tracker.nacked(b, 'l1: unsupported filter');
    const c = state();
    tracker.sent(c, handle, 'ads-sotw', LDS, 'v2', '4', 1, undefined);
    tracker.finished(c);
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(
      spans.map((s) => [s.name, s.attributes['xds.nonce'], s.attributes['xds.outcome']]),
      [
        ['xds.push', '1', 'superseded'],
        ['xds.push', '2', 'ack'],
        ['xds.push', '3', 'nack'],
        ['xds.push', '4', 'disconnected'],
      ],
    );
    const nack = spans[2]!;
    assert.equal(nack.attributes['xds.node.id'], 'node-1');
    assert.equal(nack.attributes['ferry.group'], 'edge');
    assert.equal(nack.attributes['xds.type_url'], LDS);
    assert.equal(nack.attributes['xds.nack.error'], 'l1: unsupported filter');
    assert.deepEqual(nack.status, {
      code: SpanStatusCode.ERROR,
      message: 'l1: unsupported filter',
    });
    assert.equal(c.pushSpan, undefined);
    await exporter.shutdown();
  });
});

describe('push trace ids', () => {
  /** A stream's subscription as the streams make it: the push state lives on it. */
  const subscription = (): PushState & { wildcard: boolean; names: ReadonlySet<string> } => ({
    wildcard: true,
    names: new Set(),
    pushSentAt: -1,
    pushSpan: undefined,
    pushTraceId: undefined,
  });
  const origin = { spanOptions: {}, revision: 7 };

  test("a recorded push's trace id is on the node's status row, with its revision on the span", async () => {
    const { exporter, tracker, handle } = setup(true);
    const sub = subscription();
    handle.sent(CDS, 'v1', 1, sub);
    tracker.sent(sub, handle, 'ads-sotw', CDS, 'v1', '1', 1, origin);
    tracker.acked(sub, CDS);
    handle.sent(CDS, 'v2', 1, sub);
    tracker.sent(sub, handle, 'ads-sotw', CDS, 'v2', '2', 1, origin);
    const [first] = exporter.getFinishedSpans();
    assert.equal(first?.attributes['ferry.revision'], 7);
    assert.match(sub.pushTraceId ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(
      sub.pushTraceId,
      first?.spanContext().traceId,
      'the latest push, not the first',
    );
    tracker.acked(sub, CDS);
    const last = exporter.getFinishedSpans()[1]!;
    assert.equal(sub.pushTraceId, last.spanContext().traceId);
    await exporter.shutdown();
  });

  test('the fleet status row carries it; nothing with tracing off or a push not sampled', () => {
    for (const [traced, sampled] of [
      [true, true],
      [true, false],
      [false, true],
    ] as const) {
      const registry = new MetricsRegistry();
      const metrics = xdsMetrics(registry);
      const fleet = new FleetTracker({ connectedProxies: (g) => metrics.connectedProxies(g) });
      const handle = fleet.connect({ id: 'n', cluster: 'edge' }, 'ads-sotw', 'peer');
      const { tracker } = setup(traced, sampled);
      const sub = subscription();
      handle.sent(LDS, 'v1', 1, sub);
      tracker.sent(sub, handle, 'ads-sotw', LDS, 'v1', '1', 1, origin);
      const row = fleet.nodes()[0]!.types[0]!;
      if (traced && sampled) {
        assert.match(row.pushTraceId ?? '', /^[0-9a-f]{32}$/);
        assert.equal(row.pushTraceId, sub.pushTraceId);
      } else assert.equal(row.pushTraceId, undefined, `traced ${traced}, sampled ${sampled}`);
    }
  });
});

describe('connected proxies per group', () => {
  test('a node counts once however many streams it has, until its last stream ends', () => {
    const registry = new MetricsRegistry();
    const metrics = xdsMetrics(registry);
    const fleet = new FleetTracker({ connectedProxies: (g) => metrics.connectedProxies(g) });
    const gauge = (group: string): number => metrics.connectedProxies(group).get();
    const a1 = fleet.connect({ id: 'a', cluster: 'edge' }, 'lds', 'p1');
    const a2 = fleet.connect({ id: 'a', cluster: 'edge' }, 'cds', 'p1');
    const b = fleet.connect({ id: 'b', cluster: '' }, 'ads-sotw', 'p2');
    assert.equal(gauge('edge'), 1);
    assert.equal(gauge('default'), 1);
    a1.disconnect();
    a1.disconnect(); // idempotent
    assert.equal(gauge('edge'), 1);
    a2.disconnect();
    b.disconnect();
    assert.equal(gauge('edge'), 0);
    assert.equal(gauge('default'), 0);
    fleet.connect({ id: 'a', cluster: 'edge' }, 'ads-sotw', 'p1');
    assert.equal(gauge('edge'), 1, 'a reconnect counts again');
  });
});
