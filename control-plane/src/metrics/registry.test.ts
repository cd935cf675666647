import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from './registry.js';
import { xdsMetrics } from './xds-metrics.js';
import { Authenticator } from '../api/authenticator.js';
import { HttpApi } from '../api/http-api.js';
import { ManagementService } from '../api/management-service.js';
import { MemoryStore } from '../store/store-memory.js';

describe('MetricsRegistry', () => {
  test('renders counters and gauges in Prometheus text format, labels escaped', () => {
    const registry = new MetricsRegistry();
    const sent = registry.counter('x_bytes_total', 'Bytes.\nSecond line');
    const streams = registry.gauge('x_streams', 'Streams.');
    const byType = registry.counter('x_responses_total', 'Responses.', 'type');
    sent.inc(10);
    sent.inc();
    streams.set(3);
    streams.inc(-1);
    byType.child('lds').inc(2);
    byType.child('a"b\\c').inc();
    assert.equal(
      registry.render(),
      [
        '# HELP x_bytes_total Bytes.\\nSecond line',
        '# TYPE x_bytes_total counter',
        'x_bytes_total 11',
        '# HELP x_streams Streams.',
        '# TYPE x_streams gauge',
        'x_streams 2',
        '# HELP x_responses_total Responses.',
        '# TYPE x_responses_total counter',
        'x_responses_total{type="lds"} 2',
        'x_responses_total{type="a\\"b\\\\c"} 1',
        '',
      ].join('\n'),
    );
  });

  test('a counter never goes down and cannot be set', () => {
    const counter = new MetricsRegistry().counter('c_total', 'C.');
    assert.throws(() => counter.inc(-1), /cannot go down/);
    assert.throws(() => counter.set(5), /cannot be set/);
    assert.equal(counter.get(), 0);
  });

  test('registering a name again returns the same metric, a different kind is refused', () => {
    const registry = new MetricsRegistry();
    const a = registry.counter('same_total', 'A.', 'type');
    assert.equal(registry.counter('same_total', 'A.', 'type'), a);
    assert.throws(() => registry.gauge('same_total', 'A.'), /different metric/);
    assert.throws(() => registry.counter('bad-name', 'B.'), /invalid metric name/);
  });

  test('histograms render cumulative buckets, +Inf, _sum and _count, per label value', () => {
    const registry = new MetricsRegistry();
    const latency = registry.histogram('x_seconds', 'Latency.', [0.1, 1], 'type');
    for (const v of [0.05, 0.1, 0.5, 3]) latency.child('cds').observe(v);
    registry.histogram('y_seconds', 'Plain.', [1]).observe(2);
    assert.equal(
      registry.render(),
      [
        '# HELP x_seconds Latency.',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{type="cds",le="0.1"} 2',
        'x_seconds_bucket{type="cds",le="1"} 3',
        'x_seconds_bucket{type="cds",le="+Inf"} 4',
        'x_seconds_sum{type="cds"} 3.65',
        'x_seconds_count{type="cds"} 4',
        '# HELP y_seconds Plain.',
        '# TYPE y_seconds histogram',
        'y_seconds_bucket{le="1"} 0',
        'y_seconds_bucket{le="+Inf"} 1',
        'y_seconds_sum 2',
        'y_seconds_count 1',
        '',
      ].join('\n'),
    );
  });

  test('histogram buckets must ascend; le is reserved; re-registration must agree', () => {
    const registry = new MetricsRegistry();
    assert.throws(() => registry.histogram('h1', 'H.', [1, 1]), /ascending/);
    assert.throws(() => registry.histogram('h2', 'H.', [1], 'le'), /invalid label name/);
    const h = registry.histogram('h3', 'H.', [1, 2]);
    assert.equal(registry.histogram('h3', 'H.', [1, 2]), h);
    assert.throws(() => registry.histogram('h3', 'H.', [1, 3]), /different metric/);
    assert.throws(() => registry.counter('h3', 'H.'), /different metric/);
  });

  test('xdsMetrics labels responses by short type name', () => {
    const registry = new MetricsRegistry();
    const metrics = xdsMetrics(registry);
    metrics.responses('type.googleapis.com/envoy.config.cluster.v3.Cluster').inc();
    metrics.nacks('type.googleapis.com/envoy.config.listener.v3.Listener').inc(2);
    const text = registry.render();
    assert.match(text, /^ferry_xds_responses_total\{type="cds"\} 1$/m);
    assert.match(text, /^ferry_xds_nacks_total\{type="lds"\} 2$/m);
    assert.match(text, /^ferry_xds_connected_streams 0$/m);
    assert.match(text, /^ferry_store_revision 0$/m);
  });
});

describe('GET /metrics on the management API', () => {
  async function start(token?: string): Promise<{ api: HttpApi; base: string }> {
    const registry = new MetricsRegistry();
    xdsMetrics(registry).bytesSent.inc(42);
    const service = new ManagementService({ store: new MemoryStore() });
    const api = new HttpApi({
      service,
      metrics: registry,
      authenticator: new Authenticator({
        tokens: service.tokens,
        openOnLoopback: true,
        ...(token ? { bootstrapToken: token } : {}),
      }),
    });
    const { port } = await api.listen('127.0.0.1', 0);
    return { api, base: `http://127.0.0.1:${port}` };
  }

  test('serves the registry as Prometheus text', async () => {
    const { api, base } = await start();
    try {
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(await res.text(), /^ferry_xds_bytes_sent_total 42$/m);
    } finally {
      await api.close();
    }
  });

  test('requires the bearer token when one is configured', async () => {
    const { api, base } = await start('s3cret');
    try {
      assert.equal((await fetch(`${base}/metrics`)).status, 401);
      const res = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /ferry_xds_bytes_sent_total 42/);
    } finally {
      await api.close();
    }
  });
});
