/**
 * The resource types Ferry stores, with their canonical type URLs, the field that names each
 * resource, and the words operators may use for them on the command line: the Envoy v3 types it
 * serves over xDS (XDS_RESOURCE_TYPES), and Ferry's own configuration types, which the control
 * plane reads itself and never serves (ferry.v1.XdsAccessPolicy, ferry.v1.AcmeCertificate,
 * ferry.v1.RateLimitPolicy).
 */
export type ResourceKind =
  | 'Listener'
  | 'RouteConfiguration'
  | 'Cluster'
  | 'ClusterLoadAssignment'
  | 'Secret'
  | 'XdsAccessPolicy'
  | 'AcmeCertificate'
  | 'RateLimitPolicy';

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
  /** Whether the xDS server serves it; false for Ferry's own types, which must never leave the control plane. */
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
 * The types served over xDS, in make-before-break order (xDS protocol, "Eventual consistency
 * considerations"): clusters before their endpoints, secrets before the listeners that use them,
 * listeners before the route configurations they name.
 */
export const XDS_RESOURCE_TYPES: readonly ResourceType[] = Object.freeze([
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

/** Who may join a group over xDS (proto/ferry/v1/xds_access.proto); read by the xDS server only. */
export const XDS_ACCESS_POLICY_TYPE: ResourceType = type(
  'XdsAccessPolicy',
  'ferry.v1.XdsAccessPolicy',
  'name',
  'XAP',
  ['xdsaccesspolicy', 'xdsaccesspolicies', 'accesspolicy', 'accesspolicies'],
  false,
);

/** A certificate the control plane orders with ACME (proto/ferry/v1/acme.proto); never served. */
export const ACME_CERTIFICATE_TYPE: ResourceType = type(
  'AcmeCertificate',
  'ferry.v1.AcmeCertificate',
  'name',
  'ACME',
  ['acmecertificates', 'acme'],
  false,
);

/** Fleet-wide rate limits the RateLimitService answers from (proto/ferry/v1/rate_limit.proto); never served. */
export const RATE_LIMIT_POLICY_TYPE: ResourceType = type(
  'RateLimitPolicy',
  'ferry.v1.RateLimitPolicy',
  'name',
  'RLP',
  ['ratelimitpolicies', 'ratelimits', 'ratelimit', 'rlp'],
  false,
);

/** Every type the store keeps as configuration: the served ones first, then Ferry's own. */
export const RESOURCE_TYPES: readonly ResourceType[] = Object.freeze([
  ...XDS_RESOURCE_TYPES,
  XDS_ACCESS_POLICY_TYPE,
  ACME_CERTIFICATE_TYPE,
  RATE_LIMIT_POLICY_TYPE,
]);

const byTypeUrl = new Map(RESOURCE_TYPES.map((t) => [t.typeUrl, t]));
const servedByTypeUrl = new Map(XDS_RESOURCE_TYPES.map((t) => [t.typeUrl, t]));
const byAlias = new Map<string, ResourceType>();
for (const t of RESOURCE_TYPES) {
  for (const a of t.aliases) byAlias.set(a, t);
  byAlias.set(t.typeUrl.toLowerCase(), t);
}

export function resourceTypeByUrl(typeUrl: string): ResourceType | undefined {
  return byTypeUrl.get(typeUrl);
}

/** A type the xDS server serves; undefined for Ferry's own types and unknown URLs. */
export function servedResourceTypeByUrl(typeUrl: string): ResourceType | undefined {
  return servedByTypeUrl.get(typeUrl);
}

/** Resolves `listeners`, `Listener`, `envoy.config.listener.v3.Listener` or a type URL. */
export function resourceTypeByAlias(word: string): ResourceType | undefined {
  return byAlias.get(word.toLowerCase());
}

export function resourceTypeByKind(kind: ResourceKind): ResourceType {
  const t = RESOURCE_TYPES.find((r) => r.kind === kind);
  if (!t) throw new Error(`unknown resource kind ${kind}`);
  return t;
}
