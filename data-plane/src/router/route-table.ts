/**
 * The compiled form of a RouteConfigModel: virtual host selection, route matching in order, the
 * route action (cluster choice, rewrites, redirect) and header mutations. Built once per config
 * (in each worker, see config/model.ts) and immutable; the connection manager calls `match()` once per request.
 *
 * Per-request cost: one Map probe for the virtual host, then the routes' precompiled predicates
 * in order. Results are preallocated per route (and per weighted cluster entry), so a match
 * allocates nothing except for cluster_header routes.
 */
import { fail, ok, type Result } from '@ferry/proto';
import type {
  ForwardActionModel,
  PerFilterConfigModel,
  PerFilterConfigsModel,
  RouteActionModel,
  RouteConfigModel,
  RouteModel,
  VirtualHostModel,
  WeightedClusterModel,
} from '../config/model.js';
import {
  CompiledHeaderMutations,
  HeaderMutationChain,
  type HeaderFormatterContext,
  type HeaderLookup,
  type MutableHeaders,
} from './header-mutations.js';
import {
  compileHeaderMatcher,
  compileQueryParameterMatcher,
  isGrpcContentType,
  PathMatcher,
  pathEndIndex,
} from './route-match.js';
import { PerFilterConfigIndex } from './per-filter-config.js';
import { PathRewriter, RedirectBuilder, type MatchedPart } from './rewrite.js';
import { RateLimitPolicy, RouteRateLimits } from './rate-limit-descriptors.js';
import { VirtualHostIndex } from './virtual-host-index.js';

export interface RouteRequest {
  /** Host / :authority as received, port kept (lower-cased by the caller; match() folds anyway). */
  readonly authority: string;
  /** Path and query as received (`/a/b?x=1`); matching ignores the query. */
  readonly path: string;
  readonly method: string;
  readonly headers: HeaderLookup;
}

/** Returns a number in [0, 1), like Math.random (tests inject a deterministic sequence). */
export type RandomSource = () => number;

export interface RouteMatchResult {
  readonly virtualHost: VirtualHostModel;
  readonly route: RouteModel;
  readonly action: RouteActionModel;
  /**
   * Forward routes: the cluster to use; undefined when a cluster_header route's header is absent
   * or empty (Envoy answers 503 with response flag NC). Redirect and direct_response: undefined.
   */
  readonly clusterName: string | undefined;
  /** The weighted_clusters entry picked, when the route splits traffic. */
  readonly weightedCluster: WeightedClusterModel | undefined;
  /** True when the Host header must become the chosen upstream host's hostname. */
  readonly autoHostRewrite: boolean;
  /** True when the route has request or response header mutations at any level. */
  readonly hasHeaderMutations: boolean;
  /**
   * The route's and its virtual host's rate_limits, compiled (router/rate-limit-descriptors.ts);
   * RouteRateLimits.NONE for redirect and direct_response routes.
   */
  readonly rateLimits: RouteRateLimits;
  /** The path (with query) to send upstream after prefix_rewrite/regex_rewrite. */
  rewritePath(path: string): string;
  /** host_rewrite_literal, or host_rewrite_header's value when present and non-empty. */
  hostRewrite(headers: HeaderLookup): string | undefined;
  /** Redirect routes: the Location value; `scheme` is the request's x-forwarded-proto. */
  redirectLocation(req: RouteRequest, scheme: string): string;
  applyRequestHeaders(headers: MutableHeaders, ctx: HeaderFormatterContext): void;
  applyResponseHeaders(headers: MutableHeaders, ctx: HeaderFormatterContext): void;
  /**
   * The typed_per_filter_config entry for the HttpFilter named `filterName` that decides for this
   * route: `disabled` from the most specific entry (weighted cluster > route > virtual host >
   * route configuration), `config` from the most specific entry that has one (Envoy's
   * mostSpecificPerFilterConfig skips enable/disable-only entries). Undefined: no level has an
   * entry. Precomputed: no allocation per call.
   */
  perFilterConfig(filterName: string): PerFilterConfigModel | undefined;
  /** Every level's config for `filterName`, most specific first (entries without config skipped). */
  perFilterConfigs(filterName: string): readonly unknown[];
  /**
   * What `build(this, key)` returns, built on the first call for `key` and kept with this
   * selection, which lives as long as its route table (a cluster_header route's selection is
   * per request). The HTTP filter manager keeps each filter chain's per-route plan here, so that
   * per-route filter configs are resolved once per route, not per request. `build` must be pure.
   */
  memo<K extends object, V>(key: K, build: (selection: RouteMatchResult, key: K) => V): V;
}

