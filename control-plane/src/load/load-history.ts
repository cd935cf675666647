/**
 * The last hour of the fleet's load, kept by the control plane so that a dashboard opened now
 * can draw what happened before (GET /v1/load/history). LoadAggregate feeds it every LRS report's
 * deltas (load_stats.proto: counts "since the last report"), per group, cluster and locality, into
 * fixed time buckets: a report counts in the bucket of the time it was received.
 *
 * Memory is bounded by series × buckets: each (group, cluster) and each of its localities keeps
 * one ring of `buckets` slots of four numbers, reused as time moves on, and a series that received
 * nothing for a whole window is dropped. Each cluster also lists its endpoints' outlier ejections
 * (outlier-ejections.ts, in the same buckets). Each replica keeps the reports of its own proxies;
 * mergeLoadHistory sums the replicas' views.
 */
import type {
  LoadBucketsJson,
  LoadHistoryJson,
  LocalityJson,
  OutlierEventJson,
} from '@ferry/shared/api-wire';
import { localityId, type LocalityKey } from './locality-key.js';
import { OutlierEjections } from './outlier-ejections.js';

export type { LoadHistoryJson } from '@ferry/shared/api-wire';

/** 120 buckets of 30 s: one hour, three reports per bucket at LRS's default 10 s interval. */
export const DEFAULT_BUCKET_MS = 30_000;
export const DEFAULT_BUCKETS = 120;

/** One report's deltas for one locality. */
export interface LoadDelta {
  readonly requests: number;
  readonly errors: number;
  readonly latencyMsSum: number;
  readonly latencyCount: number;
}

export interface LoadHistoryOptions {
  readonly bucketMs?: number;
  readonly buckets?: number;
  readonly now?: () => number;
}

export interface LoadHistoryFilter {
  readonly group?: string | undefined;
  readonly cluster?: string | undefined;
  /** Include each cluster's per-locality series (default: empty lists, a third of the size). */
  readonly localities?: boolean;
}

const FIELDS = 4;

/** `buckets` slots of the four fields; a slot holds the bucket whose index it last saw. */
class BucketRing {
  readonly #values: Float64Array;
  readonly #indexes: Float64Array;

  constructor(buckets: number) {
    this.#values = new Float64Array(buckets * FIELDS);
    this.#indexes = new Float64Array(buckets).fill(-1);
  }

  add(index: number, delta: LoadDelta): void {
    const slot = index % this.#indexes.length;
    const at = slot * FIELDS;
    if (this.#indexes[slot] !== index) {
      this.#indexes[slot] = index;
      this.#values.fill(0, at, at + FIELDS);
    }
    this.#values[at] = this.#values[at]! + delta.requests;
    this.#values[at + 1] = this.#values[at + 1]! + delta.errors;
    this.#values[at + 2] = this.#values[at + 2]! + delta.latencyMsSum;
    this.#values[at + 3] = this.#values[at + 3]! + delta.latencyCount;
  }

  /** The buckets `first` .. `first + buckets - 1`, zero where the ring holds another index. */
  read(first: number): LoadBucketsJson {
    const n = this.#indexes.length;
    const series = emptySeries(n);
    for (let i = 0; i < n; i++) {
      const index = first + i;
      const slot = index % n;
      if (this.#indexes[slot] !== index) continue;
      const at = slot * FIELDS;
      series.requests[i] = this.#values[at]!;
      series.errors[i] = this.#values[at + 1]!;
      series.latency_ms_sum[i] = this.#values[at + 2]!;
      series.latency_count[i] = this.#values[at + 3]!;
    }
    return series;
  }
}

interface MutableSeries {
  requests: number[];
  errors: number[];
  latency_ms_sum: number[];
  latency_count: number[];
}

function emptySeries(buckets: number): MutableSeries {
  return {
    requests: new Array<number>(buckets).fill(0),
    errors: new Array<number>(buckets).fill(0),
    latency_ms_sum: new Array<number>(buckets).fill(0),
    latency_count: new Array<number>(buckets).fill(0),
  };
}

interface ClusterSeries {
  readonly group: string;
  readonly cluster: string;
  readonly total: BucketRing;
  readonly localities: Map<string, { readonly locality: LocalityKey; readonly ring: BucketRing }>;
  /** The newest bucket index recorded. */
  lastIndex: number;
}

export class LoadHistory {
  readonly bucketMs: number;
  readonly buckets: number;
  /** The proxies' outlier ejections, in the same buckets (each cluster's outlier_endpoints). */
  readonly outliers: OutlierEjections;
  readonly #now: () => number;
  readonly #series = new Map<string, ClusterSeries>();
  #prunedAt = -1;

