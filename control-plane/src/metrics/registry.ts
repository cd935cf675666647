/**
 * A minimal Prometheus metrics registry (text exposition format 0.0.4), without dependencies:
 * counters, gauges and histograms, optionally with one label. Hot paths (the xDS fan-out increments once per
 * response) hold a `MetricChild` for their label value, so an increment is one addition.
 *
 * `render()` is what `GET /metrics` on the management API serves.
 */

export type MetricKind = 'counter' | 'gauge';

/** One time series: a metric, or one label value of a labelled metric. */
export interface MetricChild {
  /** Adds `value` (default 1). Counters refuse negative values (Prometheus counters only grow). */
  inc(value?: number): void;
  /** Sets the value (gauges only). */
  set(value: number): void;
  get(): number;
}

class Series implements MetricChild {
  private value = 0;
  constructor(private readonly kind: MetricKind) {}
  inc(value = 1): void {
    if (this.kind === 'counter' && value < 0) throw new Error('metrics: a counter cannot go down');
    this.value += value;
  }
  set(value: number): void {
    if (this.kind === 'counter') throw new Error('metrics: a counter cannot be set');
    this.value = value;
  }
  get(): number {
    return this.value;
  }
}

/** A metric with no label, or with one label whose values each get their own series. */
export class Metric implements MetricChild {
  private readonly unlabelled: Series;
  private readonly byLabel = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: MetricKind,
    /** The label's name, for a labelled metric. */
    readonly label?: string,
  ) {
    this.unlabelled = new Series(kind);
  }

  /** The series for one label value, created on first use. Keep it: lookups cost a map access. */
  child(labelValue: string): MetricChild {
    if (this.label === undefined) throw new Error(`metrics: ${this.name} has no label`);
    let series = this.byLabel.get(labelValue);
    if (!series) this.byLabel.set(labelValue, (series = new Series(this.kind)));
    return series;
  }

  inc(value = 1): void {
    this.unlabelled.inc(value);
  }
  set(value: number): void {
    this.unlabelled.set(value);
  }
  get(): number {
    return this.unlabelled.get();
  }

  render(): string {
    let text = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.kind}\n`;
    if (this.label === undefined) return text + `${this.name} ${formatValue(this.get())}\n`;
    for (const [value, series] of this.byLabel) {
      text += `${this.name}{${this.label}="${escapeLabel(value)}"} ${formatValue(series.get())}\n`;
    }
    return text;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkNames(name: string, label: string | undefined): void {
  if (!METRIC_NAME.test(name)) throw new Error(`metrics: invalid metric name ${name}`);
  if (label !== undefined && (!LABEL_NAME.test(label) || label === 'le'))
    throw new Error(`metrics: invalid label name ${label}`);
}

/** One histogram series: observations counted into fixed buckets, plus their sum. */
export interface HistogramChild {
  observe(value: number): void;
  /** Number of observations (the `_count` series). */
  count(): number;
  sum(): number;
}

class HistogramSeries implements HistogramChild {
  /** Non-cumulative: counts[i] holds observations in (bounds[i-1], bounds[i]]; the last is +Inf. */
  readonly counts: Float64Array;
  private total = 0;
  private observed = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]! += 1;
    this.total += value;
    this.observed += 1;
  }
  count(): number {
    return this.observed;
  }
  sum(): number {
    return this.total;
  }
}

/**
 * A Prometheus histogram, optionally with one label. As with `Metric`, hot paths keep the child
 * of their label value; an observation is a bucket scan over a few bounds and three additions.
 */
export class Histogram implements HistogramChild {
  readonly kind = 'histogram';
  readonly buckets: readonly number[];
  private readonly unlabelled: HistogramSeries;
  private readonly byLabel = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    readonly label?: string,
  ) {
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i]! <= buckets[i - 1]!))
        throw new Error(`metrics: ${name} buckets must be finite and ascending`);
    }
    this.buckets = [...buckets];
    this.unlabelled = new HistogramSeries(this.buckets);
  }

  child(labelValue: string): HistogramChild {
    if (this.label === undefined) throw new Error(`metrics: ${this.name} has no label`);
    let series = this.byLabel.get(labelValue);
    if (!series) this.byLabel.set(labelValue, (series = new HistogramSeries(this.buckets)));
    return series;
  }

  observe(value: number): void {
    this.unlabelled.observe(value);
  }
  count(): number {
    return this.unlabelled.count();
  }
  sum(): number {
    return this.unlabelled.sum();
  }

  render(): string {
    let text = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} histogram\n`;
    if (this.label === undefined) return text + this.renderSeries(this.unlabelled, '');
    for (const [value, series] of this.byLabel) {
      text += this.renderSeries(series, `${this.label}="${escapeLabel(value)}",`);
    }
    return text;
  }

  private renderSeries(series: HistogramSeries, labels: string): string {
    let text = '';
    let cumulative = 0;
    for (let i = 0; i <= this.buckets.length; i++) {
      cumulative += series.counts[i]!;
      const le = i < this.buckets.length ? formatValue(this.buckets[i]!) : '+Inf';
      text += `${this.name}_bucket{${labels}le="${le}"} ${cumulative}\n`;
    }
    const plain = labels === '' ? '' : `{${labels.slice(0, -1)}}`;
    text += `${this.name}_sum${plain} ${formatValue(series.sum())}\n`;
    text += `${this.name}_count${plain} ${series.count()}\n`;
    return text;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric | Histogram>();

  counter(name: string, help: string, label?: string): Metric {
    return this.register(name, help, 'counter', label);
  }

  gauge(name: string, help: string, label?: string): Metric {
    return this.register(name, help, 'gauge', label);
  }

  /**
   * A histogram with fixed upper bounds (ascending; `+Inf` is implicit). Registering it again
   * returns the existing one when label and buckets agree.
   */
  histogram(name: string, help: string, buckets: readonly number[], label?: string): Histogram {
    checkNames(name, label);
    const existing = this.metrics.get(name);
    if (existing) {
      if (
        !(existing instanceof Histogram) ||
        existing.label !== label ||
        existing.buckets.join() !== buckets.join()
      )
        throw new Error(`metrics: ${name} is already registered as a different metric`);
      return existing;
    }
    const histogram = new Histogram(name, help, buckets, label);
    this.metrics.set(name, histogram);
    return histogram;
  }

  /** Prometheus text exposition of every metric, in registration order. */
  render(): string {
    let text = '';
    for (const metric of this.metrics.values()) text += metric.render();
    return text;
  }

  /**
   * Registering the same name twice returns the existing metric when kind and label agree, so
   * that two servers in one process (tests) share their series instead of failing.
   */
  private register(name: string, help: string, kind: MetricKind, label?: string): Metric {
    checkNames(name, label);
    const existing = this.metrics.get(name);
    if (existing) {
      if (!(existing instanceof Metric) || existing.kind !== kind || existing.label !== label)
        throw new Error(`metrics: ${name} is already registered as a different metric`);
      return existing;
    }
    const metric = new Metric(name, help, kind, label);
    this.metrics.set(name, metric);
    return metric;
  }
}

/** The Content-Type of `render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The process's registry: the control plane's components register here unless given another
 * one, and the management API serves it. Creating it registers nothing.
 */
export const processMetrics = new MetricsRegistry();

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
