/**
 * The names one resource refers to in its group, each with the field path that names it. Only
 * references resolved through Ferry's xDS are listed: a ConfigSource read from a file, a
 * `cluster_header` (chosen per request) or an SdsSecretConfig without `sds_config` (a static
 * bootstrap secret) name nothing Ferry stores.
 */
import type { ResourceKind } from '@ferry/proto';
import {
  asArray,
  asObject,
  asString,
  forEachNetworkFilter,
  forEachRouteConfig,
  HCM_TYPE_URL,
  isFileConfigSource,
  join,
  TCP_PROXY_TYPE_URL,
  walkObjects,
  type JsonObject,
} from './json-walk.js';

export interface Reference {
  readonly kind: ResourceKind;
  readonly name: string;
  /** Field path inside the referring resource, e.g. `virtual_hosts[0].routes[1].route.cluster`. */
  readonly path: string;
}

export function referencesOf(kind: ResourceKind, json: JsonObject): Reference[] {
  const out: Reference[] = [];
  forEachRouteConfig(kind, json, (rc, path) => routeConfigReferences(rc, path, out));
  if (kind === 'Listener') listenerReferences(json, out);
  if (kind === 'Cluster') clusterReferences(json, out);
  secretReferences(json, out);
  return out;
}

function push(out: Reference[], kind: ResourceKind, name: string | undefined, path: string): void {
  if (name) out.push({ kind, name, path });
}

function routeConfigReferences(rc: JsonObject, base: string, out: Reference[]): void {
  asArray(rc.virtual_hosts).forEach((vh, i) => {
    const vhPath = join(join(base, 'virtual_hosts'), i);
    asArray(asObject(vh)?.routes).forEach((route, j) => {
      const action = asObject(asObject(route)?.route);
      if (action) routeActionReferences(action, join(join(vhPath, 'routes'), j) + '.route', out);
    });
  });
}

/** RouteAction and TcpProxy share the `cluster` / `weighted_clusters.clusters[].name` shape. */
function routeActionReferences(action: JsonObject, path: string, out: Reference[]): void {
  push(out, 'Cluster', asString(action.cluster), join(path, 'cluster'));
  asArray(asObject(action.weighted_clusters)?.clusters).forEach((wc, k) => {
    push(
      out,
      'Cluster',
      asString(asObject(wc)?.name),
      `${path}.weighted_clusters.clusters[${k}].name`,
    );
  });
  asArray(action.request_mirror_policies).forEach((mirror, k) => {
    push(
      out,
      'Cluster',
      asString(asObject(mirror)?.cluster),
      `${path}.request_mirror_policies[${k}].cluster`,
    );
  });
}

function listenerReferences(listener: JsonObject, out: Reference[]): void {
  forEachNetworkFilter(listener, (typed, typeUrl, path) => {
    if (typeUrl === HCM_TYPE_URL) {
      const rds = asObject(typed.rds);
      if (rds && !isFileConfigSource(rds.config_source)) {
        push(
          out,
          'RouteConfiguration',
          asString(rds.route_config_name),
          join(path, 'rds.route_config_name'),
        );
      }
    } else if (typeUrl === TCP_PROXY_TYPE_URL) {
      routeActionReferences(typed, path, out);
    }
  });
}

function clusterReferences(cluster: JsonObject, out: Reference[]): void {
  const eds = asObject(cluster.eds_cluster_config);
  if (cluster.type !== 'EDS' || !eds || isFileConfigSource(eds.eds_config)) return;
  const serviceName = asString(eds.service_name);
  push(
    out,
    'ClusterLoadAssignment',
    serviceName || asString(cluster.name),
    serviceName ? 'eds_cluster_config.service_name' : 'name',
  );
}

/** `tls_certificate_sds_secret_configs[]`, `validation_context_sds_secret_config`, ... anywhere. */
function secretReferences(json: JsonObject, out: Reference[]): void {
  walkObjects(json, '', (obj, path) => {
    for (const [key, value] of Object.entries(obj)) {
      if (key.endsWith('_sds_secret_configs')) {
        asArray(value).forEach((config, i) =>
          sdsReference(asObject(config), join(join(path, key), i), out),
        );
      } else if (key.endsWith('_sds_secret_config')) {
        sdsReference(asObject(value), join(path, key), out);
      }
    }
  });
}

function sdsReference(config: JsonObject | undefined, path: string, out: Reference[]): void {
  if (!config || config.sds_config === undefined || isFileConfigSource(config.sds_config)) return;
  push(out, 'Secret', asString(config.name), join(path, 'name'));
}
