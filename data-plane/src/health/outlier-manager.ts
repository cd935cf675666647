/**
 * The primary's outlier detection: one OutlierDetector per cluster with outlier_detection, fed
 * with every worker's upstream outcomes (health/outlier-outcomes.ts), as Envoy's detector sees all
 * its worker threads. Volume thresholds (success rate, failure percentage) and consecutive
 * failures therefore count the proxy's whole traffic to a host, and an ejection takes the host
 * out of every worker's rotation at once: `onEjections` gets a cluster's complete ejected set on
 * every change, for the workers.
 *
 * Detectors are kept by cluster name across config versions (counters and ejections survive a
 * change). A STRICT_DNS / LOGICAL_DNS cluster's addresses are resolved by the workers, so its
 * detector learns hosts from the outcomes it is sent.
 */
import { formatHostPort } from '@ferry/shared';
import type { ClusterModel } from '../config/model.js';
import type { StatLabels } from '../stats/stats.js';
import type { ClusterHostHealth } from './health-manager.js';
import { decodeOutcome, type OutcomeBatch } from './outlier-outcomes.js';
import { OutlierDetector, type OutlierDetectorOptions } from './outlier-detector.js';

export interface OutlierManagerOptions extends OutlierDetectorOptions {
  /** A cluster's ejected host keys, complete, after each change ([] = none). */
  readonly onEjections: (cluster: string, hosts: readonly string[]) => void;
}

/** One exported stat of the detectors (as /stats/prometheus lists it, without `ferry_`). */
export interface OutlierStat {
  readonly name: string;
  readonly labels: StatLabels;
  readonly value: number;
}

/** A locality as the config names it (LocalityEndpointsModel.locality). */
export type OutlierLocality = ClusterModel['localities'][number]['locality'];

/** One endpoint's outlier state, for LRS (xds/lrs-outlier-stats.ts). */
export interface EndpointOutlierState {
  /** The locality the config lists the endpoint in. */
  readonly locality: OutlierLocality;
  readonly ejected: boolean;
  /** Enforced ejections since the detector first saw the endpoint (cumulative). */
  readonly ejections: number;
}

const NO_LOCALITY: OutlierLocality = { region: '', zone: '', subZone: '' };

interface Entry {
  readonly detector: OutlierDetector;
  readonly unsubscribe: () => void;
  /** Host key → its locality in the latest config; DNS hosts are learnt, so fall back. */
  localityOf: ReadonlyMap<string, OutlierLocality>;
  /** The locality of hosts the config does not list by address (the cluster's first one). */
  fallbackLocality: OutlierLocality;
}

export class OutlierManager {
  readonly #options: OutlierManagerOptions;
  readonly #clusters = new Map<string, Entry>();

  constructor(options: OutlierManagerOptions) {
    this.#options = options;
  }

  /** A new config's clusters: detectors are created, reconfigured or stopped by name. */
  apply(clusters: Readonly<Record<string, ClusterModel>>): void {
    for (const [name, entry] of this.#clusters) {
      if (clusters[name]?.outlier !== undefined) continue;
      this.#stop(name, entry);
    }
    for (const cluster of Object.values(clusters)) {
      const model = cluster.outlier;
      if (model === undefined) continue;
      const dns = cluster.type === 'STRICT_DNS' || cluster.type === 'LOGICAL_DNS';
      let entry = this.#clusters.get(cluster.name);
      if (entry === undefined) {
        const detector = new OutlierDetector(model, this.#options);
        const name = cluster.name;
        entry = {
          detector,
          unsubscribe: detector.subscribe(() =>
            this.#options.onEjections(name, [...detector.ejectedHosts()].sort()),
          ),
          localityOf: new Map(),
          fallbackLocality: NO_LOCALITY,
        };
        this.#clusters.set(name, entry);
      }
      entry.localityOf = new Map(
        cluster.localities.flatMap((l) =>
          l.endpoints.map((e) => [formatHostPort(e.host, e.port), l.locality] as const),
        ),
      );
      entry.fallbackLocality = cluster.localities[0]?.locality ?? NO_LOCALITY;
      entry.detector.configure(model, { learnHosts: dns });
      entry.detector.start();
      if (!dns)
        entry.detector.setHosts(
          cluster.localities.flatMap((l) => l.endpoints.map((e) => formatHostPort(e.host, e.port))),
        );
    }
  }

  /** One worker's batch of outcomes, replayed in order per host. */
  report(batch: OutcomeBatch): void {
    for (const [cluster, hosts] of Object.entries(batch)) {
      const detector = this.#clusters.get(cluster)?.detector;
      if (detector === undefined) continue;
      for (const [key, codes] of Object.entries(hosts))
        for (const code of codes) detector.report(key, decodeOutcome(code));
    }
  }

  /** A cluster's active health results: passing hosts may be unejected (per its config). */
  activeHealth(cluster: string, hosts: ClusterHostHealth): void {
    const detector = this.#clusters.get(cluster)?.detector;
    if (detector === undefined) return;
    for (const [key, status] of Object.entries(hosts))
      if (status === 'HEALTHY') detector.unejectIfHealthy(key);
  }

  /** Ejected host keys by cluster (admin /clusters, membership gauges). */
  ejectedHosts(): ReadonlyMap<string, ReadonlySet<string>> {
    const out = new Map<string, ReadonlySet<string>>();
    for (const [name, { detector }] of this.#clusters) out.set(name, detector.ejectedHosts());
    return out;
  }

  /**
   * Per cluster of `clusters` that has outlier detection, each endpoint's state by host key, for
   * the LRS report (which sends the ejected ones and the ejections since the previous report).
   */
  endpointStates(
    clusters: readonly string[],
  ): Map<string, ReadonlyMap<string, EndpointOutlierState>> {
    const out = new Map<string, ReadonlyMap<string, EndpointOutlierState>>();
    for (const cluster of clusters) {
      const entry = this.#clusters.get(cluster);
      if (entry === undefined) continue;
      const states = new Map<string, EndpointOutlierState>();
      for (const [key, { ejected, ejections }] of entry.detector.hostEjections())
        states.set(key, {
          locality: entry.localityOf.get(key) ?? entry.fallbackLocality,
          ejected,
          ejections,
        });
      out.set(cluster, states);
    }
    return out;
  }

  /** `outlier_ejections_total` (enforced ejections) by cluster, for /stats/prometheus. */
  counters(): OutlierStat[] {
    return [...this.#clusters].map(([cluster, { detector }]) => ({
      name: 'outlier_ejections_total',
      labels: { cluster },
      value: detector.stats.ejectionsEnforcedTotal,
    }));
  }

  /** `outlier_ejections_active` (hosts ejected now) by cluster, for /stats/prometheus. */
  gauges(): OutlierStat[] {
    return [...this.#clusters].map(([cluster, { detector }]) => ({
      name: 'outlier_ejections_active',
      labels: { cluster },
      value: detector.stats.ejectionsActive,
    }));
  }

  /** Stops every detector. Idempotent. */
  close(): void {
    for (const [name, entry] of this.#clusters) this.#stop(name, entry);
  }

  #stop(name: string, entry: Entry): void {
    entry.unsubscribe();
    entry.detector.close();
    this.#clusters.delete(name);
    this.#options.onEjections(name, []);
  }
}
