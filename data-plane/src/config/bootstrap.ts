/**
 * ferry-proxy's bootstrap: the subset of Envoy's v3 Bootstrap it honours, read from YAML or JSON
 * (`--config`). Called once by the process entry (main.ts) at start. The document is decoded
 * strictly against envoy.config.bootstrap.v3.Bootstrap (unknown fields, PGV rules) and then checked
 * against the allow-lists below; static listeners and clusters are translated by the same code as
 * xDS resources, so a bootstrap that loads here also builds a ProxyConfig.
 *
 * Dynamic config comes only over ADS (`dynamic_resources.ads_config` + `lds_config`/`cds_config`
 * with `ads: {}`), the way Envoy users point a proxy at a control plane.
 */
import {
  decodeJson,
  fail,
  messageToJson,
  ok,
  parseDocuments,
  requireMessageSchema,
  type Result,
} from '@ferry/proto';
import {
  NOT_SUPPORTED,
  adsConfigSource,
  asObject,
  bool,
  checkFields,
  enumField,
  Issues,
  join,
  messageSpec,
  objectsOf,
  socketAddress,
  str,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { buildProxyConfig } from './translate.js';
import { OVERLOAD_SPECS, overloadManager, type OverloadModel } from './translate-overload.js';
import type { ClusterModel, SocketAddressModel } from './model.js';
import { xdsTransport, type XdsTlsModel } from '../xds/xds-transport.js';
import type { XdsKeepalive } from '../xds/xds-keepalive.js';

const BOOTSTRAP_MESSAGE = 'envoy.config.bootstrap.v3.Bootstrap';

export interface NodeModel {
  /** May be empty here: --node-id overrides it, and the process entry requires one. */
  readonly id: string;
  /** The node's group on the control plane; --node-cluster overrides it. */
  readonly cluster: string;
  /** google.protobuf.Struct as JSON. */
  readonly metadata?: JsonObject;
  readonly locality?: { readonly region: string; readonly zone: string; readonly subZone: string };
}

export interface AdsModel {
  /** The static cluster the ADS stream connects to. */
  readonly clusterName: string;
  /** The translated static cluster (its endpoints give the control plane address). */
  readonly cluster: ClusterModel;
  /** The cluster's transport_socket as the xDS client uses it (../xds/xds-transport.ts); absent = plaintext. */
  readonly tls?: XdsTlsModel;
  readonly apiType: 'GRPC' | 'DELTA_GRPC';
  /** envoy_grpc.authority (default: the cluster name, as Envoy). */
  readonly authority: string;
  /** grpc_services[0].initial_metadata: headers sent when the stream opens. */
  readonly initialMetadata: readonly { readonly key: string; readonly value: string }[];
  readonly setNodeOnFirstMessageOnly: boolean;
  /**
   * The cluster's HTTP/2 `connection_keepalive` (typed or deprecated http2_protocol_options),
   * PINGs on the xDS connection (../xds/xds-keepalive.ts); absent = none, Envoy's default.
   */
  readonly keepalive?: XdsKeepalive;
}

export interface BootstrapModel {
  readonly node: NodeModel;
  readonly admin?: SocketAddressModel;
  /** Normalised Envoy JSON, for buildProxyConfig together with the xDS resources. */
  readonly staticListeners: readonly JsonObject[];
  readonly staticClusters: readonly JsonObject[];
  /** static_resources.secrets: what an SdsSecretConfig with only a name refers to. */
  readonly staticSecrets: readonly JsonObject[];
  readonly ads?: AdsModel;
  /** dynamic_resources.lds_config / cds_config (over ADS): subscribe to these types. */
  readonly lds: boolean;
  readonly cds: boolean;
  /** overload_manager: applied by each worker (../overload/overload-manager.ts). */
  readonly overload?: OverloadModel;
}

const BOOTSTRAP_SPEC = messageSpec(BOOTSTRAP_MESSAGE, {
  node: 'id, cluster, metadata, locality',
  admin: 'admin listener address',
  static_resources: 'listeners, clusters, secrets',
  dynamic_resources: 'ads_config, lds_config and cds_config over ADS',
  layered_runtime: 'accepted only without runtime values (empty static layers, admin layers)',
  stats_config: 'accepted (stats naming only)',
  stats_flush_interval: 'accepted (no stats sinks)',
  enable_dispatcher_stats: 'accepted (stats only)',
  stats_server_version_override: 'accepted (stats only)',
  overload_manager: 'fixed_heap monitor, stop_accepting_requests action (per worker)',
});

const NODE_SPEC = messageSpec('envoy.config.core.v3.Node', {
  id: 'node id (--node-id overrides)',
  cluster: 'node group (--node-cluster overrides)',
  metadata: 'sent to the control plane',
  locality: 'sent to the control plane',
});

const ADMIN_SPEC = messageSpec('envoy.config.bootstrap.v3.Admin', {
  address: 'admin HTTP address (loopback by default)',
  access_log_path: '/dev/null only (admin access logs are not written)',
  profile_path: 'accepted, no effect',
});

const STATIC_SPEC = messageSpec('envoy.config.bootstrap.v3.Bootstrap.StaticResources', {
  listeners: 'translated like LDS resources',
  clusters: 'translated like CDS resources',
  secrets:
    'static secrets (TLS certificates, validation contexts) for SdsSecretConfigs without sds_config',
});

const DYNAMIC_SPEC = messageSpec('envoy.config.bootstrap.v3.Bootstrap.DynamicResources', {
  ads_config: 'the ADS stream',
  lds_config: 'ads only',
  cds_config: 'ads only',
});

const API_CONFIG_SOURCE_SPEC = messageSpec('envoy.config.core.v3.ApiConfigSource', {
  api_type: 'GRPC (state of the world) or DELTA_GRPC',
  transport_api_version: 'V3',
  grpc_services: 'exactly one, envoy_grpc',
  set_node_on_first_message_only: 'send the node only in the first request',
});

const GRPC_SERVICE_SPEC = messageSpec('envoy.config.core.v3.GrpcService', {
  envoy_grpc: 'cluster_name (a static cluster), authority',
  initial_metadata: 'headers sent when the stream opens',
});

const ENVOY_GRPC_SPEC = messageSpec('envoy.config.core.v3.GrpcService.EnvoyGrpc', {
  cluster_name:
    'static cluster of the control plane; with several endpoints (control-plane replicas) the ADS, HDS and LRS streams use the first healthy one by priority, round robin within a priority, and move to the next when a stream fails; its transport_socket is an UpstreamTlsContext as for any cluster (certificates inline, from files or static secrets, never over ADS), with trusted_ca required, ALPN h2 only, and no auto_sni / auto_san_validation',
  authority: ':authority (default: the cluster name)',
});

const HEADER_VALUE_SPEC = messageSpec(
  'envoy.config.core.v3.HeaderValue',
  { key: 'header name', value: 'header value' },
  'initial_metadata',
);

const LAYERED_RUNTIME_SPEC = messageSpec('envoy.config.bootstrap.v3.LayeredRuntime', {
  layers: 'static layers without values, admin layers',
});

const RUNTIME_LAYER_SPEC = messageSpec('envoy.config.bootstrap.v3.RuntimeLayer', {
  name: 'label',
  static_layer: 'must be empty: runtime overrides are not supported',
  admin_layer: 'accepted (the admin endpoint has no runtime handler)',
});

const LOCALITY_SPEC = messageSpec(
  'envoy.config.core.v3.Locality',
  { region: 'label', zone: 'label', sub_zone: 'label' },
  'node',
);

export const BOOTSTRAP_SPECS: readonly MessageSpec[] = [
  BOOTSTRAP_SPEC,
  NODE_SPEC,
  LOCALITY_SPEC,
  ADMIN_SPEC,
  STATIC_SPEC,
  DYNAMIC_SPEC,
  API_CONFIG_SOURCE_SPEC,
  GRPC_SERVICE_SPEC,
  ENVOY_GRPC_SPEC,
  HEADER_VALUE_SPEC,
  LAYERED_RUNTIME_SPEC,
  RUNTIME_LAYER_SPEC,
  ...OVERLOAD_SPECS,
];

/** Parses, decodes and checks a bootstrap document; errors are prefixed with `source`. */
export function loadBootstrap(text: string, source: string): Result<BootstrapModel> {
  const docs = parseDocuments(text, source);
  if (!docs.ok) return docs;
  if (docs.value.length !== 1)
    return fail([`${source}: expected one bootstrap document, found ${docs.value.length}`]);
  const decoded = decodeJson(BOOTSTRAP_MESSAGE, docs.value[0]);
  if (!decoded.ok) return fail(decoded.errors.map((e) => `${source}: ${e}`));
  const json = messageToJson(requireMessageSchema(BOOTSTRAP_MESSAGE), decoded.value) as JsonObject;
  return translateBootstrap(json, source);
}

/** The allow-list checks and model of a decoded Bootstrap (normalised proto3 JSON). */
export function translateBootstrap(json: JsonObject, source: string): Result<BootstrapModel> {
  const issues = new Issues(source);
  checkFields(json, BOOTSTRAP_SPEC, '', issues);

  const nodeJson = asObject(json.node) ?? {};
  checkFields(nodeJson, NODE_SPEC, 'node', issues);
  const metadata = asObject(nodeJson.metadata);
  const localityJson = asObject(nodeJson.locality);
  if (localityJson) checkFields(localityJson, LOCALITY_SPEC, 'node.locality', issues);
  const node: NodeModel = {
    id: str(nodeJson.id),
    cluster: str(nodeJson.cluster),
    ...(metadata ? { metadata } : {}),
    ...(localityJson
      ? {
          locality: {
            region: str(localityJson.region),
            zone: str(localityJson.zone),
            subZone: str(localityJson.sub_zone),
          },
        }
      : {}),
  };

  let admin: SocketAddressModel | undefined;
  const adminJson = asObject(json.admin);
  if (adminJson) {
    checkFields(adminJson, ADMIN_SPEC, 'admin', issues);
    const logPath = str(adminJson.access_log_path);
    if (logPath !== '' && logPath !== '/dev/null')
      issues.add(
        'admin.access_log_path',
        `admin access logs are ${NOT_SUPPORTED} (use /dev/null or omit it)`,
      );
    if (adminJson.address !== undefined)
      admin = socketAddress(asObject(adminJson.address), 'admin.address', issues, {
        allowHostname: false,
      });
  }

  checkRuntime(asObject(json.layered_runtime), issues);

  const staticJson = asObject(json.static_resources) ?? {};
  checkFields(staticJson, STATIC_SPEC, 'static_resources', issues);
  const staticListeners = objectsOf(staticJson, 'listeners', '').map(([l]) => l);
  const staticSecrets = objectsOf(staticJson, 'secrets', '').map(([c]) => c);
  const dynamic = asObject(json.dynamic_resources) ?? {};
  const adsJson = asObject(dynamic.ads_config);
  // The xDS cluster's transport_socket is used twice, as in Envoy: by the xDS client
  // (../xds/xds-transport.ts translates it with the same code and adds what the xDS connection
  // needs) and by the data path, so a route to that cluster is never sent in plaintext.
  const adsClusterName = adsJson ? adsClusterNameOf(adsJson) : undefined;
  const xdsClusters = new Map<string, JsonObject>();
  const staticClusters = objectsOf(staticJson, 'clusters', 'static_resources').map(([c, p]) => {
    if (adsClusterName !== undefined && c.name === adsClusterName) xdsClusters.set(p, c);
    return c;
  });
  const built = buildProxyConfig({
    listeners: staticListeners,
    clusters: staticClusters,
    routeConfigs: [],
    endpoints: [],
    staticSecrets,
  });
  if (!built.ok) for (const e of built.errors) issues.add('static_resources', e);

  checkFields(dynamic, DYNAMIC_SPEC, 'dynamic_resources', issues);
  let tls: XdsTlsModel | undefined;
  let adsSecrets: readonly string[] = [];
  for (const [path, cluster] of xdsClusters)
    ({ tls, adsSecrets } = xdsTransport(cluster, path, staticSecrets, issues));
  const adsBase = adsJson
    ? adsModel(adsJson, built.ok ? built.value.clusters : {}, adsSecrets, built.ok, issues)
    : undefined;
  const ads = adsBase && tls ? { ...adsBase, tls } : adsBase;
  const lds = dynamic.lds_config !== undefined;
  const cds = dynamic.cds_config !== undefined;
  if (lds) adsConfigSource(asObject(dynamic.lds_config), 'dynamic_resources.lds_config', issues);
  if (cds) adsConfigSource(asObject(dynamic.cds_config), 'dynamic_resources.cds_config', issues);
  if ((lds || cds) && !adsJson)
    issues.add('dynamic_resources.ads_config', 'required when lds_config or cds_config use ads');

  const overload = overloadManager(asObject(json.overload_manager), 'overload_manager', issues);

  if (!issues.ok) return fail(issues.errors);
  return ok({
    ...(overload ? { overload } : {}),
    node,
    ...(admin ? { admin } : {}),
    staticListeners,
    staticClusters,
    staticSecrets,
    ...(ads ? { ads } : {}),
    lds,
    cds,
  });
}

function adsModel(
  obj: JsonObject,
  clusters: Readonly<Record<string, ClusterModel>>,
  adsSecrets: readonly string[],
  clustersValid: boolean,
  issues: Issues,
): AdsModel | undefined {
  const path = 'dynamic_resources.ads_config';
  checkFields(obj, API_CONFIG_SOURCE_SPEC, path, issues);
  const apiType = enumField(
    obj.api_type,
    ['GRPC', 'DELTA_GRPC'] as const,
    'GRPC',
    join(path, 'api_type'),
    issues,
  );
  if (obj.api_type === undefined)
    issues.add(join(path, 'api_type'), 'required: GRPC or DELTA_GRPC');
  enumField(obj.transport_api_version, ['V3'], 'V3', join(path, 'transport_api_version'), issues);
  const services = objectsOf(obj, 'grpc_services', path);
  if (services.length !== 1) {
    issues.add(
      join(path, 'grpc_services'),
      `exactly one gRPC service is supported (found ${services.length})`,
    );
    return undefined;
  }
  const [service, servicePath] = services[0]!;
  checkFields(service, GRPC_SERVICE_SPEC, servicePath, issues);
  const envoyGrpc = asObject(service.envoy_grpc);
  if (!envoyGrpc) {
    if (service.google_grpc === undefined) issues.add(join(servicePath, 'envoy_grpc'), 'required');
    return undefined;
  }
  const grpcPath = join(servicePath, 'envoy_grpc');
  checkFields(envoyGrpc, ENVOY_GRPC_SPEC, grpcPath, issues);
  const clusterName = str(envoyGrpc.cluster_name);
  const cluster = clusters[clusterName];
  if (adsSecrets.length > 0) {
    issues.add(
      join(grpcPath, 'cluster_name'),
      `${JSON.stringify(clusterName)} waits for SDS secrets (${adsSecrets.join(', ')}) that only ADS itself could deliver; give the ADS cluster inline certificates or static secrets`,
    );
    return undefined;
  }
  if (!cluster) {
    // When the static clusters failed to translate, their own errors say why.
    if (clustersValid)
      issues.add(
        join(grpcPath, 'cluster_name'),
        `${JSON.stringify(clusterName)} is not a static cluster`,
      );
    return undefined;
  }
  if (cluster.type === 'EDS')
    issues.add(
      join(grpcPath, 'cluster_name'),
      `${JSON.stringify(clusterName)} is an EDS cluster; the ADS cluster needs its endpoints in the bootstrap`,
    );
  const initialMetadata = objectsOf(service, 'initial_metadata', servicePath).map(([h, p]) => {
    checkFields(h, HEADER_VALUE_SPEC, p, issues);
    return { key: str(h.key).toLowerCase(), value: str(h.value) };
  });
  return {
    clusterName,
    cluster,
    apiType,
    authority: str(envoyGrpc.authority) || clusterName,
    initialMetadata,
    setNodeOnFirstMessageOnly: bool(obj.set_node_on_first_message_only, false),
    ...(cluster.upstreamHttp2?.keepalive ? { keepalive: cluster.upstreamHttp2.keepalive } : {}),
  };
}

/** `grpc_services[0].envoy_grpc.cluster_name` of the ADS config, when there is one. */
function adsClusterNameOf(ads: JsonObject): string | undefined {
  const services = Array.isArray(ads.grpc_services) ? ads.grpc_services : [];
  const envoyGrpc = asObject(asObject(services[0])?.envoy_grpc);
  return typeof envoyGrpc?.cluster_name === 'string' ? envoyGrpc.cluster_name : undefined;
}

/** Runtime values change behaviour in ways ferry-proxy does not model, so only empty layers pass. */
function checkRuntime(runtime: JsonObject | undefined, issues: Issues): void {
  if (!runtime) return;
  checkFields(runtime, LAYERED_RUNTIME_SPEC, 'layered_runtime', issues);
  for (const [layer, path] of objectsOf(runtime, 'layers', 'layered_runtime')) {
    checkFields(layer, RUNTIME_LAYER_SPEC, path, issues);
    const values = asObject(layer.static_layer);
    if (values && Object.keys(values).length > 0)
      issues.add(
        join(path, 'static_layer'),
        `runtime values (${Object.keys(values).join(', ')}) are ${NOT_SUPPORTED}`,
      );
  }
}
