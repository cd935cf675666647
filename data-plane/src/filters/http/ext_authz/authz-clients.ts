/**
 * The two ways ext_authz asks: the gRPC Authorization service (envoy.service.auth.v3
 * Authorization/Check) and a raw HTTP service (Envoy's ext_authz_grpc_impl.cc and
 * ext_authz_http_impl.cc), both on the filters' async client. Each turns the service's answer
 * into an AuthzResult; a call that fails (no cluster, connect failure, timeout, reset, a gRPC
 * error status, an HTTP 5xx) is an `error` result.
 */
import type { ClusterRuntime } from '../../../upstream/cluster-runtime.js';
import type { RequestHeaderMap } from '../../../http/header-map.js';
import { isHopByHop } from '../../../http/header-map.js';
import {
  sendAsyncRequest,
  type AsyncFailureReason,
  type AsyncHttpResponse,
  type AsyncRequestCallbacks,
  type AsyncRequestHandle,
} from '../../../upstream/async-client.js';
import {
  GrpcMessageCodec,
  grpcUnaryCall,
  type GrpcServiceModel,
  type GrpcUnaryCallbacks,
} from '../../../upstream/async-grpc-client.js';
import { compileStringMatcher, type StringPredicate } from '../../../router/route-match.js';
import type { StringMatcherModel } from '../../../config/model.js';
import type { HttpAuthzServiceModel } from './model.js';
import {
  errorResult,
  type AuthzCallbacks,
  type AuthzResult,
  type HeaderAction,
  type HeaderMutation,
} from './authz-result.js';
import type { HeaderSelector } from './check-request.js';

export const CHECK_METHOD = '/envoy.service.auth.v3.Authorization/Check';

/** The pieces of envoy.service.auth.v3.CheckResponse ext_authz reads (reflective message). */
interface HeaderValueOptionMessage {
  header?: { key: string; value: string; rawValue: Uint8Array };
  /** Deprecated BoolValue: undefined when not sent. */
  append?: boolean;
  appendAction: number;
}

interface CheckResponseMessage {
  status?: { code: number; message: string };
  httpResponse:
    | {
        case: 'deniedResponse';
        value: { status?: { code: number }; headers: HeaderValueOptionMessage[]; body: string };
      }
    | {
        case: 'okResponse';
        value: {
          headers: HeaderValueOptionMessage[];
          headersToRemove: string[];
          dynamicMetadata?: Record<string, unknown>;
          responseHeadersToAdd: HeaderValueOptionMessage[];
          queryParametersToSet: { key: string; value: string }[];
          queryParametersToRemove: string[];
        };
      }
    | { case: undefined; value?: undefined };
  dynamicMetadata?: Record<string, unknown>;
}

/** HeaderAppendAction numbers of envoy.config.core.v3.HeaderValueOption. */
const APPEND_ACTIONS: readonly HeaderAction[] = [
  // APPEND_IF_EXISTS_OR_ADD is the enum's zero value: an option that sets neither append nor
  // append_action overwrites, as CheckResponse documents ("append defaults to false").
  'overwrite-or-add',
  'add-if-absent',
  'overwrite-or-add',
  'overwrite-if-exists',
];

function mutationsOf(options: readonly HeaderValueOptionMessage[]): HeaderMutation[] {
  const out: HeaderMutation[] = [];
  for (const option of options) {
    const header = option.header;
    if (header === undefined) continue;
    const value =
      header.value === '' && header.rawValue.length > 0
        ? Buffer.from(header.rawValue).toString('utf8')
        : header.value;
    const action: HeaderAction =
      option.append !== undefined
        ? option.append
          ? 'append'
          : 'overwrite-or-add'
        : (APPEND_ACTIONS[option.appendAction] ?? 'overwrite-or-add');
    out.push({ key: header.key.toLowerCase(), value, action });
  }
  return out;
}

const NONE: readonly never[] = Object.freeze([]);

