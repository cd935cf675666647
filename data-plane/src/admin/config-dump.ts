/**
 * /config_dump in Envoy's shape (envoy.admin.v3.ConfigDump): one entry per resource kind, with
 * static resources from the bootstrap and dynamic ones as accepted over xDS, each as JSON with
 * its "@type". Resources are the accepted Envoy JSON, not the internal model, so an operator
 * can diff it against what they applied.
 */
import { formatHostPort } from '@ferry/shared';
import type { ClusterModel, ProxyConfig } from '../config/model.js';
import type { HostHealthView } from '../health/health-manager.js';
import { CDS, EDS, LDS, RDS, type JsonObject, type ResourceSet } from '../xds/resource-set.js';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

export interface ConfigDumpInput {
  readonly staticListeners: readonly JsonObject[];
  readonly staticClusters: readonly JsonObject[];
  readonly resources: ResourceSet;
  /** When the static resources were loaded (process start). */
  readonly bootTime: string;
  /** The raw bootstrap, when available (BootstrapConfigDump). */
  readonly bootstrap?: JsonObject;
}

function typed(typeUrl: string, json: JsonObject): JsonObject {
  return { '@type': typeUrl, ...json };
}

function dynamic(
  set: ResourceSet,
  typeUrl: string,
  entry: (r: {
    name: string;
    json: JsonObject;
    version: string;
    lastUpdated: string;
  }) => JsonObject,
): JsonObject[] {
  const t = set.get(typeUrl);
  if (!t) return [];
  return [...t.resources.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) =>
      entry({
        name: r.name,
        json: typed(typeUrl, r.json),
        version: r.version,
        lastUpdated: r.lastUpdated,
      }),
    );
}

export function buildConfigDump(input: ConfigDumpInput): JsonObject {
  const { resources: set, bootTime } = input;
  const configs: JsonObject[] = [];
  if (input.bootstrap)
    configs.push({
      '@type': `${ADMIN}BootstrapConfigDump`,
      bootstrap: input.bootstrap,
      last_updated: bootTime,
    });
  configs.push({
    '@type': `${ADMIN}ClustersConfigDump`,
    version_info: set.get(CDS)?.version ?? '',
    static_clusters: input.staticClusters.map((c) => ({
      cluster: typed(CDS, c),
      last_updated: bootTime,
    })),
    dynamic_active_clusters: dynamic(set, CDS, (r) => ({
      version_info: r.version,
      cluster: r.json,
      last_updated: r.lastUpdated,
    })),
  });
  configs.push({
    '@type': `${ADMIN}EndpointsConfigDump`,
    static_endpoint_configs: [],
    dynamic_endpoint_configs: dynamic(set, EDS, (r) => ({
      version_info: r.version,
      endpoint_config: r.json,
      last_updated: r.lastUpdated,
    })),
  });
  configs.push({
    '@type': `${ADMIN}ListenersConfigDump`,
    version_info: set.get(LDS)?.version ?? '',
    static_listeners: input.staticListeners.map((l) => ({
      listener: typed(LDS, l),
      last_updated: bootTime,
    })),
    dynamic_listeners: dynamic(set, LDS, (r) => ({
      name: r.name,
      active_state: { version_info: r.version, listener: r.json, last_updated: r.lastUpdated },
    })),
  });
  configs.push({
    '@type': `${ADMIN}RoutesConfigDump`,
    static_route_configs: [],
    dynamic_route_configs: dynamic(set, RDS, (r) => ({
      version_info: r.version,
      route_config: r.json,
      last_updated: r.lastUpdated,
    })),
  });
  return { configs };
}

/** One row of /clusters: a cluster, whether it came over xDS, and its hosts' active health. */
export interface ClusterStatusInput {
  readonly cluster: ClusterModel;
  readonly addedViaApi: boolean;
  /** Active health-check view by host key (`host:port`); absent = not health checked. */
  readonly activeHealth?: ReadonlyMap<string, HostHealthView>;
  /** Host keys ejected by outlier detection (the primary's); absent = none. */
  readonly outlierEjected?: ReadonlySet<string>;
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
