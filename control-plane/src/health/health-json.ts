/**
 * The wire form of the fleet's health view (GET /v1/health, `ferryctl health -o json`):
 * snake_case, times as ISO-8601 strings.
 *
 *   { clusters: [{ group, cluster, quorum?: { unhealthy_percent, min_proxies },
 *                  endpoints: [{ address, status, healthy, unhealthy, proxies, since,
 *                  unhealthy_nodes, eds_unhealthy_by_quorum? }] }],
 *     nodes:    [{ node_id, group, reported_at, clusters: [{ cluster, endpoints: [{ address,
 *                  status }] }] }] }
 */
import type { HealthStatusSource } from './health-aggregate.js';

import type { HealthJson } from '@ferry/shared/api-wire';

export type {
  ClusterHealthJson,
  EndpointHealthJson,
  HealthJson,
  NodeHealthJson,
} from '@ferry/shared/api-wire';

export interface HealthFilter {
  readonly group?: string | undefined;
  readonly cluster?: string | undefined;
}

export function healthJson(source: HealthStatusSource, filter: HealthFilter = {}): HealthJson {
  const keepGroup = (group: string): boolean =>
    filter.group === undefined || filter.group === group;
  const keepCluster = (cluster: string): boolean =>
    filter.cluster === undefined || filter.cluster === cluster;
  return {
    clusters: source
      .clusters()
      .filter((c) => keepGroup(c.group) && keepCluster(c.cluster))
      .map((c) => {
        const quorum = source.quorum?.(c.group, c.cluster);
        return {
          group: c.group,
          cluster: c.cluster,
          ...(quorum
            ? {
                quorum: {
                  unhealthy_percent: quorum.unhealthyPercent,
                  min_proxies: quorum.minProxies,
                },
              }
            : {}),
          endpoints: c.endpoints.map((e) => ({
            address: e.address,
            status: e.status,
            healthy: e.healthy,
            unhealthy: e.unhealthy,
            proxies: e.proxies,
            since: new Date(e.since).toISOString(),
            unhealthy_nodes: e.unhealthyNodes,
            ...(quorum ? { eds_unhealthy_by_quorum: quorum.marked.has(e.address) } : {}),
          })),
        };
      }),
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