  constructor(options: LoadHistoryOptions = {}) {
    this.bucketMs = options.bucketMs ?? DEFAULT_BUCKET_MS;
    this.buckets = options.buckets ?? DEFAULT_BUCKETS;
    if (!(Number.isSafeInteger(this.bucketMs) && this.bucketMs > 0))
      throw new RangeError(
        `load history bucket must be a positive integer of ms, got ${this.bucketMs}`,
      );
    if (!(Number.isSafeInteger(this.buckets) && this.buckets > 0))
      throw new RangeError(`load history must keep at least one bucket, got ${this.buckets}`);
    this.#now = options.now ?? Date.now;
    this.outliers = new OutlierEjections({
      bucketMs: this.bucketMs,
      buckets: this.buckets,
      now: this.#now,
    });
  }

  /** Adds one report's deltas for one locality of (group, cluster), at the current time. */
  record(group: string, cluster: string, locality: LocalityKey, delta: LoadDelta): void {
    const index = Math.floor(this.#now() / this.bucketMs);
    this.#prune(index);
    const key = `${group}\u0000${cluster}`;
    let series = this.#series.get(key);
    if (!series) {
      series = {
        group,
        cluster,
        total: new BucketRing(this.buckets),
        localities: new Map(),
        lastIndex: index,
      };
      this.#series.set(key, series);
    }
    series.lastIndex = Math.max(series.lastIndex, index);
    series.total.add(index, delta);
    const id = localityId(locality);
    let byLocality = series.localities.get(id);
    if (!byLocality) {
      byLocality = { locality, ring: new BucketRing(this.buckets) };
      series.localities.set(id, byLocality);
    }
    byLocality.ring.add(index, delta);
  }

