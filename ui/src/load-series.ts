/**
 * Series drawn by the Health and load view from the control plane's load history
 * (GET /v1/load/history): fixed time buckets, summed over every proxy and replica, so a view
 * opened now draws the last hour at once. Each bucket becomes one point at its end; the last
 * bucket is the current one, still filling.
 */
import type { Point } from './chart.js';
import type { LoadBucketsJson, LoadHistoryJson } from './wire.js';

/** The end of the history's window: where the charts' right edge is (the server's clock). */
export function windowEnd(history: LoadHistoryJson): number {
  return history.start_ms + history.buckets * history.bucket_ms;
}

/** Per-second rate of a counter in each bucket. */
export function ratePoints(
  history: LoadHistoryJson,
  series: LoadBucketsJson,
  field: 'requests' | 'errors',
): Point[] {
  const seconds = history.bucket_ms / 1000;
  return series[field].map((count, i) => ({
    t: history.start_ms + (i + 1) * history.bucket_ms,
    v: count / seconds,
  }));
}

/**
 * Mean upstream request time (ms) of the requests that reported one in each bucket; a bucket
 * without such requests has no mean and yields no point.
 */
export function meanLatencyPoints(history: LoadHistoryJson, series: LoadBucketsJson): Point[] {
  const out: Point[] = [];
  series.latency_count.forEach((count, i) => {
    if (count <= 0) return;
    out.push({
      t: history.start_ms + (i + 1) * history.bucket_ms,
      v: (series.latency_ms_sum[i] ?? 0) / count,
    });
  });
  return out;
}
