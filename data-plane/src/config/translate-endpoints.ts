/**
 * ClusterLoadAssignment (EDS resources, and clusters' inline load_assignment) →
 * LocalityEndpointsModel[] plus the assignment's overprovisioning factor.
 */
import {
  asObject,
  checkFields,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  socketAddress,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type { EndpointModel, HealthStatus, LocalityEndpointsModel } from './model.js';

/** Envoy's default ClusterLoadAssignment.policy.overprovisioning_factor (percent). */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;

const CLA_SPEC = messageSpec('envoy.config.endpoint.v3.ClusterLoadAssignment', {
  cluster_name: 'EDS service name',
  endpoints: 'localities',
  policy: 'overprovisioning_factor only',
});

const POLICY_SPEC = messageSpec('envoy.config.endpoint.v3.ClusterLoadAssignment.Policy', {
  overprovisioning_factor: 'default 140',
});

const LOCALITY_ENDPOINTS_SPEC = messageSpec('envoy.config.endpoint.v3.LocalityLbEndpoints', {
  locality: 'region/zone/sub_zone (reported, not used for routing)',
  lb_endpoints: 'endpoints',
  load_balancing_weight: 'locality weight (stored; locality-weighted balancing is not supported)',
  priority: 'priority level (0 is highest); lower levels take traffic as higher ones fail',
  metadata: 'accepted, no effect',
});

const LOCALITY_SPEC = messageSpec('envoy.config.core.v3.Locality', {
  region: 'label',
  zone: 'label',
  sub_zone: 'label',
});

const LB_ENDPOINT_SPEC = messageSpec('envoy.config.endpoint.v3.LbEndpoint', {
  endpoint: 'address and hostname',
  health_status: 'EDS health status (UNHEALTHY/DRAINING/TIMEOUT endpoints take no traffic)',
  load_balancing_weight: 'default 1',
  metadata: 'accepted, no effect',
});

const ENDPOINT_SPEC = messageSpec('envoy.config.endpoint.v3.Endpoint', {
  address: 'socket address',
  hostname: 'used by auto_host_rewrite',
});

export const ENDPOINT_SPECS: readonly MessageSpec[] = [
  CLA_SPEC,
  POLICY_SPEC,
  LOCALITY_ENDPOINTS_SPEC,
  LOCALITY_SPEC,
  LB_ENDPOINT_SPEC,
  ENDPOINT_SPEC,
];

const HEALTH_STATUSES: readonly HealthStatus[] = [
  'UNKNOWN',
  'HEALTHY',
  'UNHEALTHY',
  'DRAINING',
  'TIMEOUT',
  'DEGRADED',
];

export interface Assignment {
  readonly localities: LocalityEndpointsModel[];
  readonly overprovisioningFactor: number;
}

export function translateAssignment(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: { allowHostname: boolean },
): Assignment {
  checkFields(obj, CLA_SPEC, path, issues);
  const policyPath = join(path, 'policy');
  const policy = asObject(obj.policy) ?? {};
  checkFields(policy, POLICY_SPEC, policyPath, issues);
  const localities = objectsOf(obj, 'endpoints', path).map(([group, groupPath]) => {
    checkFields(group, LOCALITY_ENDPOINTS_SPEC, groupPath, issues);
    const locality = asObject(group.locality) ?? {};
    checkFields(locality, LOCALITY_SPEC, join(groupPath, 'locality'), issues);
    return {
      locality: {
        region: str(locality.region),
        zone: str(locality.zone),
        subZone: str(locality.sub_zone),
      },
      priority: int(group.priority, 0),
      weight: int(group.load_balancing_weight, 1),
      endpoints: objectsOf(group, 'lb_endpoints', groupPath).flatMap(([lbEndpoint, p]) => {
        const endpoint = lbEndpointModel(lbEndpoint, p, issues, options);
        return endpoint ? [endpoint] : [];
      }),
    };
  });
  return {
    localities,
    overprovisioningFactor: int(policy.overprovisioning_factor, DEFAULT_OVERPROVISIONING_FACTOR),
  };
}

function lbEndpointModel(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: { allowHostname: boolean },
): EndpointModel | undefined {
  checkFields(obj, LB_ENDPOINT_SPEC, path, issues);
  const endpointPath = join(path, 'endpoint');
  const endpoint = asObject(obj.endpoint);
  if (!endpoint) {
    // endpoint_name (LEDS-style named endpoints) was reported by checkFields.
    if (obj.endpoint_name === undefined) issues.add(endpointPath, 'required');
    return undefined;
  }
  checkFields(endpoint, ENDPOINT_SPEC, endpointPath, issues);
  const address = socketAddress(
    asObject(endpoint.address),
    join(endpointPath, 'address'),
    issues,
    options,
  );
  if (!address) return undefined;
  return {
    host: address.host,
    port: address.port,
    weight: int(obj.load_balancing_weight, 1),
    healthStatus: enumField(
      obj.health_status,
      HEALTH_STATUSES,
      'UNKNOWN',
      join(path, 'health_status'),
      issues,
    ),
    hostname: str(endpoint.hostname),
  };
}
