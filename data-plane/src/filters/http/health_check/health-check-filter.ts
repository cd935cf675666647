/**
 * The per-request side of envoy.filters.http.health_check. ProxyRuntime builds one
 * HealthCheckFilter per filter chain whose HCM lists the filter (at config apply) and the request
 * path asks it, before routing, whether to answer the request itself.
 *
 * Envoy semantics (source/extensions/filters/http/health_check/health_check.cc):
 * - a request is a health check when every `headers` matcher matches (pseudo-headers
 *   `:path` — path and query as received —, `:method`, `:authority`, `:scheme` included);
 * - not pass-through: the proxy answers with an empty body — 503 while it fails health checks
 *   (admin POST /healthcheck/fail), else 503 when a `cluster_min_healthy_percentages` cluster is
 *   missing, empty (unless its minimum is 0) or has fewer healthy + degraded hosts than its
 *   minimum, else 200;
 * - pass-through: forwarded like any request, except while failing, when it is answered 503.
 */
import type { EndpointModel, HealthCheckFilterModel } from '../../../config/model.js';
import type { HeaderLookup } from '../../../router/header-mutations.js';
import { compileHeaderMatcher } from '../../../router/route-match.js';
import { withActiveHealth, workerActiveHealth } from '../../../health/active-health-overrides.js';
import type { ClusterRuntime } from '../../../upstream/cluster-runtime.js';
import type { RequestHeaderMap } from '../../../http/header-map.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import type {
  FilterCallbacks,
  FilterFactoryContext,
  FilterHeadersStatus,
  StreamFilter,
} from '../filter.js';

/** The proxy-wide "failing health checks" flag, shared by all config versions of a worker. */
export class ServerHealthState {
  /** Set by admin POST /healthcheck/fail (via the primary's IPC), cleared by /healthcheck/ok. */
  failing = false;
}

/** Hosts of a cluster by health, counted as Envoy's membership_total / _healthy / _degraded. */
export interface ClusterMembership {
  readonly total: number;
  /** Healthy plus degraded hosts. */
  readonly available: number;
}

/** Returns undefined when the cluster does not exist. */
export type MembershipLookup = (cluster: string) => ClusterMembership | undefined;

export interface HealthCheckReply {
  readonly status: 200 | 503;
  /** Envoy's response flag LH (failed local health check): only when the proxy is failing. */
  readonly failedLocalHealthCheck: boolean;
}

/** Counts hosts as Envoy does: UNKNOWN and HEALTHY are healthy, DEGRADED is degraded. */
export function countMembership(endpoints: Iterable<EndpointModel>): ClusterMembership {
  let total = 0;
  let available = 0;
  for (const endpoint of endpoints) {
    total++;
    const status = endpoint.healthStatus;
    if (status === 'HEALTHY' || status === 'UNKNOWN' || status === 'DEGRADED') available++;
  }
  return { total, available };
}

export class HealthCheckFilter {
  readonly #model: HealthCheckFilterModel;
  readonly #state: FilterFactoryContext['serverHealth'];
  readonly #matchers: ReadonlyArray<(headers: HeaderLookup) => boolean>;
  readonly #minimums: ReadonlyArray<readonly [string, number]>;

  constructor(model: HealthCheckFilterModel, state: FilterFactoryContext['serverHealth']) {
    this.#model = model;
    this.#state = state;
    this.#matchers = model.headers.map((m) => compileHeaderMatcher(m));
    this.#minimums = Object.entries(model.clusterMinHealthyPercentages);
  }

  /** Whether `request` is a health-check request (all `headers` matchers match). */
  matches(request: RequestHeaderMap): boolean {
    // The map answers the pseudo-headers (`:path` with its query, `:method`, ...) itself.
    return this.#matchers.every((match) => match(request));
  }

  /**
   * The local answer for `request`, or undefined when it is not a health check or is to be
   * forwarded (pass-through mode while not failing).
   */
  evaluate(request: RequestHeaderMap, membership: MembershipLookup): HealthCheckReply | undefined {
    if (!this.matches(request)) return undefined;
    if (this.#state.failing) return { status: 503, failedLocalHealthCheck: true };
    if (this.#model.passThroughMode) return undefined;
    return { status: this.#clustersHealthy(membership) ? 200 : 503, failedLocalHealthCheck: false };
  }

  #clustersHealthy(membership: MembershipLookup): boolean {
    for (const [cluster, minimumPercent] of this.#minimums) {
      const counts = membership(cluster);
      if (counts === undefined) return false;
      if (counts.total === 0) {
        if (minimumPercent === 0) continue;
        return false;
      }
      if (100 * counts.available < counts.total * minimumPercent) return false;
    }
    return true;
  }
}

/**
 * Membership of the clusters of one config version: the cluster's endpoints (all priorities)
 * with the worker's active health-check results folded in, as its load balancer sees them.
 */
export function membershipOf(clusters: ReadonlyMap<string, ClusterRuntime>): MembershipLookup {
  return (name) => {
    const cluster = clusters.get(name);
    if (cluster === undefined) return undefined;
    const localities = withActiveHealth(cluster.model.localities, workerActiveHealth.get(name));
    return countMembership(localities.flatMap((locality) => locality.endpoints));
  };
}

/** The per-stream filter: answers health-check requests before the router sees them. */
export class HealthCheckStreamFilter implements StreamFilter {
  constructor(
    private readonly filter: HealthCheckFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const reply = this.filter.evaluate(headers, membershipOf(this.callbacks.clusters));
    if (reply === undefined) return 'continue';
    this.callbacks.sendLocalReply(
      reply.status,
      '',
      reply.failedLocalHealthCheck ? { flag: ResponseFlag.FAILED_LOCAL_HEALTH_CHECK } : undefined,
    );
    return 'stop';
  }
}
