/**
 * The xDS resources a proxy has accepted, per type, and what it must subscribe to next. Owned by
 * the primary's config source (config-source.ts); plain JSON (normalised proto3 JSON, snake_case,
 * as `binaryToJson` produces it) so it can be persisted and shown in /config_dump.
 */
import { resourceTypeByKind } from '@ferry/proto';

export type JsonObject = Record<string, unknown>;

export const LDS = resourceTypeByKind('Listener').typeUrl;
export const RDS = resourceTypeByKind('RouteConfiguration').typeUrl;
export const CDS = resourceTypeByKind('Cluster').typeUrl;
export const EDS = resourceTypeByKind('ClusterLoadAssignment').typeUrl;
export const SDS = resourceTypeByKind('Secret').typeUrl;

/**
 * Make-before-break order (xDS protocol, "Eventual consistency considerations"). Secrets are
 * asked for by name once a listener or cluster refers to them; those warm until they arrive.
 */
export const SUBSCRIBED_TYPES: readonly string[] = [CDS, EDS, LDS, RDS, SDS];

const HCM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export interface AcceptedResource {
  readonly name: string;
  /** Without "@type" (the type is the map's key). */
  readonly json: JsonObject;
  /** version_info of the response that delivered it. */
  readonly version: string;
  /** ISO time it was last accepted with changed content. */
  readonly lastUpdated: string;
}

export interface AcceptedType {
  readonly version: string;
  readonly resources: ReadonlyMap<string, AcceptedResource>;
}

/** Accepted resources by type URL; immutable: updates produce a new set. */
export type ResourceSet = ReadonlyMap<string, AcceptedType>;

export function resourceName(typeUrl: string, json: JsonObject): string {
  const field = typeUrl === EDS ? 'cluster_name' : 'name';
  const name = json[field];
  return typeof name === 'string' ? name : '';
}

/**
 * A new set where `typeUrl` holds exactly `resources` (SotW: every response carries the full
 * state of the subscription, absence = deletion). Resources whose content did not change keep
 * their lastUpdated.
 */
export function replaceType(
  set: ResourceSet,
  typeUrl: string,
  version: string,
  resources: readonly JsonObject[],
  now: string,
): ResourceSet {
  const previous = set.get(typeUrl)?.resources;
  const next = new Map<string, AcceptedResource>();
  for (const json of resources) {
    const name = resourceName(typeUrl, json);
    const old = previous?.get(name);
    const same = old !== undefined && JSON.stringify(old.json) === JSON.stringify(json);
    next.set(name, { name, json, version, lastUpdated: same ? old.lastUpdated : now });
  }
  const out = new Map(set);
  out.set(typeUrl, { version, resources: next });
  return out;
}

export function resourcesOf(set: ResourceSet, typeUrl: string): JsonObject[] {
  const t = set.get(typeUrl);
  return t ? [...t.resources.values()].map((r) => r.json) : [];
}

/** EDS service names of the EDS clusters among `clusters` (eds_cluster_config.service_name or the name). */
export function edsServiceNames(clusters: readonly JsonObject[]): string[] {
  const names = new Set<string>();
  for (const c of clusters) {
    if (c.type !== 'EDS') continue;
    const eds = c.eds_cluster_config as JsonObject | undefined;
    const serviceName = typeof eds?.service_name === 'string' ? eds.service_name : '';
    const name = serviceName || (typeof c.name === 'string' ? c.name : '');
    if (name) names.add(name);
  }
  return [...names].sort();
}

/** RDS route configuration names the HttpConnectionManagers of `listeners` ask for. */
export function rdsRouteNames(listeners: readonly JsonObject[]): string[] {
  const names = new Set<string>();
  for (const l of listeners) {
    const chains = [
      ...((l.filter_chains as JsonObject[] | undefined) ?? []),
      ...(l.default_filter_chain ? [l.default_filter_chain as JsonObject] : []),
    ];
    for (const chain of chains) {
      for (const filter of (chain.filters as JsonObject[] | undefined) ?? []) {
        const typed = filter.typed_config as JsonObject | undefined;
        if (typed?.['@type'] !== HCM_TYPE_URL) continue;
        const rds = typed.rds as JsonObject | undefined;
        if (typeof rds?.route_config_name === 'string' && rds.route_config_name)
          names.add(rds.route_config_name);
      }
    }
  }
  return [...names].sort();
}

