/**
 * envoy.filters.http.ratelimit at runtime (Envoy's ratelimit.cc semantics):
 * - on request headers, when the request type matches (x-envoy-internal: true is internal) and
 *   the route forwards to a known cluster, the descriptors of the route's `rate_limits` at the
 *   filter's stage (router/rate-limit-descriptors.ts) are sent in one ShouldRateLimit call; no
 *   descriptor, no call. The request waits (body buffered with backpressure) for the answer.
 * - OK: the response's request_headers_to_add are appended to the request, its
 *   response_headers_to_add (and x-ratelimit-* with enable_x_ratelimit_headers) to the response.
 * - OVER_LIMIT: a local reply with rate_limited_status (429), `x-envoy-ratelimited: true` unless
 *   disabled, the response headers above, the response's raw_body as body, response flag RL;
 *   gRPC requests get UNAVAILABLE, or RESOURCE_EXHAUSTED with rate_limited_as_resource_exhausted.
 * - Error (transport failure, timeout, non-OK grpc-status, UNKNOWN overall code, undecodable
 *   answer): allowed and counted as failure_mode_allowed, or with failure_mode_deny a local
 *   reply with status_on_error (500) and response flag RLSE.
 * Stats as Envoy's, on the route's cluster: ratelimit_ok, ratelimit_over_limit, ratelimit_error,
 * ratelimit_failure_mode_allowed (Envoy: cluster.<name>.ratelimit.ok, ...).
 *
 * ferry-proxy adds `x-ferry-group: <node cluster>` and `x-ferry-node: <node id>` to its calls
 * unless the GrpcService's initial_metadata sets x-ferry-group: Ferry's control plane answers
 * with the limits of the caller's group, admitting the call for that group and node under client
 * certificates (docs/architecture.md, "Fleet-wide rate limits"); other services ignore them.
 */
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterFactoryContext,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamFilter,
} from '../filter.js';
import type { RequestHeaderMap, ResponseHeaderMap } from '../../../http/header-map.js';
import type { CounterHandle, StatsSink } from '../../../stats/stats.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import {
  GrpcMessageCodec,
  GrpcStatus,
  grpcUnaryCall,
} from '../../../upstream/async-grpc-client.js';
import type { AsyncRequestHandle } from '../../../upstream/async-client.js';
import type {
  RateLimitDescriptor,
  DescriptorOptions,
} from '../../../router/rate-limit-descriptors.js';
import type { RateLimitFilterModel, RateLimitPerRouteModel } from './model.js';

const METHOD = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';
const GROUP_METADATA = 'x-ferry-group';
const NODE_METADATA = 'x-ferry-node';
/** RateLimitResponse.Code */
const CODE_OK = 1;
const CODE_OVER_LIMIT = 2;
/** RateLimitResponse.RateLimit.Unit → window seconds (Envoy's convertRateLimitUnit). */
const UNIT_SECONDS = [0, 1, 60, 3600, 86_400, 30 * 86_400, 365 * 86_400];

interface ClusterStats {
  readonly ok: CounterHandle;
  readonly overLimit: CounterHandle;
  readonly error: CounterHandle;
  readonly failureModeAllowed: CounterHandle;
}

interface DescriptorStatusMessage {
  readonly currentLimit?: {
    readonly requestsPerUnit: number;
    readonly unit: number;
    readonly name: string;
  };
  readonly limitRemaining: number;
  readonly durationUntilReset?: { readonly seconds: bigint };
}

interface HeaderValueMessage {
  readonly key: string;
  readonly value: string;
}

interface RateLimitResponseMessage {
  readonly overallCode: number;
  readonly statuses: readonly DescriptorStatusMessage[];
  readonly responseHeadersToAdd: readonly HeaderValueMessage[];
  readonly requestHeadersToAdd: readonly HeaderValueMessage[];
  readonly rawBody: Uint8Array;
}

/** Per HCM and config version: the codec, options, metadata and stats shared by every stream. */
export class RateLimitFilterFactory {
  readonly codec = new GrpcMessageCodec(
    'envoy.service.ratelimit.v3.RateLimitRequest',
    'envoy.service.ratelimit.v3.RateLimitResponse',
  );
  readonly localServiceCluster: string;
  readonly metadata: readonly string[];
  readonly descriptorOptions: DescriptorOptions;
  readonly #stats: StatsSink;
  readonly #byCluster = new Map<string, ClusterStats>();

