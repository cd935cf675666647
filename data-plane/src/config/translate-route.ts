/**
 * RouteConfiguration (from RDS, or inline in an HttpConnectionManager) → RouteConfigModel:
 * virtual hosts, routes and their matches. Actions are in translate-route-action.ts.
 */
import {
  asObject,
  bool,
  checkFields,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  strings,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import {
  DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES,
  directResponseAction,
  forwardAction,
  redirectAction,
  retryPolicy,
  type ClusterReference,
  type RouteContext,
} from './translate-route-action.js';
import {
  HEADER_MUTATION_FIELDS,
  headerMatcher,
  headerMutations,
  queryParameterMatcher,
  regexPattern,
} from './translate-matchers.js';
import { translateRouteTracing } from './translate-tracing.js';
import {
  PER_FILTER_CONFIG_SPECS,
  TYPED_PER_FILTER_CONFIG_NOTE,
  typedPerFilterConfig,
} from './translate-per-filter-config.js';
import {
  INLINE_CORS_NOTE,
  INLINE_CORS_SPECS,
  inlineCorsPolicy,
} from '../filters/http/cors/config.js';
import { RATE_LIMITS_NOTE, rateLimits } from './translate-rate-limits.js';
import type {
  CorsPolicyModel,
  RouteActionModel,
  RouteConfigModel,
  RouteMatchModel,
  RouteModel,
  VirtualHostModel,
} from './model.js';

const ROUTE_CONFIG_SPEC = messageSpec('envoy.config.route.v3.RouteConfiguration', {
  name: 'RDS name',
  virtual_hosts: 'virtual hosts',
  ...HEADER_MUTATION_FIELDS,
  validate_clusters:
    'routes naming unknown clusters are rejected (default true for inline route_config, false for RDS)',
  max_direct_response_body_size_bytes: 'default 4096',
  most_specific_header_mutations_wins: 'default false (route configuration level applied last)',
  ignore_port_in_host_matching: 'default false',
  metadata: 'accepted, no effect',
  typed_per_filter_config: TYPED_PER_FILTER_CONFIG_NOTE,
});

const VIRTUAL_HOST_SPEC = messageSpec('envoy.config.route.v3.VirtualHost', {
  name: 'label only',
  domains: 'exact, *.suffix / *suffix, prefix*, * (lower-cased; a port must match when given)',
  routes: 'first match wins',
  require_tls: 'NONE, EXTERNAL_ONLY, ALL (redirect to https)',
  ...HEADER_MUTATION_FIELDS,
  retry_policy: 'default retry policy for routes without one',
  metadata: 'accepted, no effect',
  typed_per_filter_config: TYPED_PER_FILTER_CONFIG_NOTE,
  cors: INLINE_CORS_NOTE,
  rate_limits: RATE_LIMITS_NOTE,
});

const ROUTE_SPEC = messageSpec('envoy.config.route.v3.Route', {
  name: 'label (stats, logs)',
  match: 'see RouteMatch',
  route: 'forward (see RouteAction)',
  redirect: 'redirect (see RedirectAction)',
  direct_response: 'fixed response (see DirectResponseAction)',
  ...HEADER_MUTATION_FIELDS,
  metadata: 'accepted, no effect',
  stat_prefix: 'accepted (stats naming only)',
  tracing: 'sampling overrides and custom tags (see Tracing)',
  typed_per_filter_config: TYPED_PER_FILTER_CONFIG_NOTE,
});

const ROUTE_MATCH_SPEC = messageSpec('envoy.config.route.v3.RouteMatch', {
  prefix: 'path prefix',
  path: 'exact path',
  safe_regex: 'RE2 regex on the whole path (without query)',
  path_separated_prefix: 'prefix ending at a / boundary',
  case_sensitive: 'default true',
  headers: 'all must match',
  query_parameters: 'all must match',
  grpc: 'only gRPC requests (content-type application/grpc*)',
});

const GRPC_MATCH_SPEC = messageSpec('envoy.config.route.v3.RouteMatch.GrpcRouteMatchOptions', {});

export const ROUTE_SPECS: readonly MessageSpec[] = [
  ROUTE_CONFIG_SPEC,
  VIRTUAL_HOST_SPEC,
  ROUTE_SPEC,
  ROUTE_MATCH_SPEC,
  GRPC_MATCH_SPEC,
  ...PER_FILTER_CONFIG_SPECS,
  ...INLINE_CORS_SPECS,
];

export interface RouteConfigOptions {
  /** validate_clusters when the resource leaves it unset (Envoy: true inline, false via RDS). */
  readonly validateClustersDefault: boolean;
  /** Known cluster names; when given and validation applies, unknown names are errors. */
  readonly clusterNames?: ReadonlySet<string>;
}

export function translateRouteConfig(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: RouteConfigOptions,
): RouteConfigModel {
  checkFields(obj, ROUTE_CONFIG_SPEC, path, issues);
  const ctx: RouteContext = {
    issues,
    clusterRefs: [],
    maxDirectResponseBodyBytes: int(
      obj.max_direct_response_body_size_bytes,
      DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES,
    ),
  };
  const seenDomains = new Map<string, string>();
  const virtualHosts = objectsOf(obj, 'virtual_hosts', path).map(([vh, vhPath]) => {
    const model = virtualHost(vh, vhPath, ctx);
    model.domains.forEach((domain, i) => {
      const first = seenDomains.get(domain);
      // Envoy: "Only unique values for domains are permitted" across a route configuration.
      if (first !== undefined)
        issues.add(
          join(join(vhPath, 'domains'), i),
          `${JSON.stringify(domain)} is already used by ${first}`,
        );
      else seenDomains.set(domain, `virtual host ${JSON.stringify(model.name)}`);
    });
    return model;
  });
  if (bool(obj.validate_clusters, options.validateClustersDefault) && options.clusterNames)
    checkClusterRefs(ctx.clusterRefs, options.clusterNames, issues);
  return {
    name: str(obj.name),
    virtualHosts,
    ...headerMutations(obj, path, issues),
    ...(bool(obj.most_specific_header_mutations_wins, false)
      ? { mostSpecificHeaderMutationsWins: true }
      : {}),
    ...(bool(obj.ignore_port_in_host_matching, false) ? { ignorePortInHostMatching: true } : {}),
    ...typedPerFilterConfig(obj, path, issues),
  };
}

function checkClusterRefs(
  refs: readonly ClusterReference[],
  known: ReadonlySet<string>,
  issues: Issues,
): void {
  for (const ref of refs) {
    if (!known.has(ref.name))
      issues.add(
        ref.path,
        `unknown cluster ${JSON.stringify(ref.name)} (validate_clusters is on; set it to false to allow clusters that arrive later)`,
      );
  }
}

const REQUIRE_TLS = ['NONE', 'EXTERNAL_ONLY', 'ALL'] as const;

function virtualHost(obj: JsonObject, path: string, ctx: RouteContext): VirtualHostModel {
  const { issues } = ctx;
  checkFields(obj, VIRTUAL_HOST_SPEC, path, issues);
  const retry = asObject(obj.retry_policy);
  const requireTls = str(obj.require_tls, 'NONE');
  const limits = rateLimits(obj, path, issues);
  return {
    name: str(obj.name),
    domains: strings(obj.domains).map((d) => d.toLowerCase()),
    routes: objectsOf(obj, 'routes', path).map(([r, p]) => route(r, p, ctx)),
    ...(retry ? { retryPolicy: retryPolicy(retry, join(path, 'retry_policy'), issues) } : {}),
    requireTls: (REQUIRE_TLS as readonly string[]).includes(requireTls)
      ? (requireTls as VirtualHostModel['requireTls'])
      : 'NONE',
    ...headerMutations(obj, path, issues),
    ...typedPerFilterConfig(obj, path, issues),
    ...inlineCors(obj, path, issues),
    ...(limits ? { rateLimits: limits } : {}),
  };
}

/** The deprecated inline `cors` of a VirtualHost or RouteAction. */
export function inlineCors(
  obj: JsonObject,
  path: string,
  issues: Issues,
): { cors?: CorsPolicyModel } {
  const cors = asObject(obj.cors);
  return cors ? { cors: inlineCorsPolicy(cors, join(path, 'cors'), issues) } : {};
}

function route(obj: JsonObject, path: string, ctx: RouteContext): RouteModel {
  const { issues } = ctx;
  checkFields(obj, ROUTE_SPEC, path, issues);
  let action: RouteActionModel;
  const forward = asObject(obj.route);
  const redirect = asObject(obj.redirect);
  const direct = asObject(obj.direct_response);
  if (forward) action = forwardAction(forward, join(path, 'route'), ctx);
  else if (redirect) action = redirectAction(redirect, join(path, 'redirect'), issues);
  else if (direct) action = directResponseAction(direct, join(path, 'direct_response'), ctx);
  else {
    // filter_action / non_forwarding_action were reported by checkFields; say what is needed.
    if (!obj.filter_action && !obj.non_forwarding_action)
      issues.add(path, 'one of route, redirect or direct_response is required');
    action = { kind: 'direct_response', status: 404 };
  }
  return {
    name: str(obj.name),
    match: routeMatch(asObject(obj.match) ?? {}, join(path, 'match'), issues),
    action,
    ...headerMutations(obj, path, issues),
    ...(asObject(obj.tracing)
      ? { tracing: translateRouteTracing(asObject(obj.tracing)!, join(path, 'tracing'), issues) }
      : {}),
    ...typedPerFilterConfig(obj, path, issues),
  };
}

function routeMatch(obj: JsonObject, path: string, issues: Issues): RouteMatchModel {
  checkFields(obj, ROUTE_MATCH_SPEC, path, issues);
  const grpc = asObject(obj.grpc);
  if (grpc) checkFields(grpc, GRPC_MATCH_SPEC, join(path, 'grpc'), issues);
  const common = {
    caseSensitive: bool(obj.case_sensitive, true),
    headers: objectsOf(obj, 'headers', path).map(([h, p]) => headerMatcher(h, p, issues)),
    queryParameters: objectsOf(obj, 'query_parameters', path).map(([q, p]) =>
      queryParameterMatcher(q, p, issues),
    ),
    grpc: grpc !== undefined,
  };
  // The path specifier oneof is required (PGV), and oneof members keep `prefix: ""`, so the
  // fallthrough is always a prefix.
  if (typeof obj.path === 'string') return { kind: 'path', value: obj.path, ...common };
  if (typeof obj.path_separated_prefix === 'string')
    return { kind: 'path_separated_prefix', value: obj.path_separated_prefix, ...common };
  const regex = asObject(obj.safe_regex);
  if (regex)
    return {
      kind: 'safe_regex',
      value: regexPattern(regex, join(path, 'safe_regex'), issues),
      ...common,
    };
  return { kind: 'prefix', value: str(obj.prefix), ...common };
}
