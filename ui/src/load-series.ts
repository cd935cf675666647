/**
 * Series drawn by the Health and load view, computed from successive GET /v1/load snapshots of
 * one cluster. Every value is a delta between two snapshots: the counters only grow while a
 * proxy's load-report stream stays open and restart from zero when it reopens, so a delta that
 * goes backwards marks a restart and yields no point rather than a negative or inflated one.
 */
import type { Point } from './chart.js';
import type { LoadJson } from './wire.js';

/** The named load metric ferry-proxy reports: upstream request time in milliseconds. */
export const UPSTREAM_RQ_TIME = 'ferry.upstream_rq_time_ms';

export interface LoadSample {
  /** Milliseconds since the epoch. */
  readonly t: number;
  readonly issued: number;
  readonly errors: number;
  /** Sum of the upstream request times (ms) of the requests counted in `timed`. */
  readonly timeSum: number;
  /** Requests that reported an upstream request time. */
  readonly timed: number;
}

type ClusterLoad = LoadJson['clusters'][number];

/** One cluster's snapshot: request counters and the upstream time metric over nodes and localities. */
export function sampleOf(cluster: ClusterLoad, t: number): LoadSample {
  let timeSum = 0;
  let timed = 0;
  for (const n of cluster.nodes) {
    for (const l of n.localities) {
      for (const m of l.load_metric_stats) {
        if (m.metric_name !== UPSTREAM_RQ_TIME) continue;
        timeSum += m.total_metric_value;
        timed += m.num_requests_finished_with_metric;
      }
    }
  }
  return {
    t,
    issued: cluster.total.total_issued_requests,
    errors: cluster.total.total_error_requests,
    timeSum,
    timed,
  };
}

/** Per-second rate of a counter between successive samples. */
export function ratePoints(list: readonly LoadSample[], field: 'issued' | 'errors'): Point[] {
  const out: Point[] = [];
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1];
    const b = list[i];
    if (!a || !b || b.t <= a.t) continue;
    const d = b[field] - a[field];
    if (d < 0) continue;
    out.push({ t: b.t, v: d / ((b.t - a.t) / 1000) });
  }
  return out;
}

/**
 * Mean upstream request time (ms) of the requests finished between successive samples:
 * Δsum / Δcount. An interval without timed requests has no mean and yields no point.
 */
export function meanLatencyPoints(list: readonly LoadSample[]): Point[] {
  const out: Point[] = [];
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1];
    const b = list[i];
    if (!a || !b || b.t <= a.t) continue;
    const count = b.timed - a.timed;
    const sum = b.timeSum - a.timeSum;
    if (count <= 0 || sum < 0) continue;
    out.push({ t: b.t, v: sum / count });
  }
  return out;
}
