import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  serviceDefinition,
  type ClusterStatsMessage,
  type LoadStatsRequest,
  type LoadStatsResponse,
  type UpstreamLocalityStatsMessage,
} from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import type { StatsSnapshot } from '../stats/stats.js';
import { buildProxyConfig } from '../config/translate.js';
import { resources } from '../config/translate-test-fixtures.js';
import { until } from '../test-support/until.js';
import { clusterLoadCounters, loadReport, LrsClient, LRS_SERVICE } from './lrs-client.js';

const EAST = { region: 'eu', zone: 'east', sub_zone: '' };
const WEST = { region: 'eu', zone: 'west', sub_zone: 'b' };

/** A snapshot with per-locality counters: cluster → [locality, success, error, active]. */
function snapshot(
  byCluster: Record<string, [typeof EAST, number, number, number][]>,
): StatsSnapshot {
  const counters: StatsSnapshot['counters'][number][] = [];
  const gauges: StatsSnapshot['gauges'][number][] = [];
  for (const [cluster, rows] of Object.entries(byCluster)) {
    for (const [l, success, error, active] of rows) {
      const labels = { cluster, region: l.region, zone: l.zone, sub_zone: l.sub_zone };
      counters.push({ name: 'upstream_locality_rq_success', labels, value: success });
      counters.push({ name: 'upstream_locality_rq_error', labels, value: error });
      gauges.push({ name: 'upstream_locality_rq_active', labels, value: active });
    }
  }
  // Cluster-level stats are not load-report input.
  counters.push({ name: 'upstream_rq_total', labels: { cluster: 'web' }, value: 999 });
  return { counters, gauges, histograms: [] };
}

const key = (l: typeof EAST): string => `${l.region}\u0000${l.zone}\u0000${l.sub_zone}`;

describe('LRS load reports from stats', () => {
  test('per-locality counters of the reported clusters; others ignored', () => {
    const counters = clusterLoadCounters(
      snapshot({
        web: [
          [EAST, 8, 2, 1],
          [WEST, 3, 0, 0],
        ],
        other: [[EAST, 99, 0, 0]],
      }),
      ['web', 'idle'],
    );
    assert.deepEqual(
      [...counters].map(([c, m]) => [c, [...m.values()]]),
      [
        [
          'web',
          [
            { locality: EAST, successful: 8, error: 2, inProgress: 1, timeMs: 0, timed: 0 },
            { locality: WEST, successful: 3, error: 0, inProgress: 0, timeMs: 0, timed: 0 },
          ],
        ],
        ['idle', []],
      ],
    );
  });

  test('reports deltas since the baseline per locality; issued counts started attempts', () => {
    const before = new Map([
      [
        'web',
        new Map([
          [
            key(EAST),
            { locality: EAST, successful: 5, error: 1, inProgress: 2, timeMs: 0, timed: 0 },
          ],
        ]),
      ],
    ]);
    const now = new Map([
      [
        'web',
        new Map([
          [
            key(EAST),
            { locality: EAST, successful: 9, error: 2, inProgress: 3, timeMs: 0, timed: 0 },
          ],
          [
            key(WEST),
            { locality: WEST, successful: 1, error: 0, inProgress: 0, timeMs: 0, timed: 0 },
          ],
        ]),
      ],
      ['idle', new Map()],
    ]);
    const stats = loadReport(now, before, 1500);
    assert.deepEqual(stats[0]?.upstream_locality_stats, [
      {
        locality: EAST,
        total_successful_requests: '4',
        total_error_requests: '1',
        total_requests_in_progress: '3',
        total_issued_requests: '6',
      },
      {
        locality: WEST,
        total_successful_requests: '1',
        total_error_requests: '0',
        total_requests_in_progress: '0',
        total_issued_requests: '1',
      },
    ]);
    assert.deepEqual(stats[0]?.load_report_interval, { seconds: '1', nanos: 500_000_000 });
    assert.deepEqual(stats[1], {
      cluster_name: 'idle',
      upstream_locality_stats: [],
      total_dropped_requests: '0',
      load_report_interval: { seconds: '1', nanos: 500_000_000 },
    });
  });

  test('request time goes as the ferry.upstream_rq_time_ms load metric: a sum of ms over the timed requests', () => {
    const labels = { cluster: 'web', ...EAST };
    const counters = clusterLoadCounters(
      {
        counters: [
          { name: 'upstream_locality_rq_success', labels, value: 4 },
          { name: 'upstream_locality_rq_time_ms', labels, value: 250.5 },
          { name: 'upstream_locality_rq_timed', labels, value: 4 },
        ],
        gauges: [],
        histograms: [],
      },
      ['web'],
    );
    const before = new Map([
      [
        'web',
        new Map([
          [
            key(EAST),
            { locality: EAST, successful: 1, error: 0, inProgress: 0, timeMs: 50.5, timed: 1 },
          ],
        ]),
      ],
    ]);
    const stats = loadReport(counters, before, 1000);
    const locality = (stats[0]?.upstream_locality_stats ?? [])[0];
    assert.deepEqual(locality?.load_metric_stats, [
      {
        metric_name: 'ferry.upstream_rq_time_ms',
        num_requests_finished_with_metric: '3',
        total_metric_value: 200,
      },
    ]);
    // No timed request in the interval: no metric entry (LRS: absent = none).
    assert.equal(
      (loadReport(counters, counters, 1000)[0]?.upstream_locality_stats ?? [])[0]
        ?.load_metric_stats,
      undefined,
    );
  });

  test('a counter that went down counts from zero instead of going negative', () => {
    const at = (successful: number) =>
      new Map([
        [
          'web',
          new Map([
            [
              key(EAST),
              { locality: EAST, successful, error: 0, inProgress: 0, timeMs: 0, timed: 0 },
            ],
          ]),
        ],
      ]);
    const stats = loadReport(at(3), at(50), 0);
    assert.equal(
      (stats[0]?.upstream_locality_stats as { total_successful_requests: string }[])[0]
        ?.total_successful_requests,
      '3',
    );
  });

  test('translate accepts lrs_server self/ads and rejects other config sources', () => {
    const cluster = (lrs: string): string => `
"@type": envoy.config.cluster.v3.Cluster
name: web
type: STATIC
lrs_server: ${lrs}
load_assignment:
  cluster_name: web
  endpoints:
  - lb_endpoints:
    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }`;
    const self = buildProxyConfig(resources(cluster('{ self: {} }')));
    assert.ok(self.ok, self.ok ? '' : self.errors.join('\n'));
    assert.equal(self.value.clusters.web?.lrsServer, 'SELF');
    const ads = buildProxyConfig(resources(cluster('{ ads: {} }')));
    assert.ok(ads.ok && ads.value.clusters.web?.lrsServer === 'ADS');
    const path = buildProxyConfig(resources(cluster('{ path_config_source: { path: /x } }')));
    assert.ok(!path.ok);
    assert.match(path.errors.join('\n'), /lrs_server: only `self: \{\}` or `ads: \{\}`/);
  });
});

