/**
 * The per-request side of envoy.filters.http.cors (Envoy's cors_filter.cc), for requests routed
 * to a cluster (redirect and direct_response routes, and unrouted requests, pass untouched).
 *
 * Policies: every level's CorsPolicy (typed_per_filter_config), most specific first, else the
 * deprecated inline `cors` of the route's action then of its virtual host. Each field is taken from the
 * most specific policy that sets it; filter_enabled / shadow_enabled from the most specific
 * policy only.
 *
 * With an `Origin` header, the filter checks it against allow_origin_string_match:
 * - shadow only (filter_enabled off, shadow_enabled on): nothing else happens;
 * - a preflight (OPTIONS with access-control-request-method) is answered 200 here with the
 *   policy's access-control-* headers (details cors_response), unless the origin is not allowed
 *   and forward_not_matching_preflights (default true) sends it upstream;
 * - any other request from an allowed origin gets access-control-allow-origin (the request's
 *   origin), -allow-credentials and -expose-headers on its response.
 * Like Envoy, no `Vary: Origin` is added (Envoy's cors filter leaves Vary alone; responses that
 * echo the origin and are cached by a shared cache need the upstream to send it).
 */
import type { CorsPolicyModel } from '../../../config/model.js';
import { ResponseHeaderMap, type RequestHeaderMap } from '../../../http/header-map.js';
import type { RandomSource } from '../../../router/route-table.js';
import { compileStringMatcher, type StringPredicate } from '../../../router/route-match.js';
import { percentEnabled } from '../common/fractional-percent.js';
import type { CounterHandle } from '../../../stats/stats.js';
import type {
  FilterCallbacks,
  FilterFactoryContext,
  FilterHeadersStatus,
  StreamFilter,
} from '../filter.js';

export const CORS_RESPONSE_DETAILS = 'cors_response';

export const CorsHeader = {
  ORIGIN: 'origin',
  REQUEST_METHOD: 'access-control-request-method',
  REQUEST_HEADERS: 'access-control-request-headers',
  REQUEST_PRIVATE_NETWORK: 'access-control-request-private-network',
  ALLOW_ORIGIN: 'access-control-allow-origin',
  ALLOW_CREDENTIALS: 'access-control-allow-credentials',
  ALLOW_METHODS: 'access-control-allow-methods',
  ALLOW_HEADERS: 'access-control-allow-headers',
  MAX_AGE: 'access-control-max-age',
  EXPOSE_HEADERS: 'access-control-expose-headers',
  ALLOW_PRIVATE_NETWORK: 'access-control-allow-private-network',
} as const;

const NO_POLICIES: readonly CorsPolicyModel[] = [];

/** Built once per HCM and config version; compiles each policy's origin matchers once. */
export class CorsFilter {
  readonly random: RandomSource;
  /** Envoy's cors.origin_valid / origin_invalid (requests with an Origin only). */
  readonly originValid: CounterHandle;
  readonly originInvalid: CounterHandle;
  readonly #origins = new WeakMap<CorsPolicyModel, readonly StringPredicate[]>();

  constructor(
    context: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'listenerName'>,
    random: RandomSource = Math.random,
  ) {
    this.random = random;
    const labels = { listener: context.listenerName, stat_prefix: context.statPrefix };
    this.originValid = context.stats.counter('cors_origin_valid', labels);
    this.originInvalid = context.stats.counter('cors_origin_invalid', labels);
  }

  create(callbacks: FilterCallbacks): CorsStreamFilter {
    return new CorsStreamFilter(this, callbacks);
  }

  originMatchers(policy: CorsPolicyModel): readonly StringPredicate[] {
    let matchers = this.#origins.get(policy);
    if (matchers === undefined) {
      matchers = policy.allowOriginStringMatch.map((m) => compileStringMatcher(m));
      this.#origins.set(policy, matchers);
    }
    return matchers;
  }
}

function firstString(
  policies: readonly CorsPolicyModel[],
  field: 'allowMethods' | 'allowHeaders' | 'exposeHeaders' | 'maxAge',
): string {
  for (const policy of policies) if (policy[field] !== '') return policy[field];
  return '';
}

function firstBool(
  policies: readonly CorsPolicyModel[],
  field: 'allowCredentials' | 'allowPrivateNetworkAccess' | 'forwardNotMatchingPreflights',
  fallback: boolean,
): boolean {
  for (const policy of policies) {
    const value = policy[field];
    if (value !== undefined) return value;
  }
  return fallback;
}

