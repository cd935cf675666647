/**
 * Outlier ejections in ferry-proxy's load reports (lrs-client.ts), so the control plane sees
 * which endpoints the proxies' outlier detectors eject. LRS has no field for them; they go as two
 * named load metrics of the endpoint (UpstreamLocalityStats.upstream_endpoint_stats[].
 * load_metric_stats), which any LRS server accepts and one that does not know them ignores:
 * - OUTLIER_EJECTIONS_METRIC: ejections that started in the interval (num_requests_finished_with_
 *   metric and total_metric_value are both that count);
 * - OUTLIER_EJECTED_METRIC: present, with 1 and 1, while the endpoint is ejected when the report
 *   is made.
 * An endpoint is listed only when it has one of them; its request counts stay 0 (ferry-proxy
 * counts requests per locality, not per endpoint). Envoy sends neither metric.
 */
import type {
  EndpointLoadMetricStatsMessage,
  UpstreamEndpointStatsMessage,
} from '@ferry/proto/grpc';
import type { EndpointOutlierState } from '../health/outlier-manager.js';
import { OUTLIER_EJECTED_METRIC, OUTLIER_EJECTIONS_METRIC } from '@ferry/shared';

/** A locality as LRS reports name it (envoy.config.core.v3.Locality). */
export interface LrsLocality {
  readonly region: string;
  readonly zone: string;
  readonly sub_zone: string;
}

/** One endpoint's outlier state at one moment (health/outlier-manager.ts, by host key). */
export interface EndpointOutlierCounters {
  readonly locality: LrsLocality;
  readonly ejected: boolean;
  /** Enforced ejections since the detector first saw the endpoint (cumulative). */
  readonly ejections: number;
}

/** Cluster → host key → state. */
export type OutlierCounters = ReadonlyMap<string, ReadonlyMap<string, EndpointOutlierCounters>>;

/** Cluster → host key → cumulative ejections at the previous report. */
export type OutlierBaseline = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** A locality's endpoints to report, keyed like clusterLoadCounters' localities. */
export interface LocalityEndpointStats {
  readonly locality: LrsLocality;
  readonly endpoints: UpstreamEndpointStatsMessage[];
}

/** The outlier manager's states (OutlierManager.endpointStates) with LRS's locality form. */
export function lrsOutliers(
  states: ReadonlyMap<string, ReadonlyMap<string, EndpointOutlierState>>,
): OutlierCounters {
  const out = new Map<string, Map<string, EndpointOutlierCounters>>();
  for (const [cluster, hosts] of states) {
    const byHost = new Map<string, EndpointOutlierCounters>();
    for (const [key, { locality, ejected, ejections }] of hosts)
      byHost.set(key, {
        locality: { region: locality.region, zone: locality.zone, sub_zone: locality.subZone },
        ejected,
        ejections,
      });
    out.set(cluster, byHost);
  }
  return out;
}

export function localityKey(locality: LrsLocality): string {
  return `${locality.region}\u0000${locality.zone}\u0000${locality.sub_zone}`;
}

/** The cumulative ejections of `current`, the baseline of the next report. */
export function outlierBaseline(current: OutlierCounters): Map<string, Map<string, number>> {
  const baseline = new Map<string, Map<string, number>>();
  for (const [cluster, hosts] of current)
    baseline.set(cluster, new Map([...hosts].map(([key, h]) => [key, h.ejections])));
  return baseline;
}

/**
 * The endpoints of one cluster to report, by locality key: those ejected now or ejected since
 * `baseline`. A count that went down (the detector forgot the host and saw it again) counts from
 * zero.
 */
export function endpointOutlierStats(
  hosts: ReadonlyMap<string, EndpointOutlierCounters>,
  baseline: ReadonlyMap<string, number> | undefined,
): Map<string, LocalityEndpointStats> {
  const byLocality = new Map<string, LocalityEndpointStats>();
  for (const [key, host] of hosts) {
    const before = baseline?.get(key) ?? 0;
    const started = host.ejections >= before ? host.ejections - before : host.ejections;
    if (started === 0 && !host.ejected) continue;
    const address = socketAddress(key);
    if (address === undefined) continue;
    const metrics: EndpointLoadMetricStatsMessage[] = [];
    if (started > 0)
      metrics.push({
        metric_name: OUTLIER_EJECTIONS_METRIC,
        num_requests_finished_with_metric: String(started),
        total_metric_value: started,
      });
    if (host.ejected)
      metrics.push({
        metric_name: OUTLIER_EJECTED_METRIC,
        num_requests_finished_with_metric: '1',
        total_metric_value: 1,
      });
    const id = localityKey(host.locality);
    let entry = byLocality.get(id);
    if (entry === undefined)
      byLocality.set(id, (entry = { locality: host.locality, endpoints: [] }));
    entry.endpoints.push({
      address: { socket_address: address },
      total_successful_requests: '0',
      total_requests_in_progress: '0',
      total_error_requests: '0',
      total_issued_requests: '0',
      load_metric_stats: metrics,
    });
  }
  return byLocality;
}

/** `host:port` or `[v6]:port` (formatHostPort's form) as a SocketAddress. */
function socketAddress(key: string): { address: string; port_value: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(key);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) return undefined;
  return { address: m[1] ?? m[2] ?? '', port_value: port };
}
