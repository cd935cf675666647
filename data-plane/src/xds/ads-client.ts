/**
 * A state-of-the-world ADS client (`StreamAggregatedResources`), following Envoy's xDS protocol
 * document:
 * - CDS and LDS are wildcard subscriptions (legacy form: an empty first resource_names list);
 *   EDS and RDS ask for the names the handler derives from what it accepted;
 * - every response is decoded (each Any with binaryToJson) and handed to the handler, which
 *   accepts it (ACK: version_info + response_nonce) or rejects it (NACK: the previously accepted
 *   version_info, the new nonce, error_detail INVALID_ARGUMENT with the joined errors);
 * - a request carries the latest nonce of its type, so the server never sees it as stale;
 * - on stream failure it reconnects with jittered exponential backoff (reset once a response
 *   arrives) and re-sends every subscription with the last accepted versions; the handler keeps
 *   serving what it has meanwhile.
 *
 * The handler owns resources and decisions; this class owns only protocol state.
 */
import { binaryToJson, servedResourceTypeByUrl } from '@ferry/proto';
import type {
  AnyMessage,
  DiscoveryRequest,
  DiscoveryResponse,
  NodeMessage,
} from '@ferry/proto/grpc';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { CDS, LDS, SUBSCRIBED_TYPES, type DeltaUpdate, type JsonObject } from './resource-set.js';
import { XdsStreamClientBase, type XdsStreamClientOptions } from './xds-stream-client.js';
import { PROXY_USER_AGENT } from '../version.js';

export { ADS_SERVICE, type BackoffOptions } from './xds-stream-client.js';

/** google.rpc.Code INVALID_ARGUMENT, what Envoy sends in a NACK's error_detail. */
export const INVALID_ARGUMENT = 3;

export interface AdsHandler {
  /**
   * A decoded response. Returns the errors that reject it (NACK), or an empty list (ACK). Called
   * synchronously; the handler updates its subscriptions before returning.
   */
  onResponse(typeUrl: string, version: string, resources: JsonObject[]): string[];
  /** Names to subscribe to per type; CDS/LDS are always wildcard and not asked here. */
  subscribedNames(typeUrl: string): readonly string[];
  /** The stream is up (true) or failed/ended (false, with the reason). */
  onConnectionState?(connected: boolean, reason?: string): void;
}

/** What the delta client (delta-ads-client.ts) needs beyond AdsHandler; ConfigSource has it. */
export interface DeltaAdsHandler extends AdsHandler {
  /**
   * A decoded delta response: resources added or changed, names removed. Returns the errors that
   * reject it (NACK) or an empty list (ACK); the handler keeps the previous set on a NACK.
   */
  onDeltaResponse(
    typeUrl: string,
    systemVersion: string,
    updated: readonly DeltaUpdate[],
    removed: readonly string[],
  ): string[];
  /** Name → version of what the handler holds of a type (sent on reconnect). */
  resourceVersions(typeUrl: string): Record<string, string>;
  /** Names unsubscribed from: drop them (the server will not mention them again). */
  forget(typeUrl: string, names: readonly string[]): void;
}

/** What the primary drives, whichever ADS variant (SotW or delta) the bootstrap asks for. */
export interface XdsStreamClient {
  readonly connected: boolean;
  /** The control plane the current stream goes to, or the last one tried. */
  readonly target: string | undefined;
  /** Seeds the versions to report on the first requests (state restored from disk). */
  setAcceptedVersion(typeUrl: string, version: string): void;
  start(): void;
  /** Sends subscription changes after the handler's wanted names changed. */
  updateSubscriptions(): void;
  /** Ends the stream and stops reconnecting. Idempotent. */
  close(): void;
  destroy(): void;
}

export interface AdsClientOptions extends XdsStreamClientOptions {
  readonly handler: AdsHandler;
  /**
   * Decodes one resource to normalised proto3 JSON. Defaults to `binaryToJson`; the proxy passes
   * translation's strict decoder (PGV rules), since a control plane other than Ferry's may not
   * validate.
   */
  readonly decode?: ResourceDecoder;
}

export type ResourceDecoder = (
  typeUrl: string,
  bytes: Uint8Array,
  path: string,
) => { ok: true; value: { json: JsonObject } } | { ok: false; errors: string[] };

interface TypeState {
  /** Last accepted version_info (sent in every request of this type). */
  acceptedVersion: string;
  /** Latest response nonce on the current stream. */
  nonce: string;
  /** Names last requested on the current stream (sorted, joined), undefined before the first request. */
  requestedKey: string | undefined;
}

