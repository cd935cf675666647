/**
 * Stat handles of one cluster (Envoy's `cluster.<name>.*` stats), created once per cluster name
 * and shared by every version of it, so the request path only increments. Membership gauges are
 * the primary's (stats/membership-stats.ts): every worker sees the same hosts.
 */
import {
  StatusClassCounters,
  type CounterHandle,
  type GaugeHandle,
  type HistogramHandle,
  type StatsSink,
} from '../stats/stats.js';

/**
 * Per-locality upstream request counts of a cluster that reports its load (Cluster.lrs_server),
 * per attempt, as LRS's UpstreamLocalityStats counts them: an answer below 500 is a success; a
 * 5xx, a connect failure, a reset or a timeout is an error; `active` is attempts in flight.
 * Labels: cluster, region, zone, sub_zone (bounded by the config's localities). `rqTimeMs` and
 * `rqTimed` sum the time of attempts that got a whole response, for the LRS load metric
 * `ferry.upstream_rq_time_ms` (xds/lrs-client.ts).
 */
export class LocalityLoadStats {
  readonly success: CounterHandle;
  readonly error: CounterHandle;
  readonly active: GaugeHandle;
  readonly rqTimeMs: CounterHandle;
  readonly rqTimed: CounterHandle;

  constructor(sink: StatsSink, labels: Readonly<Record<string, string>>) {
    this.success = sink.counter('upstream_locality_rq_success', labels);
    this.error = sink.counter('upstream_locality_rq_error', labels);
    this.active = sink.gauge('upstream_locality_rq_active', labels);
    this.rqTimeMs = sink.counter('upstream_locality_rq_time_ms', labels);
    this.rqTimed = sink.counter('upstream_locality_rq_timed', labels);
  }

  /** An attempt's whole response arrived `ms` after it was dispatched. */
  recordTime(ms: number): void {
    this.rqTimeMs.inc(ms);
    this.rqTimed.inc();
  }

  /** One attempt's outcome: a status code, a tcp_proxy connection made, or how it failed. */
  record(outcome: number | string): void {
    if ((typeof outcome === 'number' && outcome < 500) || outcome === 'connect-success')
      this.success.inc();
    else this.error.inc();
  }
}

export class ClusterStats {
  /** Final upstream responses by status class (Envoy's upstream_rq_<xx>). */
  readonly upstreamRq: StatusClassCounters;
  /** Upstream requests put on a connection, one per attempt (Envoy's upstream_rq_total). */
  readonly upstreamRqTotal: CounterHandle;
  /** Responses that were retried, by status class (Envoy's retry.upstream_rq_<xx>). */
  readonly retryUpstreamRq: StatusClassCounters;
  readonly upstreamRqTime: HistogramHandle;
  readonly upstreamRqRetry: CounterHandle;
  readonly upstreamRqRetryOverflow: CounterHandle;
  readonly upstreamRqPendingOverflow: CounterHandle;
  readonly upstreamRqTimeout: CounterHandle;
  readonly upstreamRqPerTryTimeout: CounterHandle;
  readonly upstreamCxConnectFail: CounterHandle;
  /** Connections opened (HTTP pools and tcp_proxy). */
  readonly upstreamCxTotal: CounterHandle;
  readonly upstreamCxActive: GaugeHandle;
  /** tcp_proxy: connect attempts that ran out of connect_timeout. */
  readonly upstreamCxConnectTimeout: CounterHandle;
  /** tcp_proxy: connections refused by the max_connections circuit breaker (UO). */
  readonly upstreamCxOverflow: CounterHandle;
  /** tcp_proxy: connections with no healthy host to go to (UH). */
  readonly upstreamCxNoneHealthy: CounterHandle;
  /** tcp_proxy: sessions whose every connect attempt failed (max_connect_attempts). */
  readonly upstreamCxConnectAttemptsExceeded: CounterHandle;
  /** tcp_proxy: bytes read from and written to upstream connections. */
  readonly upstreamCxRxBytesTotal: CounterHandle;
  readonly upstreamCxTxBytesTotal: CounterHandle;
  /** tcp_proxy: reading from upstream paused / resumed (downstream above its watermark). */
  readonly upstreamFlowControlPausedReadingTotal: CounterHandle;
  readonly upstreamFlowControlResumedReadingTotal: CounterHandle;
  readonly upstreamRqActive: GaugeHandle;
  /** Attempts waiting for a connection (Envoy's upstream_rq_pending_active). */
  readonly upstreamRqPendingActive: GaugeHandle;
  readonly upstreamRqReset: CounterHandle;

