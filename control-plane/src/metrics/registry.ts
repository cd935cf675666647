/**
 * A minimal Prometheus metrics registry (text exposition format 0.0.4), without dependencies:
 * counters and gauges, optionally with one label. Hot paths (the xDS fan-out increments once per
 * response) hold a `MetricChild` for their label value, so an increment is one addition.
 *
 * `render()` is what `GET /metrics` on the management API serves (DESIGN.md D8).
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

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string, label?: string): Metric {
    return this.register(name, help, 'counter', label);
  }

  gauge(name: string, help: string, label?: string): Metric {
    return this.register(name, help, 'gauge', label);
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
    if (!METRIC_NAME.test(name)) throw new Error(`metrics: invalid metric name ${name}`);
    if (label !== undefined && !LABEL_NAME.test(label))
      throw new Error(`metrics: invalid label name ${label}`);
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.kind !== kind || existing.label !== label)
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
