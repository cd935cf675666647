/**
 * The per-request side of envoy.filters.http.local_ratelimit (Envoy's local_ratelimit.cc):
 *
 * - The most specific per-route LocalRateLimit replaces the filter's config for the request
 *   (its own buckets, stats and settings); without one the filter's config applies.
 * - filter_enabled rolls first (not enabled: nothing happens, nothing is counted); then the
 *   route's rate_limits descriptors of the config's stage are matched against `descriptors`
 *   (only when the config has descriptors). Matching descriptor buckets are spent, lowest fill
 *   rate first, and the first empty one limits the request; the default bucket is spent when no
 *   descriptor matched, or always with always_consume_default_token_bucket.
 * - A limited request is counted (rate_limited); unless filter_enforced rolls true it goes on
 *   with request_headers_to_add_when_not_enforced, else it gets the local reply
 *   `local_rate_limited` (status default 429, response_headers_to_add, flag RL).
 * - With enable_x_ratelimit_headers, the response (the local reply included) carries the
 *   limit, remaining tokens and reset seconds of the bucket that decided.
 *
 * Buckets are proxy-wide (rate-limit/shared-bucket.ts), or per downstream connection with
 * local_rate_limit_per_downstream_connection. A request whose worker holds no leased token and
 * has no fresh answer from the primary waits for the lease in flight (decodeHeaders returns
 * 'stop', onBucketReady decides); a worker that knows the bucket is empty denies at once.
 */
import type { Socket } from 'node:net';
import type { RequestHeaderMap, ResponseHeaderMap } from '../../../http/header-map.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import {
  applyHeaderOption,
  compileHeaderOption,
  type CompiledHeaderOption,
  type MutableHeaders,
} from '../../../router/header-mutations.js';
import {
  descriptorKey,
  type DescriptorOptions,
  type DescriptorSource,
  type RateLimitDescriptor,
} from '../../../router/rate-limit-descriptors.js';
import type { RandomSource } from '../../../router/route-table.js';
import {
  TokenBucket,
  resetSeconds,
  type TokenBucketSpec,
} from '../../../rate-limit/token-bucket.js';
import {
  workerBuckets,
  type BucketWaiter,
  type SharedBuckets,
} from '../../../rate-limit/shared-bucket.js';
import type { CounterHandle } from '../../../stats/stats.js';
import { percentEnabled } from '../common/fractional-percent.js';
import { StreamFormatterContext } from '../common/request-headers.js';
import type {
  FilterCallbacks,
  FilterFactoryContext,
  FilterHeadersStatus,
  StreamFilter,
} from '../filter.js';
import type { LocalRateLimitModel } from './model.js';

export const LOCAL_RATE_LIMITED = 'local_rate_limited';
/** Envoy's local rate limit filter sets x-envoy-ratelimited on its 429, as the router does. */
const RATE_LIMITED_HEADERS: Readonly<Record<string, string>> = { 'x-envoy-ratelimited': 'true' };
/** gRPC RESOURCE_EXHAUSTED, for rate_limited_as_resource_exhausted. */
const GRPC_RESOURCE_EXHAUSTED = 8;

/** What the filter needs of a bucket: shared proxy-wide, or one connection's. */
export interface RateLimitBucket {
  readonly maxTokens: number;
  /** Whether consume() can decide now; if not, `waiter` hears when it can (shared buckets). */
  ready(waiter: BucketWaiter): boolean;
  consume(): boolean;
  remaining(): number;
  resetSeconds(): number;
}

