/**
 * Metrics of the fleet's health view, fed by HDS reports: how many proxies
 * report, how many reports arrived, and transitions of endpoints' aggregate status.
 */
import { processMetrics, type MetricChild, type MetricsRegistry } from '../metrics/registry.js';

export interface HealthMetrics {
  /** Proxies with an open HDS stream that have reported. */
  readonly reportingProxies: MetricChild;
  /** EndpointHealthResponses received. */
  readonly reports: MetricChild;
  /** Aggregate status changes of endpoints, by the new status (HEALTHY, UNHEALTHY, MIXED). */
  transitions(status: string): MetricChild;
}

/** Registers (or finds) the health metrics in `registry`. */
export function healthMetrics(registry: MetricsRegistry = processMetrics): HealthMetrics {
  const transitions = registry.counter(
    'ferry_health_transitions_total',
    'Changes of an endpoint aggregate health status (over the proxies of a group), by new status.',
    'status',
  );
  return {
    reportingProxies: registry.gauge(
      'ferry_hds_reporting_proxies',
      'Proxies currently reporting endpoint health over HDS.',
    ),
    reports: registry.counter(
      'ferry_hds_reports_total',
      'EndpointHealthResponse reports received over HDS.',
    ),
    transitions: (status) => transitions.child(status),
  };
}