export interface RouteTable {
  readonly name: string;
  match(req: RouteRequest): RouteMatchResult | undefined;
}

export interface RouteTableOptions {
  /** Random source for weighted_clusters (default Math.random). */
  readonly random?: RandomSource;
}

class RouteSelection implements RouteMatchResult {
  readonly virtualHost: VirtualHostModel;
  readonly route: RouteModel;
  readonly action: RouteActionModel;
  readonly clusterName: string | undefined;
  readonly weightedCluster: WeightedClusterModel | undefined;
  readonly autoHostRewrite: boolean;
  readonly hasHeaderMutations: boolean;
  readonly rateLimits: RouteRateLimits;
  private readonly compiled: CompiledRoute;
  private readonly mutations: HeaderMutationChain;
  private readonly filterConfigs: PerFilterConfigIndex;
  /** memo(): the last key used and its value (one HCM per route table is the usual case). */
  #memoKey: object | undefined;
  #memoValue: unknown;
  #memoAll: WeakMap<object, unknown> | undefined;

  constructor(
    compiled: CompiledRoute,
    clusterName: string | undefined,
    weightedCluster: WeightedClusterModel | undefined,
    mutations: HeaderMutationChain,
    filterConfigs: PerFilterConfigIndex,
  ) {
    this.compiled = compiled;
    this.virtualHost = compiled.virtualHost;
    this.route = compiled.route;
    this.action = compiled.route.action;
    this.clusterName = clusterName;
    this.weightedCluster = weightedCluster;
    this.autoHostRewrite = this.action.kind === 'route' && this.action.autoHostRewrite;
    this.mutations = mutations;
    this.hasHeaderMutations = !mutations.empty;
    this.rateLimits = compiled.rateLimits;
    this.filterConfigs = filterConfigs;
  }

  perFilterConfig(filterName: string): PerFilterConfigModel | undefined {
    return this.filterConfigs.resolved(filterName);
  }

  perFilterConfigs(filterName: string): readonly unknown[] {
    return this.filterConfigs.configs(filterName);
  }

