import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_METRIC } from '@ferry/shared';
import { LoadAggregate } from './load-aggregate.js';
import {
  LoadHistory,
  mergeLoadHistory,
  parseLoadHistory,
  type LoadDelta,
  type LoadHistoryJson,
} from './load-history.js';

const NO_LOCALITY = { region: '', zone: '', subZone: '' };
const EAST = { region: 'us', zone: 'east-1', subZone: '' };
const BUCKET_MS = 1000;

function delta(requests: number, errors = 0, latencyMsSum = 0, latencyCount = 0): LoadDelta {
  return { requests, errors, latencyMsSum, latencyCount };
}

/** A history of 4 one-second buckets on a clock the test moves. */
function history(): { history: LoadHistory; at: (ms: number) => void } {
  let now = 0;
  return {
    history: new LoadHistory({ bucketMs: BUCKET_MS, buckets: 4, now: () => now }),
    at: (ms) => {
      now = ms;
    },
  };
}

describe('LoadHistory', () => {
  test('reports add up in the bucket of the time they arrive; the window ends with the current bucket', () => {
    const { history: h, at } = history();
    at(10_200);
    h.record('edge', 'web', NO_LOCALITY, delta(3, 1, 30, 3));
    at(10_900);
    h.record('edge', 'web', NO_LOCALITY, delta(2, 0, 10, 2));
    at(12_100);
    h.record('edge', 'web', NO_LOCALITY, delta(5, 2, 50, 5));
    const view = h.view();
    assert.equal(view.bucket_ms, BUCKET_MS);
    assert.equal(view.buckets, 4);
    assert.equal(view.start_ms, 9000, 'buckets 9..12, the current one last');
    const [web] = view.clusters;
    assert.equal(web?.group, 'edge');
    assert.equal(web?.cluster, 'web');
    assert.deepEqual(web?.requests, [0, 5, 0, 5]);
    assert.deepEqual(web?.errors, [0, 1, 0, 2]);
    assert.deepEqual(web?.latency_ms_sum, [0, 40, 0, 50]);
    assert.deepEqual(web?.latency_count, [0, 5, 0, 5]);
  });

  test('a bucket that falls out of the window is reused, never added to', () => {
    const { history: h, at } = history();
    at(1000);
    h.record('edge', 'web', NO_LOCALITY, delta(7));
    at(5000); // Bucket 5 takes bucket 1's slot (4 buckets).
    h.record('edge', 'web', NO_LOCALITY, delta(1));
    const [web] = h.view().clusters;
    assert.deepEqual(web?.requests, [0, 0, 0, 1]);
    at(6500); // Nothing recorded in 6: the window moves on and shows zeros.
    assert.deepEqual(h.view().clusters[0]?.requests, [0, 0, 1, 0]);
  });

  test('keeps each locality apart and sums them for the cluster; filters by group and cluster', () => {
    const { history: h, at } = history();
    at(3000);
    h.record('edge', 'web', NO_LOCALITY, delta(1));
    h.record('edge', 'web', EAST, delta(4, 1));
    h.record('edge', 'api', EAST, delta(2));
    h.record('internal', 'web', NO_LOCALITY, delta(9));
    assert.deepEqual(h.view({ group: 'edge', cluster: 'web' }).clusters[0]?.localities, []);
    const view = h.view({ group: 'edge', cluster: 'web', localities: true });
    assert.equal(view.clusters.length, 1);
    const [web] = view.clusters;
    assert.deepEqual(web?.requests, [0, 0, 0, 5]);
    assert.deepEqual(
      web?.localities.map((l) => [l.locality, l.requests[3], l.errors[3]]),
      [
        [{ region: '', zone: '', sub_zone: '' }, 1, 0],
        [{ region: 'us', zone: 'east-1', sub_zone: '' }, 4, 1],
      ],
    );
    assert.deepEqual(
      h.view().clusters.map((c) => `${c.group}/${c.cluster}`),
      ['edge/api', 'edge/web', 'internal/web'],
    );
  });

  test('a series with nothing in the window is dropped (memory is bounded by live series)', () => {
    const { history: h, at } = history();
    at(1000);
    h.record('edge', 'old', NO_LOCALITY, delta(1));
    at(4999);
    assert.equal(h.view().clusters.length, 1, 'bucket 1 is still in the window 1..4');
    at(5000);
    assert.deepEqual(h.view().clusters, []);
  });

  test('refuses a window it cannot keep', () => {
    assert.throws(() => new LoadHistory({ bucketMs: 0 }), RangeError);
    assert.throws(() => new LoadHistory({ buckets: 0 }), RangeError);
  });
});