/** A CheckResponse as an AuthzResult (Envoy's GrpcClientImpl::onSuccess). */
export function checkResponseResult(response: CheckResponseMessage): AuthzResult {
  const http = response.httpResponse;
  const ok = http.case === 'okResponse' ? http.value : undefined;
  const metadata = ok?.dynamicMetadata ?? response.dynamicMetadata;
  const dynamicMetadata =
    metadata !== undefined && Object.keys(metadata).length > 0 ? metadata : undefined;
  if ((response.status?.code ?? 0) === 0) {
    return {
      status: 'ok',
      httpStatus: 200,
      body: '',
      requestMutations: ok === undefined ? NONE : mutationsOf(ok.headers),
      headersToRemove: ok === undefined ? NONE : ok.headersToRemove.map((h) => h.toLowerCase()),
      queryParametersToSet:
        ok === undefined ? NONE : ok.queryParametersToSet.map((q) => [q.key, q.value] as const),
      queryParametersToRemove: ok === undefined ? NONE : ok.queryParametersToRemove,
      responseMutations: ok === undefined ? NONE : mutationsOf(ok.responseHeadersToAdd),
      localReplyMutations: NONE,
      dynamicMetadata,
      detail: '',
    };
  }
  const denied = http.case === 'deniedResponse' ? http.value : undefined;
  const code = denied?.status?.code ?? 0;
  return {
    status: 'denied',
    httpStatus: code > 0 ? code : 403,
    body: denied?.body ?? '',
    requestMutations: NONE,
    headersToRemove: NONE,
    queryParametersToSet: NONE,
    queryParametersToRemove: NONE,
    responseMutations: NONE,
    localReplyMutations: denied === undefined ? NONE : mutationsOf(denied.headers),
    dynamicMetadata,
    detail: '',
  };
}

/** The gRPC Authorization service of one filter config. */
export class GrpcAuthzClient {
  readonly #codec = new GrpcMessageCodec(
    'envoy.service.auth.v3.CheckRequest',
    'envoy.service.auth.v3.CheckResponse',
  );

  constructor(
    readonly service: GrpcServiceModel,
    readonly timeoutMs: number,
  ) {}

  check(
    clusters: ReadonlyMap<string, ClusterRuntime>,
    request: Record<string, unknown>,
    callbacks: AuthzCallbacks,
  ): AsyncRequestHandle {
    return grpcUnaryCall(
      clusters,
      this.service,
      CHECK_METHOD,
      this.#codec.encode(request),
      { timeoutMs: this.timeoutMs },
      new GrpcCheckCall(this.#codec, callbacks),
    );
  }
}

class GrpcCheckCall implements GrpcUnaryCallbacks {
  constructor(
    readonly codec: GrpcMessageCodec,
    readonly callbacks: AuthzCallbacks,
  ) {}

  onResponse(message: Buffer): void {
    let result: AuthzResult;
    try {
      result = checkResponseResult(this.codec.decode(message) as unknown as CheckResponseMessage);
    } catch (err) {
      result = errorResult(`malformed CheckResponse: ${(err as Error).message}`);
    }
    this.callbacks.onAuthzComplete(result);
  }

  onError(status: number, message: string): void {
    this.callbacks.onAuthzComplete(errorResult(`grpc-status ${status}: ${message}`));
  }
}

/** A ListStringMatcher compiled: any may match. */
function anyOf(models: readonly StringMatcherModel[]): readonly StringPredicate[] {
  return models.map((m) => compileStringMatcher(m));
}

function matchesAny(matchers: readonly StringPredicate[], name: string): boolean {
  for (const m of matchers) if (m(name)) return true;
  return false;
}

/** Envoy's NotHeaderKeyMatcher default of allowed_client_headers: all but Host. */
const NOT_HOST: readonly StringPredicate[] = [(name) => name !== 'host'];
/** Added to a non-empty allowed_client_headers, as Envoy does. */
const CLIENT_DEFAULTS = new Set([':status', 'content-length', 'www-authenticate', 'location']);
/** Envoy's x-envoy-auth-headers-to-remove: a comma list the HTTP service sends on 200. */
export const HEADERS_TO_REMOVE_HEADER = 'x-envoy-auth-headers-to-remove';

/** A local reply frames its own body: these fields of the service's response never go to the client. */
function isFraming(name: string): boolean {
  return name === 'content-length' || isHopByHop(name);
}

/** The raw HTTP authorization service of one filter config. */
export class HttpAuthzClient {
  readonly #allowedUpstream: readonly StringPredicate[];
  readonly #appendUpstream: readonly StringPredicate[];
  readonly #client: readonly StringPredicate[];
  readonly #clientDefaults: boolean;
  readonly #clientOnSuccess: readonly StringPredicate[];
  readonly #toMetadata: readonly StringPredicate[];

  constructor(
    readonly model: HttpAuthzServiceModel,
    readonly timeoutMs: number,
    readonly selector: HeaderSelector,
  ) {
    this.#allowedUpstream = anyOf(model.allowedUpstreamHeaders);
    this.#appendUpstream = anyOf(model.allowedUpstreamHeadersToAppend);
    this.#clientDefaults = model.allowedClientHeaders.length === 0;
    this.#client = this.#clientDefaults ? NOT_HOST : anyOf(model.allowedClientHeaders);
    this.#clientOnSuccess = anyOf(model.allowedClientHeadersOnSuccess);
    this.#toMetadata = anyOf(model.dynamicMetadataFromHeaders);
  }

