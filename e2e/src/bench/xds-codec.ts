/**
 * DiscoveryRequest encoding and DiscoveryResponse decoding for the simulated ADS clients, through
 * @ferry/proto's descriptor registry (protobuf-es). Every client of a run receives the same
 * resource bytes for a version, so resource contents are decoded once per (type, version) and
 * shared: the per-client cost of a response is decoding the envelope only.
 */
import {
  decodeBinary,
  decodeJsonWith,
  encodeBinary,
  messageSchemaForTypeUrl,
  messageToJson,
  requireMessageSchema,
  type DescMessage,
  type JsonValue,
  type Message,
} from '@ferry/proto';

export const ADS_PATH =
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

export const TYPE_URL = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

export interface NodeIdentity {
  readonly id: string;
  readonly cluster: string;
}

export interface RequestFields {
  readonly typeUrl: string;
  readonly versionInfo: string;
  readonly responseNonce: string;
  readonly resourceNames: readonly string[];
  /** Only on a stream's first request (xDS protocol: the node is sent once). */
  readonly node?: NodeIdentity;
}

export interface PackedResource {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

export interface DecodedResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly PackedResource[];
}

/** The subset of protobuf-es's DiscoveryResponse message the clients read. */
interface DiscoveryResponseFields {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: PackedResource[];
}

export class XdsCodec {
  private readonly requestSchema: DescMessage;
  private readonly responseSchema: DescMessage;
  private readonly nodeTemplate: Message;
  private readonly resourceJsonCache = new Map<string, readonly Record<string, JsonValue>[]>();

  constructor(userAgent = 'ferry-xds-bench') {
    this.requestSchema = requireMessageSchema('envoy.service.discovery.v3.DiscoveryRequest');
    this.responseSchema = requireMessageSchema('envoy.service.discovery.v3.DiscoveryResponse');
    const node = decodeJsonWith(requireMessageSchema('envoy.config.core.v3.Node'), {
      id: 'template',
      cluster: 'default',
      user_agent_name: userAgent,
    });
    if (!node.ok) throw new Error(`xds-codec: node template: ${node.errors.join('; ')}`);
    this.nodeTemplate = node.value;
  }

  encodeRequest(fields: RequestFields): Uint8Array {
    // An empty message from the schema carries every default; set only what differs.
    const request = decodeBinary(this.requestSchema, new Uint8Array(0)) as Message &
      Record<string, unknown>;
    request.typeUrl = fields.typeUrl;
    request.versionInfo = fields.versionInfo;
    request.responseNonce = fields.responseNonce;
    request.resourceNames = [...fields.resourceNames];
    if (fields.node)
      request.node = { ...this.nodeTemplate, id: fields.node.id, cluster: fields.node.cluster };
    return encodeBinary(this.requestSchema, request);
  }

  decodeResponse(bytes: Uint8Array): DecodedResponse {
    const response = decodeBinary(this.responseSchema, bytes) as unknown as DiscoveryResponseFields;
    return {
      versionInfo: response.versionInfo,
      typeUrl: response.typeUrl,
      nonce: response.nonce,
      resources: response.resources,
    };
  }

  /**
   * The response's resources as proto3 JSON, decoded once per (type, version, count): the server
   * sends identical bytes for a version to every client with the same subscription.
   */
  resourcesJson(response: DecodedResponse): readonly Record<string, JsonValue>[] {
    const key = `${response.typeUrl}|${response.versionInfo}|${response.resources.length}`;
    let decoded = this.resourceJsonCache.get(key);
    if (!decoded) {
      decoded = response.resources.map((any, i) => {
        const schema = messageSchemaForTypeUrl(any.typeUrl);
        if (!schema) throw new Error(`xds-codec: resources[${i}]: unknown type ${any.typeUrl}`);
        return messageToJson(schema, decodeBinary(schema, any.value)) as Record<string, JsonValue>;
      });
      this.resourceJsonCache.set(key, decoded);
    }
    return decoded;
  }

  /** Names of the response's resources (`name`, or `cluster_name` for endpoints). */
  resourceNames(response: DecodedResponse): string[] {
    return this.resourcesJson(response).map((r) => {
      const name = r.name ?? r.cluster_name;
      return typeof name === 'string' ? name : '';
    });
  }

  /** RouteConfiguration names that the response's listeners request over RDS, sorted. */
  routeNamesOfListeners(response: DecodedResponse): string[] {
    const names = new Set<string>();
    for (const listener of this.resourcesJson(response)) collectRdsNames(listener, names);
    return [...names].sort();
  }
}

/** Finds every `rds.route_config_name` under a listener (filter chains and api_listener). */
function collectRdsNames(value: JsonValue, names: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectRdsNames(v, names);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const rds = value.rds;
  if (
    rds &&
    typeof rds === 'object' &&
    !Array.isArray(rds) &&
    typeof rds.route_config_name === 'string'
  ) {
    names.add(rds.route_config_name);
  }
  for (const v of Object.values(value)) collectRdsNames(v, names);
}