  memo<K extends object, V>(key: K, build: (selection: RouteMatchResult, key: K) => V): V {
    const slotKey = this.#memoKey;
    if (slotKey === key) return this.#memoValue as V;
    if (slotKey === undefined) {
      // The first key (a cluster_header route's per-request selection never sees a second).
      this.#memoKey = key;
      return (this.#memoValue = build(this, key));
    }
    // A route table outlives config applies (it is reused while its model is unchanged), so
    // keys come and go: every key's value is held weakly, the last one used also in the slot.
    const all = (this.#memoAll ??= new WeakMap([[slotKey, this.#memoValue]]));
    let value = all.get(key) as V | undefined;
    if (value === undefined) {
      value = build(this, key);
      all.set(key, value);
    }
    this.#memoKey = key;
    this.#memoValue = value;
    return value;
  }

  rewritePath(path: string): string {
    const rewriter = this.compiled.rewriter;
    return rewriter.active ? rewriter.rewrite(path, pathEndIndex(path)) : path;
  }

  hostRewrite(headers: HeaderLookup): string | undefined {
    const action = this.action;
    if (action.kind !== 'route') return undefined;
    if (action.hostRewriteLiteral !== undefined) return action.hostRewriteLiteral;
    if (action.hostRewriteHeader !== undefined) {
      const value = headers.get(this.compiled.hostRewriteHeader!);
      return value === undefined || value === '' ? undefined : value;
    }
    return undefined;
  }

  redirectLocation(req: RouteRequest, scheme: string): string {
    const redirect = this.compiled.redirect;
    if (redirect === undefined) throw new Error(`route "${this.route.name}" is not a redirect`);
    return redirect.location(req.authority, req.path, pathEndIndex(req.path), scheme);
  }

  applyRequestHeaders(headers: MutableHeaders, ctx: HeaderFormatterContext): void {
    this.mutations.applyRequest(headers, ctx);
  }

  applyResponseHeaders(headers: MutableHeaders, ctx: HeaderFormatterContext): void {
    this.mutations.applyResponse(headers, ctx);
  }
}

function matchedPart(route: RouteModel): MatchedPart {
  const kind = route.match.kind;
  return kind === 'prefix' || kind === 'path_separated_prefix'
    ? { kind: 'prefix', length: route.match.value.length }
    : { kind: 'whole' };
}

class CompiledRoute {
  readonly virtualHost: VirtualHostModel;
  readonly route: RouteModel;
  readonly path: PathMatcher;
  readonly rewriter: PathRewriter;
  readonly redirect: RedirectBuilder | undefined;
  readonly hostRewriteHeader: string | undefined;
  readonly rateLimits: RouteRateLimits;
  private readonly headerMatchers: readonly ((headers: HeaderLookup) => boolean)[];
  private readonly queryMatchers: readonly ((query: string) => boolean)[];
  private readonly grpc: boolean;
  private readonly random: RandomSource;
  /** The selection to return, unless weighted or cluster_header. */
  private readonly fixed: RouteSelection | undefined;
  private readonly weighted: readonly RouteSelection[];
  private readonly weightedUpperBounds: readonly number[];
  private readonly weightTotal: number;
  private readonly clusterHeader: string | undefined;
  private readonly routeLevels: readonly CompiledHeaderMutations[];
  private readonly routeChainForHeader: HeaderMutationChain;
  private readonly routeFilterConfigs: PerFilterConfigIndex;

  constructor(
    virtualHost: VirtualHostModel,
    route: RouteModel,
    outerLevels: readonly CompiledHeaderMutations[],
    outerFilterConfigs: readonly (PerFilterConfigsModel | undefined)[],
    mostSpecificWins: boolean,
    random: RandomSource,
    virtualHostRateLimits: RateLimitPolicy,
  ) {
    this.virtualHost = virtualHost;
    this.route = route;
    this.random = random;
    this.path = new PathMatcher(route.match);
    this.headerMatchers = route.match.headers.map(compileHeaderMatcher);
    this.queryMatchers = route.match.queryParameters.map(compileQueryParameterMatcher);
    this.grpc = route.match.grpc;
    this.routeLevels = [new CompiledHeaderMutations(route), ...outerLevels];
    const action = route.action;
    const forward: ForwardActionModel | undefined = action.kind === 'route' ? action : undefined;
    this.rewriter = new PathRewriter(
      forward?.prefixRewrite,
      forward?.regexRewrite,
      matchedPart(route),
    );
    this.redirect =
      action.kind === 'redirect' ? new RedirectBuilder(action, matchedPart(route)) : undefined;
    this.hostRewriteHeader = forward?.hostRewriteHeader?.toLowerCase();
    this.clusterHeader = forward?.clusterHeader?.toLowerCase();
    this.rateLimits =
      forward === undefined
        ? RouteRateLimits.NONE
        : new RouteRateLimits(
            RateLimitPolicy.compile(forward.rateLimits),
            virtualHostRateLimits,
            forward.includeVhRateLimits === true,
          );

    const routeChain = new HeaderMutationChain(this.routeLevels, mostSpecificWins);
    const routeFilterLevels = [route.typedPerFilterConfig, ...outerFilterConfigs];
    const routeFilterConfigs = PerFilterConfigIndex.of(routeFilterLevels);
    const weighted: RouteSelection[] = [];
    const bounds: number[] = [];
    let total = 0;
    for (const entry of forward?.weightedClusters ?? []) {
      if (entry.weight <= 0) continue;
      total += entry.weight;
      bounds.push(total);
      const chain = new HeaderMutationChain(
        [new CompiledHeaderMutations(entry.mutations), ...this.routeLevels],
        mostSpecificWins,
      );
      const filterConfigs =
        entry.typedPerFilterConfig === undefined
          ? routeFilterConfigs
          : PerFilterConfigIndex.of([entry.typedPerFilterConfig, ...routeFilterLevels]);
      weighted.push(new RouteSelection(this, entry.name, entry, chain, filterConfigs));
    }
    this.weighted = weighted;
    this.weightedUpperBounds = bounds;
    this.weightTotal = total;
    if (forward === undefined)
      this.fixed = new RouteSelection(this, undefined, undefined, routeChain, routeFilterConfigs);
    else if (forward.cluster !== undefined)
      this.fixed = new RouteSelection(
        this,
        forward.cluster,
        undefined,
        routeChain,
        routeFilterConfigs,
      );
    else this.fixed = undefined;
    this.routeChainForHeader = routeChain;
    this.routeFilterConfigs = routeFilterConfigs;
  }

  /** Everything but the path (checked first by the caller, it is the cheapest filter). */
  matchesRest(req: RouteRequest, path: string, pathEnd: number): boolean {
    if (this.grpc && !isGrpcContentType(req.headers.get('content-type'))) return false;
    for (const matcher of this.headerMatchers) if (!matcher(req.headers)) return false;
    if (this.queryMatchers.length > 0) {
      let query = '';
      if (pathEnd < path.length && path.charCodeAt(pathEnd) === 0x3f) {
        const fragment = path.indexOf('#', pathEnd);
        query = path.slice(pathEnd + 1, fragment < 0 ? path.length : fragment);
      }
      for (const matcher of this.queryMatchers) if (!matcher(query)) return false;
    }
    return true;
  }

  select(req: RouteRequest): RouteSelection {
    if (this.fixed !== undefined) return this.fixed;
    if (this.weighted.length > 0) {
      // Envoy: random % total_weight, then the first entry whose cumulative weight exceeds it.
      const value = Math.floor(this.random() * this.weightTotal);
      const bounds = this.weightedUpperBounds;
      for (let i = 0; i < bounds.length; i++) if (value < bounds[i]!) return this.weighted[i]!;
      return this.weighted[this.weighted.length - 1]!;
    }
    const name = req.headers.get(this.clusterHeader!);
    return new RouteSelection(
      this,
      name === '' ? undefined : name,
      undefined,
      this.routeChainForHeader,
      this.routeFilterConfigs,
    );
  }
}

interface CompiledVirtualHost {
  readonly routes: readonly CompiledRoute[];
}

class CompiledRouteTable implements RouteTable {
  readonly name: string;
  private readonly index: VirtualHostIndex<CompiledVirtualHost>;

  constructor(name: string, index: VirtualHostIndex<CompiledVirtualHost>) {
    this.name = name;
    this.index = index;
  }

  match(req: RouteRequest): RouteMatchResult | undefined {
    const vhost = this.index.find(req.authority);
    if (vhost === undefined) return undefined;
    const path = req.path;
    const pathEnd = pathEndIndex(path);
    let lowerPath: string | undefined;
    for (const route of vhost.routes) {
      const matcher = route.path;
      if (matcher.needsLowerPath && lowerPath === undefined) lowerPath = path.toLowerCase();
      if (matcher.matches(path, pathEnd, lowerPath) && route.matchesRest(req, path, pathEnd)) {
        return route.select(req);
      }
    }
    return undefined;
  }
}

function compileVirtualHost(
  vh: VirtualHostModel,
  configLevel: CompiledHeaderMutations,
  configFilterConfigs: PerFilterConfigsModel | undefined,
  mostSpecificWins: boolean,
  random: RandomSource,
  errors: string[] | undefined,
  path: string,
): CompiledVirtualHost {
  const outer = [new CompiledHeaderMutations(vh), configLevel];
  const outerFilterConfigs = [vh.typedPerFilterConfig, configFilterConfigs];
  const routes: CompiledRoute[] = [];
  let vhRateLimits = RateLimitPolicy.EMPTY;
  try {
    vhRateLimits = RateLimitPolicy.compile(vh.rateLimits);
  } catch (error) {
    if (errors === undefined) throw error;
    errors.push(`${path}.rate_limits: ${(error as Error).message}`);
  }
  vh.routes.forEach((route, i) => {
    try {
      routes.push(
        new CompiledRoute(
          vh,
          route,
          outer,
          outerFilterConfigs,
          mostSpecificWins,
          random,
          vhRateLimits,
        ),
      );
    } catch (error) {
      if (errors === undefined) throw error;
      errors.push(`${path}.routes[${i}]: ${(error as Error).message}`);
    }
  });
  return { routes };
}

function build(
  model: RouteConfigModel,
  options: RouteTableOptions,
  errors: string[] | undefined,
): CompiledRouteTable {
  const random = options.random ?? Math.random;
  const mostSpecificWins = model.mostSpecificHeaderMutationsWins === true;
  const configLevel = new CompiledHeaderMutations(model);
  const entries = model.virtualHosts.map((vh, i) => ({
    domains: vh.domains,
    value: compileVirtualHost(
      vh,
      configLevel,
      model.typedPerFilterConfig,
      mostSpecificWins,
      random,
      errors,
      `virtual_hosts[${i}]`,
    ),
  }));
  return new CompiledRouteTable(
    model.name,
    new VirtualHostIndex(entries, model.ignorePortInHostMatching === true),
  );
}

/**
 * Compiles a route configuration. The model is expected to be valid (translation checked it);
 * a regex or formatter that does not compile throws. Use checkRouteConfig to get errors instead.
 */
export function compileRouteConfig(
  model: RouteConfigModel,
  options: RouteTableOptions = {},
): RouteTable {
  return build(model, options, undefined);
}

/** Like compileRouteConfig, but collects errors with field paths (`virtual_hosts[0].routes[2]: ...`). */
export function checkRouteConfig(
  model: RouteConfigModel,
  options: RouteTableOptions = {},
): Result<RouteTable> {
  const errors: string[] = [];
  let table: RouteTable;
  try {
    table = build(model, options, errors);
  } catch (error) {
    errors.push((error as Error).message);
    return fail(errors);
  }
  return errors.length > 0 ? fail(errors) : ok(table);
}