  readonly #sink: StatsSink;
  readonly #clusterName: string;
  readonly #localities = new Map<string, LocalityLoadStats>();

  constructor(sink: StatsSink, clusterName: string) {
    this.#sink = sink;
    this.#clusterName = clusterName;
    const labels = { cluster: clusterName };
    this.upstreamRq = new StatusClassCounters(sink, 'upstream_rq', labels, false);
    this.upstreamRqTotal = sink.counter('upstream_rq_total', labels);
    this.retryUpstreamRq = new StatusClassCounters(sink, 'retry_upstream_rq', labels, false);
    this.upstreamRqTime = sink.histogram('upstream_rq_time', labels);
    this.upstreamRqRetry = sink.counter('upstream_rq_retry', labels);
    this.upstreamRqRetryOverflow = sink.counter('upstream_rq_retry_overflow', labels);
    this.upstreamRqPendingOverflow = sink.counter('upstream_rq_pending_overflow', labels);
    this.upstreamRqTimeout = sink.counter('upstream_rq_timeout', labels);
    this.upstreamRqPerTryTimeout = sink.counter('upstream_rq_per_try_timeout', labels);
    this.upstreamCxConnectFail = sink.counter('upstream_cx_connect_fail', labels);
    this.upstreamCxTotal = sink.counter('upstream_cx_total', labels);
    this.upstreamCxActive = sink.gauge('upstream_cx_active', labels);
    this.upstreamCxConnectTimeout = sink.counter('upstream_cx_connect_timeout', labels);
    this.upstreamCxOverflow = sink.counter('upstream_cx_overflow', labels);
    this.upstreamCxNoneHealthy = sink.counter('upstream_cx_none_healthy', labels);
    this.upstreamCxConnectAttemptsExceeded = sink.counter(
      'upstream_cx_connect_attempts_exceeded',
      labels,
    );
    this.upstreamCxRxBytesTotal = sink.counter('upstream_cx_rx_bytes_total', labels);
    this.upstreamCxTxBytesTotal = sink.counter('upstream_cx_tx_bytes_total', labels);
    this.upstreamFlowControlPausedReadingTotal = sink.counter(
      'upstream_flow_control_paused_reading_total',
      labels,
    );
    this.upstreamFlowControlResumedReadingTotal = sink.counter(
      'upstream_flow_control_resumed_reading_total',
      labels,
    );
    this.upstreamRqActive = sink.gauge('upstream_rq_active', labels);
    this.upstreamRqPendingActive = sink.gauge('upstream_rq_pending_active', labels);
    this.upstreamRqReset = sink.counter('upstream_rq_rx_reset', labels);
  }

  /** The load stats of one locality (created once per locality; LRS clusters only). */
  localityLoad(locality: {
    readonly region: string;
    readonly zone: string;
    readonly subZone: string;
  }): LocalityLoadStats {
    const key = `${locality.region}\u0000${locality.zone}\u0000${locality.subZone}`;
    let stats = this.#localities.get(key);
    if (stats === undefined) {
      stats = new LocalityLoadStats(this.#sink, {
        cluster: this.#clusterName,
        region: locality.region,
        zone: locality.zone,
        sub_zone: locality.subZone,
      });
      this.#localities.set(key, stats);
    }
    return stats;
  }
}
