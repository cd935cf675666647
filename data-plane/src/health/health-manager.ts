/**
 * Runs a config's active health checks, once per proxy (in the primary, never in the workers), and
 * reports each cluster's host health so the primary can forward it to every worker.
 *
 * `apply(clusters)` is called with every new config: sessions are keyed by cluster name, check
 * index and host key, so a host that survives a config change keeps its health, counters and
 * schedule; sessions of removed hosts, checks and clusters are stopped (timers cleared, probes
 * aborted). Every timer is unref'd: health checking never keeps the process alive.
 *
 * A host's reported status is UNHEALTHY while any of its cluster's checks says so (Envoy runs
 * every entry of health_checks and all must pass). Hosts of STRICT_DNS / LOGICAL_DNS clusters
 * are not checked yet: the workers resolve those names themselves and the primary does not know
 * the addresses they use.
 *
 * The primary runs two instances: one for the config's clusters (results go to the workers'
 * load balancers) and one for the work the control plane assigns over HDS
 * (hds-assignments.ts: results are only reported back, never used for load balancing).
 */
import { formatHostPort, type Logger } from '@ferry/shared';
import type { DiscoveryType, HealthCheckModel, UpstreamTlsModel } from '../config/model.js';
import { upstreamTlsTarget, type UpstreamTlsTarget } from '../upstream/upstream-tls.js';
import type { HealthChecker } from './health-checker.js';
import { createHealthChecker } from './health-checker-factory.js';
import { HostHealthState, type ActiveHealthStatus } from './health-state.js';

/** A cluster's active health by host key. Sent to workers as is. */
export type ClusterHostHealth = Readonly<Record<string, ActiveHealthStatus>>;

/** What admin /clusters shows for one host. */
export interface HostHealthView {
  readonly status: ActiveHealthStatus;
  /** No check has completed yet (Envoy's /pending_active_hc). */
  readonly pending: boolean;
  /**
   * Set (true) when the host is unhealthy and a failing check's last probe timed out (Envoy's
   * ACTIVE_HC_TIMEOUT flag, reported over HDS as TIMEOUT). Absent otherwise.
   */
  readonly timedOut?: true;
}

/**
 * What `apply` reads of a cluster: a ClusterModel fits, and so does an HDS-assigned cluster
 * (hds-assignments.ts), which has no load-balancing settings.
 */
export interface HealthCheckedCluster {
  readonly name: string;
  readonly type?: DiscoveryType;
  readonly activeHealthChecks?: readonly HealthCheckModel[];
  /** The cluster's UpstreamTlsContext: checks connect with it, as Envoy's do. */
  readonly tls?: UpstreamTlsModel;
  readonly localities: readonly {
    readonly endpoints: readonly {
      readonly host: string;
      readonly port: number;
      /**
       * Port probed instead of `port` (Endpoint.health_check_config.port_value, HDS only).
       * The host is still known, keyed and reported by `host:port`.
       */
      readonly healthCheckPort?: number;
    }[];
  }[];
}

export interface HealthManagerOptions {
  readonly logger: Logger;
  /** Called with a cluster's complete host map whenever it changes ({} = no active checks). */
  readonly onUpdate: (cluster: string, hosts: ClusterHostHealth) => void;
  /** [0, 1), for jitter (tests inject a fixed one). */
  readonly random?: () => number;
  /** Tests substitute probes; by default the checker for the check's kind. */
  readonly createChecker?: (model: HealthCheckModel) => HealthChecker;
  /**
   * What identifies a host's check session across `apply` calls, besides cluster and host.
   * `position` (default, CDS): the check's index in health_checks, so editing a check keeps
   * the hosts' health and counters. `content`: the check's settings, as Envoy's HDS client does
   * (HdsCluster::updateHealthchecks): a changed check starts afresh, an unchanged one keeps its
   * state even if it moved in the list.
   */
  readonly sessionIdentity?: 'position' | 'content';
}

