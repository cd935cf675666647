/**
 * Runs the health-check work the control plane assigns over HDS (Envoy's HdsCluster): the
 * checks of each assigned cluster against that cluster's endpoints, with the same checkers,
 * thresholds, intervals and jitter as the proxy's own checks (a HealthManager of its own).
 *
 * Owned by the HDS client (xds/hds-client.ts), which calls `apply` with every new specifier and
 * `view` at every report. The results are only reported: they never reach the workers' load
 * balancers, as Envoy keeps HDS clusters apart from its CDS clusters.
 *
 * `apply` replaces the whole assignment. A session (cluster, host, check) that survives keeps its
 * health, counters and schedule; a check whose settings changed starts afresh (the
 * HealthManager's `content` session identity, as Envoy's HdsCluster::updateHealthchecks).
 * Every timer is unref'd; close() is idempotent and stops every check.
 */
import { formatHostPort, type Logger } from '@ferry/shared';
import type { HealthCheckModel } from '../config/model.js';
import type { HealthChecker } from './health-checker.js';
import { HealthManager, type HealthCheckedCluster } from './health-manager.js';
import type { HdsClusterAssignment, HdsLocality } from './hds-specifier.js';

/** Envoy's HealthStatus values an HDS report uses. */
export type HdsHealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'TIMEOUT';

export interface AssignedEndpointHealth {
  readonly host: string;
  readonly port: number;
  readonly status: HdsHealthStatus;
}

export interface AssignedClusterHealth {
  readonly name: string;
  readonly localities: readonly {
    readonly locality?: HdsLocality['locality'];
    readonly endpoints: readonly AssignedEndpointHealth[];
  }[];
}

export interface HdsAssignmentsOptions {
  readonly logger: Logger;
  /** [0, 1), for jitter (tests inject a fixed one). */
  readonly random?: () => number;
  /** Tests substitute probes; by default the checker for the check's kind. */
  readonly createChecker?: (model: HealthCheckModel) => HealthChecker;
}

export class HdsAssignments {
  readonly #health: HealthManager;
  #clusters: readonly HdsClusterAssignment[] = [];
  #closed = false;

  constructor(options: HdsAssignmentsOptions) {
    this.#health = new HealthManager({
      logger: options.logger.child({ hds: true }),
      // Nothing to forward: assigned results are read at report time, never load-balanced on.
      onUpdate: () => undefined,
      sessionIdentity: 'content',
      ...(options.random ? { random: options.random } : {}),
      ...(options.createChecker ? { createChecker: options.createChecker } : {}),
    });
  }

  /** Replaces the assigned work ([] = none). Cluster names are unique (hds-specifier.ts). */
  apply(clusters: readonly HdsClusterAssignment[]): void {
    if (this.#closed) return;
    this.#clusters = clusters;
    const checked: Record<string, HealthCheckedCluster> = {};
    for (const cluster of clusters) {
      checked[cluster.name] = {
        name: cluster.name,
        activeHealthChecks: cluster.checks,
        localities: cluster.localities,
      };
    }
    this.#health.apply(checked);
  }

  /** Names of the assigned clusters. */
  clusterNames(): ReadonlySet<string> {
    return new Set(this.#clusters.map((c) => c.name));
  }

  /**
   * Every assigned cluster with its localities and endpoints as the specifier gave them, each
   * endpoint with its status: HEALTHY, UNHEALTHY, or TIMEOUT when a failing check last timed
   * out (Envoy's HdsDelegate::sendResponse). Hosts start unhealthy until their first check.
   */
  view(): AssignedClusterHealth[] {
    const health = this.#health.view();
    return this.#clusters.map((cluster) => {
      const hosts = health.get(cluster.name);
      return {
        name: cluster.name,
        localities: cluster.localities.map((locality) => ({
          ...(locality.locality ? { locality: locality.locality } : {}),
          endpoints: locality.endpoints.map((endpoint): AssignedEndpointHealth => {
            const host = hosts?.get(formatHostPort(endpoint.host, endpoint.port));
            const status: HdsHealthStatus =
              host === undefined || host.status === 'UNHEALTHY'
                ? host?.timedOut
                  ? 'TIMEOUT'
                  : 'UNHEALTHY'
                : 'HEALTHY';
            return { host: endpoint.host, port: endpoint.port, status };
          }),
        })),
      };
    });
  }

  /** Stops every assigned check. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clusters = [];
    this.#health.close();
  }
}
