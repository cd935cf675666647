/**
 * The per-request side of envoy.filters.http.ext_authz (Envoy's ext_authz.cc): the request
 * stops at this filter while the authorization service is asked; its body meanwhile waits in the
 * filter manager with backpressure ('stop-and-watermark'), or, with with_request_body, is held
 * ('stop-and-buffer', 413 above max_request_bytes unless allow_partial_message) and sent with
 * the check. Then:
 * - ok: the service's header and query changes apply, continueDecoding() resumes the request,
 *   and its response headers are added on the way back;
 * - denied: the service's status, body and headers answer the client (UAEX, ext_authz_denied);
 * - error (the call failed, gRPC error status, HTTP 5xx): failure_mode_allow lets the request
 *   through (optionally marked x-envoy-auth-failure-mode-allowed), else status_on_error
 *   (UAEX, ext_authz_error).
 * The call is cancelled when the stream ends first.
 */
import type { CounterHandle } from '../../../stats/stats.js';
import type { Logger } from '@ferry/shared';
import type { RequestHeaderMap, ResponseHeaderMap } from '../../../http/header-map.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import type { RouteMatchResult } from '../../../router/route-table.js';
import { compileStringMatcher, type StringPredicate } from '../../../router/route-match.js';
import type { AsyncRequestHandle } from '../../../upstream/async-client.js';
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterFactoryContext,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamFilter,
} from '../filter.js';
import { percentEnabled } from '../common/fractional-percent.js';
import type { BufferSettingsModel, ExtAuthzModel, ExtAuthzPerRouteModel } from './model.js';
import { GrpcAuthzClient, HttpAuthzClient } from './authz-clients.js';
import {
  applyMutation,
  applyRequestMutation,
  isRemovableHeader,
  isValidMutation,
  rewriteQuery,
  type AuthzCallbacks,
  type AuthzResult,
  type HeaderMutation,
} from './authz-result.js';
import { HeaderSelector, checkRequestInit, type CheckBody } from './check-request.js';

/** Envoy's ext_authz response code details. */
export const DETAILS = {
  denied: 'ext_authz_denied',
  error: 'ext_authz_error',
  invalid: 'ext_authz_invalid',
} as const;

/** Envoy's dynamic metadata namespace of this filter. */
export const METADATA_NAMESPACE = 'envoy.filters.http.ext_authz';
export const FAILURE_MODE_ALLOWED_HEADER = 'x-envoy-auth-failure-mode-allowed';

/** Headers an HTTP authorization service always gets (Envoy's defaults). */
const HTTP_DEFAULT_HEADERS: readonly StringPredicate[] = [
  (name) => name === 'authorization',
  (name) => name === ':method' || name === ':path' || name === ':authority' || name === 'host',
];

interface ExtAuthzStats {
  readonly ok: CounterHandle;
  readonly denied: CounterHandle;
  readonly error: CounterHandle;
  readonly failureModeAllowed: CounterHandle;
  readonly disabled: CounterHandle;
  readonly ignoredDynamicMetadata: CounterHandle;
}

const NO_EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({});

/** The context_extensions of every level merged, the more specific winning (Envoy's merge). */
function mergedExtensions(
  selection: RouteMatchResult,
  filter: ExtAuthzFilter,
): Readonly<Record<string, string>> {
  const configs = selection.perFilterConfigs(filter.name) as readonly ExtAuthzPerRouteModel[];
  let merged: Record<string, string> | undefined;
  for (let i = configs.length - 1; i >= 0; i--) {
    const extensions = configs[i]!.contextExtensions;
    if (Object.keys(extensions).length > 0) merged = { ...merged, ...extensions };
  }
  return merged ?? NO_EXTENSIONS;
}

/** Built once per HCM and config version: the service client, compiled matchers and stats. */
export class ExtAuthzFilter {
  readonly grpc: GrpcAuthzClient | undefined;
  readonly http: HttpAuthzClient | undefined;
  readonly grpcSelector: HeaderSelector;
  readonly stats: ExtAuthzStats;
  readonly logger: Logger;
  /** HttpFilter.name of this filter (typed_per_filter_config key), learnt from its first stream. */
  name = '';

