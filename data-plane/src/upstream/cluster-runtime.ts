/**
 * The runtime of one cluster version: its load balancer, its hosts' connection pools and the
 * name-scoped state (circuit breakers, stats) it shares with the other versions of the same
 * cluster. Built by ClusterManager on every apply that changes the cluster; a request keeps the
 * ClusterRuntime it started with until it ends.
 *
 * Per-host state (pools, active request counts) is handed from one version to the next when the
 * host still exists and the pool settings did not change, so a config change does not reconnect.
 *
 * The load balancer sees each endpoint's EDS health combined with the primary's active
 * health-check results (health/active-health-overrides.ts) and the primary's outlier ejections
 * (health/outlier-outcomes.ts, which also carries this worker's outcomes to the primary); it is
 * updated whenever either changes.
 */
import { noteUpstreamTraffic } from './upstream-traffic.js';
import type { ClusterModel, LocalityEndpointsModel } from '../config/model.js';
import { CircuitBreakerState } from './circuit-breaker.js';
import type { ClusterStats, LocalityLoadStats } from './cluster-stats.js';
import { resolveLocalities } from './dns-resolver.js';
import type { HostRef, LoadBalancer } from './load-balancer.js';
import { createLoadBalancer } from './load-balancer-factory.js';
import {
  createHostDispatcher,
  poolSettingsKey,
  type HostDispatcher,
  type UpstreamConnectionName,
} from './upstream-pool.js';
import { connectionNameKey } from './upstream-name.js';
import { formatHostPort, type Logger } from '@ferry/shared';
import {
  workerActiveHealth,
  withActiveHealth,
  type ActiveHealthOverrides,
} from '../health/active-health-overrides.js';
import type { UpstreamOutcome } from '../health/outlier-detector.js';
import { workerOutliers } from '../health/outlier-outcomes.js';

/** Pools kept per host for distinct auto_sni / auto_san_validation names. */
const MAX_NAMED_POOLS = 64;

