/**
 * ferry-proxy metrics end to end: a proxy with 2 workers (static bootstrap), a known request
 * mix, then /stats/prometheus on the admin endpoint must show exactly that mix — counters by
 * listener/route/status class, histogram counts and buckets, upstream requests, retries and
 * connect failures per cluster, membership gauges and process gauges — with the workers' stats
 * aggregated by the primary.
 *
 * Mix: 7 × 200 (route "ok"), 3 × 404 NR (no route), 2 × 503 UF (route "dead": nothing listens),
 * 1 × 200 after one retry (route "retry": the backend answers 503 to every other request, each
 * answer after 200 ms).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import http from 'node:http';
import {
  eventually,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  startBackend,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Backend,
  type Proxy,
} from './harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Sample lines of the exposition; also checks HELP/TYPE appear once per family. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Set<string>();
  const helped = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
    if (meta) {
      const seen = meta[1] === 'HELP' ? helped : typed;
      assert.ok(!seen.has(meta[2]!), `two ${meta[1]} lines for ${meta[2]}`);
      seen.add(meta[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return samples;
}

/** The value of the one series matching `labels` (a subset), or the sum when `sum` is set. */
function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
  sum = false,
): number | undefined {
  const matching = samples.filter(
    (s) =>
      s.name === `ferry_${name}` && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matching.length === 0) return undefined;
  if (!sum) assert.equal(matching.length, 1, `one series of ${name} ${JSON.stringify(labels)}`);
  return matching.reduce((total, s) => total + s.value, 0);
}

/**
 * Bounds on a histogram's sum from its cumulative buckets: each observation in (le[i-1], le[i]]
 * adds more than le[i-1] and at most le[i].
 */
function bucketBounds(
  samples: Sample[],
  name: string,
  labels: Record<string, string>,
): [number, number] {
  const buckets = samples
    .filter(
      (x) =>
        x.name === `ferry_${name}_bucket` &&
        x.labels.le !== '+Inf' &&
        Object.entries(labels).every(([k, v]) => x.labels[k] === v),
    )
    .map((x) => ({ le: Number(x.labels.le), cumulative: x.value }))
    .sort((a, b) => a.le - b.le);
  let below = 0;
  let above = 0;
  let previous = { le: 0, cumulative: 0 };
  for (const bucket of buckets) {
    const count = bucket.cumulative - previous.cumulative;
    below += count * previous.le;
    above += count * bucket.le;
    previous = bucket;
  }
  return [below, above];
}

/** How long the flaky backend takes to answer: the retried request takes two of these at least. */
const FLAKY_DELAY_MS = 200;

let proxy: Proxy;
let web: Backend;
let flaky: http.Server;
let listenerPort: number;

before(async () => {
  web = await startBackend('web');
  let flakyRequests = 0;
  flaky = http.createServer((req, res) => {
    req.resume();
    flakyRequests++;
    const status = flakyRequests % 2 === 1 ? 503 : 200;
    setTimeout(() => res.writeHead(status, { 'content-length': '0' }).end(), FLAKY_DELAY_MS);
  });
  await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
  const flakyPort = (flaky.address() as { port: number }).port;
  const deadPort = await refusedPort();
  listenerPort = await freePort();
  const routeConfig = {
    name: 'main',
    virtual_hosts: [
      {
        name: 'app',
        domains: ['*'],
        routes: [
          { name: 'ok', match: { prefix: '/ok' }, route: { cluster: 'web' } },
          { name: 'dead', match: { prefix: '/dead' }, route: { cluster: 'dead' } },
          {
            name: 'retry',
            match: { prefix: '/retry' },
            route: { cluster: 'flaky', retry_policy: { retry_on: '5xx', num_retries: 1 } },
          },
        ],
      },
    ],
  };
  proxy = await startProxy({
    concurrency: 2,
    bootstrap: staticBootstrap({
      nodeId: 'metrics',
      listeners: [
        listenerResource('http', listenerPort, [
          { filters: [hcmFilter({ routeConfig }, { stat_prefix: 'ingress' })] },
        ]),
      ],
      clusters: [
        staticClusterResource('web', [web.port]),
        staticClusterResource('dead', [deadPort]),
        staticClusterResource('flaky', [flakyPort]),
      ],
    }),
  });
});

after(async () => {
  await proxy?.stop();
  await web?.close();
  await new Promise<void>((resolve) => (flaky ? flaky.close(() => resolve()) : resolve()));
  await stopAll();
});

