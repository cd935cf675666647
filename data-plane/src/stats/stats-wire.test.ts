import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStatsSink } from './stats-memory.js';
import { StatsWireDecoder, StatsWireEncoder, type StatsWire } from './stats-wire.js';
import type { StatsSnapshot } from './stats.js';

/** What the IPC channel does to a message (`serialization: 'advanced'`). */
function overIpc(wire: StatsWire): StatsWire {
  return structuredClone(wire);
}

test('a worker snapshot arrives unchanged, with definitions only for new series', () => {
  const sink = new MemoryStatsSink();
  const encoder = new StatsWireEncoder();
  const decoder = new StatsWireDecoder();
  sink.counter('downstream_rq_2xx', { listener: 'http' }).inc(3);
  sink.gauge('downstream_cx_active', { listener: 'http' }).set(2);
  const latency = sink.histogram('downstream_rq_time', { listener: 'http' });
  latency.observe(3);
  latency.observe(700);

  let snapshot = sink.snapshot();
  let wire = overIpc(encoder.encode(snapshot));
  assert.equal(wire.counters.defs.length, 1);
  assert.equal(wire.histograms.defs.length, 1);
  assert.deepEqual(decoder.decode(wire), snapshot);

  // Values change, no series added: no definitions on the wire.
  sink.counter('downstream_rq_2xx', { listener: 'http' }).inc(4);
  sink.gauge('downstream_cx_active', { listener: 'http' }).set(0);
  latency.observe(12.5);
  snapshot = sink.snapshot();
  wire = overIpc(encoder.encode(snapshot));
  assert.deepEqual(
    [wire.counters.defs.length, wire.gauges.defs.length, wire.histograms.defs.length],
    [0, 0, 0],
  );
  assert.deepEqual(decoder.decode(wire), snapshot);

  // A new series: only it is defined, after the known ones.
  sink.counter('downstream_rq_5xx', { listener: 'http', route: 'r1' }).inc();
  sink.histogram('upstream_rq_time', { cluster: 'backend' }).observe(1);
  snapshot = sink.snapshot();
  wire = overIpc(encoder.encode(snapshot));
  assert.equal(wire.counters.from, 1);
  assert.deepEqual(
    wire.counters.defs.map((d) => d.name),
    ['downstream_rq_5xx'],
  );
  assert.equal(wire.histograms.from, 1);
  assert.deepEqual(decoder.decode(wire), snapshot);
});

test('series whose labels are fresh objects are defined again, and their values stay right', () => {
  const encoder = new StatsWireEncoder();
  const decoder = new StatsWireDecoder();
  const stable = { listener: 'http' };
  const snap = (dropped: number): StatsSnapshot => ({
    counters: [
      { name: 'downstream_rq_total', labels: stable, value: 10 + dropped },
      { name: 'access_log_dropped_total', labels: {}, value: dropped },
    ],
    gauges: [],
    histograms: [],
  });
  assert.deepEqual(decoder.decode(overIpc(encoder.encode(snap(1)))), snap(1));
  const wire = overIpc(encoder.encode(snap(2)));
  assert.equal(wire.counters.from, 1);
  assert.deepEqual(decoder.decode(wire), snap(2));
});

test('a snapshot with fewer series than before drops the missing ones', () => {
  const encoder = new StatsWireEncoder();
  const decoder = new StatsWireDecoder();
  const labels = { process: 'worker-0' };
  const full: StatsSnapshot = {
    counters: [],
    gauges: [
      { name: 'process_heap_used_bytes', labels, value: 1 },
      { name: 'process_resident_memory_bytes', labels, value: 2 },
    ],
    histograms: [],
  };
  decoder.decode(overIpc(encoder.encode(full)));
  const fewer: StatsSnapshot = { ...full, gauges: full.gauges.slice(0, 1) };
  assert.deepEqual(decoder.decode(overIpc(encoder.encode(fewer))), fewer);
});

test('a decoder out of step with its encoder says so instead of mislabelling values', () => {
  const sink = new MemoryStatsSink();
  const encoder = new StatsWireEncoder();
  sink.counter('a_total', {}).inc();
  encoder.encode(sink.snapshot());
  sink.counter('b_total', {}).inc();
  const second = overIpc(encoder.encode(sink.snapshot()));
  // A decoder that missed the first message.
  assert.throws(
    () => new StatsWireDecoder().decode(second),
    /counter definitions start at 1 but 0 are known/,
  );
});

test('values that do not fit the defined series are rejected', () => {
  const sink = new MemoryStatsSink();
  sink.histogram('downstream_rq_time', {}).observe(1);
  const wire = overIpc(new StatsWireEncoder().encode(sink.snapshot()));
  const cut: StatsWire = {
    ...wire,
    histograms: { ...wire.histograms, values: wire.histograms.values.slice(1) },
  };
  assert.throws(() => new StatsWireDecoder().decode(cut), /histogram values do not fit/);
});
