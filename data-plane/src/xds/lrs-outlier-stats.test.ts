/**
 * Outlier ejections in the LRS report: a real OutlierManager (as the primary runs it) ejects an
 * endpoint, and loadReport lists it under its locality's upstream_endpoint_stats with the
 * ferry.outlier_ejections / ferry.outlier_ejected load metrics; then the deltas across reports.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterModel } from '../config/model.js';
import type { UpstreamLocalityStatsMessage } from '@ferry/proto/grpc';
import { OUTLIER_DEFAULTS } from '../config/translate-outlier.js';
import { OutlierManager } from '../health/outlier-manager.js';
import { endpoint, lbCluster, locality } from '../upstream/load-balancer-fixtures.js';
import { clusterLoadCounters, loadReport, type LoadBaseline } from './lrs-client.js';
import {
  lrsOutliers,
  outlierBaseline,
  type OutlierBaseline,
  type OutlierCounters,
} from './lrs-outlier-stats.js';
import { OUTLIER_EJECTED_METRIC, OUTLIER_EJECTIONS_METRIC } from '@ferry/shared';

const EAST = { region: 'eu', zone: 'east', subZone: '' };
const WEST = { region: 'eu', zone: 'west', subZone: 'b' };

/** Cluster "web": 127.0.0.1:1001 in eu/east, 127.0.0.1:1002 and [::1]:1003 in eu/west. */
function setup(): OutlierManager {
  const model: ClusterModel = {
    ...lbCluster('ROUND_ROBIN', [
      { ...locality([endpoint('127.0.0.1', 1001)]), locality: EAST },
      { ...locality([endpoint('127.0.0.1', 1002), endpoint('::1', 1003)]), locality: WEST },
    ]),
    name: 'web',
    outlier: {
      ...OUTLIER_DEFAULTS,
      consecutive5xx: 2,
      maxEjectionPercent: 100,
      baseEjectionTimeMs: 1000,
    },
  };
  const manager = new OutlierManager({ random: () => 0, onEjections: () => undefined });
  manager.apply({ web: model });
  return manager;
}

const fail = (manager: OutlierManager, host: string): void =>
  manager.report({ web: { [host]: [503, 503] } });

/** One report of cluster "web" (no request counts, as when nothing was sent). */
function report(
  current: OutlierCounters,
  baseline: OutlierBaseline,
): { localities: readonly UpstreamLocalityStatsMessage[]; next: OutlierBaseline } {
  const counters: LoadBaseline = clusterLoadCounters({ counters: [], gauges: [], histograms: [] }, [
    'web',
  ]);
  const stats = loadReport(counters, counters, 1000, { current, baseline });
  return { localities: stats[0]?.upstream_locality_stats ?? [], next: outlierBaseline(current) };
}

/** The endpoints a report lists: "zone address:port metric=value ...". */
function endpoints(localities: readonly UpstreamLocalityStatsMessage[]): string[] {
  return localities.flatMap((l) =>
    (l.upstream_endpoint_stats ?? []).map(
      (e) =>
        `${l.locality?.zone} ${e.address?.socket_address?.address}:${e.address?.socket_address?.port_value} ` +
        (e.load_metric_stats ?? [])
          .map(
            (m) =>
              `${m.metric_name}=${m.total_metric_value}/${m.num_requests_finished_with_metric}`,
          )
          .join(' '),
    ),
  );
}

