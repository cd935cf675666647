/**
 * The resource types Ferry stores: the Envoy v3 types it serves over xDS (RESOURCE_TYPES) and
 * Ferry's own configuration types that the control plane acts on but never serves
 * (CONFIG_TYPES adds them), with their canonical type URLs, the field that names each resource,
 * and the words operators may use for them on the command line.
 */
export type ResourceKind =
  | 'Listener'
  | 'RouteConfiguration'
  | 'Cluster'
  | 'ClusterLoadAssignment'
  | 'Secret'
  | 'AcmeCertificate';

export interface ResourceType {
  readonly kind: ResourceKind;
  /** Fully qualified protobuf message name. */
  readonly messageName: string;
  readonly typeUrl: string;
  /** The field that holds the resource's name (`cluster_name` for ClusterLoadAssignment). */
  readonly nameField: string;
  /** Short name used in tables and by the xDS per-type services (LDS, RDS, ...). */
  readonly short: string;
  /** Words accepted by `ferryctl get TYPE` (lower case). */
  readonly aliases: readonly string[];
  /** Served to proxies over xDS; false for Ferry's own configuration types. */
  readonly served: boolean;
}

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

function type(
  kind: ResourceKind,
  messageName: string,
  nameField: string,
  short: string,
  aliases: string[],
  served = true,
): ResourceType {
  return Object.freeze({
    kind,
    messageName,
    typeUrl: TYPE_URL_PREFIX + messageName,
    nameField,
    short,
    aliases: Object.freeze([kind.toLowerCase(), messageName.toLowerCase(), ...aliases]),
    served,
  });
}

/**
 * In make-before-break order (xDS protocol, "Eventual consistency considerations"):
 * clusters before their endpoints, secrets before the listeners that use them, listeners before
 * the route configurations they name.
 */
export const RESOURCE_TYPES: readonly ResourceType[] = Object.freeze([
  type('Cluster', 'envoy.config.cluster.v3.Cluster', 'name', 'CDS', ['cluster', 'clusters', 'cds']),
  type(
    'ClusterLoadAssignment',
    'envoy.config.endpoint.v3.ClusterLoadAssignment',
    'cluster_name',
    'EDS',
    ['endpoint', 'endpoints', 'clusterloadassignments', 'cla', 'eds'],
  ),
  type('Secret', 'envoy.extensions.transport_sockets.tls.v3.Secret', 'name', 'SDS', [
    'secret',
    'secrets',
    'sds',
  ]),
  type('Listener', 'envoy.config.listener.v3.Listener', 'name', 'LDS', [
    'listener',
    'listeners',
    'lds',
  ]),
  type('RouteConfiguration', 'envoy.config.route.v3.RouteConfiguration', 'name', 'RDS', [
    'route',
    'routes',
    'routeconfig',
    'routeconfigs',
    'routeconfigurations',
    'rds',
  ]),
]);

/** Ferry's ACME certificate (proto/ferry/v1/acme.proto): configuration, never served. */
export const ACME_CERTIFICATE_TYPE: ResourceType = type(
  'AcmeCertificate',
  'ferry.v1.AcmeCertificate',
  'name',
  'ACME',
  ['acmecertificates', 'acme'],
  false,
);

/** Every type an operator may apply, list and roll back: the served ones, then Ferry's own. */
export const CONFIG_TYPES: readonly ResourceType[] = Object.freeze([
  ...RESOURCE_TYPES,
  ACME_CERTIFICATE_TYPE,
]);

const byTypeUrl = new Map(CONFIG_TYPES.map((t) => [t.typeUrl, t]));
const byAlias = new Map<string, ResourceType>();
for (const t of CONFIG_TYPES) {
  for (const a of t.aliases) byAlias.set(a, t);
  byAlias.set(t.typeUrl.toLowerCase(), t);
}

/** A configuration type (served or not). */
export function resourceTypeByUrl(typeUrl: string): ResourceType | undefined {
  return byTypeUrl.get(typeUrl);
}

/** A type served over xDS; undefined for Ferry's own configuration types. */
export function servedTypeByUrl(typeUrl: string): ResourceType | undefined {
  const t = byTypeUrl.get(typeUrl);
  return t?.served ? t : undefined;
}

/** Resolves `listeners`, `Listener`, `envoy.config.listener.v3.Listener` or a type URL. */
export function resourceTypeByAlias(word: string): ResourceType | undefined {
  return byAlias.get(word.toLowerCase());
}

export function resourceTypeByKind(kind: ResourceKind): ResourceType {
  const t = CONFIG_TYPES.find((r) => r.kind === kind);
  if (!t) throw new Error(`unknown resource kind ${kind}`);
  return t;
}
