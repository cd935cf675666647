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
} from '../http/stats.js';

export class ClusterStats {
  readonly upstreamRq: StatusClassCounters;
  readonly upstreamRqTime: HistogramHandle;
  readonly upstreamRqRetry: CounterHandle;
  readonly upstreamRqRetryOverflow: CounterHandle;
  readonly upstreamRqPendingOverflow: CounterHandle;
  readonly upstreamRqTimeout: CounterHandle;
  readonly upstreamRqPerTryTimeout: CounterHandle;
  readonly upstreamCxConnectFail: CounterHandle;
  readonly upstreamCxActive: GaugeHandle;
  readonly upstreamRqActive: GaugeHandle;
  readonly upstreamRqReset: CounterHandle;

  constructor(sink: StatsSink, clusterName: string) {
    const labels = { cluster: clusterName };
    this.upstreamRq = new StatusClassCounters(sink, 'upstream_rq', labels);
    this.upstreamRqTime = sink.histogram('upstream_rq_time', labels);
    this.upstreamRqRetry = sink.counter('upstream_rq_retry', labels);
    this.upstreamRqRetryOverflow = sink.counter('upstream_rq_retry_overflow', labels);
    this.upstreamRqPendingOverflow = sink.counter('upstream_rq_pending_overflow', labels);
    this.upstreamRqTimeout = sink.counter('upstream_rq_timeout', labels);
    this.upstreamRqPerTryTimeout = sink.counter('upstream_rq_per_try_timeout', labels);
    this.upstreamCxConnectFail = sink.counter('upstream_cx_connect_fail', labels);
    this.upstreamCxActive = sink.gauge('upstream_cx_active', labels);
    this.upstreamRqActive = sink.gauge('upstream_rq_active', labels);
    this.upstreamRqReset = sink.counter('upstream_rq_rx_reset', labels);
  }
}