describe('LRS reports of outlier ejections', () => {
  test('an endpoint the detector ejects is listed under its locality, ejected and once ejected', () => {
    const manager = setup();
    let baseline: OutlierBaseline = new Map();
    let r = report(lrsOutliers(manager.endpointStates(['web', 'other'])), baseline);
    assert.deepEqual(r.localities, [], 'nothing ejected: no endpoint, no locality without load');
    baseline = r.next;

    fail(manager, '[::1]:1003');
    r = report(lrsOutliers(manager.endpointStates(['web'])), baseline);
    assert.deepEqual(endpoints(r.localities), [
      `west ::1:1003 ${OUTLIER_EJECTIONS_METRIC}=1/1 ${OUTLIER_EJECTED_METRIC}=1/1`,
    ]);
    // A locality with an ejected endpoint but no requests goes with zero counts.
    assert.equal(r.localities[0]?.total_issued_requests, '0');
    assert.deepEqual(r.localities[0]?.locality, { region: 'eu', zone: 'west', sub_zone: 'b' });
    baseline = r.next;

    // Still ejected in the next interval: no new ejection, the ejected metric only.
    r = report(lrsOutliers(manager.endpointStates(['web'])), baseline);
    assert.deepEqual(endpoints(r.localities), [`west ::1:1003 ${OUTLIER_EJECTED_METRIC}=1/1`]);
    manager.close();
  });

  test('ejections since the previous report count once; a returned endpoint is not listed', () => {
    const west = { region: 'eu', zone: 'west', sub_zone: 'b' };
    const at = (ejected: boolean, ejections: number): OutlierCounters =>
      new Map([['web', new Map([['127.0.0.1:1002', { locality: west, ejected, ejections }]])]]);
    // Ejected twice between two reports (it returned in between), ejected at the report.
    let r = report(at(true, 3), outlierBaseline(at(false, 1)));
    assert.deepEqual(endpoints(r.localities), [
      `west 127.0.0.1:1002 ${OUTLIER_EJECTIONS_METRIC}=2/2 ${OUTLIER_EJECTED_METRIC}=1/1`,
    ]);
    // Ejected and returned within one interval: the ejection, not the state.
    r = report(at(false, 4), r.next);
    assert.deepEqual(endpoints(r.localities), [
      `west 127.0.0.1:1002 ${OUTLIER_EJECTIONS_METRIC}=1/1`,
    ]);
    r = report(at(false, 4), r.next);
    assert.deepEqual(r.localities, [], 'back in rotation and quiet: no longer listed');
    // The detector forgot the host and saw it again: its count starts from zero.
    assert.deepEqual(endpoints(report(at(true, 1), r.next).localities), [
      `west 127.0.0.1:1002 ${OUTLIER_EJECTIONS_METRIC}=1/1 ${OUTLIER_EJECTED_METRIC}=1/1`,
    ]);
  });

  test("a DNS cluster's resolved addresses go under its first locality", () => {
    const manager = new OutlierManager({ random: () => 0, onEjections: () => undefined });
    manager.apply({
      api: {
        ...lbCluster('ROUND_ROBIN', [
          { ...locality([endpoint('api.internal', 80)]), locality: EAST },
        ]),
        name: 'api',
        type: 'STRICT_DNS',
        outlier: { ...OUTLIER_DEFAULTS, consecutive5xx: 2, maxEjectionPercent: 100 },
      },
    });
    manager.report({ api: { '10.1.1.1:80': [503, 503] } });
    assert.deepEqual(
      [...(manager.endpointStates(['api']).get('api') ?? [])],
      [['10.1.1.1:80', { locality: EAST, ejected: true, ejections: 1 }]],
    );
    manager.close();
  });

  test('endpoint stats sit beside the counts of a locality with load', () => {
    const manager = setup();
    fail(manager, '127.0.0.1:1001');
    const labels = { cluster: 'web', region: 'eu', zone: 'east', sub_zone: '' };
    const counters = clusterLoadCounters(
      {
        counters: [{ name: 'upstream_locality_rq_error', labels, value: 2 }],
        gauges: [],
        histograms: [],
      },
      ['web'],
    );
    const stats = loadReport(counters, new Map(), 1000, {
      current: lrsOutliers(manager.endpointStates(['web'])),
      baseline: new Map(),
    });
    const localities = stats[0]?.upstream_locality_stats ?? [];
    assert.equal(localities.length, 1);
    assert.equal(localities[0]?.total_error_requests, '2');
    assert.deepEqual(endpoints(localities), [
      `east 127.0.0.1:1001 ${OUTLIER_EJECTIONS_METRIC}=1/1 ${OUTLIER_EJECTED_METRIC}=1/1`,
    ]);
    manager.close();
  });
});
