/**
 * Envoy's cluster membership gauges (`membership_total`, `membership_healthy`,
 * `membership_degraded`, `membership_excluded` per cluster), computed in the primary from the
 * same view as admin /clusters: the config's endpoints with their EDS health status, the
 * primary's active health checks, and the primary's outlier ejections. Workers do not report
 * these (each would count the same hosts again).
 *
 * A host is healthy when EDS says HEALTHY or UNKNOWN, the active checks do not fail it and
 * outlier detection does not eject it; degraded when EDS says DEGRADED and nothing else fails it; excluded when it
 * is only pending its first active check (Envoy excludes such hosts from load balancing).
 */
import { formatHostPort } from '@ferry/shared';
import type { StatsSnapshot } from '../stats/stats.js';
import type { ClusterStatusInput } from './admin-sources.js';

type Gauge = StatsSnapshot['gauges'][number];

export function membershipGauges(rows: readonly ClusterStatusInput[]): Gauge[] {
  const out: Gauge[] = [];
  for (const { cluster, activeHealth, outlierEjected } of rows) {
    const seen = new Set<string>();
    let healthy = 0;
    let degraded = 0;
    let excluded = 0;
    for (const locality of cluster.localities)
      for (const endpoint of locality.endpoints) {
        const key = formatHostPort(endpoint.host, endpoint.port);
        if (seen.has(key)) continue;
        seen.add(key);
        const active = activeHealth?.get(key);
        if (active?.status === 'UNHEALTHY' || outlierEjected?.has(key) === true) continue;
        if (active?.pending === true) excluded++;
        else if (endpoint.healthStatus === 'HEALTHY' || endpoint.healthStatus === 'UNKNOWN')
          healthy++;
        else if (endpoint.healthStatus === 'DEGRADED') degraded++;
      }
    const labels = { cluster: cluster.name };
    out.push(
      { name: 'membership_total', labels, value: seen.size },
      { name: 'membership_healthy', labels, value: healthy },
      { name: 'membership_degraded', labels, value: degraded },
      { name: 'membership_excluded', labels, value: excluded },
    );
  }
  return out;
}
