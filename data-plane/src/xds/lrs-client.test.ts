import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { serviceDefinition } from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import type { StatsSnapshot } from '../http/stats.js';
import { buildProxyConfig } from '../config/translate.js';
import { resources } from '../config/translate-test-fixtures.js';
import { clusterLoadCounters, loadReport, LrsClient, LRS_SERVICE } from './lrs-client.js';

function snapshot(
  counters: Record<string, Record<string, number>>,
  active: Record<string, number> = {},
): StatsSnapshot {
  return {
    counters: Object.entries(counters).flatMap(([cluster, byName]) =>
      Object.entries(byName).map(([name, value]) => ({ name, labels: { cluster }, value })),
    ),
    gauges: Object.entries(active).map(([cluster, value]) => ({
      name: 'upstream_rq_active',
      labels: { cluster },
      value,
    })),
    histograms: [],
  };
}

function localityStats(stats: any[], cluster: string): any {
  return stats.find((s) => s.cluster_name === cluster)?.upstream_locality_stats[0];
}

describe('LRS load reports from stats', () => {
  test('successful = responses minus 5xx; error = 5xx + timeouts + resets; other clusters ignored', () => {
    const counters = clusterLoadCounters(
      snapshot(
        {
          web: {
            upstream_rq_total: 10,
            upstream_rq_5xx: 2,
            upstream_rq_timeout: 1,
            upstream_rq_rx_reset: 1,
          },
          other: { upstream_rq_total: 99 },
        },
        { web: 3 },
      ),
      ['web'],
    );
    assert.deepEqual([...counters], [['web', { successful: 8, error: 4, inProgress: 3 }]]);
  });

  test('a cluster with no traffic yet reports zeros', () => {
    const counters = clusterLoadCounters(snapshot({}), ['idle']);
    assert.deepEqual([...counters], [['idle', { successful: 0, error: 0, inProgress: 0 }]]);
  });

  test('reports deltas since the baseline under one empty locality; issued counts started requests', () => {
    const before = new Map([['web', { successful: 5, error: 1, inProgress: 2 }]]);
    const now = new Map([['web', { successful: 9, error: 2, inProgress: 3 }]]);
    const stats = loadReport(now, before, 1500);
    assert.equal(stats.length, 1);
    assert.deepEqual(localityStats(stats, 'web'), {
      locality: {},
      total_successful_requests: '4',
      total_error_requests: '1',
      total_requests_in_progress: '3',
      total_issued_requests: '6',
    });
    assert.deepEqual(stats[0]?.load_report_interval, { seconds: '1', nanos: 500_000_000 });
  });

  test('a counter that went down counts from zero instead of going negative', () => {
    const before = new Map([['web', { successful: 50, error: 0, inProgress: 0 }]]);
    const now = new Map([['web', { successful: 3, error: 0, inProgress: 0 }]]);
    assert.equal(localityStats(loadReport(now, before, 0), 'web').total_successful_requests, '3');
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
  const received: any[] = [];
  const calls: ServerDuplexStream<any, any>[] = [];
  before(async () => {
    server = new Server();
    server.addService(serviceDefinition(LRS_SERVICE), {
      StreamLoadStats: (call: ServerDuplexStream<any, any>) => {
        calls.push(call);
        let answered = false;
        call.on('data', (request: any) => {
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
      stats: () => Promise.resolve(snapshot({ web: { upstream_rq_total: total } })),
      logger: createLogger('test', 'silent'),
    });
    client.start();
    try {
      const reports = (): any[] => received.filter((r) => (r.cluster_stats ?? []).length > 0);
      while (reports().length < 1) await new Promise((r) => setTimeout(r, 10));
      total = 7;
      const laterSuccesses = (): number =>
        reports()
          .slice(1)
          .reduce(
            (n, r) => n + Number(localityStats(r.cluster_stats, 'web').total_successful_requests),
            0,
          );
      // Reports keep coming every 100 ms; the later ones add up to the counter's growth, once.
      while (laterSuccesses() < 3) await new Promise((r) => setTimeout(r, 10));
      assert.equal(laterSuccesses(), 3);
      assert.equal(received[0]?.node?.id, 'proxy-1');
      assert.deepEqual(received[0]?.cluster_stats ?? [], []);
      const [first] = reports();
      assert.equal(first.cluster_stats[0].cluster_name, 'web');
      assert.equal(localityStats(first.cluster_stats, 'web').total_successful_requests, '4');
    } finally {
      client.close();
      client.close();
    }
  });
});
