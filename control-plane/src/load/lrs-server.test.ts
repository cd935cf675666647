import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { GrpcClient, type LoadStatsRequest, type LoadStatsResponse } from '@ferry/proto/grpc';
import { startHarness, waitFor, within, type Harness } from '../xds/test-support.js';
import { clusterLoadReports, LRS_SERVICE } from './lrs-server.js';

const NODE = { id: 'proxy-1', cluster: 'edge' };

function openStream(address: string): {
  call: ClientDuplexStream<LoadStatsRequest, LoadStatsResponse>;
  first: Promise<LoadStatsResponse>;
  ended: Promise<{ code: number }>;
  close(): void;
} {
  const client = new GrpcClient(LRS_SERVICE, address, credentials.createInsecure());
  const call = client.stream<LoadStatsRequest, LoadStatsResponse>('StreamLoadStats');
  const first = new Promise<LoadStatsResponse>((resolve) => call.once('data', resolve));
  const ended = new Promise<{ code: number }>((resolve) => {
    call.on('status', (s: { code: number }) => resolve(s));
    call.on('error', () => undefined);
  });
  return {
    call,
    // Bounded where they are awaited: a timer started here would fail tests that never await it.
    get first() {
      return within(first, 'first LRS response');
    },
    get ended() {
      return within(ended, 'end of the LRS stream', 10_000);
    },
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

function clusterStats(cluster: string, successful: number, error: number) {
  return {
    cluster_name: cluster,
    upstream_locality_stats: [
      {
        locality: {},
        total_successful_requests: String(successful),
        total_error_requests: String(error),
        total_issued_requests: String(successful + error),
        total_requests_in_progress: '0',
      },
    ],
    total_dropped_requests: '0',
  };
}

describe('LRS server', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => {
    await harness.close();
  });

  test('answers the node with send_all_clusters and an interval; sums reports; forgets on end', async () => {
    const s = openStream(harness.address);
    s.call.write({ node: NODE });
    const response = await s.first;
    assert.equal(response.send_all_clusters, true);
    assert.equal(Number(response.load_reporting_interval?.seconds), 10);
    s.call.write({ node: NODE, cluster_stats: [clusterStats('web', 3, 1)] });
    s.call.write({ node: NODE, cluster_stats: [clusterStats('web', 2, 0)] });
    const load = harness.server.load();
    await waitFor(() => load.load()[0]?.total.successful === 5, '5 successful requests reported');
    assert.deepEqual(
      load.load().map((c) => [c.group, c.cluster, c.total.successful, c.total.error]),
      [['edge', 'web', 5, 1]],
    );
    s.call.end();
    await s.ended;
    await waitFor(() => load.load().length === 0, 'the load to be dropped');
    s.close();
  });

  test('a stream whose first message has no node id is refused', async () => {
    const s = openStream(harness.address);
    s.call.write({ cluster_stats: [clusterStats('web', 1, 0)] });
    const status = await s.ended;
    assert.equal(status.code, 3);
    s.close();
  });

  test('clusterLoadReports reads int64 strings, localities and the interval', () => {
    assert.deepEqual(
      clusterLoadReports([
        {
          cluster_name: 'web',
          upstream_locality_stats: [
            {
              locality: { region: 'r', zone: 'z', sub_zone: 's' },
              total_successful_requests: '7',
              total_requests_in_progress: '2',
              load_metric_stats: [
                {
                  metric_name: 'ferry.upstream_rq_time_ms',
                  num_requests_finished_with_metric: '7',
                  total_metric_value: 70.5,
                },
                // Nameless or negative: skipped.
                { num_requests_finished_with_metric: '1', total_metric_value: 1 },
                { metric_name: 'x', total_metric_value: -1 },
              ],
            },
          ],
          total_dropped_requests: '1',
          load_report_interval: { seconds: '1', nanos: 500_000_000 },
        },
        { cluster_name: '' },
      ]),
      [
        {
          cluster: 'web',
          localities: [
            {
              locality: { region: 'r', zone: 'z', subZone: 's' },
              successful: 7,
              error: 0,
              issued: 0,
              inProgress: 2,
              metrics: [{ name: 'ferry.upstream_rq_time_ms', requests: 7, total: 70.5 }],
              endpoints: [],
            },
          ],
          dropped: 1,
          intervalMs: 1500,
        },
      ],
    );
  });
});
