/**
 * DiscoveryRequest encoding and DiscoveryResponse decoding for the simulated ADS clients. The
 * envelopes are written and read by hand, since 10,000 clients in one process spend their CPU on
 * them and share the machine's cores with the control plane under test: a request is encoded
 * straight into one buffer, and a response is read for its version_info, resources (views on
 * the bytes received), type_url and nonce only. Every client of a run receives the same resource
 * bytes for a version, so resource contents are decoded once per (type, version), through
 * @ferry/proto's descriptor registry (protobuf-es), and shared. Field numbers are those of
 * envoy/service/discovery/v3/discovery.proto and envoy/config/core/v3/base.proto (Node); the
 * codec's unit tests check both directions against protobuf-es.
 */
import { decodeBinary, messageSchemaForTypeUrl, messageToJson, type JsonValue } from '@ferry/proto';
import { lengthDelimitedSize, lengthDelimitedTag, ProtoWriter } from '@ferry/shared/proto-writer';

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

const tag = lengthDelimitedTag;

/** Bytes of a length-delimited field holding `length` bytes (empty fields are left out). */
function fieldSize(length: number): number {
  return length === 0 ? 0 : lengthDelimitedSize(length);
}

/** Node = 2 of a request: id = 1, cluster = 2, user_agent_name = 6. */
function nodeSize(node: NodeIdentity, userAgent: string): number {
  return (
    fieldSize(Buffer.byteLength(node.id)) +
    fieldSize(Buffer.byteLength(node.cluster)) +
    fieldSize(Buffer.byteLength(userAgent))
  );
}

/** A cursor over one message's bytes. */
class Reader {
  offset = 0;
  constructor(readonly bytes: Buffer) {}

  varint(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (this.offset >= this.bytes.length) throw new Error('xds-codec: truncated varint');
      const byte = this.bytes[this.offset++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
      if (shift > 63) throw new Error('xds-codec: varint too long');
    }
  }

  /** The end offset of the length-delimited field starting here, past its length. */
  fieldEnd(): number {
    const end = this.varint() + this.offset;
    if (end > this.bytes.length) throw new Error('xds-codec: truncated field');
    return end;
  }

  string(): string {
    const end = this.fieldEnd();
    const value = this.bytes.toString('utf8', this.offset, end);
    this.offset = end;
    return value;
  }

  /** A view on the field's bytes (no copy). */
  view(): Buffer {
    const end = this.fieldEnd();
    const value = this.bytes.subarray(this.offset, end);
    this.offset = end;
    return value;
  }

  /** Skips a field of `wireType` (varint, 64-bit, length-delimited or 32-bit). */
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.offset += 8;
    else if (wireType === 2) this.offset = this.fieldEnd();
    else if (wireType === 5) this.offset += 4;
    else throw new Error(`xds-codec: wire type ${wireType} not expected in a DiscoveryResponse`);
    if (this.offset > this.bytes.length) throw new Error('xds-codec: truncated field');
  }

  /** An Any (type_url = 1, value = 2) ending at `end`. */
  any(end: number): PackedResource {
    let typeUrl = '';
    let value: Uint8Array = EMPTY;
    while (this.offset < end) {
      const key = this.varint();
      if (key === tag(1)) typeUrl = this.string();
      else if (key === tag(2)) value = this.view();
      else this.skip(key & 7);
    }
    if (this.offset !== end) throw new Error('xds-codec: Any overruns its field');
    return { typeUrl, value };
  }
}

const EMPTY = new Uint8Array(0);

export class XdsCodec {
  private readonly resourceJsonCache = new Map<string, readonly Record<string, JsonValue>[]>();

  constructor(private readonly userAgent = 'ferry-xds-bench') {}

  /**
   * A DiscoveryRequest as a gRPC frame (5-byte length prefix included), written into one
   * buffer after `headroom` bytes left free for the transport's framing: version_info = 1,
   * node = 2, resource_names = 3, type_url = 4, response_nonce = 5.
   */
  frameRequest(fields: RequestFields, headroom = 0): Buffer {
    const { typeUrl, versionInfo, responseNonce, resourceNames, node } = fields;
    const versionLength = Buffer.byteLength(versionInfo);
    const typeLength = Buffer.byteLength(typeUrl);
    const nonceLength = Buffer.byteLength(responseNonce);
    const nodeLength = node ? nodeSize(node, this.userAgent) : 0;
    let size = fieldSize(versionLength) + fieldSize(typeLength) + fieldSize(nonceLength);
    if (node) size += lengthDelimitedSize(nodeLength);
    for (const name of resourceNames) {
      // A repeated string keeps empty entries.
      const length = Buffer.byteLength(name);
      size += lengthDelimitedSize(length);
    }
    const w = new ProtoWriter(Buffer.allocUnsafe(headroom + 5 + size));
    w.buffer[headroom] = 0;
    w.buffer.writeUInt32BE(size, headroom + 1);
    w.offset = headroom + 5;
    w.string(1, versionInfo, versionLength);
    if (node) {
      w.header(2, nodeLength);
      w.string(1, node.id, Buffer.byteLength(node.id));
      w.string(2, node.cluster, Buffer.byteLength(node.cluster));
      w.string(6, this.userAgent, Buffer.byteLength(this.userAgent));
    }
    for (const name of resourceNames) {
      const length = Buffer.byteLength(name);
      w.header(3, length);
      w.offset += w.buffer.write(name, w.offset, length, 'utf8');
    }
    w.string(4, typeUrl, typeLength);
    w.string(5, responseNonce, nonceLength);
    if (w.offset !== w.buffer.length)
      throw new Error(`xds-codec: wrote ${w.offset} of ${w.buffer.length} bytes`);
    return w.buffer;
  }

  /**
   * The fields of a DiscoveryResponse the clients read: version_info = 1, resources = 2 (Any:
   * type_url = 1, value = 2, views on `bytes`), type_url = 4, nonce = 5. The rest (canary,
   * control_plane) is skipped.
   */
  decodeResponse(bytes: Buffer): DecodedResponse {
    const r = new Reader(bytes);
    let versionInfo = '';
    let typeUrl = '';
    let nonce = '';
    const resources: PackedResource[] = [];
    while (r.offset < bytes.length) {
      const key = r.varint();
      if (key === tag(1)) versionInfo = r.string();
      else if (key === tag(2)) resources.push(r.any(r.fieldEnd()));
      else if (key === tag(4)) typeUrl = r.string();
      else if (key === tag(5)) nonce = r.string();
      else r.skip(key & 7);
    }
    return { versionInfo, typeUrl, nonce, resources };
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
