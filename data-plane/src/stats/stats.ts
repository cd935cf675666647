/**
 * The stats seam between the request path (in the workers) and aggregation and export (in the
 * primary).
 *
 * The request path never builds label objects per request: it asks the sink for a handle once (per
 * listener, route or cluster, when the config is compiled) and then only calls `inc`, `add` or
 * `observe` on it. The primary aggregates the snapshots of every worker and renders Prometheus
 * text; names follow Envoy's stat names (`downstream_rq_2xx`, `upstream_rq_retry`, ...).
 */

export type StatLabels = Readonly<Record<string, string>>;

export interface CounterHandle {
  inc(delta?: number): void;
}

export interface GaugeHandle {
  add(delta: number): void;
  set(value: number): void;
}

export interface HistogramHandle {
  /** Records one value (milliseconds for latencies). */
  observe(value: number): void;
}

export interface StatsSink {
  counter(name: string, labels: StatLabels): CounterHandle;
  gauge(name: string, labels: StatLabels): GaugeHandle;
  histogram(name: string, labels: StatLabels): HistogramHandle;
}

/** Fixed latency buckets (upper bounds, ms), Envoy's default histogram buckets. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
];

/** Plain-data view of a sink, as sent from a worker to the primary (structured-clone safe). */
export interface StatsSnapshot {
  readonly counters: readonly { name: string; labels: StatLabels; value: number }[];
  readonly gauges: readonly { name: string; labels: StatLabels; value: number }[];
  readonly histograms: readonly {
    name: string;
    labels: StatLabels;
    /** Upper bounds, as LATENCY_BUCKETS_MS; counts are per bucket (not cumulative), plus +Inf last. */
    buckets: readonly number[];
    counts: readonly number[];
    sum: number;
    count: number;
  }[];
}

/** One counter or gauge series of a snapshot. */
export type StatSample = StatsSnapshot['counters'][number];

/**
 * A part of the primary that has stats of its own (health checks, outlier detection, xDS,
 * process gauges): read on each scrape, beside the workers' snapshots.
 */
export interface StatsContributor {
  counters?(): readonly StatSample[];
  gauges?(): readonly StatSample[];
}

/** Connection gauges of one listener (downstream_cx_active / downstream_cx_total). */
export interface ConnectionStats {
  readonly active: GaugeHandle;
  readonly total: CounterHandle;
}

/** The route a request matched, as RouteStatusCounters labels it (router/route-table.ts). */
export interface MatchedRoute {
  readonly route: { readonly name: string };
  readonly virtualHost: { readonly name: string };
}

/**
 * downstream_rq_{total,1xx..5xx} of one HCM by the route that answered: labels add
 * `virtual_host` and `route` (its name, "" when unnamed) to the HCM's; requests that matched no
 * route count under virtual_host="" route="". Bounded by the config's routes: the counters of a
 * route are created on its first request (one Map lookup per request, keyed by the compiled
 * route object, no label object per request).
 */
export class RouteStatusCounters {
  readonly #sink: StatsSink;
  readonly #prefix: string;
  readonly #labels: StatLabels;
  readonly #byRoute = new Map<object, StatusClassCounters>();
  #noRoute: StatusClassCounters | undefined;

  constructor(sink: StatsSink, prefix: string, labels: StatLabels) {
    this.#sink = sink;
    this.#prefix = prefix;
    this.#labels = labels;
  }

  record(status: number, match?: MatchedRoute): void {
    if (match === undefined) {
      this.#noRoute ??= new StatusClassCounters(this.#sink, this.#prefix, {
        ...this.#labels,
        virtual_host: '',
        route: '',
      });
      this.#noRoute.record(status);
      return;
    }
    let counters = this.#byRoute.get(match.route);
    if (counters === undefined) {
      counters = new StatusClassCounters(this.#sink, this.#prefix, {
        ...this.#labels,
        virtual_host: match.virtualHost.name,
        route: match.route.name,
      });
      this.#byRoute.set(match.route, counters);
    }
    counters.record(status);
  }
}

/** Counters by HTTP status class (1xx..5xx), created lazily so unused classes cost nothing. */
export class StatusClassCounters {
  readonly #sink: StatsSink;
  readonly #name: string;
  readonly #labels: StatLabels;
  readonly #byClass: (CounterHandle | undefined)[] = [];
  readonly #total: CounterHandle | undefined;

  /**
   * `prefix` e.g. "downstream_rq" gives downstream_rq_2xx and downstream_rq_total (without
   * `withTotal`, the caller counts the total itself, or there is none).
   */
  constructor(sink: StatsSink, prefix: string, labels: StatLabels, withTotal = true) {
    this.#sink = sink;
    this.#name = prefix;
    this.#labels = labels;
    this.#total = withTotal ? sink.counter(`${prefix}_total`, labels) : undefined;
  }

  record(status: number): void {
    this.#total?.inc();
    const statusClass = Math.min(5, Math.max(1, Math.floor(status / 100)));
    let handle = this.#byClass[statusClass];
    if (handle === undefined) {
      handle = this.#sink.counter(`${this.#name}_${statusClass}xx`, this.#labels);
      this.#byClass[statusClass] = handle;
    }
    handle.inc();
  }
}
