/** Builders of cluster models for load balancer tests (Envoy's defaults for everything else). */
import type {
  ClusterModel,
  EndpointModel,
  HealthStatus,
  LbPolicy,
  LocalityEndpointsModel,
} from '../config/model.js';

export function endpoint(
  host: string,
  port: number,
  extra: { weight?: number; health?: HealthStatus; hostname?: string } = {},
): EndpointModel {
  return {
    host,
    port,
    weight: extra.weight ?? 1,
    healthStatus: extra.health ?? 'UNKNOWN',
    hostname: extra.hostname ?? '',
  };
}

export function locality(endpoints: EndpointModel[], priority = 0): LocalityEndpointsModel {
  return { locality: { region: '', zone: '', subZone: '' }, priority, weight: 1, endpoints };
}

export function lbCluster(
  lbPolicy: LbPolicy,
  localities: LocalityEndpointsModel[],
  extra: Partial<ClusterModel> = {},
): ClusterModel {
  return {
    name: 'c',
    type: 'STATIC',
    edsServiceName: 'c',
    connectTimeoutMs: 5000,
    lbPolicy,
    leastRequestChoiceCount: 2,
    ringHashMinSize: 1024,
    ringHashMaxSize: 8388608,
    maglevTableSize: 65537,
    localities,
    overprovisioningFactor: 140,
    healthyPanicThresholdPercent: 50,
    dnsRefreshRateMs: 5000,
    dnsLookupFamily: 'AUTO',
    upstreamProtocol: 'HTTP1',
    maxRequestsPerConnection: 0,
    upstreamIdleTimeoutMs: 3600000,
    circuitBreakers: {
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    },
    perConnectionBufferLimitBytes: 1048576,
    healthChecks: [],
    ...extra,
  };
}