  /** The check request: the client's method, path_prefix + path, Host, selected headers, body. */
  check(
    clusters: ReadonlyMap<string, ClusterRuntime>,
    request: RequestHeaderMap,
    body: Buffer | undefined,
    callbacks: AuthzCallbacks,
  ): AsyncRequestHandle {
    const selector = this.selector;
    const headers: string[] = [];
    const names = request.names;
    const values = request.values;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (name === 'content-length' || name === 'host' || !selector.selects(name)) continue;
      headers.push(name, values[i]!);
    }
    const add = this.model.headersToAdd;
    for (let i = 0; i < add.length; i += 2) {
      const name = add[i]!;
      for (let j = headers.length - 2; j >= 0; j -= 2)
        if (headers[j] === name) headers.splice(j, 2);
      headers.push(name, add[i + 1]!);
    }
    return sendAsyncRequest(
      clusters,
      this.model.cluster,
      {
        method: request.method,
        path: this.model.pathPrefix + request.path,
        authority: request.authority,
        headers,
        body: body ?? EMPTY,
      },
      { timeoutMs: this.timeoutMs },
      new HttpCheckCall(this, callbacks),
    );
  }

  /** Envoy's RawHttpClientImpl::toResponse. */
  result(response: AsyncHttpResponse): AuthzResult {
    const status = response.status;
    if (status >= 500) return errorResult(`authorization service answered ${status}`);
    const flat = response.headers;
    if (status === 200) {
      const requestMutations: HeaderMutation[] = [];
      const responseMutations: HeaderMutation[] = [];
      const headersToRemove: string[] = [];
      let metadata: Record<string, unknown> | undefined;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const key = flat[i]!;
        const value = flat[i + 1]!;
        if (key === HEADERS_TO_REMOVE_HEADER) {
          for (const name of value.split(',')) {
            const trimmed = name.trim().toLowerCase();
            if (trimmed !== '') headersToRemove.push(trimmed);
          }
          continue;
        }
        if (matchesAny(this.#allowedUpstream, key))
          requestMutations.push({ key, value, action: 'overwrite-or-add' });
        if (matchesAny(this.#appendUpstream, key))
          requestMutations.push({ key, value, action: 'add' });
        if (matchesAny(this.#clientOnSuccess, key))
          responseMutations.push({ key, value, action: 'add' });
        if (matchesAny(this.#toMetadata, key)) (metadata ??= {})[key] = value;
      }
      return {
        status: 'ok',
        httpStatus: 200,
        body: '',
        requestMutations,
        headersToRemove,
        queryParametersToSet: NONE,
        queryParametersToRemove: NONE,
        responseMutations,
        localReplyMutations: NONE,
        dynamicMetadata: metadata,
        detail: '',
      };
    }
    // Denied: the service's status, body and client headers. Envoy removes every header it
    // sets, then adds each (so repeated fields such as set-cookie survive).
    const localReplyMutations: HeaderMutation[] = [];
    const seen = new Set<string>();
    let metadata: Record<string, unknown> | undefined;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const key = flat[i]!;
      if (matchesAny(this.#toMetadata, key)) (metadata ??= {})[key] = flat[i + 1]!;
      if (key === HEADERS_TO_REMOVE_HEADER || isFraming(key)) continue;
      const allowed =
        matchesAny(this.#client, key) || (!this.#clientDefaults && CLIENT_DEFAULTS.has(key));
      if (!allowed) continue;
      localReplyMutations.push({
        key,
        value: flat[i + 1]!,
        action: seen.has(key) ? 'add' : 'overwrite-or-add',
      });
      seen.add(key);
    }
    return {
      status: 'denied',
      httpStatus: status,
      body: response.body.toString('utf8'),
      requestMutations: NONE,
      headersToRemove: NONE,
      queryParametersToSet: NONE,
      queryParametersToRemove: NONE,
      responseMutations: NONE,
      localReplyMutations,
      dynamicMetadata: metadata,
      detail: '',
    };
  }
}

const EMPTY = Buffer.alloc(0);

class HttpCheckCall implements AsyncRequestCallbacks {
  constructor(
    readonly client: HttpAuthzClient,
    readonly callbacks: AuthzCallbacks,
  ) {}

  onSuccess(response: AsyncHttpResponse): void {
    this.callbacks.onAuthzComplete(this.client.result(response));
  }

  onFailure(reason: AsyncFailureReason, detail: string): void {
    this.callbacks.onAuthzComplete(errorResult(`${reason}: ${detail}`));
  }
}
