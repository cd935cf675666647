/**
 * An HDS HealthCheckSpecifier (envoy.service.health.v3, proto3 JSON) → the health-check work it
 * assigns, in ferry-proxy's model. Called by the HDS client (xds/hds-client.ts) for every new
 * specifier; the result goes to HdsAssignments.
 *
 * HDS has no NACK, so nothing here rejects the whole message. What ferry-proxy cannot do as
 * asked is left out with a warning (a path and the reason) and the rest runs, as Envoy's
 * HdsDelegate skips what it cannot build:
 * - a health check that translate-health-check.ts would NACK in a Cluster (unsupported field,
 *   missing timeout, ...) is skipped; a cluster left with no check to run is skipped too (its
 *   endpoints would otherwise be reported unhealthy for a reason that is ferry-proxy's own);
 * - a cluster with `transport_socket_matches` (its checks would need TLS or another transport
 *   socket; ferry-proxy's checkers connect in plaintext) or an `upstream_bind_config` that binds
 *   (checkers cannot choose their source address) is skipped;
 * - an endpoint whose address is not an IP socket address is skipped (Envoy resolves HDS
 *   addresses without DNS), and so is one whose health_check_config asks for a different
 *   address or hostname. `health_check_config.port_value` is honoured (the port probed);
 *   `disable_active_health_check` leaves the endpoint out without a warning, as Envoy does;
 * - a second cluster with the same name is ignored (Envoy: "already been added, not using").
 * Endpoint `hostname`, `additional_addresses` and metadata are ignored, as Envoy's HDS does.
 */
import type { HealthCheckModel } from '../config/model.js';
import {
  asObject,
  durationMs,
  int,
  Issues,
  join,
  objectsOf,
  socketAddress,
  str,
  type JsonObject,
} from '../config/translate-common.js';
import { translateHealthCheck } from '../config/translate-health-check.js';

/** HealthCheckSpecifier.interval when absent (hds.proto: "The default is 1 second"). */
export const DEFAULT_HDS_INTERVAL_MS = 1_000;

export interface HdsEndpoint {
  /** IP address and port, as given (and as reported back). */
  readonly host: string;
  readonly port: number;
  /** health_check_config.port_value: the port probed instead of `port`. */
  readonly healthCheckPort?: number;
}

export interface HdsLocality {
  /** envoy.config.core.v3.Locality as given (proto3 JSON), reported back unchanged. */
  readonly locality?: JsonObject;
  readonly endpoints: readonly HdsEndpoint[];
}

export interface HdsClusterAssignment {
  readonly name: string;
  readonly checks: readonly HealthCheckModel[];
  /** In the specifier's order; reports keep it. */
  readonly localities: readonly HdsLocality[];
}

export interface HdsSpecifier {
  readonly intervalMs: number;
  readonly clusters: readonly HdsClusterAssignment[];
  /** What was left out and why, each prefixed with its field path. */
  readonly warnings: readonly string[];
}

export function translateHdsSpecifier(specifier: JsonObject): HdsSpecifier {
  const warnings: string[] = [];
  const clusters: HdsClusterAssignment[] = [];
  const names = new Set<string>();
  for (const [obj, path] of objectsOf(specifier, 'cluster_health_checks', '')) {
    const name = str(obj.cluster_name);
    if (names.has(name)) {
      warnings.push(`${path}: cluster ${JSON.stringify(name)} is already assigned; ignored`);
      continue;
    }
    names.add(name);
    const cluster = clusterAssignment(obj, path, name, warnings);
    if (cluster) clusters.push(cluster);
  }
  const intervalMs = durationMs(specifier.interval, DEFAULT_HDS_INTERVAL_MS);
  return {
    intervalMs: intervalMs > 0 ? intervalMs : DEFAULT_HDS_INTERVAL_MS,
    clusters,
    warnings,
  };
}

function clusterAssignment(
  obj: JsonObject,
  path: string,
  name: string,
  warnings: string[],
): HdsClusterAssignment | undefined {
  const skipped = (reason: string): undefined => {
    warnings.push(`${path}: cluster ${JSON.stringify(name)} not checked: ${reason}`);
    return undefined;
  };
  if (objectsOf(obj, 'transport_socket_matches', '').length > 0)
    return skipped(
      'transport_socket_matches is not supported (ferry-proxy’s health checkers connect in plaintext)',
    );
  if (bindsSource(asObject(obj.upstream_bind_config)))
    return skipped(
      'upstream_bind_config is not supported (health checkers cannot choose their source address)',
    );
  const checks: HealthCheckModel[] = [];
  for (const [check, checkPath] of objectsOf(obj, 'health_checks', path)) {
    const issues = new Issues('');
    const model = translateHealthCheck(check, checkPath, issues);
    if (model && issues.ok) checks.push(model);
    else warnings.push(`health check skipped: ${issues.errors.join('; ')}`);
  }
  if (checks.length === 0) return skipped('no health check ferry-proxy can run');
  const localities = objectsOf(obj, 'locality_endpoints', path).map(
    ([locality, localityPath]): HdsLocality => {
      const endpoints: HdsEndpoint[] = [];
      for (const [endpoint, endpointPath] of objectsOf(locality, 'endpoints', localityPath)) {
        const parsed = hdsEndpoint(endpoint, endpointPath, warnings);
        if (parsed) endpoints.push(parsed);
      }
      const given = asObject(locality.locality);
      return given ? { locality: given, endpoints } : { endpoints };
    },
  );
  return { name, checks, localities };
}

/** BindConfig: Envoy binds only when source_address has an address or port, or other options. */
function bindsSource(bind: JsonObject | undefined): boolean {
  if (!bind) return false;
  return Object.entries(bind).some(([key, value]) => {
    if (key !== 'source_address') return true;
    const source = asObject(value) ?? {};
    return str(source.address) !== '' || int(source.port_value, 0) !== 0;
  });
}

function hdsEndpoint(obj: JsonObject, path: string, warnings: string[]): HdsEndpoint | undefined {
  const config = asObject(obj.health_check_config) ?? {};
  if (config.disable_active_health_check === true) return undefined;
  const unsupported = Object.keys(config).filter(
    (key) => key !== 'port_value' && key !== 'disable_active_health_check',
  );
  if (unsupported.length > 0) {
    warnings.push(
      `${join(path, 'health_check_config')}: ${unsupported.join(', ')} not supported; endpoint not checked`,
    );
    return undefined;
  }
  const issues = new Issues('');
  const address = socketAddress(asObject(obj.address), join(path, 'address'), issues, {
    allowHostname: false,
  });
  if (!address || !issues.ok) {
    const reasons = issues.errors.length > 0 ? issues.errors.join('; ') : `${path}: no address`;
    warnings.push(`endpoint not checked: ${reasons}`);
    return undefined;
  }
  const portPath = join(join(path, 'address'), 'socket_address.port_value');
  if (!validPort(address.port)) {
    warnings.push(`${portPath}: ${address.port} is not a port; endpoint not checked`);
    return undefined;
  }
  const checkPort = int(config.port_value, 0);
  if (checkPort === 0) return address;
  if (!validPort(checkPort)) {
    warnings.push(
      `${join(path, 'health_check_config.port_value')}: ${checkPort} is not a port; endpoint not checked`,
    );
    return undefined;
  }
  return { ...address, healthCheckPort: checkPort };
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port < 65_536;
}
