/**
 * A state-of-the-world ADS client (`StreamAggregatedResources`), following Envoy's xDS protocol
 * document:
 * - CDS and LDS are wildcard subscriptions (legacy form: an empty first resource_names list);
 *   EDS and RDS ask for the names the handler derives from what it accepted;
 * - every response is decoded (each Any with binaryToJson) and handed to the handler, which
 *   accepts it (ACK: version_info + response_nonce) or rejects it (NACK: the previously accepted
 *   version_info, the new nonce, error_detail INVALID_ARGUMENT with the joined errors and, when
 *   the handler rejected some resources alone, a google.rpc.BadRequest naming each one);
 *   a resource that does not decode but whose name can be read is rejected alone;
 * - a request carries the latest nonce of its type, so the server never sees it as stale;
 * - on stream failure it reconnects with jittered exponential backoff (reset once a response
 *   arrives) and re-sends every subscription with the last accepted versions; the handler keeps
 *   serving what it has meanwhile.
 *
 * The handler owns resources and decisions; this class owns only protocol state.
 */
import { binaryToJson, jsonToBinary, servedResourceTypeByUrl } from '@ferry/proto';
import type {
  AnyMessage,
  DiscoveryRequest,
  DiscoveryResponse,
  NodeMessage,
  StatusMessage,
} from '@ferry/proto/grpc';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import {
  CDS,
  LDS,
  SUBSCRIBED_TYPES,
  resourceName,
  type DeltaUpdate,
  type JsonObject,
} from './resource-set.js';
import { XdsStreamClientBase, type XdsStreamClientOptions } from './xds-stream-client.js';
import { PROXY_USER_AGENT } from '../version.js';

export { ADS_SERVICE, type BackoffOptions } from './xds-stream-client.js';

/** google.rpc.Code INVALID_ARGUMENT, what Envoy sends in a NACK's error_detail. */
export const INVALID_ARGUMENT = 3;

/** google.rpc.BadRequest's type URL, in a NACK's error_detail.details. */
export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';

/** A resource of a response that did not decode, known by name. */
export interface InvalidResource {
  readonly name: string;
  readonly errors: readonly string[];
}

/** A resource rejected alone: the rest of its response was applied. */
export interface RejectedResource {
  readonly name: string;
  readonly errors: readonly string[];
}

/**
 * The handler's answer to a response: no errors is an ACK; errors are a NACK. `rejected` lists the
 * resources rejected alone (the others were applied); empty with errors, the response was
 * rejected as a whole.
 */
export interface ResponseVerdict {
  readonly errors: readonly string[];
  readonly rejected: readonly RejectedResource[];
}

export interface AdsHandler {
  /**
   * A decoded response; `invalid` are its resources that did not decode (part of the response,
   * not removals). Called synchronously; the handler updates its subscriptions before returning.
   */
  onResponse(
    typeUrl: string,
    version: string,
    resources: JsonObject[],
    invalid?: readonly InvalidResource[],
  ): ResponseVerdict;
  /** Names to subscribe to per type; CDS/LDS are always wildcard and not asked here. */
  subscribedNames(typeUrl: string): readonly string[];
  /** The stream is up (true) or failed/ended (false, with the reason). */
  onConnectionState?(connected: boolean, reason?: string): void;
}

/** What the delta client (delta-ads-client.ts) needs beyond AdsHandler; ConfigSource has it. */
export interface DeltaAdsHandler extends AdsHandler {
  /**
   * A decoded delta response: resources added or changed, names removed, resources that did not
   * decode. The verdict as for onResponse.
   */
  onDeltaResponse(
    typeUrl: string,
    systemVersion: string,
    updated: readonly DeltaUpdate[],
    removed: readonly string[],
    invalid?: readonly InvalidResource[],
  ): ResponseVerdict;
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
    const verdict: ResponseVerdict = decoded.ok
      ? this.options.handler.onResponse(typeUrl, version, decoded.resources, decoded.invalid)
      : { errors: decoded.errors, rejected: [] };
    // Make before break: ask for newly needed EDS/RDS names before answering (what was applied
    // of a partly rejected response may need some too).
    for (const t of SUBSCRIBED_TYPES) if (t !== typeUrl) this.request(t, false);
    if (verdict.errors.length === 0) {
      state.acceptedVersion = version;
      this.request(typeUrl, true, { response_nonce: nonce });
      return;
    }
    logRejection(this.options.logger, typeUrl, verdict, { version });
    // The version stays the last one accepted as a whole, as Envoy reports it after a NACK.
    this.request(typeUrl, true, {
      response_nonce: nonce,
      error_detail: nackStatus(typeUrl, verdict),
    });
  }
}