/** A bucket of one downstream connection (local_rate_limit_per_downstream_connection). */
class ConnectionBucket implements RateLimitBucket {
  readonly #bucket: TokenBucket;
  constructor(spec: TokenBucketSpec) {
    this.#bucket = new TokenBucket(spec, performance.now());
  }
  get maxTokens(): number {
    return this.#bucket.maxTokens;
  }
  ready(): boolean {
    return true;
  }
  consume(): boolean {
    return this.#bucket.consume(performance.now());
  }
  remaining(): number {
    return this.#bucket.remaining(performance.now());
  }
  resetSeconds(): number {
    return resetSeconds(this.#bucket.msUntilNextToken(performance.now()));
  }
}

/** A limiter's buckets: the default one and one per configured descriptor. */
interface Buckets {
  readonly default: RateLimitBucket | undefined;
  /** By descriptorKey(entries). */
  readonly byDescriptor: ReadonlyMap<string, RateLimitBucket>;
}

/** What the filter uses of its factory context. */
export type LimiterContext = Pick<
  FilterFactoryContext,
  'stats' | 'listenerName' | 'localServiceCluster'
>;

interface LocalRateLimitStats {
  readonly enabled: CounterHandle;
  readonly enforced: CounterHandle;
  readonly rateLimited: CounterHandle;
  readonly ok: CounterHandle;
}

/** One LocalRateLimit (the filter's or a per-route one), compiled in a worker. */
export class CompiledLocalRateLimit {
  readonly model: LocalRateLimitModel;
  readonly stats: LocalRateLimitStats;
  readonly hasDescriptors: boolean;
  /** How the route's rate_limits become descriptors for this config. */
  readonly descriptorOptions: DescriptorOptions;
  readonly requestHeaders: readonly CompiledHeaderOption[];
  readonly responseHeaders: readonly CompiledHeaderOption[];
  readonly #shared: Buckets | undefined;
  /** Descriptor bucket specs by key, and their fill rates (for the spending order). */
  readonly #descriptorSpecs: ReadonlyMap<string, TokenBucketSpec>;
  readonly #fillRates: ReadonlyMap<string, number>;
  readonly #perConnection = new WeakMap<Socket, Buckets>();

  constructor(model: LocalRateLimitModel, context: LimiterContext, buckets: SharedBuckets) {
    this.model = model;
    const labels = { listener: context.listenerName, stat_prefix: model.statPrefix };
    this.stats = {
      enabled: context.stats.counter('http_local_rate_limit_enabled', labels),
      enforced: context.stats.counter('http_local_rate_limit_enforced', labels),
      rateLimited: context.stats.counter('http_local_rate_limit_rate_limited', labels),
      ok: context.stats.counter('http_local_rate_limit_ok', labels),
    };
    this.hasDescriptors = model.descriptors.length > 0;
    // Envoy's local filter leaves out rate_limits entries that have a disable_key.
    this.descriptorOptions = {
      stage: model.stage,
      vhRateLimits: model.vhRateLimits,
      skipEntriesWithDisableKey: true,
    };
    this.requestHeaders = model.requestHeadersToAddWhenNotEnforced.map(compileHeaderOption);
    this.responseHeaders = model.responseHeadersToAdd.map(compileHeaderOption);
    const specs = new Map<string, TokenBucketSpec>();
    const rates = new Map<string, number>();
    for (const d of model.descriptors) {
      const key = descriptorKey(d.entries);
      specs.set(key, d.tokenBucket);
      rates.set(key, d.tokenBucket.tokensPerFill / d.tokenBucket.fillIntervalMs);
    }
    this.#descriptorSpecs = specs;
    this.#fillRates = rates;
    if (!model.perConnection) {
      const id = model.bucketId;
      const byDescriptor = new Map<string, RateLimitBucket>();
      for (const [key, spec] of specs) byDescriptor.set(key, buckets.bucket(`${id}/${key}`, spec));
      this.#shared = {
        default: model.tokenBucket ? buckets.bucket(id, model.tokenBucket) : undefined,
        byDescriptor,
      };
    }
  }