/** Per-host state carried across cluster versions. */
export class HostState {
  activeRequests = 0;
  /** Its locality's load stats when the cluster reports load (lrs_server); set on every sync. */
  localityLoad: LocalityLoadStats | undefined = undefined;
  #http1: HostDispatcher | undefined;
  #http2: HostDispatcher | undefined;
  /** Pools per auto_sni / auto_san_validation name, least recently used first. */
  #named: Map<string, HostDispatcher> | undefined;

  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
    readonly hostname: string,
    readonly settingsKey: string,
  ) {}

  dispatcher(
    cluster: ClusterModel,
    http2: boolean,
    stats: ClusterStats,
    name?: UpstreamConnectionName,
  ): HostDispatcher {
    if (name !== undefined) return this.#namedDispatcher(cluster, http2, stats, name);
    if (http2) {
      if (this.#http2 === undefined) {
        noteUpstreamTraffic(cluster.name);
        this.#http2 = createHostDispatcher(cluster, this, true, stats);
      }
      return this.#http2;
    }
    if (this.#http1 === undefined) {
      noteUpstreamTraffic(cluster.name);
      this.#http1 = createHostDispatcher(cluster, this, false, stats);
    }
    return this.#http1;
  }

  /**
   * auto_sni / auto_san_validation: connections opened for one name never carry requests for
   * another (Envoy keys its pools by the transport socket options likewise). At most
   * MAX_NAMED_POOLS names are kept per host; the least recently used one is closed gracefully
   * beyond that, so arbitrary Host values cannot grow the pools without bound.
   */
  #namedDispatcher(
    cluster: ClusterModel,
    http2: boolean,
    stats: ClusterStats,
    name: UpstreamConnectionName,
  ): HostDispatcher {
    const pools = (this.#named ??= new Map<string, HostDispatcher>());
    const key = `${http2 ? 'h2' : 'h1'}|${connectionNameKey(name)}`;
    let dispatcher = pools.get(key);
    if (dispatcher !== undefined) {
      pools.delete(key);
      pools.set(key, dispatcher);
      return dispatcher;
    }
    noteUpstreamTraffic(cluster.name);
    dispatcher = createHostDispatcher(cluster, this, http2, stats, name);
    pools.set(key, dispatcher);
    if (pools.size > MAX_NAMED_POOLS) {
      const [oldestKey, oldest] = pools.entries().next().value!;
      pools.delete(oldestKey);
      oldest.close().catch(() => undefined);
    }
    return dispatcher;
  }

  #all(): HostDispatcher[] {
    const all = [this.#http1, this.#http2, ...(this.#named?.values() ?? [])];
    return all.filter((d): d is HostDispatcher => d !== undefined);
  }

  /** Closes the pools once their in-flight requests have finished. */
  close(): void {
    for (const d of this.#all()) d.close().catch(() => undefined);
  }

  destroy(): void {
    for (const d of this.#all()) d.destroy().catch(() => undefined);
  }
}

/** Name-scoped state of a cluster, shared by all its versions. */
export interface ClusterShared {
  readonly circuit: CircuitBreakerState;
  readonly stats: ClusterStats;
}

export class ClusterRuntime {
  readonly name: string;
  readonly model: ClusterModel;
  readonly circuit: CircuitBreakerState;
  readonly stats: ClusterStats;
  readonly #settingsKey: string;
  readonly #logger: Logger;
  #lb: LoadBalancer;
  #hosts = new Map<string, HostState>();
  #dnsTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #activeHealth: ActiveHealthOverrides;
  readonly #unsubscribeHealth: () => void;
  readonly #outliers: ActiveHealthOverrides;
  readonly #unsubscribeOutlier: () => void;
  /** The cluster has outlier_detection: its outcomes go to the primary's detector. */
  readonly #reportsOutcomes: boolean;
  readonly #activeRequestsOf = (hostKey: string): number =>
    this.#hosts.get(hostKey)?.activeRequests ?? 0;

  constructor(
    model: ClusterModel,
    shared: ClusterShared,
    logger: Logger,
    activeHealth: ActiveHealthOverrides = workerActiveHealth,
    outlierEjections: ActiveHealthOverrides = workerOutliers.ejections,
  ) {
    this.name = model.name;
    this.model = model;
    this.circuit = shared.circuit;
    this.stats = shared.stats;
    this.#logger = logger;
    this.#activeHealth = activeHealth;
    this.#settingsKey = poolSettingsKey(model);
    this.#outliers = outlierEjections;
    this.#reportsOutcomes = model.outlier !== undefined;
    this.#lb = createLoadBalancer(this.#lbModel(model.localities));
    this.#syncHosts(model.localities, undefined);
    const update = (): void => {
      if (!this.#closed) this.#lb.updateHosts(this.#lbModel(this.#currentLocalities()));
    };
    this.#unsubscribeHealth = activeHealth.subscribe(this.name, update);
    this.#unsubscribeOutlier = outlierEjections.subscribe(this.name, update);
  }

  /**
   * How one upstream attempt to `host` ended (response status, or a connect failure / timeout /
   * reset), for outlier detection and locality load stats. Called by the router filter and its
   * UpstreamRequest, the async client and the tcp_proxy session.
   */
  reportOutcome(host: HostState, outcome: UpstreamOutcome): void {
    if (this.#reportsOutcomes) workerOutliers.outcomes?.record(this.name, host.key, outcome);
    host.localityLoad?.record(outcome);
  }

  /** Whether outlier detection (the primary's) currently ejects `hostKey`. */
  isEjected(hostKey: string): boolean {
    return this.#outliers.get(this.name)?.get(hostKey) === 'UNHEALTHY';
  }

  /** The model the load balancer gets: `localities` with active health folded in. */
  #lbModel(localities: readonly LocalityEndpointsModel[]): ClusterModel {
    return {
      ...this.model,
      // An ejected host is UNHEALTHY for the load balancer (panic routing still applies).
      localities: withActiveHealth(
        withActiveHealth(localities, this.#activeHealth.get(this.name)),
        this.#outliers.get(this.name),
      ),
    };
  }

  #currentLocalities(): readonly LocalityEndpointsModel[] {
    return this.isDns ? this.#resolvedLocalities : this.model.localities;
  }

  get isDns(): boolean {
    return this.model.type === 'STRICT_DNS' || this.model.type === 'LOGICAL_DNS';
  }

  /**
   * Takes over the previous version's hosts that still exist with the same pool settings (and,
   * for DNS clusters, its resolved addresses), then starts DNS refresh. The caller retires the
   * previous version afterwards, which closes the pools that were not taken over.
   */
  async start(previous: ClusterRuntime | undefined, dnsWarmupMs: number): Promise<void> {
    if (previous !== undefined && previous.#settingsKey === this.#settingsKey) {
      if (this.isDns && previous.isDns && sameEndpointNames(previous.model, this.model)) {
        this.#lb = createLoadBalancer(this.#lbModel(previous.#resolvedLocalities));
        this.#resolvedLocalities = previous.#resolvedLocalities;
        this.#syncHosts(previous.#resolvedLocalities, previous);
      } else {
        this.#syncHosts(this.isDns ? [] : this.model.localities, previous);
      }
    }
    if (!this.isDns) return;
    if (this.#resolvedLocalities.length === 0) {
      // Warm the cluster before it takes traffic (Envoy's cluster warming), bounded so one
      // unresolvable name cannot hold up a config apply.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#refreshDns(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, dnsWarmupMs);
        }),
      ]);
      clearTimeout(timer);
    }
    if (!this.#closed) {
      this.#dnsTimer = setInterval(
        () => void this.#refreshDns(),
        this.model.dnsRefreshRateMs || 5000,
      );
      this.#dnsTimer.unref();
    }
  }

  #resolvedLocalities: readonly LocalityEndpointsModel[] = [];

  async #refreshDns(): Promise<void> {
    try {
      const localities = await resolveLocalities(this.model);
      if (this.#closed) return;
      if (JSON.stringify(localities) === JSON.stringify(this.#resolvedLocalities)) return;
      this.#resolvedLocalities = localities;
      this.#lb.updateHosts(this.#lbModel(localities));
      this.#syncHosts(localities, undefined);
    } catch (err) {
      // Keep the last resolved addresses (Envoy does the same on resolution failure).
      this.#logger.warn({ err, cluster: this.name }, 'DNS resolution failed; keeping last hosts');
    }
  }

  /** Makes #hosts match `localities`, reusing existing or previous states, closing dropped ones. */
  #syncHosts(
    localities: readonly LocalityEndpointsModel[],
    previous: ClusterRuntime | undefined,
  ): void {
    const next = new Map<string, HostState>();
    for (const locality of localities) {
      for (const endpoint of locality.endpoints) {
        const key = formatHostPort(endpoint.host, endpoint.port);
        if (next.has(key)) continue;
        const existing =
          this.#hosts.get(key) ?? (previous !== undefined ? previous.#hosts.get(key) : undefined);
        const state =
          existing ??
          new HostState(key, endpoint.host, endpoint.port, endpoint.hostname, this.#settingsKey);
        // A host listed in several localities counts for the first, as it is keyed once.
        state.localityLoad =
          this.model.lrsServer !== undefined
            ? this.stats.localityLoad(locality.locality)
            : undefined;
        next.set(key, state);
      }
    }
    for (const [key, state] of this.#hosts) if (!next.has(key)) state.close();
    this.#hosts = next;
  }

  /** Host states of this version, for handing over and for the admin /clusters page. */
  hosts(): ReadonlyMap<string, HostState> {
    return this.#hosts;
  }

  pickHost(
    hash: number | undefined,
    exclude: ReadonlySet<string> | undefined,
  ): HostState | undefined {
    const ref: HostRef | undefined = this.#lb.pick({
      hash,
      exclude,
      activeRequests: this.#activeRequestsOf,
    });
    if (ref === undefined) return undefined;
    let state = this.#hosts.get(ref.key);
    if (state === undefined) {
      // The LB and the host map are built from the same localities; this only happens if the
      // LB's key format ever diverges from ours. Keep serving rather than failing the request.
      state = new HostState(ref.key, ref.host, ref.port, ref.hostname, this.#settingsKey);
      this.#hosts.set(ref.key, state);
    }
    return state;
  }

  /**
   * Called when a newer version replaced this one: closes (gracefully) the pools the newer
   * version did not take over, and stops DNS refresh.
   */
  retire(successor: ClusterRuntime | undefined): void {
    this.#stopTimers();
    const kept = successor !== undefined ? successor.#hosts : undefined;
    for (const [key, state] of this.#hosts) {
      if (kept?.get(key) !== state) state.close();
    }
  }

  destroy(): void {
    this.#stopTimers();
    for (const state of this.#hosts.values()) state.destroy();
  }

  #stopTimers(): void {
    this.#closed = true;
    this.#unsubscribeHealth();
    this.#unsubscribeOutlier();
    if (this.#dnsTimer !== undefined) clearInterval(this.#dnsTimer);
    this.#dnsTimer = undefined;
  }
}

function sameEndpointNames(a: ClusterModel, b: ClusterModel): boolean {
  return JSON.stringify(a.localities) === JSON.stringify(b.localities);
}
