/**
 * Fixture builders for tests of validation, the API and ferryctl: proto3 JSON documents as an
 * operator would write them. Not used by product code.
 */
const T = 'type.googleapis.com/';

/** A self-signed P-256 certificate (CN=ferry-test, valid until 2126) and its key. */
export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIUUEHxqeGbp50hTj4t85d+PyMdj5kwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZmVycnktdGVzdDAgFw0yNjExMjcwOTQ2MTdaGA8yMTI2MTEw
MzA5NDYxN1owFTETMBEGA1UEAwwKZmVycnktdGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABDINmeCUNa2VRdafyx3LYry4MWYAOJMdPQ5FJYLXVmlI86uz44Zx
/41a5ZxpXjC5PbSoRLI6qqztdhGKJTyXESqjUzBRMB0GA1UdDgQWBBROPxRfswTU
5++qoAiXBk74az8XuTAfBgNVHSMEGDAWgBROPxRfswTU5++qoAiXBk74az8XuTAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFUwWwf0CVB1qOK/gtqd
wEvxPqDhV9vn6NDOLXaDwdttAiEAhMaRFH6xQObkik6N3JDYpR8zriPfPOdGWh6Z
ZjW8jZw=
-----END CERTIFICATE-----
`;

export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgp/pSMS0J047w85xt
VTIGkT3PiQ76k5ep36KdJAX75HKhRANCAAQyDZnglDWtlUXWn8sdy2K8uDFmADiT
HT0ORSWC11ZpSPOrs+OGcf+NWuWcaV4wuT20qESyOqqs7XYRiiU8lxEq
-----END PRIVATE KEY-----
`;

/** A valid key that does not belong to TEST_CERT. */
export const OTHER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZo0Q2hZXVHMDMko9
gK4MLDJEHgR9+WRxr9ReWbLEn5mhRANCAAQJivV43QZgWObns3Um8L6oUSJO88JF
kg4NnAJ+gI5x40C143rlitWdZ8BcCIWv0MTSNSW54WEInzSeyn397jOd
-----END PRIVATE KEY-----
`;

export type Doc = Record<string, unknown>;

export function endpointsOf(ports: number[]): Doc[] {
  return [
    {
      lb_endpoints: ports.map((port) => ({
        endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
      })),
    },
  ];
}

/** A STATIC cluster with inline endpoints, or an EDS cluster (`eds: true` or a service name). */
export function cluster(
  name: string,
  opts: { ports?: number[]; eds?: boolean | string; extra?: Doc } = {},
): Doc {
  const base: Doc = { '@type': T + 'envoy.config.cluster.v3.Cluster', name, connect_timeout: '1s' };
  if (opts.eds) {
    base.type = 'EDS';
    base.eds_cluster_config = {
      eds_config: { ads: {}, resource_api_version: 'V3' },
      ...(typeof opts.eds === 'string' ? { service_name: opts.eds } : {}),
    };
  } else {
    base.type = 'STATIC';
    base.load_assignment = { cluster_name: name, endpoints: endpointsOf(opts.ports ?? [8080]) };
  }
  return { ...base, ...opts.extra };
}

export function loadAssignment(name: string, ports: number[] = [8080]): Doc {
  return {
    '@type': T + 'envoy.config.endpoint.v3.ClusterLoadAssignment',
    cluster_name: name,
    endpoints: endpointsOf(ports),
  };
}

export interface RouteSpec {
  prefix?: string;
  regex?: string;
  cluster?: string;
  weighted?: string[];
  clusterHeader?: string;
}

export function routeSpec(r: RouteSpec): Doc {
  const match: Doc =
    r.regex !== undefined ? { safe_regex: { regex: r.regex } } : { prefix: r.prefix ?? '/' };
  let route: Doc;
  if (r.weighted)
    route = { weighted_clusters: { clusters: r.weighted.map((name) => ({ name, weight: 1 })) } };
  else if (r.clusterHeader) route = { cluster_header: r.clusterHeader };
  else route = { cluster: r.cluster ?? 'web' };
  return { match, route };
}

export function virtualHost(name: string, domains: string[], routes: RouteSpec[]): Doc {
  return { name, domains, routes: routes.map(routeSpec) };
}

export function routeConfig(name: string, virtualHosts: Doc[]): Doc {
  return {
    '@type': T + 'envoy.config.route.v3.RouteConfiguration',
    name,
    virtual_hosts: virtualHosts,
  };
}

/** A listener with one HTTP connection manager using RDS (`rds`) or an inline route config. */
export function listener(
  name: string,
  opts: { port?: number; rds?: string; inline?: Doc; tls?: Doc; tcpCluster?: string } = {},
): Doc {
  let filter: Doc;
  if (opts.tcpCluster !== undefined) {
    filter = {
      name: 'envoy.filters.network.tcp_proxy',
      typed_config: {
        '@type': T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
        stat_prefix: 'tcp',
        cluster: opts.tcpCluster,
      },
    };
  } else {
    const { ['@type']: _t, ...inline } = opts.inline ?? {};
    filter = {
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type':
          T + 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'ingress',
        ...(opts.inline
          ? { route_config: inline }
          : {
              rds: {
                route_config_name: opts.rds ?? 'main',
                config_source: { ads: {}, resource_api_version: 'V3' },
              },
            }),
        http_filters: [
          {
            name: 'envoy.filters.http.router',
            typed_config: { '@type': T + 'envoy.extensions.filters.http.router.v3.Router' },
          },
        ],
      },
    };
  }
  const chain: Doc = { filters: [filter] };
  if (opts.tls) {
    chain.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': T + 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        ...opts.tls,
      },
    };
  }
  return {
    '@type': T + 'envoy.config.listener.v3.Listener',
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: opts.port ?? 10000 } },
    filter_chains: [chain],
  };
}

/** DownstreamTlsContext fields taking the certificate from SDS secret `secretName`. */
export function sdsTls(secretName: string): Doc {
  return {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [
        { name: secretName, sds_config: { ads: {}, resource_api_version: 'V3' } },
      ],
    },
  };
}

export function tlsSecret(name: string, cert = TEST_CERT, key = TEST_KEY): Doc {
  return {
    '@type': T + 'envoy.extensions.transport_sockets.tls.v3.Secret',
    name,
    tls_certificate: {
      certificate_chain: { inline_string: cert },
      private_key: { inline_string: key },
    },
  };
}

/** A consistent group: listener → route config → EDS cluster + its endpoints, and a static cluster. */
export function basicGroup(): Doc[] {
  return [
    cluster('web', { eds: true }),
    loadAssignment('web', [8080, 8081]),
    cluster('api'),
    routeConfig('main', [
      virtualHost(
        'all',
        ['*'],
        [
          { prefix: '/api', cluster: 'api' },
          { prefix: '/', cluster: 'web' },
        ],
      ),
    ]),
    listener('http', { port: 10000, rds: 'main' }),
  ];
}
