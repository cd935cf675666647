/**
 * /clusters in Envoy's text and JSON shapes: every cluster of the config in force with its
 * hosts, each host's health flags from EDS, the primary's active health checks and its outlier
 * ejections.
 */
import { formatHostPort } from '@ferry/shared';
import type { ProxyConfig } from '../config/model.js';
import type { HostHealthView } from '../health/health-manager.js';
import type { JsonObject } from '../xds/resource-set.js';
import type { ClusterStatusInput, ClustersSource } from './admin-sources.js';

export interface ClusterStatusesInput {
  /** The config accepted last (it may still be warming); undefined before any. */
  readonly config: () => ProxyConfig | undefined;
  /** The bootstrap's static clusters (added_via_api false). */
  readonly staticClusterNames: ReadonlySet<string>;
  /** The active health checks' view, by cluster then host key. */
  readonly activeHealth: () => ReadonlyMap<string, ReadonlyMap<string, HostHealthView>>;
  /** Outlier detection's ejected host keys, by cluster. */
  readonly outlierEjected: () => ReadonlyMap<string, ReadonlySet<string>>;
}

/** The rows of /clusters (and of the membership gauges), read afresh on every call. */
export class ClusterStatuses implements ClustersSource {
  constructor(private readonly input: ClusterStatusesInput) {}

  rows(): ClusterStatusInput[] {
    const { input } = this;
    return clusterStatuses(
      input.config(),
      input.staticClusterNames,
      input.activeHealth(),
      input.outlierEjected(),
    );
  }
}

export function clusterStatuses(
  config: ProxyConfig | undefined,
  staticNames: ReadonlySet<string>,
  activeHealth?: ReadonlyMap<string, ReadonlyMap<string, HostHealthView>>,
  outlierEjected?: ReadonlyMap<string, ReadonlySet<string>>,
): ClusterStatusInput[] {
  if (!config) return [];
  return Object.values(config.clusters)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((cluster) => {
      const active = activeHealth?.get(cluster.name);
      const ejected = outlierEjected?.get(cluster.name);
      return {
        cluster,
        addedViaApi: !staticNames.has(cluster.name),
        ...(active ? { activeHealth: active } : {}),
        ...(ejected && ejected.size > 0 ? { outlierEjected: ejected } : {}),
      };
    });
}

function edsHealthFlag(status: string): string {
  switch (status) {
    case 'UNHEALTHY':
      return '/eds_health_status_unhealthy';
    case 'DRAINING':
      return '/pending_dynamic_removal';
    case 'TIMEOUT':
      return '/eds_health_status_timeout';
    case 'DEGRADED':
      return '/degraded_eds_health';
    default:
      return '';
  }
}

/**
 * Envoy's health_flags: active-check flags first, then outlier detection, then EDS ones;
 * `healthy` when none.
 */
function healthFlags(
  edsStatus: string,
  active: HostHealthView | undefined,
  ejected: boolean,
): string {
  let flags = '';
  if (active?.status === 'UNHEALTHY') flags += '/failed_active_hc';
  if (ejected) flags += '/failed_outlier_check';
  if (active?.pending) flags += '/pending_active_hc';
  flags += edsHealthFlag(edsStatus);
  return flags === '' ? 'healthy' : flags;
}

/** Envoy's /clusters text: `cluster::key::value` and `cluster::host:port::key::value` lines. */
export function renderClustersText(rows: readonly ClusterStatusInput[]): string {
  const lines: string[] = [];
  for (const { cluster: c, addedViaApi, activeHealth, outlierEjected } of rows) {
    lines.push(`${c.name}::observability_name::${c.name}`);
    lines.push(`${c.name}::default_priority::max_connections::${c.circuitBreakers.maxConnections}`);
    lines.push(
      `${c.name}::default_priority::max_pending_requests::${c.circuitBreakers.maxPendingRequests}`,
    );
    lines.push(`${c.name}::default_priority::max_requests::${c.circuitBreakers.maxRequests}`);
    lines.push(`${c.name}::default_priority::max_retries::${c.circuitBreakers.maxRetries}`);
    lines.push(`${c.name}::added_via_api::${addedViaApi}`);
    for (const locality of c.localities) {
      for (const e of locality.endpoints) {
        const prefix = `${c.name}::${formatHostPort(e.host, e.port)}`;
        lines.push(`${prefix}::hostname::${e.hostname}`);
        const active = activeHealth?.get(formatHostPort(e.host, e.port));
        const ejected = outlierEjected?.has(formatHostPort(e.host, e.port)) === true;
        lines.push(`${prefix}::health_flags::${healthFlags(e.healthStatus, active, ejected)}`);
        lines.push(`${prefix}::weight::${e.weight}`);
        lines.push(`${prefix}::region::${locality.locality.region}`);
        lines.push(`${prefix}::zone::${locality.locality.zone}`);
        lines.push(`${prefix}::sub_zone::${locality.locality.subZone}`);
        lines.push(`${prefix}::priority::${locality.priority}`);
      }
    }
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** Envoy's /clusters?format=json (envoy.admin.v3.Clusters). */
export function renderClustersJson(rows: readonly ClusterStatusInput[]): JsonObject {
  return {
    cluster_statuses: rows.map(({ cluster: c, addedViaApi, activeHealth, outlierEjected }) => ({
      name: c.name,
      observability_name: c.name,
      added_via_api: addedViaApi,
      circuit_breakers: {
        thresholds: [
          {
            priority: 'DEFAULT',
            max_connections: c.circuitBreakers.maxConnections,
            max_pending_requests: c.circuitBreakers.maxPendingRequests,
            max_requests: c.circuitBreakers.maxRequests,
            max_retries: c.circuitBreakers.maxRetries,
          },
        ],
      },
      host_statuses: c.localities.flatMap((locality) =>
        locality.endpoints.map((e) => ({
          address: { socket_address: { address: e.host, port_value: e.port } },
          hostname: e.hostname,
          health_status: hostHealthStatusJson(
            e.healthStatus,
            activeHealth?.get(formatHostPort(e.host, e.port)),
            outlierEjected?.has(formatHostPort(e.host, e.port)) === true,
          ),
          weight: e.weight,
          locality: {
            region: locality.locality.region,
            zone: locality.locality.zone,
            sub_zone: locality.locality.subZone,
          },
          priority: locality.priority,
        })),
      ),
    })),
  };
}

/** envoy.admin.v3.HostHealthStatus. */
function hostHealthStatusJson(
  edsStatus: string,
  active: HostHealthView | undefined,
  ejected: boolean,
): JsonObject {
  return {
    eds_health_status: edsStatus,
    ...(active?.status === 'UNHEALTHY' ? { failed_active_health_check: true } : {}),
    ...(ejected ? { failed_outlier_check: true } : {}),
    ...(active?.pending ? { pending_active_hc: true } : {}),
  };
}