  constructor(
    readonly config: RateLimitFilterModel,
    context: FilterFactoryContext,
  ) {
    this.#stats = context.stats;
    this.localServiceCluster = context.localServiceCluster ?? '';
    this.metadata = callerMetadata(
      config.service.initialMetadata,
      this.localServiceCluster,
      context.localNodeId ?? '',
    );
    this.descriptorOptions = {
      stage: config.stage,
      vhRateLimits: 'OVERRIDE',
      skipEntriesWithDisableKey: false,
    };
  }

  create(callbacks: FilterCallbacks): RateLimitStreamFilter {
    return new RateLimitStreamFilter(this, callbacks);
  }

  stats(cluster: string): ClusterStats {
    let stats = this.#byCluster.get(cluster);
    if (!stats) {
      const labels = { cluster };
      stats = {
        ok: this.#stats.counter('ratelimit_ok', labels),
        overLimit: this.#stats.counter('ratelimit_over_limit', labels),
        error: this.#stats.counter('ratelimit_error', labels),
        failureModeAllowed: this.#stats.counter('ratelimit_failure_mode_allowed', labels),
      };
      this.#byCluster.set(cluster, stats);
    }
    return stats;
  }
}

type State = 'idle' | 'calling' | 'complete' | 'responded';

export class RateLimitStreamFilter implements StreamFilter {
  #state: State = 'idle';
  #call: AsyncRequestHandle | undefined;
  #cluster = '';
  #request: RequestHeaderMap | undefined;
  /** Headers for the response: the service's, x-ratelimit-*, x-envoy-ratelimited. */
  #responseHeaders: string[] | undefined;