/** Logs a NACK: one line per response, naming the resources rejected alone. */
export function logRejection(
  logger: AdsClientOptions['logger'],
  typeUrl: string,
  verdict: ResponseVerdict,
  fields: Record<string, string>,
): void {
  if (verdict.rejected.length === 0) {
    logger.warn(
      { typeUrl, ...fields, errors: verdict.errors },
      'xDS update rejected (NACK); keeping the last good config',
    );
    return;
  }
  logger.warn(
    {
      typeUrl,
      ...fields,
      rejected: verdict.rejected.map((r) => r.name),
      errors: verdict.errors,
    },
    'xDS update partly rejected (NACK): the other resources were applied, the rejected ones keep their last accepted version',
  );
}

/**
 * A NACK's error_detail: INVALID_ARGUMENT with the joined errors and, for resources rejected
 * alone, a google.rpc.BadRequest with one field violation per resource (field: its kind and
 * quoted name, as error messages label it; description: its errors).
 */
export function nackStatus(typeUrl: string, verdict: ResponseVerdict): StatusMessage {
  const message = verdict.errors.join('; ');
  if (verdict.rejected.length === 0) return { code: INVALID_ARGUMENT, message };
  const kind = servedResourceTypeByUrl(typeUrl)?.kind ?? typeUrl;
  const badRequest = jsonToBinary('google.rpc.BadRequest', {
    field_violations: verdict.rejected.map((r) => ({
      field: `${kind} ${JSON.stringify(r.name)}`,
      description: r.errors.join('; '),
    })),
  });
  if (!badRequest.ok) return { code: INVALID_ARGUMENT, message };
  return {
    code: INVALID_ARGUMENT,
    message,
    details: [{ type_url: BAD_REQUEST_TYPE_URL, value: Buffer.from(badRequest.value) }],
  };
}

type Decoded =
  | { ok: true; resources: JsonObject[]; invalid: InvalidResource[] }
  | { ok: false; errors: string[] };

/**
 * Decodes each resource. One that does not decode is rejected alone when its name can still be
 * read (leniently, without validation rules); the response is rejected as a whole otherwise.
 */
function decodeResources(
  typeUrl: string,
  anys: readonly AnyMessage[],
  decode: ResourceDecoder | undefined,
): Decoded {
  const resources: JsonObject[] = [];
  const invalid: InvalidResource[] = [];
  const errors: string[] = [];
  anys.forEach((resource, i) => {
    const result = decodeResource(typeUrl, resource, `resources[${i}]`, decode);
    if (result.ok) {
      resources.push(result.json);
      return;
    }
    const name = lenientName(typeUrl, resource);
    if (name !== '') invalid.push({ name, errors: labelled(typeUrl, name, result.errors) });
    else errors.push(...result.errors);
  });
  return errors.length ? { ok: false, errors } : { ok: true, resources, invalid };
}

/** Decoding errors labelled with the resource, as translation labels its errors. */
export function labelled(typeUrl: string, name: string, errors: readonly string[]): string[] {
  const kind = servedResourceTypeByUrl(typeUrl)?.kind ?? typeUrl;
  return errors.map((e) => `${kind} ${JSON.stringify(name)}: ${e}`);
}

/** The name of a resource read without validation rules; '' when it cannot be read. */
function lenientName(typeUrl: string, resource: AnyMessage | undefined): string {
  const type = servedResourceTypeByUrl(typeUrl);
  if (!type || !resource || String(resource.type_url ?? '') !== typeUrl) return '';
  try {
    return resourceName(typeUrl, binaryToJson(type.messageName, resource.value) as JsonObject);
  } catch {
    return '';
  }
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