export class CorsStreamFilter implements StreamFilter {
  #policies: readonly CorsPolicyModel[] = NO_POLICIES;
  /** The allowed request origin, echoed on the response. */
  #latchedOrigin: string | undefined;
  #isCorsRequest = false;

  constructor(
    private readonly filter: CorsFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const route = this.callbacks.route();
    if (route === undefined || route.action.kind !== 'route') return 'continue';
    const policies = this.#initPolicies();
    const policy = policies[0];
    if (policy === undefined) return 'continue';
    const random = this.filter.random;
    const enabled =
      policy.filterEnabled === undefined || percentEnabled(policy.filterEnabled, random);
    const shadow =
      policy.shadowEnabled !== undefined && percentEnabled(policy.shadowEnabled, random);
    if (!enabled && !shadow) return 'continue';
    const origin = headers.get(CorsHeader.ORIGIN);
    if (origin === undefined || origin === '') return 'continue';
    const allowed = this.#originAllowed(origin);
    if (allowed) {
      this.filter.originValid.inc();
      this.#latchedOrigin = origin;
    } else {
      this.filter.originInvalid.inc();
    }
    if (!enabled) return 'continue';
    this.#isCorsRequest = true;
    if (headers.method !== 'OPTIONS') return 'continue';
    const requestMethod = headers.get(CorsHeader.REQUEST_METHOD);
    if (requestMethod === undefined || requestMethod === '') return 'continue';
    if (!allowed && firstBool(policies, 'forwardNotMatchingPreflights', true)) return 'continue';
    this.#answerPreflight(headers, allowed ? origin : undefined, requestMethod);
    return 'stop';
  }

  encodeHeaders(headers: ResponseHeaderMap): FilterHeadersStatus {
    const origin = this.#latchedOrigin;
    if (!this.#isCorsRequest || origin === undefined) return 'continue';
    headers.set(CorsHeader.ALLOW_ORIGIN, origin);
    if (firstBool(this.#policies, 'allowCredentials', false))
      headers.set(CorsHeader.ALLOW_CREDENTIALS, 'true');
    const expose = firstString(this.#policies, 'exposeHeaders');
    if (expose !== '') headers.set(CorsHeader.EXPOSE_HEADERS, expose);
    return 'continue';
  }

  #initPolicies(): readonly CorsPolicyModel[] {
    const route = this.callbacks.route()!;
    let policies = route.perFilterConfigs(this.callbacks.name) as readonly CorsPolicyModel[];
    if (policies.length === 0) {
      // Envoy reads the deprecated inline policies only when no level has a typed one.
      const action = route.action.kind === 'route' ? route.action : undefined;
      const inline = [action?.cors, route.virtualHost.cors].filter(
        (p): p is CorsPolicyModel => p !== undefined,
      );
      policies = inline.length > 0 ? inline : NO_POLICIES;
    }
    this.#policies = policies;
    return policies;
  }

  #originAllowed(origin: string): boolean {
    for (const policy of this.#policies) {
      if (policy.allowOriginStringMatch.length === 0) continue;
      // The most specific policy that lists origins decides.
      return this.filter.originMatchers(policy).some((match) => match('*') || match(origin));
    }
    return false;
  }

  #answerPreflight(request: RequestHeaderMap, origin: string | undefined, method: string): void {
    const policies = this.#policies;
    const response = new ResponseHeaderMap(200);
    if (origin !== undefined) response.set(CorsHeader.ALLOW_ORIGIN, origin);
    if (firstBool(policies, 'allowCredentials', false))
      response.set(CorsHeader.ALLOW_CREDENTIALS, 'true');
    const allowMethods = firstString(policies, 'allowMethods');
    if (allowMethods !== '')
      response.set(CorsHeader.ALLOW_METHODS, allowMethods === '*' ? method : allowMethods);
    const allowHeaders = firstString(policies, 'allowHeaders');
    if (allowHeaders !== '')
      response.set(
        CorsHeader.ALLOW_HEADERS,
        allowHeaders === '*' ? (request.get(CorsHeader.REQUEST_HEADERS) ?? '') : allowHeaders,
      );
    const maxAge = firstString(policies, 'maxAge');
    if (maxAge !== '') response.set(CorsHeader.MAX_AGE, maxAge);
    if (
      firstBool(policies, 'allowPrivateNetworkAccess', false) &&
      request.get(CorsHeader.REQUEST_PRIVATE_NETWORK) === 'true'
    )
      response.set(CorsHeader.ALLOW_PRIVATE_NETWORK, 'true');
    this.callbacks.streamInfo.responseCodeDetails = CORS_RESPONSE_DETAILS;
    this.callbacks.encodeHeaders(response, true);
  }
}
