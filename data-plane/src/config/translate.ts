/**
 * Envoy v3 resources → ProxyConfig, the data plane's whole config (model.ts). Called by the
 * primary whenever an xDS update arrives and at start for the bootstrap's static resources;
 * errors become the NACK's error_detail (joined), so every one names its resource and field:
 * `Listener "web": filter_chains[0].filters[0].typed_config.tracing: not supported by ferry-proxy`.
 *
 * Contract: the result is a pure function of the inputs (and of files/environment variables that
 * DataSources name, and of `previous` for a listener or cluster warming on an SDS secret, which
 * keeps its previous version); `version` is a content hash of the result, equal for equal content
 * on every proxy. A config with any error fails as a whole; the failure lists, per resource, the
 * rejected ones (`rejected`), so that the caller can apply the others and keep the rejected
 * ones' previous versions (xds/config-source.ts, docs/architecture.md "Per-resource acceptance").
 */
import { createHash } from 'node:crypto';
import { parseResourceBinary, ok, type Result } from '@ferry/proto';
import { formatHostPort } from '@ferry/shared';
import {
  Issues,
  sortedKeysJson,
  str,
  type HostAccess,
  type JsonObject,
} from './translate-common.js';
import { translateCluster } from './translate-cluster.js';
import { translateAssignment, type Assignment } from './translate-endpoints.js';
import { translateListener } from './translate-listener.js';
import { translateRouteConfig } from './translate-route.js';
import { SecretScope } from './translate-secret.js';
import { httpFilterByTypeUrl } from '../filters/http/registry.js';
import { perFilterConfigsOf } from './route-per-filter-configs.js';
import type {
  ClusterModel,
  FilterChainModel,
  ListenerModel,
  ProxyConfig,
  RouteConfigModel,
} from './model.js';

export type { HostAccess, JsonObject } from './translate-common.js';

/** Normalised proto3 JSON (snake_case, `messageToJson`) of each resource, without "@type". */
export interface XdsResources {
  readonly listeners: readonly JsonObject[];
  readonly routeConfigs: readonly JsonObject[];
  readonly clusters: readonly JsonObject[];
  /** ClusterLoadAssignments; EDS clusters find theirs by service name. */
  readonly endpoints: readonly JsonObject[];
  /** Secrets received over SDS (ADS). */
  readonly secrets?: readonly JsonObject[];
  /** The bootstrap's static_resources.secrets. */
  readonly staticSecrets?: readonly JsonObject[];
}

/** How a build runs; ferry-proxy uses the defaults. */
export interface BuildOptions {
  /** Whether host DataSources (files, environment variables) are read (translate-common.ts). */
  readonly hostAccess?: HostAccess;
  /**
   * Called once per resource of `input` with its collector (errors, unchecked paths) after the
   * resource is translated: the per-resource view of the errors the result joins.
   */
  readonly report?: (kind: ResourceKind, name: string, issues: Issues) => void;
}

/** The kinds of resources translated one by one, as they label errors. */
export type ResourceKind =
  'Listener' | 'Cluster' | 'RouteConfiguration' | 'ClusterLoadAssignment' | 'Secret';

/** One resource that does not translate, with every error it has (each prefixed by its label). */
export interface ResourceRejection {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly errors: readonly string[];
  /** One of the bootstrap's static secrets (static listeners and clusters are not told apart). */
  readonly static?: true;
}

/**
 * A config, or its errors and, per resource, which ones are rejected: every error belongs to
 * exactly one rejection, in input order.
 */
export type BuildResult =
  | { readonly ok: true; readonly value: ProxyConfig }
  | {
      readonly ok: false;
      readonly errors: string[];
      readonly rejected: readonly ResourceRejection[];
    };

/**
 * Translates a complete set of resources. `previous` is returned unchanged (same object) when the
 * new content is identical, so an unchanged push costs the workers nothing.
 */
export function buildProxyConfig(
  input: XdsResources,
  previous?: ProxyConfig,
  options: BuildOptions = {},
): BuildResult {
  const { rejected, content } = translateResources(input, previous, options);
  if (rejected.length > 0)
    return { ok: false, errors: rejected.flatMap((r) => r.errors), rejected };
  const version = createHash('sha256').update(sortedKeysJson(content)).digest('hex').slice(0, 16);
  if (previous && previous.version === version) return { ok: true, value: previous };
  return { ok: true, value: { version, ...content } };
}