  constructor(
    readonly config: ExtAuthzModel,
    context: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'listenerName' | 'logger'>,
    readonly random: () => number = Math.random,
  ) {
    const disallowed = config.disallowedHeaders.map((m) => compileStringMatcher(m));
    const allowed = config.allowedHeaders?.map((m) => compileStringMatcher(m));
    this.grpcSelector = new HeaderSelector(allowed, disallowed);
    if (config.grpc !== undefined) {
      this.grpc = new GrpcAuthzClient(config.grpc, config.timeoutMs);
    } else if (config.http !== undefined) {
      const httpAllowed = [
        ...HTTP_DEFAULT_HEADERS,
        ...config.http.allowedHeaders.map((m) => compileStringMatcher(m)),
        ...(allowed ?? []),
      ];
      this.http = new HttpAuthzClient(
        config.http,
        config.timeoutMs,
        new HeaderSelector(httpAllowed, disallowed),
      );
    }
    const labels = {
      listener: context.listenerName,
      stat_prefix: context.statPrefix,
      ext_authz_prefix: config.statPrefix,
    };
    const sink = context.stats;
    this.stats = {
      ok: sink.counter('ext_authz_ok', labels),
      denied: sink.counter('ext_authz_denied', labels),
      error: sink.counter('ext_authz_error', labels),
      failureModeAllowed: sink.counter('ext_authz_failure_mode_allowed', labels),
      disabled: sink.counter('ext_authz_disabled', labels),
      ignoredDynamicMetadata: sink.counter('ext_authz_ignored_dynamic_metadata', labels),
    };
    this.logger = context.logger;
  }

  create(callbacks: FilterCallbacks): ExtAuthzStreamFilter {
    if (this.name === '') this.name = callbacks.name;
    return new ExtAuthzStreamFilter(this, callbacks);
  }

  contextExtensions(selection: RouteMatchResult): Readonly<Record<string, string>> {
    return selection.memo(this, mergedExtensions);
  }
}

const IDLE = 0;
const BUFFERING = 1;
const CALLING = 2;
const DONE = 3;

export class ExtAuthzStreamFilter implements StreamFilter, AuthzCallbacks {
  #state = IDLE;
  #headers: RequestHeaderMap | undefined;
  #route: RouteMatchResult | undefined;
  #buffer: BufferSettingsModel | undefined;
  #handle: AsyncRequestHandle | undefined;
  #startedAt = 0;
  #responseMutations: readonly HeaderMutation[] | undefined;

  constructor(
    private readonly filter: ExtAuthzFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    const callbacks = this.callbacks;
    const route = callbacks.route();
    // Envoy checks nothing for requests without a route (they get 404 from the router).
    if (route === undefined) return 'continue';
    const perRoute = callbacks.perFilterConfig() as ExtAuthzPerRouteModel | undefined;
    if (perRoute?.disabled === true) return 'continue';
    const filter = this.filter;
    const config = filter.config;
    if (
      config.filterEnabled !== undefined &&
      !percentEnabled(config.filterEnabled, filter.random)
    ) {
      filter.stats.disabled.inc();
      if (!config.denyAtDisable) return 'continue';
      this.#state = DONE;
      callbacks.sendLocalReply(config.statusOnError, '', {
        flag: ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
        details: DETAILS.error,
      });
      return 'stop';
    }
    this.#headers = headers;
    this.#route = route;
    const buffer =
      perRoute?.disableRequestBodyBuffering === true
        ? undefined
        : (perRoute?.withRequestBody ?? config.withRequestBody);
    if (buffer !== undefined && !endStream) {
      this.#buffer = buffer;
      this.#state = BUFFERING;
      if (!buffer.allowPartialMessage) callbacks.setDecoderBufferLimit(buffer.maxRequestBytes);
      return 'stop';
    }
    this.#initiateCall(undefined);
    return 'stop';
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    const state = this.#state;
    if (state === CALLING) return 'stop-and-watermark';
    if (state !== BUFFERING) return 'continue';
    const buffer = this.#buffer!;
    const buffered = this.callbacks.decodingBuffer();
    let total = data.length;
    for (const chunk of buffered) total += chunk.length;
    const max = buffer.maxRequestBytes;
    // Above the limit without allow_partial_message: the manager answers 413 for this buffer.
    if (!buffer.allowPartialMessage && total > max) return 'stop-and-buffer';
    if (!endStream && total < max) return 'stop-and-buffer';
    if (!endStream && !buffer.allowPartialMessage) return 'stop-and-buffer';
    this.#initiateCall(this.#body(buffered, data, total, max));
    return 'stop-and-watermark';
  }

  decodeTrailers(): FilterTrailersStatus {
    const state = this.#state;
    if (state === BUFFERING) {
      const buffered = this.callbacks.decodingBuffer();
      let total = 0;
      for (const chunk of buffered) total += chunk.length;
      this.#initiateCall(this.#body(buffered, undefined, total, this.#buffer!.maxRequestBytes));
      return 'stop';
    }
    return state === CALLING ? 'stop' : 'continue';
  }

  encodeHeaders(headers: ResponseHeaderMap): FilterHeadersStatus {
    const mutations = this.#responseMutations;
    if (mutations !== undefined) for (const m of mutations) applyMutation(headers, m);
    return 'continue';
  }

  onDestroy(): void {
    if (this.#state === CALLING) {
      this.#state = DONE;
      this.#handle?.cancel();
      this.#handle = undefined;
    }
  }