export class AdsClient
  extends XdsStreamClientBase<DiscoveryRequest, DiscoveryResponse>
  implements XdsStreamClient
{
  private readonly types = new Map<string, TypeState>();

  constructor(private readonly options: AdsClientOptions) {
    super(options, 'xDS');
    for (const t of SUBSCRIBED_TYPES)
      this.types.set(t, { acceptedVersion: '', nonce: '', requestedKey: undefined });
  }

  /** Seeds the versions to report on the first requests (state restored from disk). */
  setAcceptedVersion(typeUrl: string, version: string): void {
    const s = this.types.get(typeUrl);
    if (s) s.acceptedVersion = version;
  }

  /** Sends a request for every type whose wanted names changed (call after accepting config). */
  updateSubscriptions(): void {
    if (!this.call) return;
    for (const typeUrl of SUBSCRIBED_TYPES) this.request(typeUrl, false);
  }

  protected openCall(): ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> {
    return this.client.stream('StreamAggregatedResources');
  }

  protected onStreamOpened(): void {
    for (const s of this.types.values()) {
      s.nonce = '';
      s.requestedKey = undefined;
    }
    // CDS and LDS first: their answers decide the EDS and RDS names.
    this.request(CDS, true);
    this.request(LDS, true);
    for (const t of SUBSCRIBED_TYPES) if (t !== CDS && t !== LDS) this.request(t, false);
  }

  private request(typeUrl: string, force: boolean, extra: DiscoveryRequest = {}): void {
    const state = this.types.get(typeUrl);
    if (!this.call || !state) return;
    const wildcard = typeUrl === CDS || typeUrl === LDS;
    const names = wildcard ? [] : [...this.options.handler.subscribedNames(typeUrl)].sort();
    const key = names.join('\n');
    const isNew = state.requestedKey === undefined;
    // A non-wildcard type with nothing to ask for is not requested until it has names: an empty
    // first request would be read as a wildcard subscription by legacy servers.
    if (!wildcard && isNew && names.length === 0 && !force) return;
    if (!force && !('response_nonce' in extra) && state.requestedKey === key) return;
    state.requestedKey = key;
    const request: DiscoveryRequest = {
      type_url: typeUrl,
      version_info: state.acceptedVersion,
      resource_names: names,
      response_nonce: state.nonce,
      ...extra,
    };
    this.send(request);
  }

  protected onResponse(response: DiscoveryResponse): void {
    const typeUrl = String(response.type_url ?? '');
    const version = String(response.version_info ?? '');
    const nonce = String(response.nonce ?? '');
    const state = this.types.get(typeUrl);
    if (!state) {
      this.options.logger.warn({ typeUrl }, 'xDS response of a type never requested: ignored');
      return;
    }
    state.nonce = nonce;
    const decoded = decodeResources(typeUrl, response.resources ?? [], this.options.decode);
    const errors = decoded.ok
      ? this.options.handler.onResponse(typeUrl, version, decoded.resources)
      : decoded.errors;
    if (errors.length === 0) {
      state.acceptedVersion = version;
      // Make before break: ask for newly needed EDS/RDS names before acknowledging.
      for (const t of SUBSCRIBED_TYPES) if (t !== typeUrl) this.request(t, false);
      this.request(typeUrl, true, { response_nonce: nonce });
    } else {
      this.options.logger.warn(
        { typeUrl, version, errors },
        'xDS config rejected (NACK); keeping the last good config',
      );
      this.request(typeUrl, true, {
        response_nonce: nonce,
        error_detail: { code: INVALID_ARGUMENT, message: errors.join('; ') },
      });
    }
  }
}

type Decoded = { ok: true; resources: JsonObject[] } | { ok: false; errors: string[] };

function decodeResources(
  typeUrl: string,
  anys: readonly AnyMessage[],
  decode: ResourceDecoder | undefined,
): Decoded {
  const resources: JsonObject[] = [];
  const errors: string[] = [];
  anys.forEach((resource, i) => {
    const result = decodeResource(typeUrl, resource, `resources[${i}]`, decode);
    if (result.ok) resources.push(result.json);
    else errors.push(...result.errors);
  });
  return errors.length ? { ok: false, errors } : { ok: true, resources };
}

/**
 * Decodes one `Any` of a response of type `typeUrl` (its type must match) with the proxy's
 * decoder, or `binaryToJson` when none is given; errors are prefixed with `path`.
 */
export function decodeResource(
  typeUrl: string,
  resource: AnyMessage | undefined,
  path: string,
  decode: ResourceDecoder | undefined,
): { ok: true; json: JsonObject } | { ok: false; errors: string[] } {
  const type = servedResourceTypeByUrl(typeUrl);
  if (!type) return { ok: false, errors: [`unsupported resource type ${typeUrl}`] };
  const innerType = String(resource?.type_url ?? '');
  if (innerType !== typeUrl)
    return { ok: false, errors: [`${path}: type ${innerType} in a ${type.short} response`] };
  if (!resource) return { ok: false, errors: [`${path}: no resource`] };
  if (decode) {
    const result = decode(typeUrl, resource.value, path);
    return result.ok ? { ok: true, json: result.value.json } : result;
  }
  try {
    return {
      ok: true,
      json: binaryToJson(type.messageName, resource.value) as JsonObject,
    };
  } catch (err) {
    return {
      ok: false,
      errors: [`${path}: cannot decode ${type.kind}: ${(err as Error).message}`],
    };
  }
}

/** Plain JSON → google.protobuf.Struct in proto-loader's object form. */
function structValue(value: unknown): JsonObject {
  if (value === null || value === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(structValue) } };
  return { struct_value: toStruct(value as JsonObject) };
}

export function toStruct(object: JsonObject): JsonObject {
  return {
    fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, structValue(v)])),
  };
}

/** The Node message sent on the first request. */
export function nodeMessage(node: {
  id: string;
  cluster: string;
  metadata?: JsonObject;
  userAgentVersion: string;
}): NodeMessage {
  return {
    id: node.id,
    cluster: node.cluster,
    ...(node.metadata ? { metadata: toStruct(node.metadata) } : {}),
    user_agent_name: PROXY_USER_AGENT,
    user_agent_version: node.userAgentVersion,
  };
}