/** A build's outcome before its content version is computed. */
export interface Translation {
  /** The rejected resources, in input order; the config applies only when there are none. */
  readonly rejected: readonly ResourceRejection[];
  readonly content: Omit<ProxyConfig, 'version'>;
}

/**
 * buildProxyConfig without the content version (a hash of the whole config): for callers that
 * only need the errors (`options.report`), such as the control plane's pre-flight.
 */
export function translateResources(
  input: XdsResources,
  previous?: ProxyConfig,
  options: BuildOptions = {},
): Translation {
  const rejected: ResourceRejection[] = [];
  const hostAccess = options.hostAccess ?? 'read';
  const report = options.report;
  const collect = (kind: ResourceKind, name: string, issues: Issues): void => {
    if (!issues.ok) rejected.push({ kind, name, errors: issues.errors });
    report?.(kind, name, issues);
  };

  const secrets = new SecretScope(
    input.staticSecrets ?? [],
    input.secrets ?? [],
    (name, errors, isStatic) =>
      rejected.push({ kind: 'Secret', name, errors, ...(isStatic ? { static: true } : {}) }),
    hostAccess,
    report && ((name, issues) => report('Secret', name, issues)),
  );
  const warmingListeners: Record<string, string[]> = {};
  const warmingClusters: Record<string, string[]> = {};

  const assignments = new Map<string, Assignment>();
  for (const cla of input.endpoints) {
    const name = str(cla.cluster_name);
    const issues = new Issues(`ClusterLoadAssignment ${JSON.stringify(name)}`, hostAccess);
    // EDS endpoints must be IP addresses (Envoy resolves nothing it receives over EDS).
    assignments.set(name, translateAssignment(cla, '', issues, { allowHostname: false }));
    collect('ClusterLoadAssignment', name, issues);
  }

  const clusters: Record<string, ClusterModel> = {};
  for (const json of input.clusters) {
    const name = str(json.name);
    const issues = new Issues(`Cluster ${JSON.stringify(name)}`, hostAccess);
    if (Object.hasOwn(clusters, name)) issues.add('name', 'duplicate cluster name');
    let cluster = translateCluster(json, issues, secrets);
    if (cluster.type === 'EDS') {
      // No assignment yet is not an error: the cluster has no endpoints until EDS delivers one
      // (Envoy warms the cluster meanwhile).
      const assignment = assignments.get(cluster.edsServiceName);
      if (assignment)
        cluster = {
          ...cluster,
          localities: assignment.localities,
          overprovisioningFactor: assignment.overprovisioningFactor,
        };
    }
    clusters[name] = cluster;
    const pending = secrets.takePending();
    if (pending.length > 0) warmingClusters[name] = pending;
    collect('Cluster', name, issues);
  }
  // Warming clusters count as known to routes (validate_clusters), as Envoy's warming ones do.
  const clusterNames = new Set(Object.keys(clusters));
  for (const name of Object.keys(warmingClusters)) {
    // Envoy's cluster warming: the version in force keeps serving; a new cluster waits.
    const running = previous?.clusters[name];
    if (running) clusters[name] = running;
    else delete clusters[name];
  }

  const routeConfigs: Record<string, RouteConfigModel> = {};
  // Reported after the listeners are translated (still before them, in input order): a
  // listener's filters check their per-route configs in the route configurations they use
  // (checkPerRoutePairs), which can reject a route configuration.
  const routeIssues = new Map<string, Issues>();
  const routeReports: Array<[string, Issues]> = [];
  for (const json of input.routeConfigs) {
    const name = str(json.name);
    const issues = new Issues(`RouteConfiguration ${JSON.stringify(name)}`, hostAccess);
    if (Object.hasOwn(routeConfigs, name)) issues.add('name', 'duplicate route configuration name');
    routeConfigs[name] = translateRouteConfig(json, '', issues, {
      validateClustersDefault: false,
      clusterNames,
    });
    routeIssues.set(name, issues);
    routeReports.push([name, issues]);
  }

  const listeners: ListenerModel[] = [];
  const listenerByAddress = new Map<string, string>();
  const listenerNames = new Set<string>();
  const listenerReports: Array<[string, Issues]> = [];
  for (const json of input.listeners) {
    const name = str(json.name);
    const issues = new Issues(`Listener ${JSON.stringify(name)}`, hostAccess);
    if (listenerNames.has(name)) issues.add('name', 'duplicate listener name');
    listenerNames.add(name);
    const listener = translateListener(json, issues, { clusterNames, secrets });
    if (issues.ok) checkPerRoutePairs(json, listener, routeConfigs, routeIssues, issues);
    const addressKey = formatHostPort(listener.address.host, listener.address.port);
    const other = listenerByAddress.get(addressKey);
    // Port 0 asks the OS for a free port, so two such listeners do not collide. A warming
    // listener holds its address too: it is checked now, not when its secret arrives.
    if (other !== undefined && listener.address.port !== 0)
      issues.add('address', `${addressKey} is already used by listener ${JSON.stringify(other)}`);
    else listenerByAddress.set(addressKey, name);
    const pending = secrets.takePending();
    if (pending.length === 0) listeners.push(listener);
    else {
      warmingListeners[name] = pending;
      // Envoy's listener warming: the version in force keeps serving; a new listener waits.
      const running = previous?.listeners.find((l) => l.name === name);
      if (running !== undefined) listeners.push(running);
    }
    listenerReports.push([name, issues]);
  }
  for (const [name, issues] of routeReports) collect('RouteConfiguration', name, issues);
  for (const [name, issues] of listenerReports) collect('Listener', name, issues);

  const warming =
    Object.keys(warmingListeners).length + Object.keys(warmingClusters).length > 0
      ? { warming: { listeners: warmingListeners, clusters: warmingClusters } }
      : {};
  const watches = secrets.watches();
  const content = {
    listeners,
    routeConfigs,
    clusters,
    ...warming,
    ...(watches.length > 0 ? { secretWatches: watches } : {}),
  };
  return { rejected, content };
}

