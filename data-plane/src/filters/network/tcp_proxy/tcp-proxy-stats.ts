/**
 * Envoy's tcp_proxy stats (`tcp.<stat_prefix>.*`), exported as `tcp_<name>{stat_prefix}`. One
 * set per stat_prefix, shared by every chain and listener that uses it (as Envoy's scope is).
 * Cluster-side counters (upstream_cx_*) are the cluster's (upstream/cluster-stats.ts).
 */
import type { CounterHandle, StatsSink } from '../../../stats/stats.js';

export class TcpProxyStats {
  readonly downstreamCxTotal: CounterHandle;
  /** No cluster of that name (NC). */
  readonly downstreamCxNoRoute: CounterHandle;
  readonly downstreamCxRxBytesTotal: CounterHandle;
  readonly downstreamCxTxBytesTotal: CounterHandle;
  /** Reading from downstream paused / resumed (the upstream above its watermark). */
  readonly downstreamFlowControlPausedReadingTotal: CounterHandle;
  readonly downstreamFlowControlResumedReadingTotal: CounterHandle;
  /** Sessions closed by idle_timeout. */
  readonly idleTimeout: CounterHandle;

  constructor(sink: StatsSink, statPrefix: string) {
    const labels = { stat_prefix: statPrefix };
    const counter = (name: string): CounterHandle => sink.counter(`tcp_${name}`, labels);
    this.downstreamCxTotal = counter('downstream_cx_total');
    this.downstreamCxNoRoute = counter('downstream_cx_no_route');
    this.downstreamCxRxBytesTotal = counter('downstream_cx_rx_bytes_total');
    this.downstreamCxTxBytesTotal = counter('downstream_cx_tx_bytes_total');
    this.downstreamFlowControlPausedReadingTotal = counter(
      'downstream_flow_control_paused_reading_total',
    );
    this.downstreamFlowControlResumedReadingTotal = counter(
      'downstream_flow_control_resumed_reading_total',
    );
    this.idleTimeout = counter('idle_timeout');
  }
}