/**
 * Names of the secrets that `resources` (listeners, clusters) receive over SDS: every
 * SdsSecretConfig (`tls_certificate_sds_secret_configs[]`, `validation_context_sds_secret_config`,
 * in transport sockets at any depth) that has an `sds_config`. One without names a static secret.
 */
export function sdsSecretNames(resources: readonly JsonObject[]): string[] {
  const names = new Set<string>();
  const visit = (value: unknown, key: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const obj = value as JsonObject;
    if (key.endsWith('_sds_secret_configs') || key.endsWith('_sds_secret_config')) {
      if (obj.sds_config !== undefined && typeof obj.name === 'string' && obj.name !== '')
        names.add(obj.name);
      return;
    }
    for (const [k, v] of Object.entries(obj)) visit(v, k);
  };
  for (const resource of resources) visit(resource, '');
  return [...names].sort();
}

/** One resource of a delta response, decoded. */
export interface DeltaUpdate {
  readonly name: string;
  /** The resource's own version (delta xDS versions each resource). */
  readonly version: string;
  readonly json: JsonObject;
}

/**
 * A new set where `typeUrl` has `updated` added or replaced and `removed` dropped (incremental
 * xDS: a response carries only what changed). Each resource keeps its own version, which the
 * delta client reports back in `initial_resource_versions` on reconnect; the type's version is
 * the response's system_version_info. Resources whose content did not change keep lastUpdated.
 */
export function applyDelta(
  set: ResourceSet,
  typeUrl: string,
  systemVersion: string,
  updated: readonly DeltaUpdate[],
  removed: readonly string[],
  now: string,
): ResourceSet {
  const previous = set.get(typeUrl)?.resources;
  const next = new Map<string, AcceptedResource>(previous ?? []);
  for (const name of removed) next.delete(name);
  for (const { name, version, json } of updated) {
    const old = previous?.get(name);
    const same = old !== undefined && JSON.stringify(old.json) === JSON.stringify(json);
    next.set(name, { name, json, version, lastUpdated: same ? old.lastUpdated : now });
  }
  const out = new Map(set);
  out.set(typeUrl, { version: systemVersion, resources: next });
  return out;
}

/** Name → version of the resources of one type (delta reconnect: initial_resource_versions). */
export function resourceVersions(set: ResourceSet, typeUrl: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of set.get(typeUrl)?.resources.values() ?? []) out[r.name] = r.version;
  return out;
}

/** A new set where `typeUrl` holds `resource` (added or replaced), the type's version unchanged. */
export function withResource(
  set: ResourceSet,
  typeUrl: string,
  resource: AcceptedResource,
): ResourceSet {
  const type = set.get(typeUrl);
  const resources = new Map(type?.resources ?? []);
  resources.set(resource.name, resource);
  const out = new Map(set);
  out.set(typeUrl, { version: type?.version ?? '', resources });
  return out;
}

/** A new set without the resource `name` of `typeUrl`, the type's version unchanged. */
export function withoutResource(set: ResourceSet, typeUrl: string, name: string): ResourceSet {
  const type = set.get(typeUrl);
  if (!type?.resources.has(name)) return set;
  const resources = new Map(type.resources);
  resources.delete(name);
  const out = new Map(set);
  out.set(typeUrl, { version: type.version, resources });
  return out;
}

/** A new set where the type `typeUrl` reports `version` (its resources unchanged). */
export function withTypeVersion(set: ResourceSet, typeUrl: string, version: string): ResourceSet {
  const type = set.get(typeUrl);
  if (!type || type.version === version) return set;
  const out = new Map(set);
  out.set(typeUrl, { version, resources: type.resources });
  return out;
}