/**
 * Each HTTP filter with checkPerRoute, paired with its per-route configs in the route
 * configuration its HCM uses: an error names the listener's HCM and the route's entry, and is
 * added to the listener and (over RDS) to the route configuration, so neither applies alone.
 */
function checkPerRoutePairs(
  json: JsonObject,
  listener: ListenerModel,
  routeConfigs: Readonly<Record<string, RouteConfigModel>>,
  routeIssues: ReadonlyMap<string, Issues>,
  issues: Issues,
): void {
  const chainsJson = Array.isArray(json.filter_chains) ? json.filter_chains : [];
  const chains: Array<[FilterChainModel, string, unknown]> = listener.filterChains.map((c, i) => [
    c,
    `filter_chains[${i}]`,
    chainsJson[i],
  ]);
  if (listener.defaultFilterChain !== undefined)
    chains.push([listener.defaultFilterChain, 'default_filter_chain', json.default_filter_chain]);
  for (const [chain, chainPath, chainJson] of chains) {
    const hcm = chain.http;
    if (hcm === undefined) continue;
    const rds = hcm.rdsRouteConfigName;
    const routeConfig = hcm.routeConfig ?? (rds === undefined ? undefined : routeConfigs[rds]);
    if (routeConfig === undefined) continue;
    // The HCM is the chain's terminal filter: the last one.
    const filters = (chainJson as JsonObject | undefined)?.filters;
    const hcmIndex = Array.isArray(filters) ? filters.length - 1 : 0;
    const hcmPath = `${chainPath}.filters[${hcmIndex}].typed_config`;
    for (const filter of hcm.httpFilters) {
      const factory = httpFilterByTypeUrl(filter.typeUrl);
      if (factory?.checkPerRoute === undefined) continue;
      for (const entry of perFilterConfigsOf(routeConfig, filter.name)) {
        if (rds === undefined) {
          const path = `${hcmPath}.route_config.${entry.path}`;
          factory.checkPerRoute(filter.config, entry.config, path, issues);
          continue;
        }
        const scratch = issues.scratch();
        factory.checkPerRoute(filter.config, entry.config, entry.path, scratch);
        for (const e of scratch.errors) {
          issues.add(`${hcmPath}.rds`, `RouteConfiguration ${JSON.stringify(rds)} ${e}`);
          routeIssues.get(rds)?.add('', `${e} (with Listener ${JSON.stringify(listener.name)})`);
        }
      }
    }
  }
}

/**
 * A received resource (an Any's type_url and value) → its name and normalised JSON, strictly
 * decoded with Envoy's PGV rules. Errors are prefixed with `path` (e.g. the resource index).
 */
export function decodeResourceBinary(
  typeUrl: string,
  bytes: Uint8Array,
  path = '',
): Result<{ name: string; json: JsonObject }> {
  const parsed = parseResourceBinary(typeUrl, bytes, path);
  if (!parsed.ok) return parsed;
  return ok({ name: parsed.value.name, json: parsed.value.json });
}