/** A counter of the health checks, as exported in /stats/prometheus (without `ferry_`). */
export interface HealthCheckCounter {
  readonly name:
    | 'health_check_attempts_total'
    | 'health_check_failures_total'
    | 'health_check_transitions_total';
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Session {
  readonly clusterName: string;
  readonly host: string;
  /** The port probed (health_check_config.port_value or the endpoint's). */
  readonly port: number;
  /** `host:port` of the endpoint, as reported. */
  readonly key: string;
  model: HealthCheckModel;
  checker: HealthChecker;
  /** The cluster's transport socket (TLS context and names), updated on every apply. */
  tls: UpstreamTlsTarget | undefined;
  readonly state: HostHealthState;
  timer: NodeJS.Timeout | undefined;
  /** When `timer` fires (ms since the epoch). */
  dueAt: number;
  probe: AbortController | undefined;
  /** The last probe failed because `timeout` elapsed. */
  timedOut: boolean;
  stopped: boolean;
}

export class HealthManager {
  readonly #options: HealthManagerOptions;
  readonly #random: () => number;
  /** cluster name → session id (`check|host:port|probed port`, see sessionIdentity) → session. */
  #clusters = new Map<string, Map<string, Session>>();
  /** Last map reported per cluster, to report only changes. */
  readonly #reported = new Map<string, string>();
  /**
   * Counters by `name|cluster|to` (`to` only for transitions). Kept for the process lifetime,
   * also for removed clusters: Prometheus counters never go backwards.
   */
  readonly #counters = new Map<
    string,
    { -readonly [K in keyof HealthCheckCounter]: HealthCheckCounter[K] }
  >();
  #closed = false;
  /**
   * Clusters that have had upstream traffic (a worker said so). Until then their hosts are
   * checked every no_traffic_interval, as Envoy does for a cluster that never made a connection.
   * Kept by name across config changes, as Envoy's cluster stats are.
   */
  readonly #hadTraffic = new Set<string>();
  /** Callers of firstRound() still waiting: each re-checks itself after every check. */
  readonly #roundWaiters = new Set<() => void>();

