import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_METRIC } from '@ferry/shared';
import { LoadAggregate, loadJson, type ClusterLoadReport } from './load-aggregate.js';

const NO_LOCALITY = { region: '', zone: '', subZone: '' };

function report(
  cluster: string,
  successful: number,
  error = 0,
  inProgress = 0,
  locality = NO_LOCALITY,
): ClusterLoadReport {
  return {
    cluster,
    localities: [{ locality, successful, error, issued: successful + error, inProgress }],
    dropped: 0,
  };
}

describe('LoadAggregate', () => {
  test('sums interval deltas per node; in-progress is the latest value', () => {
    const load = new LoadAggregate({ now: () => 0 });
    load.report('p1', 'edge', [report('web', 3, 1, 2)]);
    load.report('p1', 'edge', [report('web', 4, 0, 5)]);
    const [web] = load.load();
    assert.equal(web?.cluster, 'web');
    assert.deepEqual(web?.nodes[0]?.localities[0]?.latest, {
      successful: 4,
      error: 0,
      issued: 4,
      inProgress: 5,
      dropped: 0,
    });
    assert.deepEqual(web?.total, { successful: 7, error: 1, issued: 8, inProgress: 5, dropped: 0 });
  });

  test('aggregates per group and cluster over nodes, sorted; filters by group and cluster', () => {
    const load = new LoadAggregate();
    load.report('p2', 'edge', [report('web', 5), report('api', 1)]);
    load.report('p1', 'edge', [report('web', 2, 3)]);
    load.report('p3', 'internal', [report('web', 10)]);
    assert.deepEqual(
      load.load().map((c) => [c.group, c.cluster, c.total.successful, c.nodes.map((n) => n.node)]),
      [
        ['edge', 'api', 1, ['p2']],
        ['edge', 'web', 7, ['p1', 'p2']],
        ['internal', 'web', 10, ['p3']],
      ],
    );
    assert.deepEqual(
      load.load({ group: 'edge', cluster: 'web' }).map((c) => c.total.error),
      [3],
    );
  });

  test('keeps localities apart; one absent from a report had no load in that interval', () => {
    const load = new LoadAggregate();
    const east = { region: 'us', zone: 'east', subZone: '' };
    load.report('p1', 'edge', [report('web', 2, 0, 0, east), report('web', 1)]);
    load.report('p1', 'edge', [report('web', 1)]);
    const localities = load.load()[0]?.nodes[0]?.localities ?? [];
    const byZone = new Map(localities.map((l) => [l.locality.zone, l]));
    assert.equal(byZone.get('east')?.total.successful, 2);
    assert.equal(byZone.get('east')?.latest.successful, 0);
    assert.equal(byZone.get('')?.total.successful, 2);
  });

  test('forget drops the node; a node that changes group starts over', () => {
    const load = new LoadAggregate();
    load.report('p1', 'edge', [report('web', 2)]);
    load.report('p1', 'internal', [report('web', 1)]);
    assert.deepEqual(
      load.load().map((c) => [c.group, c.total.successful]),
      [['internal', 1]],
    );
    load.forget('p1');
    assert.deepEqual(load.load(), []);
  });

  test('loadJson uses LRS field names; named load metrics add up per locality', () => {
    const load = new LoadAggregate({ now: () => 0 });
    const timed = (requests: number, total: number): ClusterLoadReport => {
      const r = report('web', 1, 0);
      return {
        ...r,
        localities: [{ ...r.localities[0]!, metrics: [{ name: LATENCY_METRIC, requests, total }] }],
      };
    };
    load.report('p2', 'edge', [timed(1, 12.5)]);
    load.report('p2', 'edge', [timed(3, 30)]);
    assert.deepEqual(
      load.load({ cluster: 'web' })[0]?.nodes[0]?.localities[0]?.metrics,
      new Map([[LATENCY_METRIC, { requests: 4, total: 42.5 }]]),
    );
    load.forget('p2');
    load.report('p1', 'edge', [{ ...report('web', 2, 1), dropped: 4, intervalMs: 1000 }]);
    assert.deepEqual(loadJson(load, {}), {
      clusters: [
        {
          group: 'edge',
          cluster: 'web',
          total: {
            total_successful_requests: 2,
            total_error_requests: 1,
            total_issued_requests: 3,
            total_requests_in_progress: 0,
            total_dropped_requests: 4,
          },
          nodes: [
            {
              node: 'p1',
              reported_at: '1970-01-01T00:00:00.000Z',
              load_report_interval_ms: 1000,
              dropped: { latest: 4, total: 4 },
              localities: [
                {
                  locality: { region: '', zone: '', sub_zone: '' },
                  latest: {
                    total_successful_requests: 2,
                    total_error_requests: 1,
                    total_issued_requests: 3,
                    total_requests_in_progress: 0,
                    total_dropped_requests: 0,
                  },
                  total: {
                    total_successful_requests: 2,
                    total_error_requests: 1,
                    total_issued_requests: 3,
                    total_requests_in_progress: 0,
                    total_dropped_requests: 0,
                  },
                  load_metric_stats: [],
                },
              ],
            },
          ],
        },
      ],
    });
  });
});
