/**
 * In-process StatsSink: each worker keeps one and sends `snapshot()` to the primary, which
 * merges them. Handles are shared by (name, labels), so asking twice for the same series
 * (e.g. after a config apply) keeps counting into the same numbers.
 */
import {
  LATENCY_BUCKETS_MS,
  type CounterHandle,
  type GaugeHandle,
  type HistogramHandle,
  type StatLabels,
  type StatsSink,
  type StatsSnapshot,
} from './stats.js';

class MemoryCounter implements CounterHandle {
  value = 0;
  constructor(
    readonly name: string,
    readonly labels: StatLabels,
  ) {}
  inc(delta = 1): void {
    this.value += delta;
  }
}

class MemoryGauge implements GaugeHandle {
  value = 0;
  constructor(
    readonly name: string,
    readonly labels: StatLabels,
  ) {}
  add(delta: number): void {
    this.value += delta;
  }
  set(value: number): void {
    this.value = value;
  }
}

class MemoryHistogram implements HistogramHandle {
  /** One count per bucket plus the +Inf bucket. */
  readonly counts: number[] = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  sum = 0;
  count = 0;
  constructor(
    readonly name: string,
    readonly labels: StatLabels,
  ) {}
  observe(value: number): void {
    this.sum += value;
    this.count++;
    let index = 0;
    // Linear scan: 19 buckets, most latencies land in the first few.
    while (index < LATENCY_BUCKETS_MS.length && value > LATENCY_BUCKETS_MS[index]!) index++;
    this.counts[index]!++;
  }
}

function seriesKey(name: string, labels: StatLabels): string {
  const keys = Object.keys(labels).sort();
  let key = name;
  for (const labelName of keys) key += `|${labelName}=${labels[labelName]}`;
  return key;
}

export class MemoryStatsSink implements StatsSink {
  readonly #counters = new Map<string, MemoryCounter>();
  readonly #gauges = new Map<string, MemoryGauge>();
  readonly #histograms = new Map<string, MemoryHistogram>();

  counter(name: string, labels: StatLabels): CounterHandle {
    const key = seriesKey(name, labels);
    let handle = this.#counters.get(key);
    if (handle === undefined) {
      handle = new MemoryCounter(name, { ...labels });
      this.#counters.set(key, handle);
    }
    return handle;
  }

  gauge(name: string, labels: StatLabels): GaugeHandle {
    const key = seriesKey(name, labels);
    let handle = this.#gauges.get(key);
    if (handle === undefined) {
      handle = new MemoryGauge(name, { ...labels });
      this.#gauges.set(key, handle);
    }
    return handle;
  }

  histogram(name: string, labels: StatLabels): HistogramHandle {
    const key = seriesKey(name, labels);
    let handle = this.#histograms.get(key);
    if (handle === undefined) {
      handle = new MemoryHistogram(name, { ...labels });
      this.#histograms.set(key, handle);
    }
    return handle;
  }

  /** Current value of one counter (0 when never touched); for tests and the admin endpoint. */
  counterValue(name: string, labels: StatLabels): number {
    return this.#counters.get(seriesKey(name, labels))?.value ?? 0;
  }

  gaugeValue(name: string, labels: StatLabels): number {
    return this.#gauges.get(seriesKey(name, labels))?.value ?? 0;
  }

  snapshot(): StatsSnapshot {
    return {
      counters: [...this.#counters.values()].map((c) => ({
        name: c.name,
        labels: c.labels,
        value: c.value,
      })),
      gauges: [...this.#gauges.values()].map((g) => ({
        name: g.name,
        labels: g.labels,
        value: g.value,
      })),
      histograms: [...this.#histograms.values()].map((h) => ({
        name: h.name,
        labels: h.labels,
        buckets: LATENCY_BUCKETS_MS,
        counts: [...h.counts],
        sum: h.sum,
        count: h.count,
      })),
    };
  }
}