test('a known request mix is counted exactly, across 2 workers', async () => {
  const base = `http://127.0.0.1:${listenerPort}`;
  const statuses: number[] = [];
  /** Σ of each request's time as the client saw it (its own connection, start to last byte). */
  let clientMs = 0;
  const send = async (path: string): Promise<void> => {
    const started = performance.now();
    statuses.push((await httpRequest(`${base}${path}`)).status);
    clientMs += performance.now() - started;
  };
  await Promise.all([
    ...Array.from({ length: 7 }, (_, i) => send(`/ok/${i}`)),
    ...Array.from({ length: 3 }, (_, i) => send(`/none/${i}`)),
    ...Array.from({ length: 2 }, (_, i) => send(`/dead/${i}`)),
  ]);
  await send('/retry');
  assert.deepEqual(
    statuses.sort(),
    [200, 200, 200, 200, 200, 200, 200, 200, 404, 404, 404, 503, 503],
  );

  const scrape = async (): Promise<Sample[]> =>
    parse((await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body);
  // The workers' counters reach the primary when it asks (per scrape): wait for all 13.
  const s = await eventually(async () => {
    const samples = await scrape();
    return value(samples, 'downstream_rq_total', {}, true) === 13 &&
      value(samples, 'downstream_cx_active', {}, true) === 0
      ? samples
      : undefined;
  }, 'all 13 requests in the stats');

  const route = (r: string, vhost = 'app'): Record<string, string> => ({
    listener: 'http',
    stat_prefix: 'ingress',
    virtual_host: vhost,
    route: r,
  });
  assert.equal(value(s, 'downstream_rq_2xx', route('ok')), 7);
  assert.equal(value(s, 'downstream_rq_total', route('ok')), 7);
  assert.equal(value(s, 'downstream_rq_2xx', route('retry')), 1);
  assert.equal(value(s, 'downstream_rq_5xx', route('dead')), 2);
  assert.equal(value(s, 'downstream_rq_4xx', route('', '')), 3);
  assert.equal(value(s, 'downstream_rq_4xx', {}, true), 3);
  assert.equal(value(s, 'downstream_rq_5xx', {}, true), 2);
  assert.equal(value(s, 'downstream_rq_2xx', {}, true), 8);

  const hcm = { listener: 'http', stat_prefix: 'ingress' };
  assert.equal(value(s, 'downstream_rq_time_count', hcm), 13);
  assert.equal(value(s, 'downstream_rq_time_bucket', { ...hcm, le: '+Inf' }), 13);
  // Every request took less than 10 min, so the 600000 ms bucket holds them all.
  assert.equal(value(s, 'downstream_rq_time_bucket', { ...hcm, le: '600000' }), 13);
  // The sum is of real durations: each request's time in the proxy lies within the client's
  // time for it, and each falls in its bucket, so the bucket bounds bracket the sum.
  const sum = value(s, 'downstream_rq_time_sum', hcm) ?? 0;
  assert.ok(sum > 0 && sum <= clientMs, `rq_time_sum ${sum} ms, client total ${clientMs} ms`);
  const [below, above] = bucketBounds(s, 'downstream_rq_time', hcm);
  assert.ok(below <= sum && sum <= above, `rq_time_sum ${sum} outside [${below}, ${above}]`);
  // The retried request waited for two answers of the flaky backend (a timer never fires early by
  // more than a millisecond): the sum is in milliseconds and holds at least those.
  assert.ok(sum >= 2 * FLAKY_DELAY_MS - 10, `rq_time_sum ${sum} ms`);

  assert.equal(value(s, 'upstream_rq_2xx', { cluster: 'web' }), 7);
  assert.equal(value(s, 'upstream_rq_total', { cluster: 'web' }), 7);
  assert.equal(value(s, 'upstream_rq_time_count', { cluster: 'web' }), 7);
  assert.equal(value(s, 'upstream_rq_time_bucket', { cluster: 'web', le: '+Inf' }), 7);
  assert.equal(value(s, 'upstream_rq_retry', { cluster: 'flaky' }), 1);
  assert.equal(value(s, 'upstream_rq_2xx', { cluster: 'flaky' }), 1);
  // Envoy counts every attempt in upstream_rq_total and the retried 503 apart from the final 200.
  assert.equal(value(s, 'upstream_rq_total', { cluster: 'flaky' }), 2);
  assert.equal(value(s, 'retry_upstream_rq_5xx', { cluster: 'flaky' }), 1);
  assert.equal(value(s, 'upstream_rq_5xx', { cluster: 'flaky' }) ?? 0, 0);
  assert.equal(value(s, 'upstream_cx_connect_fail', { cluster: 'dead' }), 2);
  assert.equal(value(s, 'upstream_rq_total', { cluster: 'dead' }) ?? 0, 0);
  assert.equal(value(s, 'upstream_rq_retry', { cluster: 'web' }), 0);

  assert.equal(value(s, 'downstream_cx_total', { listener: 'http' }, true), 13);
  assert.equal(value(s, 'downstream_rq_active', { listener: 'http' }, true), 0);
  for (const cluster of ['web', 'dead', 'flaky']) {
    assert.equal(value(s, 'membership_total', { cluster }), 1);
    assert.equal(value(s, 'membership_healthy', { cluster }), 1);
  }

  assert.equal(value(s, 'xds_connected'), 0);
  assert.equal(value(s, 'workers_live'), 2);
  assert.equal(value(s, 'access_log_dropped_total'), 0);
  const processes = s
    .filter((x) => x.name === 'ferry_process_resident_memory_bytes')
    .map((x) => x.labels.process)
    .sort();
  assert.equal(processes.length, 3);
  assert.equal(processes[0], 'primary');
  for (const x of s.filter((y) => y.name === 'ferry_process_resident_memory_bytes'))
    assert.ok(x.value > 0);
  assert.equal(s.filter((x) => x.name === 'ferry_event_loop_delay_p99_ms').length, 3);
});
