/**
 * The proxies' outlier ejections as the control plane keeps them: LRS reports in wire form
 * (clusterLoadReports) go into a LoadAggregate, and GET /v1/load/history's view lists per
 * cluster the endpoints ejected now (by which proxies) and the ejections per bucket; replicas'
 * views merge.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterStatsMessage } from '@ferry/proto/grpc';
import { LoadAggregate } from './load-aggregate.js';
import { mergeLoadHistory, parseLoadHistory, type LoadHistoryJson } from './load-history.js';
import { clusterLoadReports } from './lrs-server.js';
import { OUTLIER_EJECTED_METRIC, OUTLIER_EJECTIONS_METRIC } from '@ferry/shared';

const BUCKET_MS = 1000;

/** A LoadAggregate with 4 one-second buckets on a clock the test moves. */
function aggregate(): { load: LoadAggregate; at: (ms: number) => void } {
  let now = 0;
  return {
    load: new LoadAggregate({
      now: () => now,
      history: { bucketMs: BUCKET_MS, buckets: 4 },
    }),
    at: (ms) => {
      now = ms;
    },
  };
}

/** One ClusterStats as ferry-proxy sends it: endpoint → [ejections started, ejected now]. */
function stats(
  cluster: string,
  endpoints: Record<string, [number, boolean]>,
  intervalMs = 1000,
): ClusterStatsMessage {
  return {
    cluster_name: cluster,
    upstream_locality_stats: [
      {
        locality: { region: '', zone: '', sub_zone: '' },
        total_issued_requests: '0',
        upstream_endpoint_stats: Object.entries(endpoints).map(([address, [started, ejected]]) => {
          const [host, port] = address.startsWith('[')
            ? [address.slice(1, address.indexOf(']')), address.slice(address.indexOf(']') + 2)]
            : address.split(':');
          return {
            address: { socket_address: { address: host, port_value: Number(port) } },
            load_metric_stats: [
              ...(started > 0
                ? [
                    {
                      metric_name: OUTLIER_EJECTIONS_METRIC,
                      num_requests_finished_with_metric: String(started),
                      total_metric_value: started,
                    },
                  ]
                : []),
              ...(ejected
                ? [
                    {
                      metric_name: OUTLIER_EJECTED_METRIC,
                      num_requests_finished_with_metric: '1',
                      total_metric_value: 1,
                    },
                  ]
                : []),
            ],
          };
        }),
      },
    ],
    load_report_interval: {
      seconds: String(Math.floor(intervalMs / 1000)),
      nanos: (intervalMs % 1000) * 1_000_000,
    },
  };
}

/** "address by=node,node ejections=a,b,c,d" per endpoint of `cluster`. */
function outliers(view: LoadHistoryJson, cluster: string): string[] {
  const c = view.clusters.find((x) => x.cluster === cluster);
  return (c?.outlier_endpoints ?? []).map(
    (e) =>
      `${e.address} by=${e.ejected_by}:${e.ejected_nodes.join(',')} ejections=${e.ejections.join(',')}`,
  );
}