describe('LRS client', () => {
  let server: Server;
  let address = '';
  const received: LoadStatsRequest[] = [];
  const calls: ServerDuplexStream<LoadStatsRequest, LoadStatsResponse>[] = [];
  before(async () => {
    server = new Server();
    server.addService(serviceDefinition(LRS_SERVICE), {
      StreamLoadStats: (call: ServerDuplexStream<LoadStatsRequest, LoadStatsResponse>) => {
        calls.push(call);
        let answered = false;
        call.on('data', (request: LoadStatsRequest) => {
          received.push(request);
          if (answered) return;
          answered = true;
          call.write({
            send_all_clusters: true,
            load_reporting_interval: { seconds: '0', nanos: 100_000_000 },
          });
        });
        call.on('error', () => undefined);
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  /** The first locality's stats of `cluster` in a report's cluster_stats. */
  const localityStats = (
    stats: readonly ClusterStatsMessage[] | undefined,
    cluster: string,
  ): UpstreamLocalityStatsMessage | undefined =>
    stats?.find((c) => c.cluster_name === cluster)?.upstream_locality_stats?.[0];

  after(() => {
    for (const call of calls) call.end();
    server.forceShutdown();
  });

  test('sends the node first, then deltas per interval for the named clusters', async () => {
    let total = 4;
    const client = new LrsClient({
      target: address,
      node: { id: 'proxy-1', cluster: 'edge' },
      clusters: () => ['web'],
      stats: () => Promise.resolve(snapshot({ web: [[EAST, total, 0, 0]] })),
      logger: createLogger('test', 'silent'),
    });
    client.start();
    try {
      const reports = (): LoadStatsRequest[] =>
        received.filter((r) => (r.cluster_stats ?? []).length > 0);
      await until(() => reports().length > 0, 'a report with cluster stats');
      total = 7;
      const laterSuccesses = (): number =>
        reports()
          .slice(1)
          .reduce(
            (n, r) => n + Number(localityStats(r.cluster_stats, 'web')?.total_successful_requests),
            0,
          );
      // Reports keep coming every 100 ms; the later ones add up to the counter's growth, once.
      await until(() => laterSuccesses() >= 3, 'later reports adding up to 3 successes');
      assert.equal(laterSuccesses(), 3);
      assert.equal(received[0]?.node?.id, 'proxy-1');
      assert.deepEqual(received[0]?.cluster_stats ?? [], []);
      const [first] = reports();
      assert.equal(first?.cluster_stats?.[0]?.cluster_name, 'web');
      assert.equal(localityStats(first?.cluster_stats, 'web')?.total_successful_requests, '4');
    } finally {
      client.close();
      client.close();
    }
  });
});