describe('LoadAggregate feeds the history', () => {
  test('issued and error requests and the upstream time metric (only it) of every report', () => {
    let now = 60_000;
    const load = new LoadAggregate({ now: () => now, history: { bucketMs: 30_000, buckets: 4 } });
    const locality = (issued: number, error: number) => ({
      locality: EAST,
      successful: issued - error,
      error,
      issued,
      inProgress: 1,
      metrics: [
        { name: LATENCY_METRIC, requests: issued, total: issued * 10 },
        { name: 'other_metric', requests: 100, total: 100 },
      ],
    });
    load.report('p1', 'edge', [{ cluster: 'web', localities: [locality(4, 1)], dropped: 0 }]);
    load.report('p2', 'edge', [{ cluster: 'web', localities: [locality(6, 0)], dropped: 0 }]);
    now = 90_000;
    load.report('p1', 'edge', [{ cluster: 'web', localities: [locality(2, 2)], dropped: 0 }]);
    // A proxy's stream ending forgets its totals, not the history.
    load.forget('p1');
    const [web] = load.history.view().clusters;
    assert.deepEqual(web?.requests, [0, 0, 10, 2]);
    assert.deepEqual(web?.errors, [0, 0, 1, 2]);
    assert.deepEqual(web?.latency_ms_sum, [0, 0, 100, 20]);
    assert.deepEqual(web?.latency_count, [0, 0, 10, 2]);
  });
});

function view(startMs: number, clusters: LoadHistoryJson['clusters']): LoadHistoryJson {
  return { bucket_ms: BUCKET_MS, start_ms: startMs, buckets: 3, clusters };
}

function series(group: string, cluster: string, requests: number[], errors = [0, 0, 0]) {
  const zeros = [0, 0, 0];
  return {
    group,
    cluster,
    requests,
    errors,
    latency_ms_sum: zeros,
    latency_count: zeros,
    localities: [
      {
        locality: { region: '', zone: '', sub_zone: '' },
        requests,
        errors,
        latency_ms_sum: zeros,
        latency_count: zeros,
      },
    ],
  };
}

describe('mergeLoadHistory', () => {
  test('sums the replicas’ series bucket by bucket and keeps every cluster of any replica', () => {
    const base = view(3000, [series('edge', 'web', [1, 2, 3])]);
    const { merged, refused } = mergeLoadHistory(base, [
      { replica: 'b', view: view(3000, [series('edge', 'web', [10, 20, 30], [1, 0, 0])]) },
      { replica: 'c', view: view(3000, [series('edge', 'api', [5, 0, 0])]) },
    ]);
    assert.deepEqual(refused, []);
    assert.equal(merged.start_ms, 3000);
    assert.deepEqual(
      merged.clusters.map((c) => [c.cluster, c.requests, c.errors]),
      [
        ['api', [5, 0, 0], [0, 0, 0]],
        ['web', [11, 22, 33], [1, 0, 0]],
      ],
    );
    assert.deepEqual(merged.clusters[1]?.localities[0]?.requests, [11, 22, 33]);
  });

  test('aligns a replica whose clock is a bucket ahead and drops what falls outside the window', () => {
    const base = view(3000, [series('edge', 'web', [1, 1, 1])]);
    const { merged } = mergeLoadHistory(base, [
      // Buckets 4, 5, 6 against this window's 3, 4, 5: bucket 6 is not in it yet.
      { replica: 'b', view: view(4000, [series('edge', 'web', [10, 20, 30])]) },
    ]);
    assert.deepEqual(merged.clusters[0]?.requests, [1, 11, 21]);
  });

  test('leaves out, with why, a replica with another bucket size or a malformed answer', () => {
    const base = view(3000, [series('edge', 'web', [1, 1, 1])]);
    const { merged, refused } = mergeLoadHistory(base, [
      { replica: 'b', view: { ...view(3000, []), bucket_ms: 2000, start_ms: 4000 } },
      { replica: 'c', view: { ...view(3000, [series('edge', 'web', [1, 1])]) } },
      { replica: 'd', view: 'not json' },
    ]);
    assert.deepEqual(merged.clusters[0]?.requests, [1, 1, 1]);
    assert.deepEqual(
      refused.map((r) => r.replica),
      ['b', 'c', 'd'],
    );
    assert.match(refused[0]?.error ?? '', /2000 ms buckets, this replica 1000 ms/);
    assert.match(refused[1]?.error ?? '', /requests is not a list of 3 numbers/);
    assert.match(refused[2]?.error ?? '', /no load history/);
  });

  test('parseLoadHistory accepts what LoadHistory.view produces', () => {
    const h = new LoadHistory({ bucketMs: BUCKET_MS, buckets: 3, now: () => 5500 });
    h.record('edge', 'web', EAST, delta(2, 1, 20, 2));
    const produced = JSON.parse(JSON.stringify(h.view({ localities: true }))) as unknown;
    assert.deepEqual(parseLoadHistory(produced), produced);
  });
});