  constructor(
    private readonly factory: RateLimitFilterFactory,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const config = this.factory.config;
    if (config.requestType !== 'both') {
      const internal = headers.get('x-envoy-internal') === 'true';
      if (internal !== (config.requestType === 'internal')) return 'continue';
    }
    const route = this.callbacks.route();
    const cluster = route?.clusterName;
    if (!route || cluster === undefined || !this.callbacks.clusters.has(cluster)) return 'continue';
    const perRoute = this.callbacks.perFilterConfig() as RateLimitPerRouteModel | undefined;
    const options =
      perRoute && perRoute.vhRateLimits !== 'OVERRIDE'
        ? { ...this.factory.descriptorOptions, vhRateLimits: perRoute.vhRateLimits }
        : this.factory.descriptorOptions;
    const descriptors = route.rateLimits.descriptors(
      {
        headers,
        downstreamRemoteIp: this.callbacks.streamInfo.downstreamRemoteIp,
        clusterName: cluster,
        localServiceCluster: this.factory.localServiceCluster,
      },
      options,
    );
    if (descriptors.length === 0) return 'continue';
    this.#cluster = cluster;
    this.#request = headers;
    this.#state = 'calling';
    const domain = perRoute && perRoute.domain !== '' ? perRoute.domain : config.domain;
    this.#call = grpcUnaryCall(
      this.callbacks.clusters,
      config.service,
      METHOD,
      this.factory.codec.encode({ domain, descriptors: descriptors.map(descriptorInit) }),
      { timeoutMs: config.timeoutMs, metadata: this.factory.metadata },
      this,
    );
    return 'stop';
  }

  decodeData(): FilterDataStatus {
    return this.#state === 'calling' ? 'stop-and-watermark' : 'continue';
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.#state === 'calling' ? 'stop' : 'continue';
  }

  encodeHeaders(headers: ResponseHeaderMap): FilterHeadersStatus {
    this.#addResponseHeaders(headers);
    return 'continue';
  }

  onDestroy(): void {
    if (this.#state === 'calling') this.#call?.cancel();
    this.#state = 'complete';
    this.#call = undefined;
  }

  /** GrpcUnaryCallbacks: the service answered. */
  onResponse(bytes: Buffer): void {
    if (this.#state !== 'calling') return;
    let response: RateLimitResponseMessage;
    try {
      response = this.factory.codec.decode(bytes) as unknown as RateLimitResponseMessage;
    } catch {
      this.#error();
      return;
    }
    const code = response.overallCode;
    if (code !== CODE_OK && code !== CODE_OVER_LIMIT) {
      this.#error();
      return;
    }
    this.#state = 'complete';
    const stats = this.factory.stats(this.#cluster);
    const config = this.factory.config;
    const added = response.responseHeadersToAdd;
    let out: string[] | undefined;
    for (const h of added) (out ??= []).push(h.key.toLowerCase(), h.value);
    if (code === CODE_OVER_LIMIT) {
      stats.overLimit.inc();
      if (!config.disableXEnvoyRateLimitedHeader) (out ??= []).push('x-envoy-ratelimited', 'true');
    } else stats.ok.inc();
    if (config.xRateLimitHeaders) out = appendXRateLimitHeaders(response.statuses, out);
    this.#responseHeaders = out;
    if (code === CODE_OVER_LIMIT) {
      this.#state = 'responded';
      this.callbacks.streamInfo.addResponseFlag(ResponseFlag.RATE_LIMITED);
      this.callbacks.sendLocalReply(
        config.rateLimitedStatus,
        response.rawBody.length > 0 ? Buffer.from(response.rawBody).toString('utf8') : '',
        {
          details: 'request_rate_limited',
          modifyHeaders: (headers) => this.#addResponseHeaders(headers),
          ...(config.rateLimitedAsResourceExhausted
            ? { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED }
            : {}),
        },
      );
      return;
    }
    const request = this.#request;
    if (request)
      for (const h of response.requestHeadersToAdd) request.append(h.key.toLowerCase(), h.value);
    this.callbacks.continueDecoding();
  }

  /** GrpcUnaryCallbacks: the call failed. */
  onError(): void {
    if (this.#state !== 'calling') return;
    this.#error();
  }

  #error(): void {
    this.#state = 'complete';
    const stats = this.factory.stats(this.#cluster);
    stats.error.inc();
    const config = this.factory.config;
    if (config.failureModeDeny) {
      this.#state = 'responded';
      this.callbacks.streamInfo.addResponseFlag(ResponseFlag.RATE_LIMIT_SERVICE_ERROR);
      this.callbacks.sendLocalReply(config.statusOnError, '', { details: 'rate_limiter_error' });
      return;
    }
    stats.failureModeAllowed.inc();
    this.callbacks.continueDecoding();
  }

  #addResponseHeaders(headers: ResponseHeaderMap): void {
    const add = this.#responseHeaders;
    if (!add) return;
    this.#responseHeaders = undefined;
    for (let i = 0; i < add.length; i += 2) headers.append(add[i]!, add[i + 1]!);
  }
}

/**
 * `x-ferry-group` and `x-ferry-node` naming this proxy, unless initial_metadata states the group:
 * then the operator speaks for the caller and nothing is added.
 */
function callerMetadata(initial: readonly string[], group: string, node: string): string[] {
  for (let i = 0; i < initial.length; i += 2) if (initial[i] === GROUP_METADATA) return [];
  const out: string[] = [];
  if (group !== '') out.push(GROUP_METADATA, group);
  if (node !== '') out.push(NODE_METADATA, node);
  return out;
}

function descriptorInit(descriptor: RateLimitDescriptor): { entries: RateLimitDescriptor } {
  return { entries: descriptor };
}

/**
 * DRAFT_VERSION_03 headers (Envoy's XRateLimitHeaderUtils): the status with the fewest requests
 * remaining gives x-ratelimit-limit's first value, x-ratelimit-remaining and x-ratelimit-reset;
 * every limited status adds `, <limit>;w=<window seconds>[;name="<name>"]` to x-ratelimit-limit.
 */
export function appendXRateLimitHeaders(
  statuses: readonly DescriptorStatusMessage[],
  out: string[] | undefined,
): string[] | undefined {
  let min: DescriptorStatusMessage | undefined;
  let policy = '';
  for (const s of statuses) {
    const limit = s.currentLimit;
    if (!limit) continue;
    if (!min || s.limitRemaining < min.limitRemaining) min = s;
    const window = UNIT_SECONDS[limit.unit] ?? 0;
    if (window === 0) continue;
    policy += `, ${limit.requestsPerUnit};w=${window}`;
    if (limit.name !== '') policy += `;name="${limit.name}"`;
  }
  if (!min) return out;
  const result = out ?? [];
  result.push(
    'x-ratelimit-limit',
    `${min.currentLimit!.requestsPerUnit}${policy}`,
    'x-ratelimit-remaining',
    String(min.limitRemaining),
    'x-ratelimit-reset',
    String(min.durationUntilReset?.seconds ?? 0n),
  );
  return result;
}
