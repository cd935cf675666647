/**
 * renderPrometheus against a strict reader of the text exposition format 0.0.4: families are
 * contiguous with one HELP and one TYPE before their samples, names and labels are valid, no
 * series repeats, histogram buckets are cumulative with ascending `le` ending at +Inf, and
 * +Inf equals `_count`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStatsSink } from './stats-memory.js';
import { LATENCY_BUCKETS_MS, StatusClassCounters } from './stats.js';
import { renderPrometheus } from './prometheus.js';
import { StatsAggregator } from './stats-aggregate.js';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    assert.ok(eq > i, `label without "=": ${line}`);
    const name = text.slice(i, eq);
    assert.match(name, LABEL, `bad label name in: ${line}`);
    assert.equal(text[eq + 1], '"', `unquoted label value: ${line}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        assert.ok(next === '\\' || next === '"' || next === 'n', `bad escape in: ${line}`);
        value += next === 'n' ? '\n' : next;
      } else value += text[j];
    }
    assert.equal(text[j], '"', `unterminated label value: ${line}`);
    assert.ok(!(name in labels), `repeated label ${name}: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      assert.equal(text[i], ',', `expected "," between labels: ${line}`);
      i++;
    }
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  assert.match(text, /^-?\d+(\.\d+)?(e[+-]?\d+)?$/, `bad value ${text}`);
  return Number(text);
}

/** Checks the whole text; returns the samples by family. */
export function checkExposition(text: string): Map<string, { type: string; samples: Sample[] }> {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const families = new Map<string, { type: string; help: boolean; samples: Sample[] }>();
  const closed = new Set<string>();
  let current: string | undefined;
  const seriesSeen = new Set<string>();
  const familyOf = (sample: string): string | undefined => {
    if (current === undefined) return undefined;
    const type = families.get(current)!.type;
    if (type === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count'])
        if (sample === current + suffix) return current;
    return sample === current ? current : undefined;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    assert.notEqual(line, '', 'no empty lines');
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      assert.match(name!, NAME);
      if (current !== name) {
        if (current !== undefined) closed.add(current);
        assert.ok(!closed.has(name!), `family ${name} is not contiguous`);
        assert.ok(!families.has(name!) || current === name, `family ${name} repeated`);
        current = name;
      }
      const family = families.get(name!) ?? { type: '', help: false, samples: [] };
      families.set(name!, family);
      assert.equal(family.samples.length, 0, `${kind} after samples of ${name}`);
      if (kind === 'HELP') {
        assert.ok(!family.help, `two HELP lines for ${name}`);
        family.help = true;
      } else {
        assert.equal(family.type, '', `two TYPE lines for ${name}`);
        assert.ok(['counter', 'gauge', 'histogram'].includes(rest!), `type ${rest}`);
        family.type = rest!;
      }
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const family = familyOf(m[1]!);
    assert.ok(family, `sample ${m[1]} outside its family (after # TYPE ${current})`);
    const entry = families.get(family)!;
    assert.ok(entry.help && entry.type, `${family}: HELP and TYPE come first`);
    const labels = parseLabels(m[3] ?? '', line);
    const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seriesSeen.has(key), `duplicate series: ${line}`);
    seriesSeen.add(key);
    const value = parseValue(m[4]!);
    if (entry.type === 'counter') assert.ok(value >= 0, `negative counter: ${line}`);
    entry.samples.push({ name: m[1]!, labels, value });
  }
  for (const [name, family] of families) {
    assert.ok(family.type !== '', `${name}: no TYPE`);
    if (family.type === 'histogram') checkHistogram(name, family.samples);
  }
  return families;
}

function checkHistogram(name: string, samples: Sample[]): void {
  const bySeries = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const series = bySeries.get(key) ?? { buckets: [] };
    bySeries.set(key, series);
    if (s.name.endsWith('_bucket')) {
      assert.ok(le !== undefined, `${s.name} without le`);
      series.buckets.push([parseValue(le), s.value]);
    } else {
      assert.equal(le, undefined, `${s.name} has le`);
      if (s.name.endsWith('_sum')) series.sum = s.value;
      else series.count = s.value;
    }
  }
  for (const [key, series] of bySeries) {
    const where = `${name}${key}`;
    assert.ok(series.sum !== undefined && series.count !== undefined, `${where}: _sum/_count`);
    assert.ok(series.buckets.length > 0, `${where}: no buckets`);
    for (let i = 1; i < series.buckets.length; i++) {
      assert.ok(series.buckets[i]![0] > series.buckets[i - 1]![0], `${where}: le ascending`);
      assert.ok(series.buckets[i]![1] >= series.buckets[i - 1]![1], `${where}: cumulative`);
    }
    const last = series.buckets[series.buckets.length - 1]!;
    assert.equal(last[0], Infinity, `${where}: last bucket is +Inf`);
    assert.equal(last[1], series.count, `${where}: +Inf bucket = _count`);
  }
}

test('a realistic snapshot passes the strict exposition checker', () => {
  const agg = new StatsAggregator();
  for (const worker of [1, 2]) {
    const sink = new MemoryStatsSink();
    const labels = { listener: 'http', stat_prefix: 'ingress', route: 'api' };
    const rq = new StatusClassCounters(sink, 'downstream_rq', labels);
    for (const status of [200, 200, 404, 503]) rq.record(status);
    const time = sink.histogram('downstream_rq_time', { listener: 'http', stat_prefix: 'ingress' });
    for (const ms of [0.2, 3, 3, 70, 4000, 9e6]) time.observe(ms);
    sink.histogram('upstream_rq_time', { cluster: 'web' }).observe(12);
    sink.counter('upstream_rq_retry', { cluster: 'web' }).inc();
    sink.gauge('downstream_cx_active', { listener: 'http' }).set(worker);
    sink.counter('odd"name', { 'bad-label': 'a"b\\c\nd' }).inc();
    agg.update(worker, sink.snapshot());
  }
  const merged = agg.merged();
  const text = renderPrometheus({
    ...merged,
    gauges: [...merged.gauges, { name: 'xds_connected', labels: {}, value: 1 }],
  });
  const families = checkExposition(text);
  assert.equal(families.get('ferry_downstream_rq_total')?.samples[0]?.value, 8);
  const time = families.get('ferry_downstream_rq_time')!;
  assert.equal(time.type, 'histogram');
  const buckets = time.samples.filter((s) => s.name.endsWith('_bucket'));
  assert.equal(buckets.length, LATENCY_BUCKETS_MS.length + 1);
  const at = (le: string): number | undefined => buckets.find((b) => b.labels.le === le)?.value;
  assert.equal(at('0.5'), 2);
  assert.equal(at('5'), 6);
  assert.equal(at('100'), 8);
  assert.equal(at('5000'), 10);
  assert.equal(at('3600000'), 10);
  assert.equal(at('+Inf'), 12);
  assert.match(text, /^# HELP ferry_downstream_rq_time Downstream request time/m);
});

test('the checker rejects what Prometheus would', () => {
  const bad = [
    '# TYPE a counter\na 1\n# TYPE a counter\na{x="1"} 1\n',
    '# HELP a x\n# TYPE a counter\na 1\n# HELP b y\n# TYPE b counter\nb 1\na{x="2"} 1\n',
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
    '# HELP a x\n# TYPE a counter\na{x="1} 1\n',
    '# HELP a x\n# TYPE a counter\na 1\na 2\n',
  ];
  for (const text of bad) assert.throws(() => checkExposition(text), text);
});
