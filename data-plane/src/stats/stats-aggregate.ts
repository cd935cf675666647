/**
 * Merges the workers' stats snapshots (stats.ts StatsSnapshot) in the primary. Counters and
 * histograms are sums over workers; so are gauges (e.g. active connections: each worker counts
 * its own). A worker that exits has its counters and histograms folded into a retired total, so
 * a restart never makes a counter go backwards (Prometheus would read that as a reset); its
 * gauges go away with it.
 */
import type { StatLabels, StatsSnapshot } from './stats.js';

type Counter = StatsSnapshot['counters'][number];
type Histogram = StatsSnapshot['histograms'][number];

function key(name: string, labels: StatLabels): string {
  let k = name;
  for (const l of Object.keys(labels).sort()) k += `|${l}=${labels[l]}`;
  return k;
}

interface MutableHistogram {
  name: string;
  labels: StatLabels;
  buckets: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

function addCounters(into: Map<string, Counter>, from: readonly Counter[]): void {
  for (const c of from) {
    const k = key(c.name, c.labels);
    const prev = into.get(k);
    into.set(k, { name: c.name, labels: c.labels, value: (prev?.value ?? 0) + c.value });
  }
}

function addHistograms(into: Map<string, MutableHistogram>, from: readonly Histogram[]): void {
  for (const h of from) {
    const k = key(h.name, h.labels);
    let acc = into.get(k);
    if (!acc || acc.buckets.length !== h.buckets.length) {
      acc = {
        name: h.name,
        labels: h.labels,
        buckets: h.buckets,
        counts: new Array<number>(h.counts.length).fill(0),
        sum: 0,
        count: 0,
      };
      into.set(k, acc);
    }
    h.counts.forEach((n, i) => (acc.counts[i] = (acc.counts[i] ?? 0) + n));
    acc.sum += h.sum;
    acc.count += h.count;
  }
}

export class StatsAggregator {
  private readonly latest = new Map<number, StatsSnapshot>();
  private readonly retiredCounters = new Map<string, Counter>();
  private readonly retiredHistograms = new Map<string, MutableHistogram>();

  /** Records a worker's latest snapshot (replacing its previous one). */
  update(workerId: number, snapshot: StatsSnapshot): void {
    this.latest.set(workerId, snapshot);
  }

  /** A worker is gone: keep its counters, drop its gauges. */
  retire(workerId: number): void {
    const last = this.latest.get(workerId);
    if (!last) return;
    this.latest.delete(workerId);
    addCounters(this.retiredCounters, last.counters);
    addHistograms(this.retiredHistograms, last.histograms);
  }

  /** The sum over live workers and retired totals. */
  merged(): StatsSnapshot {
    const counters = new Map(this.retiredCounters);
    const gauges = new Map<string, Counter>();
    const histograms = new Map<string, MutableHistogram>();
    addHistograms(histograms, [...this.retiredHistograms.values()]);
    for (const s of this.latest.values()) {
      addCounters(counters, s.counters);
      addCounters(gauges, s.gauges);
      addHistograms(histograms, s.histograms);
    }
    return {
      counters: [...counters.values()],
      gauges: [...gauges.values()],
      histograms: [...histograms.values()],
    };
  }
}