  #buckets(socket: Socket): Buckets {
    if (this.#shared !== undefined) return this.#shared;
    let buckets = this.#perConnection.get(socket);
    if (buckets === undefined) {
      const byDescriptor = new Map<string, RateLimitBucket>();
      for (const [key, spec] of this.#descriptorSpecs)
        byDescriptor.set(key, new ConnectionBucket(spec));
      const spec = this.model.tokenBucket;
      buckets = { default: spec ? new ConnectionBucket(spec) : undefined, byDescriptor };
      this.#perConnection.set(socket, buckets);
    }
    return buckets;
  }

  /**
   * Envoy's requestAllowed: spends the matching descriptor buckets (lowest fill rate first),
   * then the default bucket when nothing matched or always_consume_default_token_bucket.
   * Returns the bucket that decided (undefined: none applied) and sets `out.state`; 'wait' when
   * a shared bucket cannot decide before its lease arrives (`waiter` then hears about it and
   * calls decide again).
   */
  decide(
    descriptors: readonly RateLimitDescriptor[],
    socket: Socket,
    waiter: BucketWaiter,
    out: { state: 'allowed' | 'limited' | 'wait' },
  ): RateLimitBucket | undefined {
    const buckets = this.#buckets(socket);
    let matched: { bucket: RateLimitBucket; rate: number }[] | undefined;
    for (const descriptor of descriptors) {
      const key = descriptorKey(descriptor);
      const bucket = buckets.byDescriptor.get(key);
      if (bucket !== undefined) (matched ??= []).push({ bucket, rate: this.#fillRates.get(key)! });
    }
    const fallback =
      matched === undefined || this.model.alwaysConsumeDefaultTokenBucket
        ? buckets.default
        : undefined;
    // Every bucket that will be spent must be able to decide now, or none is spent yet.
    let ready = fallback === undefined || fallback.ready(waiter);
    if (matched !== undefined) for (const m of matched) ready = m.bucket.ready(waiter) && ready;
    if (!ready) {
      out.state = 'wait';
      return undefined;
    }
    let first: RateLimitBucket | undefined;
    if (matched !== undefined) {
      if (matched.length > 1) matched.sort((a, b) => a.rate - b.rate);
      for (const { bucket } of matched) {
        if (!bucket.consume()) {
          out.state = 'limited';
          return bucket;
        }
      }
      first = matched[0]!.bucket;
    }
    if (fallback !== undefined && !fallback.consume()) {
      out.state = 'limited';
      return fallback;
    }
    out.state = 'allowed';
    return first ?? fallback;
  }
}

export interface LocalRateLimitOptions {
  /** filter_enabled / filter_enforced rolls (tests inject a sequence); default Math.random. */
  readonly random?: RandomSource;
  /** The buckets (tests use their own); default: the worker's, shared with the primary. */
  readonly buckets?: SharedBuckets;
}

/** Built once per HCM and config version; per-route configs are compiled on first use. */
export class LocalRateLimitFilter {
  readonly config: CompiledLocalRateLimit;
  readonly random: RandomSource;
  readonly localServiceCluster: string;
  readonly #context: LimiterContext;
  readonly #buckets: SharedBuckets;
  readonly #perRoute = new WeakMap<LocalRateLimitModel, CompiledLocalRateLimit>();

  constructor(
    model: LocalRateLimitModel,
    context: LimiterContext,
    options: LocalRateLimitOptions = {},
  ) {
    this.#context = context;
    this.#buckets = options.buckets ?? workerBuckets;
    this.random = options.random ?? Math.random;
    this.localServiceCluster = context.localServiceCluster ?? '';
    this.config = new CompiledLocalRateLimit(model, context, this.#buckets);
  }

  create(callbacks: FilterCallbacks): LocalRateLimitStreamFilter {
    return new LocalRateLimitStreamFilter(this, callbacks);
  }

  configFor(perRoute: unknown): CompiledLocalRateLimit {
    if (perRoute === undefined) return this.config;
    const model = perRoute as LocalRateLimitModel;
    let compiled = this.#perRoute.get(model);
    if (compiled === undefined) {
      compiled = new CompiledLocalRateLimit(model, this.#context, this.#buckets);
      this.#perRoute.set(model, compiled);
    }
    return compiled;
  }
}

export class LocalRateLimitStreamFilter implements StreamFilter, DescriptorSource, BucketWaiter {
  #config: CompiledLocalRateLimit | undefined;
  #bucket: RateLimitBucket | undefined;
  #headers: RequestHeaderMap | undefined;
  #descriptors: readonly RateLimitDescriptor[] = NO_DESCRIPTORS;
  /** Held for a lease (decodeHeaders returned 'stop'); cleared when decided or destroyed. */
  #waiting = false;

  constructor(
    private readonly filter: LocalRateLimitFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  // DescriptorSource, read while the descriptors are produced in decodeHeaders.
  get headers(): RequestHeaderMap {
    return this.#headers!;
  }
  get downstreamRemoteIp(): string {
    return this.callbacks.streamInfo.downstreamRemoteIp;
  }
  get clusterName(): string {
    return this.callbacks.route()?.clusterName ?? '';
  }
  get localServiceCluster(): string {
    return this.filter.localServiceCluster;
  }

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const config = (this.#config = this.filter.configFor(this.callbacks.perFilterConfig()));
    if (!percentEnabled(config.model.filterEnabled, this.filter.random)) return 'continue';
    config.stats.enabled.inc();
    this.#headers = headers;
    if (config.hasDescriptors) {
      const route = this.callbacks.route();
      if (route !== undefined)
        this.#descriptors = route.rateLimits.descriptors(this, config.descriptorOptions);
    }
    return this.#decide(false);
  }

  /** A bucket this request waits for got its lease. */
  onBucketReady(): void {
    if (this.#waiting) this.#decide(true);
  }

  onDestroy(): void {
    this.#waiting = false;
  }

  #decide(resumed: boolean): FilterHeadersStatus {
    const config = this.#config!;
    const decision = DECISION;
    this.#bucket = config.decide(
      this.#descriptors,
      this.callbacks.streamInfo.connection.socket,
      this,
      decision,
    );
    if (decision.state === 'wait') {
      this.#waiting = true;
      return 'stop';
    }
    this.#waiting = false;
    if (decision.state === 'allowed') {
      config.stats.ok.inc();
      if (resumed) this.callbacks.continueDecoding();
      return 'continue';
    }
    config.stats.rateLimited.inc();
    const model = config.model;
    const headers = this.#headers!;
    if (!percentEnabled(model.filterEnforced, this.filter.random)) {
      this.#applyHeaders(config.requestHeaders, headers, headers);
      if (resumed) this.callbacks.continueDecoding();
      return 'continue';
    }
    config.stats.enforced.inc();
    this.callbacks.sendLocalReply(model.status, LOCAL_RATE_LIMITED, {
      headers: RATE_LIMITED_HEADERS,
      flag: ResponseFlag.RATE_LIMITED,
      details: LOCAL_RATE_LIMITED,
      ...(model.rateLimitedAsResourceExhausted ? { grpcStatus: GRPC_RESOURCE_EXHAUSTED } : {}),
      ...(config.responseHeaders.length > 0
        ? {
            modifyHeaders: (reply: ResponseHeaderMap) =>
              this.#applyHeaders(config.responseHeaders, reply, headers),
          }
        : {}),
    });
    return 'stop';
  }

  encodeHeaders(headers: ResponseHeaderMap): FilterHeadersStatus {
    const bucket = this.#bucket;
    if (bucket !== undefined && this.#config!.model.xRateLimitHeaders) {
      headers.append('x-ratelimit-limit', String(bucket.maxTokens));
      headers.append('x-ratelimit-remaining', String(bucket.remaining()));
      headers.append('x-ratelimit-reset', String(bucket.resetSeconds()));
    }
    return 'continue';
  }

  #applyHeaders(
    options: readonly CompiledHeaderOption[],
    target: MutableHeaders,
    request: RequestHeaderMap,
  ): void {
    if (options.length === 0) return;
    const ctx = new StreamFormatterContext(this.callbacks.streamInfo, request);
    for (const option of options) applyHeaderOption(option, target, ctx);
  }
}

const NO_DESCRIPTORS: readonly RateLimitDescriptor[] = Object.freeze([]);

/** decide()'s answer, read right after the call (decisions are synchronous): no object per request. */
const DECISION: { state: 'allowed' | 'limited' | 'wait' } = { state: 'allowed' };
