/**
 * What the primary's HealthManager checks, from the config's clusters. STATIC and EDS clusters go
 * as they are. STRICT_DNS and LOGICAL_DNS clusters are checked per resolved address, as Envoy
 * does: the workers resolve their names for load balancing (upstream/cluster-runtime.ts), and the
 * primary, which runs the checks, resolves them too — same resolver, same `dns_lookup_family`,
 * every `dns_refresh_rate` — so the checked host keys (`address:port`) are the workers' host keys
 * and the results meet the right hosts. A cluster is checked once its names first resolve; a
 * failed resolution keeps the last addresses (as the workers do).
 */
import type { Logger } from '@ferry/shared';
import type { ClusterModel, LocalityEndpointsModel } from '../config/model.js';
import { resolveHost, resolveLocalities } from '../upstream/dns-resolver.js';
import type { HealthCheckedCluster } from './health-manager.js';

export interface HealthTargetsOptions {
  readonly logger: Logger;
  /** Receives the complete set of clusters to check whenever it changes. */
  readonly apply: (clusters: Readonly<Record<string, HealthCheckedCluster>>) => void;
  /** Tests substitute name resolution. */
  readonly resolve?: typeof resolveHost;
}

const DEFAULT_DNS_REFRESH_MS = 5000;

interface DnsTarget {
  /** The cluster as configured (names, refresh rate, family, checks). */
  model: ClusterModel;
  /** Same names, family and type as `model`: a config change that keeps them keeps the addresses. */
  readonly namesKey: string;
  resolved: readonly LocalityEndpointsModel[] | undefined;
  /** The first resolution (settles whether it succeeds or fails). */
  first: Promise<void>;
  timer: NodeJS.Timeout | undefined;
  refreshMs: number;
}

function isDns(cluster: ClusterModel): boolean {
  return cluster.type === 'STRICT_DNS' || cluster.type === 'LOGICAL_DNS';
}

function namesKey(cluster: ClusterModel): string {
  return JSON.stringify([
    cluster.type,
    cluster.dnsLookupFamily,
    cluster.localities.map((l) => l.endpoints.map((e) => [e.host, e.port])),
  ]);
}

export class HealthTargets {
  readonly #options: HealthTargetsOptions;
  readonly #resolve: typeof resolveHost;
  #clusters: Readonly<Record<string, ClusterModel>> = {};
  readonly #dns = new Map<string, DnsTarget>();
  #closed = false;

  constructor(options: HealthTargetsOptions) {
    this.#options = options;
    this.#resolve = options.resolve ?? resolveHost;
  }

  /** A new config's clusters. */
  update(clusters: Readonly<Record<string, ClusterModel>>): void {
    if (this.#closed) return;
    this.#clusters = clusters;
    const wanted = new Set<string>();
    for (const cluster of Object.values(clusters)) {
      if (!isDns(cluster) || (cluster.activeHealthChecks ?? []).length === 0) continue;
      wanted.add(cluster.name);
      const key = namesKey(cluster);
      const refreshMs = cluster.dnsRefreshRateMs || DEFAULT_DNS_REFRESH_MS;
      const existing = this.#dns.get(cluster.name);
      if (existing && existing.namesKey === key && existing.refreshMs === refreshMs) {
        existing.model = cluster;
        continue;
      }
      if (existing) clearInterval(existing.timer);
      const target: DnsTarget = {
        model: cluster,
        namesKey: key,
        resolved: undefined,
        first: Promise.resolve(),
        timer: undefined,
        refreshMs,
      };
      this.#dns.set(cluster.name, target);
      target.first = this.#refresh(cluster.name, target);
      target.timer = setInterval(() => void this.#refresh(cluster.name, target), refreshMs);
      target.timer.unref();
    }
    for (const [name, target] of this.#dns) {
      if (wanted.has(name)) continue;
      clearInterval(target.timer);
      this.#dns.delete(name);
    }
    this.#push();
  }

  /**
   * Settles once each of `clusters` that is a checked DNS cluster has had its first resolution
   * (its hosts then reach the health manager); other names count as done.
   */
  firstResolution(clusters: readonly string[]): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const name of clusters) {
      const target = this.#dns.get(name);
      if (target !== undefined) pending.push(target.first);
    }
    return Promise.all(pending).then(() => undefined);
  }

  /** Stops DNS refresh. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const target of this.#dns.values()) clearInterval(target.timer);
    this.#dns.clear();
  }

  #push(): void {
    const out: Record<string, HealthCheckedCluster> = {};
    for (const cluster of Object.values(this.#clusters)) {
      if (!isDns(cluster)) {
        out[cluster.name] = cluster;
        continue;
      }
      const target = this.#dns.get(cluster.name);
      if (!target?.resolved) continue;
      // Addresses in place of names: checked like a STATIC cluster.
      out[cluster.name] = {
        name: cluster.name,
        ...(cluster.activeHealthChecks ? { activeHealthChecks: cluster.activeHealthChecks } : {}),
        localities: target.resolved,
      };
    }
    this.#options.apply(out);
  }

  async #refresh(name: string, target: DnsTarget): Promise<void> {
    try {
      const localities = await resolveLocalities(target.model, this.#resolve);
      if (this.#closed || this.#dns.get(name) !== target) return;
      if (JSON.stringify(localities) === JSON.stringify(target.resolved)) return;
      target.resolved = localities;
      this.#push();
    } catch (err) {
      this.#options.logger.warn(
        { err, cluster: name },
        'health checks: DNS resolution failed; checking the last resolved addresses',
      );
    }
  }
}
