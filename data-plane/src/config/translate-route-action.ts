/**
 * A Route's action: RouteAction (forward to a cluster, weighted clusters or a cluster named by a
 * header, with rewrites, timeouts, retries and hash policies), RedirectAction and
 * DirectResponseAction → RouteActionModel. Called by translate-route.ts for every route.
 */
import {
  NOT_SUPPORTED,
  asObject,
  bool,
  checkFields,
  dataSource,
  durationMs,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { HEADER_MUTATION_FIELDS, headerMutations, regexRewrite } from './translate-matchers.js';
import {
  TYPED_PER_FILTER_CONFIG_NOTE,
  typedPerFilterConfig,
} from './translate-per-filter-config.js';
import { INLINE_CORS_NOTE, inlineCorsPolicy } from '../filters/http/cors/config.js';
import { RATE_LIMITS_NOTE, RATE_LIMIT_SPECS, rateLimits } from './translate-rate-limits.js';
import type {
  DirectResponseActionModel,
  ForwardActionModel,
  HashPolicyModel,
  RedirectActionModel,
  RetryPolicyModel,
  WeightedClusterModel,
} from './model.js';

/** Envoy's default route timeout (RouteAction.timeout). */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
/** Envoy's default RouteConfiguration.max_direct_response_body_size_bytes. */
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

export const SUPPORTED_RETRY_ON = [
  '5xx',
  'gateway-error',
  'connect-failure',
  'reset',
  'retriable-status-codes',
  'refused-stream',
] as const;

const PREVIOUS_HOSTS_NAME = 'envoy.retry_host_predicates.previous_hosts';
export const PREVIOUS_HOSTS_TYPE_URL =
  'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

/** Where a route names a cluster, for validate_clusters. */
export interface ClusterReference {
  readonly name: string;
  readonly path: string;
}

export interface RouteContext {
  readonly issues: Issues;
  readonly clusterRefs: ClusterReference[];
  readonly maxDirectResponseBodyBytes: number;
}

const ROUTE_ACTION_SPEC = messageSpec('envoy.config.route.v3.RouteAction', {
  cluster: 'upstream cluster',
  cluster_header: 'cluster named by a request header (503 if absent or unknown)',
  weighted_clusters: 'weighted split',
  prefix_rewrite: 'replaces the matched prefix/path',
  regex_rewrite: 'regex substitution on the path',
  host_rewrite_literal: 'Host/:authority sent upstream',
  auto_host_rewrite: 'Host from the chosen endpoint (its hostname or address)',
  host_rewrite_header: 'Host from a request header',
  timeout: 'route timeout (default 15s, 0s disables)',
  idle_timeout: 'stream idle timeout for this route (default none)',
  retry_policy: 'retries (see RetryPolicy)',
  hash_policy: 'hash for RING_HASH / MAGLEV clusters',
  upgrade_configs: 'per-route upgrade enablement (enabling only)',
  cors: INLINE_CORS_NOTE,
  rate_limits: RATE_LIMITS_NOTE,
  include_vh_rate_limits:
    "default false: the virtual host's rate_limits apply as well (the filters' vh_rate_limits otherwise decide)",
});

const UPGRADE_SPEC = messageSpec('envoy.config.route.v3.RouteAction.UpgradeConfig', {
  upgrade_type: 'e.g. websocket',
  enabled: 'true only (disabling an HCM upgrade per route is not supported)',
});

export const RETRY_POLICY_SPEC = messageSpec('envoy.config.route.v3.RetryPolicy', {
  retry_on: `comma-separated, of: ${SUPPORTED_RETRY_ON.join(', ')}`,
  num_retries: 'default 1',
  per_try_timeout: 'default: the route timeout',
  retriable_status_codes: 'with retry_on retriable-status-codes',
  retry_back_off: 'exponential back-off with full jitter (default base 25ms, max 10× base)',
  retry_host_predicate: `${PREVIOUS_HOSTS_NAME} only`,
  host_selection_retry_max_attempts: 'default 1',
});

const BACK_OFF_SPEC = messageSpec('envoy.config.route.v3.RetryPolicy.RetryBackOff', {
  base_interval: 'first back-off',
  max_interval: 'cap (default 10× base_interval)',
});

const HOST_PREDICATE_SPEC = messageSpec('envoy.config.route.v3.RetryPolicy.RetryHostPredicate', {
  name: PREVIOUS_HOSTS_NAME,
  typed_config: 'PreviousHostsPredicate',
});

const PREVIOUS_HOSTS_SPEC = messageSpec(
  'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
  {},
);

const HASH_POLICY_SPEC = messageSpec('envoy.config.route.v3.RouteAction.HashPolicy', {
  header: 'hash a request header',
  cookie: 'hash a cookie (generated when ttl is set and the cookie is absent)',
  connection_properties: 'hash the client IP',
  query_parameter: 'hash a query parameter',
  terminal: 'stop at the first policy that yields a hash',
});
const HASH_HEADER_SPEC = messageSpec('envoy.config.route.v3.RouteAction.HashPolicy.Header', {
  header_name: 'header',
});
const HASH_COOKIE_SPEC = messageSpec('envoy.config.route.v3.RouteAction.HashPolicy.Cookie', {
  name: 'cookie name',
  ttl: 'generate the cookie with this Max-Age when absent',
  path: 'path of the generated cookie',
});
const HASH_CONNECTION_SPEC = messageSpec(
  'envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties',
  { source_ip: 'hash the client IP' },
);
const HASH_QUERY_SPEC = messageSpec('envoy.config.route.v3.RouteAction.HashPolicy.QueryParameter', {
  name: 'parameter name',
});

const WEIGHTED_SPEC = messageSpec('envoy.config.route.v3.WeightedCluster', {
  clusters: 'the split',
  total_weight: 'deprecated; when set, must equal the sum of weights',
});

const CLUSTER_WEIGHT_SPEC = messageSpec('envoy.config.route.v3.WeightedCluster.ClusterWeight', {
  name: 'cluster',
  weight: 'relative weight',
  ...HEADER_MUTATION_FIELDS,
  typed_per_filter_config: TYPED_PER_FILTER_CONFIG_NOTE,
});

const REDIRECT_RESPONSE_CODES: Record<string, number> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

const REDIRECT_SPEC = messageSpec('envoy.config.route.v3.RedirectAction', {
  https_redirect: 'scheme https',
  scheme_redirect: 'scheme',
  host_redirect: 'host',
  port_redirect: 'port',
  path_redirect: 'whole path',
  prefix_rewrite: 'replaces the matched prefix',
  regex_rewrite: 'regex substitution on the path',
  response_code:
    'MOVED_PERMANENTLY (301, default), FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT',
  strip_query: 'drop the query string',
});

const DIRECT_RESPONSE_SPEC = messageSpec('envoy.config.route.v3.DirectResponseAction', {
  status: 'HTTP status',
  body: 'DataSource (at most max_direct_response_body_size_bytes)',
});

export const ROUTE_ACTION_SPECS: readonly MessageSpec[] = [
  ROUTE_ACTION_SPEC,
  UPGRADE_SPEC,
  RETRY_POLICY_SPEC,
  BACK_OFF_SPEC,
  HOST_PREDICATE_SPEC,
  PREVIOUS_HOSTS_SPEC,
  HASH_POLICY_SPEC,
  HASH_HEADER_SPEC,
  HASH_COOKIE_SPEC,
  HASH_CONNECTION_SPEC,
  HASH_QUERY_SPEC,
  WEIGHTED_SPEC,
  CLUSTER_WEIGHT_SPEC,
  REDIRECT_SPEC,
  DIRECT_RESPONSE_SPEC,
  ...RATE_LIMIT_SPECS,
];

export function forwardAction(
  obj: JsonObject,
  path: string,
  ctx: RouteContext,
): ForwardActionModel {
  const { issues } = ctx;
  checkFields(obj, ROUTE_ACTION_SPEC, path, issues);
  const base = {
    kind: 'route' as const,
    autoHostRewrite: bool(obj.auto_host_rewrite, false),
    timeoutMs: durationMs(obj.timeout, DEFAULT_ROUTE_TIMEOUT_MS),
    idleTimeoutMs: durationMs(obj.idle_timeout, 0),
    hashPolicy: objectsOf(obj, 'hash_policy', path).flatMap(([o, p]) => hashPolicy(o, p, issues)),
    upgradeTypes: objectsOf(obj, 'upgrade_configs', path).flatMap(([o, p]) => {
      checkFields(o, UPGRADE_SPEC, p, issues);
      if (o.enabled === false) {
        issues.add(
          join(p, 'enabled'),
          `false (disabling an upgrade per route) is ${NOT_SUPPORTED}`,
        );
        return [];
      }
      return [str(o.upgrade_type).toLowerCase()];
    }),
  };
  const optional: {
    -readonly [K in keyof ForwardActionModel]?: ForwardActionModel[K];
  } = {};
  if (typeof obj.cluster === 'string') {
    optional.cluster = obj.cluster;
    ctx.clusterRefs.push({ name: obj.cluster, path: join(path, 'cluster') });
  } else if (typeof obj.cluster_header === 'string') {
    optional.clusterHeader = obj.cluster_header.toLowerCase();
  } else {
    const weighted = asObject(obj.weighted_clusters);
    if (weighted)
      optional.weightedClusters = weightedClusters(weighted, join(path, 'weighted_clusters'), ctx);
    else issues.add(path, 'one of cluster, cluster_header or weighted_clusters is required');
  }
  if (typeof obj.prefix_rewrite === 'string') optional.prefixRewrite = obj.prefix_rewrite;
  const rewrite = regexRewrite(asObject(obj.regex_rewrite), join(path, 'regex_rewrite'), issues);
  if (rewrite) optional.regexRewrite = rewrite;
  if (typeof obj.host_rewrite_literal === 'string')
    optional.hostRewriteLiteral = obj.host_rewrite_literal;
  if (typeof obj.host_rewrite_header === 'string')
    optional.hostRewriteHeader = obj.host_rewrite_header.toLowerCase();
  const retry = asObject(obj.retry_policy);
  if (retry) optional.retryPolicy = retryPolicy(retry, join(path, 'retry_policy'), issues);
  const cors = asObject(obj.cors);
  if (cors) optional.cors = inlineCorsPolicy(cors, join(path, 'cors'), issues);
  const limits = rateLimits(obj, path, issues);
  if (limits) optional.rateLimits = limits;
  if (bool(obj.include_vh_rate_limits, false)) optional.includeVhRateLimits = true;
  return { ...base, ...optional };
}

function weightedClusters(
  obj: JsonObject,
  path: string,
  ctx: RouteContext,
): WeightedClusterModel[] {
  const { issues } = ctx;
  checkFields(obj, WEIGHTED_SPEC, path, issues);
  const clusters = objectsOf(obj, 'clusters', path).map(([o, p]): WeightedClusterModel => {
    checkFields(o, CLUSTER_WEIGHT_SPEC, p, issues);
    const name = str(o.name);
    ctx.clusterRefs.push({ name, path: join(p, 'name') });
    return {
      name,
      weight: int(o.weight, 0),
      mutations: headerMutations(o, p, issues),
      ...typedPerFilterConfig(o, p, issues),
    };
  });
  const sum = clusters.reduce((total, c) => total + c.weight, 0);
  if (sum <= 0) issues.add(join(path, 'clusters'), 'the sum of weights must be greater than 0');
  const total = int(obj.total_weight, 0);
  if (total > 0 && total !== sum)
    issues.add(join(path, 'total_weight'), `is ${total} but the weights sum to ${sum}`);
  return clusters;
}

/** Also used for VirtualHost.retry_policy. */
export function retryPolicy(obj: JsonObject, path: string, issues: Issues): RetryPolicyModel {
  checkFields(obj, RETRY_POLICY_SPEC, path, issues);
  const retryOn = str(obj.retry_on)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const condition of retryOn) {
    if (!(SUPPORTED_RETRY_ON as readonly string[]).includes(condition))
      issues.add(
        join(path, 'retry_on'),
        `${condition} is ${NOT_SUPPORTED} (supported: ${SUPPORTED_RETRY_ON.join(', ')})`,
      );
  }
  const backOffPath = join(path, 'retry_back_off');
  const backOff = asObject(obj.retry_back_off) ?? {};
  checkFields(backOff, BACK_OFF_SPEC, backOffPath, issues);
  const backoffBaseMs = durationMs(backOff.base_interval, 25);
  const backoffMaxMs = durationMs(backOff.max_interval, backoffBaseMs * 10);
  if (backoffMaxMs < backoffBaseMs)
    issues.add(join(backOffPath, 'max_interval'), 'must not be less than base_interval');
  let previousHostsPredicate = false;
  for (const [predicate, p] of objectsOf(obj, 'retry_host_predicate', path)) {
    checkFields(predicate, HOST_PREDICATE_SPEC, p, issues);
    const typed = asObject(predicate.typed_config);
    const typeUrl = str(typed?.['@type']);
    if (typed && typeUrl === PREVIOUS_HOSTS_TYPE_URL) {
      checkFields(typed, PREVIOUS_HOSTS_SPEC, join(p, 'typed_config'), issues);
      previousHostsPredicate = true;
    } else if (!typed && str(predicate.name) === PREVIOUS_HOSTS_NAME) {
      previousHostsPredicate = true;
    } else {
      issues.add(
        p,
        `${typeUrl || str(predicate.name)} is ${NOT_SUPPORTED} (supported: ${PREVIOUS_HOSTS_NAME})`,
      );
    }
  }
  return {
    retryOn,
    numRetries: int(obj.num_retries, 1),
    perTryTimeoutMs: durationMs(obj.per_try_timeout, 0),
    retriableStatusCodes: asArrayOfInts(obj.retriable_status_codes),
    backoffBaseMs,
    backoffMaxMs,
    previousHostsPredicate,
    hostSelectionRetryMaxAttempts: int(obj.host_selection_retry_max_attempts, 1),
  };
}

