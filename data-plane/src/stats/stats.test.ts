import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStatsSink } from './stats-memory.js';
import { renderPrometheus } from './prometheus.js';
import { StatsAggregator } from './stats-aggregate.js';

test('aggregation sums workers and keeps a retired worker’s counters but not its gauges', () => {
  const w1 = new MemoryStatsSink();
  const w2 = new MemoryStatsSink();
  w1.counter('downstream_rq_2xx', { listener: 'http' }).inc(3);
  w2.counter('downstream_rq_2xx', { listener: 'http' }).inc(4);
  w1.gauge('downstream_cx_active', { listener: 'http' }).set(2);
  w2.gauge('downstream_cx_active', { listener: 'http' }).set(5);
  w1.histogram('downstream_rq_time', { listener: 'http' }).observe(3);
  w2.histogram('downstream_rq_time', { listener: 'http' }).observe(700);

  const agg = new StatsAggregator();
  agg.update(1, w1.snapshot());
  agg.update(2, w2.snapshot());
  let merged = agg.merged();
  assert.equal(merged.counters[0]?.value, 7);
  assert.equal(merged.gauges[0]?.value, 7);
  assert.equal(merged.histograms[0]?.count, 2);

  agg.retire(2);
  merged = agg.merged();
  assert.equal(merged.counters[0]?.value, 7, 'counters never go backwards');
  assert.equal(merged.gauges[0]?.value, 2);
  assert.equal(merged.histograms[0]?.count, 2);

  const text = renderPrometheus(merged);
  assert.match(text, /^# TYPE ferry_downstream_rq_2xx counter$/m);
  assert.match(text, /^ferry_downstream_rq_2xx\{listener="http"\} 7$/m);
  assert.match(text, /^ferry_downstream_cx_active\{listener="http"\} 2$/m);
  assert.match(text, /^ferry_downstream_rq_time_bucket\{listener="http",le="5"\} 1$/m);
  assert.match(text, /^ferry_downstream_rq_time_bucket\{listener="http",le="500"\} 1$/m);
  assert.match(text, /^ferry_downstream_rq_time_bucket\{listener="http",le="1000"\} 2$/m);
  assert.match(text, /^ferry_downstream_rq_time_bucket\{listener="http",le="\+Inf"\} 2$/m);
  assert.match(text, /^ferry_downstream_rq_time_sum\{listener="http"\} 703$/m);
});

test('label values are escaped', () => {
  const sink = new MemoryStatsSink();
  sink.counter('x_total', { route: 'a"b\\c\nd' }).inc();
  assert.match(renderPrometheus(sink.snapshot()), /^ferry_x_total\{route="a\\"b\\\\c\\nd"\} 1$/m);
});
