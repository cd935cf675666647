/**
 * The wire form of the fleet's health view (GET /v1/health, `ferryctl health -o json`):
 * snake_case, times as ISO-8601 strings.
 *
 *   { clusters: [{ group, cluster, endpoints: [{ address, status, healthy, unhealthy, proxies,
 *                  since, unhealthy_nodes }] }],
 *     nodes:    [{ node_id, group, reported_at, clusters: [{ cluster, endpoints: [{ address,
 *                  status }] }] }] }
 */
import type { HealthStatusSource } from './health-aggregate.js';

export interface HealthFilter {
  readonly group?: string | undefined;
  readonly cluster?: string | undefined;
}

export function healthJson(source: HealthStatusSource, filter: HealthFilter = {}): unknown {
  const keepGroup = (group: string): boolean =>
    filter.group === undefined || filter.group === group;
  const keepCluster = (cluster: string): boolean =>
    filter.cluster === undefined || filter.cluster === cluster;
  return {
    clusters: source
      .clusters()
      .filter((c) => keepGroup(c.group) && keepCluster(c.cluster))
      .map((c) => ({
        group: c.group,
        cluster: c.cluster,
        endpoints: c.endpoints.map((e) => ({
          address: e.address,
          status: e.status,
          healthy: e.healthy,
          unhealthy: e.unhealthy,
          proxies: e.proxies,
          since: new Date(e.since).toISOString(),
          unhealthy_nodes: e.unhealthyNodes,
        })),
      })),
    nodes: source
      .nodes()
      .filter((n) => keepGroup(n.group))
      .map((n) => ({
        node_id: n.nodeId,
        group: n.group,
        reported_at: new Date(n.reportedAt).toISOString(),
        clusters: n.clusters
          .filter((c) => keepCluster(c.cluster))
          .map((c) => ({
            cluster: c.cluster,
            endpoints: c.endpoints.map((e) => ({ address: e.address, status: e.status })),
          })),
      })),
  };
}