function asArrayOfInts(value: JsonObject[string] | undefined): number[] {
  return (Array.isArray(value) ? value : []).map((v) => int(v, 0));
}

function hashPolicy(obj: JsonObject, path: string, issues: Issues): HashPolicyModel[] {
  checkFields(obj, HASH_POLICY_SPEC, path, issues);
  const terminal = bool(obj.terminal, false);
  const header = asObject(obj.header);
  if (header) {
    checkFields(header, HASH_HEADER_SPEC, join(path, 'header'), issues);
    return [{ kind: 'header', name: str(header.header_name).toLowerCase(), terminal }];
  }
  const cookie = asObject(obj.cookie);
  if (cookie) {
    checkFields(cookie, HASH_COOKIE_SPEC, join(path, 'cookie'), issues);
    return [
      {
        kind: 'cookie',
        name: str(cookie.name),
        ...(cookie.ttl !== undefined ? { ttlMs: durationMs(cookie.ttl, 0) } : {}),
        ...(typeof cookie.path === 'string' ? { path: cookie.path } : {}),
        terminal,
      },
    ];
  }
  const connection = asObject(obj.connection_properties);
  if (connection) {
    checkFields(connection, HASH_CONNECTION_SPEC, join(path, 'connection_properties'), issues);
    // source_ip: false hashes nothing (Envoy yields no hash for it).
    return bool(connection.source_ip, false) ? [{ kind: 'source_ip', terminal }] : [];
  }
  const query = asObject(obj.query_parameter);
  if (query) {
    checkFields(query, HASH_QUERY_SPEC, join(path, 'query_parameter'), issues);
    return [{ kind: 'query_parameter', name: str(query.name), terminal }];
  }
  return [];
}