describe('outlier ejections from LRS reports', () => {
  test('ejected now by which proxies, and the ejections in the window', () => {
    const { load, at } = aggregate();
    at(10_100);
    load.report('a', 'edge', clusterLoadReports([stats('web', { '10.0.0.1:80': [1, true] })]));
    load.report('b', 'edge', clusterLoadReports([stats('web', { '10.0.0.1:80': [1, true] })]));
    at(11_200);
    load.report(
      'a',
      'edge',
      clusterLoadReports([stats('web', { '10.0.0.1:80': [0, true], '[::1]:81': [2, false] })]),
    );
    assert.deepEqual(outliers(load.history.view(), 'web'), [
      '10.0.0.1:80 by=2:a,b ejections=0,0,2,0',
      '[::1]:81 by=0: ejections=0,0,0,2',
    ]);

    // b's next report of web lists nothing: its detector let the endpoint back.
    load.report('b', 'edge', clusterLoadReports([stats('web', {})]));
    assert.deepEqual(outliers(load.history.view(), 'web'), [
      '10.0.0.1:80 by=1:a ejections=0,0,2,0',
      '[::1]:81 by=0: ejections=0,0,0,2',
    ]);
    // The filter of the view applies.
    assert.deepEqual(outliers(load.history.view({ group: 'other' }), 'web'), []);

    // a's stream ends: its ejections in force go, the counted ones stay.
    load.forget('a');
    assert.deepEqual(outliers(load.history.view(), 'web'), [
      '10.0.0.1:80 by=0: ejections=0,0,2,0',
      '[::1]:81 by=0: ejections=0,0,0,2',
    ]);
    // An hour (here 4 buckets) later, nothing is left.
    at(16_000);
    assert.deepEqual(outliers(load.history.view(), 'web'), []);
  });

  test('a change of what the view shows is announced once per report, a repeat is not', () => {
    const { load, at } = aggregate();
    const seen: string[] = [];
    load.history.outliers.changes.on('cluster', (group, cluster) =>
      seen.push(`${group}/${cluster}`),
    );
    const report = (node: string, group: string, endpoints: Record<string, [number, boolean]>) => {
      load.report(node, group, clusterLoadReports([stats('web', endpoints)]));
      return seen.splice(0);
    };
    at(10_000);
    assert.deepEqual(report('a', 'edge', {}), [], 'nothing ejected, nothing changed');
    assert.deepEqual(report('a', 'edge', { '10.0.0.1:80': [1, true] }), ['edge/web']);
    assert.deepEqual(report('a', 'edge', { '10.0.0.1:80': [0, true] }), [], 'the same set again');
    assert.deepEqual(
      report('a', 'edge', { '10.0.0.1:80': [0, true], '10.0.0.2:80': [0, true] }),
      ['edge/web'],
      'another endpoint ejected',
    );
    assert.deepEqual(report('a', 'edge', { '10.0.0.2:80': [0, true] }), ['edge/web'], 'one back');
    assert.deepEqual(
      report('a', 'edge', { '10.0.0.2:80': [1, true] }),
      ['edge/web'],
      'ejected again within the interval: the count changed',
    );
    assert.deepEqual(
      report('a', 'other', {}),
      ['edge/web'],
      'the proxy moved to another group: its ejections in edge end',
    );
    assert.deepEqual(report('b', 'edge', { '10.0.0.3:80': [0, true] }), ['edge/web']);
    load.forget('b');
    assert.deepEqual(seen.splice(0), ['edge/web'], 'a proxy holding an ejection left');
    load.forget('b');
    load.forget('a');
    assert.deepEqual(seen, [], 'nothing held, nothing to announce');
    assert.deepEqual(
      load.history.outlierEvent('edge', 'web').endpoints.map((e) => e.address),
      ['10.0.0.1:80', '10.0.0.2:80'],
    );
  });

  test('a proxy that stopped reporting a cluster no longer counts after three intervals', () => {
    const { load, at } = aggregate();
    at(10_000);
    load.report('a', 'edge', clusterLoadReports([stats('web', { '10.0.0.1:80': [1, true] }, 500)]));
    at(11_400);
    assert.deepEqual(outliers(load.history.view(), 'web'), [
      '10.0.0.1:80 by=1:a ejections=0,0,1,0',
    ]);
    at(11_600);
    assert.deepEqual(outliers(load.history.view(), 'web'), ['10.0.0.1:80 by=0: ejections=0,0,1,0']);
  });

  test("replicas' views merge: proxies united, ejections summed on aligned buckets", () => {
    const one = aggregate();
    const two = aggregate();
    one.at(10_100);
    one.load.report('a', 'edge', clusterLoadReports([stats('web', { '10.0.0.1:80': [1, true] })]));
    // The other replica's clock is one bucket ahead: its buckets start 1 s later.
    two.at(11_100);
    two.load.report('b', 'edge', clusterLoadReports([stats('web', { '10.0.0.1:80': [3, true] })]));
    two.load.report('c', 'edge', clusterLoadReports([stats('api', { '10.0.0.2:80': [1, false] })]));
    const { merged, refused } = mergeLoadHistory(one.load.history.view(), [
      { replica: 'two', view: JSON.parse(JSON.stringify(two.load.history.view())) },
    ]);
    assert.deepEqual(refused, []);
    assert.deepEqual(outliers(merged, 'web'), ['10.0.0.1:80 by=2:a,b ejections=0,0,0,1']);
    assert.deepEqual(outliers(merged, 'api'), []);
    // A replica that predates outlier_endpoints merges without them.
    const old = one.load.history.view();
    const { merged: withOld, refused: none } = mergeLoadHistory(two.load.history.view(), [
      {
        replica: 'old',
        view: { ...old, clusters: old.clusters.map(({ outlier_endpoints: _, ...c }) => c) },
      },
    ]);
    assert.deepEqual(none, []);
    assert.deepEqual(outliers(withOld, 'web'), ['10.0.0.1:80 by=1:b ejections=0,0,0,3']);
    // Malformed ones are refused with why.
    const bad = {
      ...old,
      clusters: old.clusters.map((c) => ({
        ...c,
        outlier_endpoints: [{ address: 'x:1', ejected_nodes: [], ejections: [1] }],
      })),
    };
    const problem = parseLoadHistory(bad);
    assert.equal(typeof problem, 'string');
    assert.match(
      problem as string,
      /malformed outlier endpoints: x:1: ejections is not a list of 4 numbers/,
    );
  });
});