  constructor(options: HealthManagerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  apply(clusters: Readonly<Record<string, HealthCheckedCluster>>): void {
    if (this.#closed) return;
    const next = new Map<string, Map<string, Session>>();
    for (const cluster of Object.values(clusters)) {
      const checks = cluster.activeHealthChecks ?? [];
      if (checks.length === 0 || cluster.type === 'STRICT_DNS' || cluster.type === 'LOGICAL_DNS')
        continue;
      const previous = this.#clusters.get(cluster.name);
      const sessions = new Map<string, Session>();
      checks.forEach((model, index) => {
        for (const locality of cluster.localities) {
          for (const endpoint of locality.endpoints) {
            const key = formatHostPort(endpoint.host, endpoint.port);
            const probedPort = endpoint.healthCheckPort ?? endpoint.port;
            const check =
              this.#options.sessionIdentity === 'content' ? JSON.stringify(model) : String(index);
            const id = `${check}|${key}|${probedPort}`;
            if (sessions.has(id)) continue;
            const kept = previous?.get(id);
            const tls =
              cluster.tls === undefined ? undefined : upstreamTlsTarget(cluster.tls, endpoint.host);
            if (kept) {
              kept.tls = tls;
              if (JSON.stringify(kept.model) !== JSON.stringify(model)) {
                kept.model = model;
                kept.checker = this.#createChecker(model);
              }
              sessions.set(id, kept);
            } else {
              const session: Session = {
                clusterName: cluster.name,
                host: endpoint.host,
                port: probedPort,
                key,
                model,
                checker: this.#createChecker(model),
                tls,
                state: new HostHealthState(),
                timer: undefined,
                dueAt: 0,
                probe: undefined,
                timedOut: false,
                stopped: false,
              };
              sessions.set(id, session);
              this.#schedule(session, Math.floor(this.#random() * model.initialJitterMs));
            }
          }
        }
      });
      next.set(cluster.name, sessions);
    }
    for (const [name, sessions] of this.#clusters) {
      const kept = next.get(name);
      for (const [id, session] of sessions) if (kept?.get(id) !== session) stop(session);
    }
    const names = new Set([...this.#clusters.keys(), ...next.keys()]);
    this.#clusters = next;
    for (const name of names) this.#report(name);
    this.#notifyRoundWaiters();
  }

  /**
   * A cluster has had upstream traffic (first time per worker; repeats are ignored). Its hosts
   * shift from no_traffic_interval to the regular intervals now: a check scheduled further away
   * than its regular interval is brought forward, so traffic that starts is covered at once.
   */
  markTraffic(cluster: string): void {
    if (this.#closed || this.#hadTraffic.has(cluster)) return;
    this.#hadTraffic.add(cluster);
    const now = Date.now();
    for (const session of this.#clusters.get(cluster)?.values() ?? []) {
      if (session.timer === undefined || session.state.pending) continue;
      const regular = session.state.nextIntervalMs(session.model, this.#random, true);
      if (session.dueAt - now <= regular) continue;
      clearTimeout(session.timer);
      session.timer = undefined;
      this.#schedule(session, regular);
    }
  }

  /**
   * Resolves once every host of `clusters` has completed its first check (none is pending any
   * more), or after `capMs` whatever remains: a cluster's warming in Envoy's sense, which waits
   * for the first health-check round before the cluster takes traffic. A first check ends by
   * itself within the check's initial jitter plus its timeout; the cap only guards against a
   * probe that never settles. Clusters that are not checked (or no longer) count as done.
   */
  firstRound(clusters: readonly string[], capMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        if (!this.#closed && clusters.some((name) => this.#hasPending(name))) return;
        finish();
      };
      const finish = (): void => {
        clearTimeout(cap);
        this.#roundWaiters.delete(done);
        resolve();
      };
      const cap = setTimeout(finish, capMs);
      cap.unref();
      this.#roundWaiters.add(done);
      done();
    });
  }

  /** The longest a first round can take: initial jitter plus timeout, over the checks. */
  static firstRoundBoundMs(clusters: readonly HealthCheckedCluster[]): number {
    let bound = 0;
    for (const cluster of clusters)
      for (const check of cluster.activeHealthChecks ?? [])
        bound = Math.max(bound, check.initialJitterMs + check.timeoutMs);
    return bound;
  }

  #hasPending(cluster: string): boolean {
    for (const session of this.#clusters.get(cluster)?.values() ?? [])
      if (session.state.pending && !session.stopped) return true;
    return false;
  }

  #notifyRoundWaiters(): void {
    for (const waiter of [...this.#roundWaiters]) waiter();
  }

  /** Every checked host's status, by cluster name then host key (admin /clusters). */
  view(): ReadonlyMap<string, ReadonlyMap<string, HostHealthView>> {
    const result = new Map<string, Map<string, HostHealthView>>();
    for (const [name, sessions] of this.#clusters) {
      const hosts = new Map<string, HostHealthView>();
      for (const session of sessions.values()) {
        const current = hosts.get(session.key);
        const unhealthy = session.state.status === 'UNHEALTHY';
        const timedOut = current?.timedOut === true || (unhealthy && session.timedOut);
        hosts.set(session.key, {
          status: current?.status === 'UNHEALTHY' || unhealthy ? 'UNHEALTHY' : 'HEALTHY',
          pending: (current?.pending ?? false) || session.state.pending,
          ...(timedOut ? { timedOut: true as const } : {}),
        });
      }
      result.set(name, hosts);
    }
    return result;
  }

  /** The current host map of every checked cluster (sent to a worker that just started). */
  current(): ReadonlyMap<string, ClusterHostHealth> {
    const result = new Map<string, ClusterHostHealth>();
    for (const name of this.#clusters.keys()) result.set(name, this.#hostMap(name));
    return result;
  }

  /**
   * Checks run, failed checks, and host status transitions (`to` = the new status, per check
   * session, as Envoy counts per health checker), by cluster.
   */
  counters(): HealthCheckCounter[] {
    return [...this.#counters.values()].map((counter) => ({ ...counter }));
  }

  #count(name: HealthCheckCounter['name'], cluster: string, to?: string): void {
    const id = `${name}|${cluster}|${to ?? ''}`;
    let entry = this.#counters.get(id);
    if (entry === undefined) {
      const labels: Record<string, string> = to === undefined ? { cluster } : { cluster, to };
      entry = { name, labels, value: 0 };
      this.#counters.set(id, entry);
    }
    entry.value++;
  }

  /** Stops every check. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sessions of this.#clusters.values()) for (const s of sessions.values()) stop(s);
    this.#clusters = new Map();
    this.#notifyRoundWaiters();
  }

  #createChecker(model: HealthCheckModel): HealthChecker {
    return this.#options.createChecker?.(model) ?? createHealthChecker(model.checker);
  }

  #schedule(session: Session, delayMs: number): void {
    if (session.stopped) return;
    session.dueAt = Date.now() + delayMs;
    session.timer = setTimeout(() => {
      session.timer = undefined;
      void this.#runCheck(session);
    }, delayMs);
    session.timer.unref();
  }

  async #runCheck(session: Session): Promise<void> {
    const probe = new AbortController();
    session.probe = probe;
    let timedOut = false;
    const timeout = setTimeout(() => {
      timedOut = true;
      probe.abort();
    }, session.model.timeoutMs);
    timeout.unref();
    const outcome = await session.checker.check(
      {
        host: session.host,
        port: session.port,
        clusterName: session.clusterName,
        ...(session.tls !== undefined ? { tls: session.tls } : {}),
      },
      probe.signal,
    );
    clearTimeout(timeout);
    session.probe = undefined;
    if (session.stopped) return;
    session.timedOut = !outcome.healthy && timedOut;
    const transition = session.state.record(outcome, session.model);
    this.#count('health_check_attempts_total', session.clusterName);
    if (!outcome.healthy) this.#count('health_check_failures_total', session.clusterName);
    if (transition === 'changed')
      this.#count('health_check_transitions_total', session.clusterName, session.state.status);
    if (!outcome.healthy)
      this.#options.logger.debug(
        { cluster: session.clusterName, host: session.key, detail: outcome.detail },
        'health check failed',
      );
    if (transition === 'changed') {
      this.#options.logger.info(
        { cluster: session.clusterName, host: session.key, status: session.state.status },
        'active health check status changed',
      );
    }
    this.#report(session.clusterName);
    if (this.#roundWaiters.size > 0) this.#notifyRoundWaiters();
    this.#schedule(
      session,
      session.state.nextIntervalMs(
        session.model,
        this.#random,
        this.#hadTraffic.has(session.clusterName),
      ),
    );
  }

  #hostMap(name: string): Record<string, ActiveHealthStatus> {
    const hosts: Record<string, ActiveHealthStatus> = {};
    for (const session of this.#clusters.get(name)?.values() ?? []) {
      if (hosts[session.key] !== 'UNHEALTHY') hosts[session.key] = session.state.status;
    }
    return hosts;
  }

  #report(name: string): void {
    const hosts = this.#hostMap(name);
    const json = JSON.stringify(hosts);
    if (this.#reported.get(name) === json) return;
    if (Object.keys(hosts).length === 0 && !this.#clusters.has(name)) this.#reported.delete(name);
    else this.#reported.set(name, json);
    this.#options.onUpdate(name, hosts);
  }
}

function stop(session: Session): void {
  session.stopped = true;
  if (session.timer !== undefined) clearTimeout(session.timer);
  session.timer = undefined;
  session.probe?.abort();
}