  /** The body sent with the check: the first max_request_bytes of what arrived. */
  #body(
    buffered: readonly Buffer[],
    last: Buffer | undefined,
    total: number,
    max: number,
  ): CheckBody {
    const chunks = last === undefined ? buffered : [...buffered, last];
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
    return { bytes: total > max ? all.subarray(0, max) : all, partial: total >= max };
  }

  #initiateCall(body: CheckBody | undefined): void {
    const filter = this.filter;
    const callbacks = this.callbacks;
    const headers = this.#headers!;
    this.#state = CALLING;
    this.#startedAt = performance.now();
    if (filter.grpc !== undefined) {
      const config = filter.config;
      const request = checkRequestInit(headers, callbacks.streamInfo, {
        selector: filter.grpcSelector,
        contextExtensions: filter.contextExtensions(this.#route!),
        body,
        packAsBytes: (this.#buffer ?? config.withRequestBody)?.packAsBytes === true,
        includePeerCertificate: config.includePeerCertificate,
        includeTlsSession: config.includeTlsSession,
      });
      this.#handle = filter.grpc.check(callbacks.clusters, request, this);
    } else {
      this.#handle = filter.http!.check(callbacks.clusters, headers, body?.bytes, this);
    }
  }

  // ------------------------------------------------------------ AuthzCallbacks

  onAuthzComplete(result: AuthzResult): void {
    if (this.#state !== CALLING) return;
    this.#state = DONE;
    this.#handle = undefined;
    const filter = this.filter;
    const stats = filter.stats;
    const callbacks = this.callbacks;
    if (result.dynamicMetadata !== undefined) this.#setMetadata(result);
    switch (result.status) {
      case 'ok':
        this.#allow(result);
        return;
      case 'denied': {
        stats.denied.inc();
        const mutations = result.localReplyMutations.filter(isValidMutation);
        if (
          mutations.length !== result.localReplyMutations.length &&
          filter.config.validateMutations
        ) {
          this.#invalidMutations();
          return;
        }
        callbacks.sendLocalReply(result.httpStatus, result.body, {
          flag: ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
          details: DETAILS.denied,
          ...(mutations.length > 0
            ? {
                modifyHeaders: (headers: ResponseHeaderMap) => {
                  for (const m of mutations) applyMutation(headers, m);
                },
              }
            : {}),
        });
        return;
      }
      case 'error': {
        stats.error.inc();
        const config = filter.config;
        filter.logger.debug(
          { cluster: config.grpc?.clusterName ?? config.http?.cluster, reason: result.detail },
          'ext_authz: authorization service call failed',
        );
        if (config.failureModeAllow) {
          stats.failureModeAllowed.inc();
          if (config.failureModeAllowHeaderAdd)
            this.#headers!.append(FAILURE_MODE_ALLOWED_HEADER, 'true');
          callbacks.continueDecoding();
          return;
        }
        callbacks.sendLocalReply(config.statusOnError, '', {
          flag: ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
          details: DETAILS.error,
        });
        return;
      }
    }
  }

  #allow(result: AuthzResult): void {
    const filter = this.filter;
    const config = filter.config;
    const headers = this.#headers!;
    const invalid =
      !result.requestMutations.every(isValidMutation) ||
      !result.responseMutations.every(isValidMutation);
    if (invalid && config.validateMutations) {
      this.#invalidMutations();
      return;
    }
    let changed = false;
    for (const m of result.requestMutations) {
      if (!isValidMutation(m)) continue;
      applyRequestMutation(headers, m);
      changed = true;
    }
    for (const name of result.headersToRemove) {
      if (!isRemovableHeader(name)) continue;
      headers.remove(name);
      changed = true;
    }
    if (result.queryParametersToSet.length > 0 || result.queryParametersToRemove.length > 0) {
      headers.path = rewriteQuery(
        headers.path,
        result.queryParametersToSet,
        result.queryParametersToRemove,
      );
      changed = true;
    }
    if (result.responseMutations.length > 0)
      this.#responseMutations = result.responseMutations.filter(isValidMutation);
    if (changed && config.clearRouteCache) this.callbacks.clearRouteCache();
    filter.stats.ok.inc();
    this.callbacks.continueDecoding();
  }

  #invalidMutations(): void {
    this.callbacks.sendLocalReply(500, '', {
      flag: ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,
      details: DETAILS.invalid,
    });
  }

  #setMetadata(result: AuthzResult): void {
    const filter = this.filter;
    if (!filter.config.enableDynamicMetadataIngestion) {
      filter.stats.ignoredDynamicMetadata.inc();
      return;
    }
    const all = this.callbacks.streamInfo.dynamicMetadata;
    let namespace = all.get(METADATA_NAMESPACE);
    if (namespace === undefined) all.set(METADATA_NAMESPACE, (namespace = {}));
    Object.assign(namespace, result.dynamicMetadata);
    if (result.status === 'ok')
      namespace.ext_authz_duration = Math.round(performance.now() - this.#startedAt);
  }
}
