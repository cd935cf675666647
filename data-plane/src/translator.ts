/**
 * ferry-proxy's translator for other packages (`@ferry/data-plane/translator`): what ferry-proxy
 * would make of a group's resources, per resource, as its primary translates them on an xDS
 * update (config/translate.ts). Only the translation and its registries are imported from here,
 * never the proxy's runtime (sockets, workers, the xDS client).
 *
 * Host DataSources (a `filename`, an `environment_variable`) are never read: they name the
 * proxy's host, not the caller's. They are reported as unchecked, and the checks that need their
 * content are left out, so a finding is never caused by the caller's own files.
 */
import { translateResources, type JsonObject, type ResourceKind } from './config/translate.js';
import { edsServiceNames, rdsRouteNames, sdsSecretNames } from './xds/resource-set.js';

export { PROXY_USER_AGENT, proxyVersion } from './version.js';
export type { JsonObject, ResourceKind } from './config/translate.js';

/** A group's resources by kind: normalised proto3 JSON (snake_case, no "@type"). */
export interface GroupResources {
  readonly listeners: readonly JsonObject[];
  readonly routeConfigs: readonly JsonObject[];
  readonly clusters: readonly JsonObject[];
  /** ClusterLoadAssignments. */
  readonly endpoints: readonly JsonObject[];
  readonly secrets: readonly JsonObject[];
}

/** What ferry-proxy would say of one resource it receives. */
export interface ResourceFinding {
  readonly kind: ResourceKind;
  readonly name: string;
  /** `<field path>: <reason>`, as the NACK's error_detail words them without the resource label. */
  readonly errors: readonly string[];
  /** Field paths of host DataSources that were not read (their content is unchecked). */
  readonly unchecked: readonly string[];
}

/**
 * The resources ferry-proxy would receive from `all`: every Listener and Cluster (it subscribes
 * to both as a wildcard), and of the others those it asks for by name: RouteConfigurations its
 * listeners' HTTP connection managers name over RDS, ClusterLoadAssignments of its EDS clusters,
 * and Secrets its listeners and clusters name over SDS. Others are never sent to it.
 */
export function subscribedResources(all: GroupResources): GroupResources {
  const routes = new Set(rdsRouteNames(all.listeners));
  const services = new Set(edsServiceNames(all.clusters));
  const secrets = new Set(sdsSecretNames([...all.listeners, ...all.clusters]));
  return {
    listeners: all.listeners,
    clusters: all.clusters,
    routeConfigs: all.routeConfigs.filter((r) => routes.has(nameOf(r, 'name'))),
    endpoints: all.endpoints.filter((e) => services.has(nameOf(e, 'cluster_name'))),
    secrets: all.secrets.filter((s) => secrets.has(nameOf(s, 'name'))),
  };
}

/**
 * Translates `resources` (as ferry-proxy receives them: see subscribedResources) and returns one
 * finding per resource, in the order translated. Pure: reads no file and no environment variable.
 */
export function checkResources(resources: GroupResources): ResourceFinding[] {
  const findings: ResourceFinding[] = [];
  translateResources(
    {
      listeners: resources.listeners,
      routeConfigs: resources.routeConfigs,
      clusters: resources.clusters,
      endpoints: resources.endpoints,
      secrets: resources.secrets,
    },
    undefined,
    {
      hostAccess: 'skip',
      report: (kind, name, issues) => {
        const prefix = `${issues.label}: `;
        findings.push({
          kind,
          name,
          errors: issues.errors.map((e) => (e.startsWith(prefix) ? e.slice(prefix.length) : e)),
          unchecked: [...new Set(issues.unchecked)],
        });
      },
    },
  );
  return findings;
}

function nameOf(json: JsonObject, field: string): string {
  const value = json[field];
  return typeof value === 'string' ? value : '';
}
