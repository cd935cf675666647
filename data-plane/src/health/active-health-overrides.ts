/**
 * A worker's copy of the primary's active health-check results (checks run once, in the
 * primary; workers receive `health` messages). ClusterRuntime reads it to decide which
 * hosts its load balancer may use, and re-reads it when a cluster's results change.
 *
 * Results are kept by cluster name, independent of config versions, so a cluster version built
 * after the results arrived (or a worker receiving results before the config) still sees them.
 */
import { formatHostPort } from '@ferry/shared';
import type { EndpointModel, HealthStatus, LocalityEndpointsModel } from '../config/model.js';
import type { ActiveHealthStatus } from './health-state.js';

export class ActiveHealthOverrides {
  readonly #byCluster = new Map<string, ReadonlyMap<string, ActiveHealthStatus>>();
  readonly #listeners = new Map<string, Set<() => void>>();

  /** Replaces a cluster's results ({} removes them) and notifies its subscribers. */
  set(cluster: string, hosts: Readonly<Record<string, ActiveHealthStatus>>): void {
    const map = new Map(Object.entries(hosts));
    if (map.size === 0) this.#byCluster.delete(cluster);
    else this.#byCluster.set(cluster, map);
    for (const listener of this.#listeners.get(cluster) ?? []) listener();
  }

  get(cluster: string): ReadonlyMap<string, ActiveHealthStatus> | undefined {
    return this.#byCluster.get(cluster);
  }

  /** Calls `listener` after each change of `cluster`'s results; returns the unsubscribe. */
  subscribe(cluster: string, listener: () => void): () => void {
    let set = this.#listeners.get(cluster);
    if (!set) {
      set = new Set();
      this.#listeners.set(cluster, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(cluster);
    };
  }
}

/** The one instance of a worker process (each worker is its own process). */
export const workerActiveHealth = new ActiveHealthOverrides();

/**
 * Endpoints with active results folded into their health status, as Envoy combines its health
 * flags: failing active checks makes a host UNHEALTHY whatever EDS says; passing them leaves the
 * EDS status (an EDS UNHEALTHY or DRAINING host stays out of rotation).
 */
export function withActiveHealth(
  localities: readonly LocalityEndpointsModel[],
  active: ReadonlyMap<string, ActiveHealthStatus> | undefined,
): readonly LocalityEndpointsModel[] {
  if (active === undefined || active.size === 0) return localities;
  return localities.map((locality) => ({
    ...locality,
    endpoints: locality.endpoints.map((endpoint): EndpointModel => {
      const status: HealthStatus =
        active.get(formatHostPort(endpoint.host, endpoint.port)) === 'UNHEALTHY'
          ? 'UNHEALTHY'
          : endpoint.healthStatus;
      return status === endpoint.healthStatus ? endpoint : { ...endpoint, healthStatus: status };
    }),
  }));
}
