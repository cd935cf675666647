/**
 * The control plane's own tracing pipeline: spans handed to the OTLP exporter and
 * spans lost. The exporter runs off every request path behind a bounded queue, so losing spans is
 * the designed reaction to a slow or absent collector; these counters make it visible.
 */
import { processMetrics, type MetricChild, type MetricsRegistry } from './registry.js';

/** Why spans were lost: the export queue was full, or the collector refused or was unreachable. */
export type SpanDropReason = 'queue_full' | 'export_failed';

export interface TracingMetrics {
  readonly spansExported: MetricChild;
  spansDropped(reason: SpanDropReason): MetricChild;
}

/** Registers (or finds) the tracing metrics in `registry`. */
export function tracingMetrics(registry: MetricsRegistry = processMetrics): TracingMetrics {
  const dropped = registry.counter(
    'ferry_tracing_spans_dropped_total',
    'Sampled spans that were not exported, by reason (queue_full, export_failed).',
    'reason',
  );
  return {
    spansExported: registry.counter(
      'ferry_tracing_spans_exported_total',
      'Spans the OTLP collector accepted.',
    ),
    spansDropped: (reason) => dropped.child(reason),
  };
}