export function redirectAction(obj: JsonObject, path: string, issues: Issues): RedirectActionModel {
  checkFields(obj, REDIRECT_SPEC, path, issues);
  const code = enumField(
    obj.response_code,
    Object.keys(REDIRECT_RESPONSE_CODES),
    'MOVED_PERMANENTLY',
    join(path, 'response_code'),
    issues,
  );
  const rewrite = regexRewrite(asObject(obj.regex_rewrite), join(path, 'regex_rewrite'), issues);
  return {
    kind: 'redirect',
    httpsRedirect: bool(obj.https_redirect, false),
    ...(typeof obj.scheme_redirect === 'string'
      ? { schemeRedirect: obj.scheme_redirect.toLowerCase() }
      : {}),
    ...(typeof obj.host_redirect === 'string' ? { hostRedirect: obj.host_redirect } : {}),
    ...(obj.port_redirect !== undefined ? { portRedirect: int(obj.port_redirect, 0) } : {}),
    ...(typeof obj.path_redirect === 'string' ? { pathRedirect: obj.path_redirect } : {}),
    ...(typeof obj.prefix_rewrite === 'string' ? { prefixRewrite: obj.prefix_rewrite } : {}),
    ...(rewrite ? { regexRewrite: rewrite } : {}),
    responseCode: REDIRECT_RESPONSE_CODES[code] ?? 301,
    stripQuery: bool(obj.strip_query, false),
  };
}

export function directResponseAction(
  obj: JsonObject,
  path: string,
  ctx: RouteContext,
): DirectResponseActionModel {
  checkFields(obj, DIRECT_RESPONSE_SPEC, path, ctx.issues);
  const body = dataSource(asObject(obj.body), join(path, 'body'), ctx.issues);
  if (body !== undefined && Buffer.byteLength(body) > ctx.maxDirectResponseBodyBytes)
    ctx.issues.add(
      join(path, 'body'),
      `is ${Buffer.byteLength(body)} bytes, over max_direct_response_body_size_bytes (${ctx.maxDirectResponseBodyBytes})`,
    );
  return {
    kind: 'direct_response',
    status: int(obj.status, 200),
    ...(body !== undefined ? { body } : {}),
  };
}