  /** The window ending with the current bucket, this replica's reports only. */
  view(filter: LoadHistoryFilter = {}): LoadHistoryJson {
    const index = Math.floor(this.#now() / this.bucketMs);
    this.#prune(index);
    const first = index - this.buckets + 1;
    const included = (group: string, cluster: string): boolean =>
      (filter.group === undefined || group === filter.group) &&
      (filter.cluster === undefined || cluster === filter.cluster);
    const outliers = this.outliers.view(first, included);
    const clusters: Array<LoadHistoryJson['clusters'][number]> = [];
    for (const s of this.#series.values()) {
      if (!included(s.group, s.cluster)) continue;
      const key = JSON.stringify([s.group, s.cluster]);
      clusters.push({
        group: s.group,
        cluster: s.cluster,
        ...s.total.read(first),
        localities:
          filter.localities === true
            ? [...s.localities.values()]
                .map((l) => ({ locality: localityJson(l.locality), ...l.ring.read(first) }))
                .sort(byLocality)
            : [],
        outlier_endpoints: outliers.get(key) ?? [],
      });
      outliers.delete(key);
    }
    // Ejections of a cluster whose load fell out of the window (a proxy reports it each interval,
    // so only when its reports stopped): the endpoints without load series.
    for (const [key, endpoints] of outliers) {
      const [group, cluster] = JSON.parse(key) as [string, string];
      clusters.push({
        group,
        cluster,
        ...emptySeries(this.buckets),
        localities: [],
        outlier_endpoints: endpoints,
      });
    }
    return {
      bucket_ms: this.bucketMs,
      start_ms: first * this.bucketMs,
      buckets: this.buckets,
      clusters: clusters.sort(byCluster),
    };
  }

  /** The `outlier` event of (group, cluster): its outlier endpoints as view() shows them now. */
  outlierEvent(group: string, cluster: string): OutlierEventJson {
    const first = Math.floor(this.#now() / this.bucketMs) - this.buckets + 1;
    const endpoints = this.outliers.view(first, (g, c) => g === group && c === cluster);
    return { group, cluster, endpoints: endpoints.get(JSON.stringify([group, cluster])) ?? [] };
  }

  /** Drops the series with nothing in the window ending at bucket `index` (at most once a bucket). */
  #prune(index: number): void {
    if (index === this.#prunedAt) return;
    this.#prunedAt = index;
    for (const [key, s] of this.#series) {
      if (s.lastIndex <= index - this.buckets) this.#series.delete(key);
    }
  }
}

function localityJson(l: LocalityKey): LocalityJson {
  return { region: l.region, zone: l.zone, sub_zone: l.subZone };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byCluster(
  a: { readonly group: string; readonly cluster: string },
  b: { readonly group: string; readonly cluster: string },
): number {
  return compare(a.group, b.group) || compare(a.cluster, b.cluster);
}

function byLocality(a: { locality: LocalityJson }, b: { locality: LocalityJson }): number {
  return (
    compare(a.locality.region, b.locality.region) ||
    compare(a.locality.zone, b.locality.zone) ||
    compare(a.locality.sub_zone, b.locality.sub_zone)
  );
}

/**
 * Sums `others` (other replicas' views, parsed from JSON) into the window of `base`: buckets are
 * aligned on their start times (replicas' clocks may place the current bucket one apart), and
 * buckets outside `base`'s window are left out. A view with another bucket size cannot be aligned:
 * it is returned in `refused` with why, and left out.
 */
export function mergeLoadHistory(
  base: LoadHistoryJson,
  others: ReadonlyArray<{ readonly replica: string; readonly view: unknown }>,
): { merged: LoadHistoryJson; refused: Array<{ replica: string; error: string }> } {
  const refused: Array<{ replica: string; error: string }> = [];
  const clusters = new Map<
    string,
    MutableSeries & {
      group: string;
      cluster: string;
      localities: Map<string, LocalitySeries>;
      outliers: Map<string, { nodes: Set<string>; ejections: number[] }>;
    }
  >();
  const add = (view: LoadHistoryJson): void => {
    const shift = (view.start_ms - base.start_ms) / base.bucket_ms;
    for (const c of view.clusters) {
      const key = `${c.group}\u0000${c.cluster}`;
      let into = clusters.get(key);
      if (!into) {
        into = {
          group: c.group,
          cluster: c.cluster,
          ...emptySeries(base.buckets),
          localities: new Map(),
          outliers: new Map(),
        };
        clusters.set(key, into);
      }
      addSeries(into, c, shift);
      for (const l of c.localities) {
        const id = JSON.stringify([l.locality.region, l.locality.zone, l.locality.sub_zone]);
        let locality = into.localities.get(id);
        if (!locality) {
          locality = { locality: l.locality, ...emptySeries(base.buckets) };
          into.localities.set(id, locality);
        }
        addSeries(locality, l, shift);
      }
      for (const e of c.outlier_endpoints ?? []) {
        let endpoint = into.outliers.get(e.address);
        if (!endpoint) {
          endpoint = { nodes: new Set(), ejections: new Array<number>(base.buckets).fill(0) };
          into.outliers.set(e.address, endpoint);
        }
        for (const node of e.ejected_nodes) endpoint.nodes.add(node);
        shiftAdd(endpoint.ejections, e.ejections, shift);
      }
    }
  };
  add(base);
  for (const { replica, view } of others) {
    const parsed = parseLoadHistory(view);
    if (typeof parsed === 'string') refused.push({ replica, error: parsed });
    else if (parsed.bucket_ms !== base.bucket_ms)
      refused.push({
        replica,
        error: `keeps ${parsed.bucket_ms} ms buckets, this replica ${base.bucket_ms} ms; ask it directly`,
      });
    else add(parsed);
  }
  const merged: LoadHistoryJson = {
    bucket_ms: base.bucket_ms,
    start_ms: base.start_ms,
    buckets: base.buckets,
    clusters: [...clusters.values()]
      .map(({ localities, outliers, ...c }) => ({
        ...c,
        localities: [...localities.values()].sort(byLocality),
        // An endpoint whose ejections fell out of this window and that none ejects is left out.
        outlier_endpoints: [...outliers]
          .filter(([, e]) => e.nodes.size > 0 || e.ejections.some((n) => n > 0))
          .map(([address, { nodes, ejections }]) => ({
            address,
            ejected_by: nodes.size,
            ejected_nodes: [...nodes].sort(compare),
            ejections,
          }))
          .sort((a, b) => compare(a.address, b.address)),
      }))
      .sort(byCluster),
  };
  return { merged, refused };
}

type LocalitySeries = MutableSeries & { locality: LocalityJson };

function addSeries(into: MutableSeries, from: LoadBucketsJson, shift: number): void {
  shiftAdd(into.requests, from.requests, shift);
  shiftAdd(into.errors, from.errors, shift);
  shiftAdd(into.latency_ms_sum, from.latency_ms_sum, shift);
  shiftAdd(into.latency_count, from.latency_count, shift);
}

/** Adds `from[i]` into `into[i + shift]`, leaving out what falls outside `into`. */
function shiftAdd(into: number[], from: readonly number[], shift: number): void {
  for (let i = 0; i < from.length; i++) {
    const j = i + shift;
    if (j < 0 || j >= into.length) continue;
    into[j] = into[j]! + (from[i] ?? 0);
  }
}

/** A peer's answer checked for the shape mergeLoadHistory reads; a string says what is wrong. */
export function parseLoadHistory(value: unknown): LoadHistoryJson | string {
  const v = value as Partial<LoadHistoryJson> | null;
  if (typeof v !== 'object' || v === null) return 'answered no load history';
  if (!isPositiveInteger(v.bucket_ms) || !isPositiveInteger(v.buckets))
    return 'answered a load history without bucket_ms and buckets';
  if (typeof v.start_ms !== 'number' || v.start_ms % v.bucket_ms !== 0)
    return 'answered a load history whose start_ms is not on a bucket boundary';
  if (!Array.isArray(v.clusters)) return 'answered a load history without clusters';
  for (const c of v.clusters as unknown[]) {
    const problem = seriesProblem(c, v.buckets);
    if (problem) return `answered a malformed cluster series: ${problem}`;
    const cluster = c as { group?: unknown; cluster?: unknown; localities?: unknown };
    if (typeof cluster.group !== 'string' || typeof cluster.cluster !== 'string')
      return 'answered a cluster series without group and cluster';
    if (!Array.isArray(cluster.localities)) return 'answered a cluster series without localities';
    for (const l of cluster.localities as unknown[]) {
      const lp = seriesProblem(l, v.buckets);
      const locality = (l as { locality?: Partial<LocalityJson> }).locality;
      if (lp) return `answered a malformed locality series: ${lp}`;
      if (
        typeof locality?.region !== 'string' ||
        typeof locality.zone !== 'string' ||
        typeof locality.sub_zone !== 'string'
      )
        return 'answered a locality series without its locality';
    }
    const outlierProblem = outliersProblem(
      (c as { outlier_endpoints?: unknown }).outlier_endpoints,
      v.buckets,
    );
    if (outlierProblem) return `answered malformed outlier endpoints: ${outlierProblem}`;
  }
  return v as LoadHistoryJson;
}

/** outlier_endpoints is optional (replicas that predate it); when present, it must be whole. */
function outliersProblem(value: unknown, buckets: number): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return 'not a list';
  for (const e of value as unknown[]) {
    const endpoint = e as Partial<
      Record<'address' | 'ejected_nodes' | 'ejections', unknown>
    > | null;
    if (typeof endpoint !== 'object' || endpoint === null) return 'an entry is not an object';
    if (typeof endpoint.address !== 'string') return 'an entry without its address';
    if (
      !Array.isArray(endpoint.ejected_nodes) ||
      !endpoint.ejected_nodes.every((n) => typeof n === 'string')
    )
      return `${endpoint.address}: ejected_nodes is not a list of node ids`;
    const ejections = endpoint.ejections;
    if (
      !Array.isArray(ejections) ||
      ejections.length !== buckets ||
      !ejections.every((n) => typeof n === 'number' && Number.isFinite(n))
    )
      return `${endpoint.address}: ejections is not a list of ${buckets} numbers`;
  }
  return undefined;
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function seriesProblem(value: unknown, buckets: number): string | undefined {
  const s = value as Partial<Record<keyof LoadBucketsJson, unknown>> | null;
  if (typeof s !== 'object' || s === null) return 'not an object';
  for (const field of ['requests', 'errors', 'latency_ms_sum', 'latency_count'] as const) {
    const list = s[field];
    if (!Array.isArray(list) || list.length !== buckets)
      return `${field} is not a list of ${buckets} numbers`;
    if (!list.every((n) => typeof n === 'number' && Number.isFinite(n)))
      return `${field} holds a value that is not a finite number`;
  }
  return undefined;
}
