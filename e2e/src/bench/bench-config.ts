/**
 * The configuration the xDS benchmark applies: one listener whose HTTP connection manager takes
 * its routes over RDS, one route configuration, `clusters` EDS clusters fed over ADS, and their
 * ClusterLoadAssignments. The update changes one endpoint's port in the first cluster only, so
 * exactly one EDS resource changes and nothing else should be pushed.
 */

export type ResourceDoc = Record<string, unknown>;

export interface BenchConfigOptions {
  readonly clusters: number;
  readonly endpointsPerCluster: number;
}

export const ROUTE_CONFIG_NAME = 'bench-routes';
const FIRST_ENDPOINT_PORT = 8000;
/** Port the first endpoint of the first cluster moves to in the update. */
export const UPDATED_PORT = 9000;

const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };

export function clusterName(index: number): string {
  return `bench-svc-${index}`;
}

function listener(): ResourceDoc {
  return {
    '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
    name: 'bench-ingress',
    address: { socket_address: { address: '0.0.0.0', port_value: 10000 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'ingress',
              rds: { route_config_name: ROUTE_CONFIG_NAME, config_source: ADS_SOURCE },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

function routeConfiguration(clusters: number): ResourceDoc {
  return {
    '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
    name: ROUTE_CONFIG_NAME,
    virtual_hosts: [
      {
        name: 'bench',
        domains: ['*'],
        routes: Array.from({ length: clusters }, (_, i) => ({
          match: { prefix: `/${clusterName(i)}/` },
          route: { cluster: clusterName(i), timeout: '5s' },
        })),
      },
    ],
  };
}

function cluster(index: number): ResourceDoc {
  return {
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    name: clusterName(index),
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_SOURCE },
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
  };
}

function loadAssignment(index: number, endpoints: number, firstPort: number): ResourceDoc {
  return {
    '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
    cluster_name: clusterName(index),
    endpoints: [
      {
        lb_endpoints: Array.from({ length: endpoints }, (_, e) => ({
          endpoint: {
            address: {
              socket_address: {
                address: `10.0.${index}.${e + 1}`,
                port_value: e === 0 ? firstPort : FIRST_ENDPOINT_PORT + e,
              },
            },
          },
        })),
      },
    ],
  };
}

/** The full base configuration, every resource as a proto3 JSON document with "@type". */
export function baseConfig(options: BenchConfigOptions): ResourceDoc[] {
  const indexes = Array.from({ length: options.clusters }, (_, i) => i);
  return [
    listener(),
    routeConfiguration(options.clusters),
    ...indexes.map(cluster),
    ...indexes.map((i) => loadAssignment(i, options.endpointsPerCluster, FIRST_ENDPOINT_PORT)),
  ];
}

/**
 * The base configuration with the first cluster's first endpoint moved to `UPDATED_PORT`. The
 * whole set is applied so the update is the same whether apply upserts or replaces the group.
 */
export function updatedConfig(options: BenchConfigOptions): ResourceDoc[] {
  return baseConfig(options).map((doc) =>
    doc.cluster_name === clusterName(0)
      ? loadAssignment(0, options.endpointsPerCluster, UPDATED_PORT)
      : doc,
  );
}

/** Whether decoded EDS resources (proto3 JSON) carry the update. */
export function hasUpdatedEndpoint(resources: readonly Record<string, unknown>[]): boolean {
  return JSON.stringify(resources.find((r) => r.cluster_name === clusterName(0)) ?? {}).includes(
    `"port_value":${UPDATED_PORT}`,
  );
}
