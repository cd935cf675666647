/**
 * Envoy's priority and health handling, shared by every lb_policy ("Priority levels", "Degraded
 * endpoints" and "Panic threshold" in Envoy's load balancing docs):
 *
 * - HEALTHY and UNKNOWN endpoints are healthy, DEGRADED ones are used only as a fallback,
 *   UNHEALTHY/DRAINING/TIMEOUT ones are not used unless the priority is in panic.
 * - Each priority's availability is min(100, overprovisioning_factor × eligible / total) with the
 *   factor in percent (default 140); traffic fills priority 0 up to its availability and spills
 *   the rest to the next levels, healthy hosts before degraded ones. When the total availability
 *   is below 100 the loads are scaled up proportionally (normalised).
 * - Panic: only when the normalised total availability is below 100, a priority whose
 *   (healthy + degraded) share of hosts is below healthy_panic_threshold (default 50%, 0 turns
 *   panic off) balances over all of its hosts, healthy or not. With no availability anywhere all
 *   traffic goes to the first priority, in panic.
 *
 * Locality weights are not applied (Envoy ignores them unless locality_weighted_lb_config is
 * set, which translation rejects): each priority's endpoints form one flat set.
 */
import { formatHostPort } from '@ferry/shared';
import type { ClusterModel, EndpointModel, HealthStatus, LbPolicy } from '../config/model.js';
import type {
  HostPicker,
  HostPickerFactory,
  HostRef,
  LoadBalancer,
  PickContext,
  RandomSource,
} from './load-balancer.js';

export interface PriorityLoad {
  /** Percent of traffic per level index (ascending priority) to healthy hosts. */
  readonly healthy: readonly number[];
  /** Percent of traffic per level index to degraded hosts. */
  readonly degraded: readonly number[];
  /** Whether each level balances over all its hosts. */
  readonly panic: readonly boolean[];
}

export interface LevelCounts {
  readonly total: number;
  readonly healthy: number;
  readonly degraded: number;
}

/** Envoy's LoadBalancerBase::recalculatePriorityLoad, integer percentages as in Envoy. */
export function computePriorityLoads(
  levels: readonly LevelCounts[],
  overprovisioningFactorPercent: number,
  panicThresholdPercent: number,
): PriorityLoad {
  const factor = overprovisioningFactorPercent;
  const healthyAvailability = levels.map((l) =>
    l.total === 0 ? 0 : Math.min(100, Math.floor((factor * l.healthy) / l.total)),
  );
  const degradedAvailability = levels.map((l, i) =>
    l.total === 0
      ? 0
      : Math.min(100 - healthyAvailability[i]!, Math.floor((factor * l.degraded) / l.total)),
  );
  let sum = 0;
  for (let i = 0; i < levels.length; i++) sum += healthyAvailability[i]! + degradedAvailability[i]!;
  const normalizedTotal = Math.min(100, sum);
  const healthy = levels.map(() => 0);
  const degraded = levels.map(() => 0);
  const panic = levels.map((l) => {
    if (normalizedTotal === 100) return false;
    const eligiblePercent = l.total === 0 ? 0 : (100 * (l.healthy + l.degraded)) / l.total;
    return eligiblePercent < panicThresholdPercent;
  });
  if (levels.length === 0) return { healthy, degraded, panic };
  if (normalizedTotal === 0) {
    healthy[0] = 100;
    panic[0] = panicThresholdPercent > 0;
    return { healthy, degraded, panic };
  }
  let remaining = 100;
  for (let i = 0; i < levels.length; i++) {
    healthy[i] = Math.min(remaining, Math.floor((healthyAvailability[i]! * 100) / normalizedTotal));
    remaining -= healthy[i]!;
  }
  for (let i = 0; i < levels.length; i++) {
    degraded[i] = Math.min(
      remaining,
      Math.floor((degradedAvailability[i]! * 100) / normalizedTotal),
    );
    remaining -= degraded[i]!;
  }
  if (remaining > 0) {
    // Rounding leftovers go to the first level that has availability, healthy before degraded.
    const first = healthyAvailability.findIndex((a) => a > 0);
    if (first >= 0) healthy[first]! += remaining;
    else degraded[degradedAvailability.findIndex((a) => a > 0)]! += remaining;
  }
  return { healthy, degraded, panic };
}

function isHealthy(status: HealthStatus): boolean {
  return status === 'HEALTHY' || status === 'UNKNOWN';
}

interface LoadSlice {
  /** Exclusive upper bound in [0, 100]. */
  readonly upTo: number;
  readonly hosts: readonly HostRef[];
  picker: HostPicker | undefined;
}

const MAX_EXCLUDE_ATTEMPTS = 16;

export class PriorityLoadBalancer implements LoadBalancer {
  readonly policy: LbPolicy;
  hosts: readonly HostRef[] = [];
  private readonly factory: HostPickerFactory;
  private readonly random: RandomSource;
  private cluster: ClusterModel;
  private slices: LoadSlice[] = [];
  private hostsByIdentity = new Map<string, HostRef>();

  constructor(cluster: ClusterModel, factory: HostPickerFactory, random: RandomSource) {
    this.policy = cluster.lbPolicy;
    this.factory = factory;
    this.random = random;
    this.cluster = cluster;
    this.updateHosts(cluster);
  }

  updateHosts(cluster: ClusterModel): void {
    this.cluster = cluster;
    const previous = this.hostsByIdentity;
    const next = new Map<string, HostRef>();
    const byPriority = new Map<number, HostRef[]>();
    const all: HostRef[] = [];
    for (const locality of cluster.localities) {
      for (const endpoint of locality.endpoints) {
        const host = reuseHost(previous, next, endpoint, locality.priority);
        all.push(host);
        let level = byPriority.get(locality.priority);
        if (level === undefined) byPriority.set(locality.priority, (level = []));
        level.push(host);
      }
    }
    this.hostsByIdentity = next;
    this.hosts = all;

    const priorities = [...byPriority.keys()].sort((a, b) => a - b);
    const levels = priorities.map((p) => byPriority.get(p)!);
    const healthySets = levels.map((hosts) => hosts.filter((h) => isHealthy(h.healthStatus)));
    const degradedSets = levels.map((hosts) => hosts.filter((h) => h.healthStatus === 'DEGRADED'));
    const loads = computePriorityLoads(
      levels.map((hosts, i) => ({
        total: hosts.length,
        healthy: healthySets[i]!.length,
        degraded: degradedSets[i]!.length,
      })),
      cluster.overprovisioningFactor,
      cluster.healthyPanicThresholdPercent,
    );
    const slices: LoadSlice[] = [];
    let upTo = 0;
    levels.forEach((hosts, i) => {
      const panic = loads.panic[i]!;
      const healthyLoad = loads.healthy[i]!;
      const degradedLoad = loads.degraded[i]!;
      if (panic && healthyLoad + degradedLoad > 0) {
        upTo += healthyLoad + degradedLoad;
        slices.push({ upTo, hosts, picker: undefined });
        return;
      }
      if (healthyLoad > 0) {
        upTo += healthyLoad;
        slices.push({ upTo, hosts: healthySets[i]!, picker: undefined });
      }
      if (degradedLoad > 0) {
        upTo += degradedLoad;
        slices.push({ upTo, hosts: degradedSets[i]!, picker: undefined });
      }
    });
    this.slices = slices.filter((s) => s.hosts.length > 0);
  }

  pick(ctx: PickContext): HostRef | undefined {
    const slices = this.slices;
    if (slices.length === 0) return undefined;
    const usesHash = this.factory.usesHash;
    const hash = usesHash ? (ctx.hash ?? Math.floor(this.random() * 0x100000000)) : 0;
    let slice = slices[0]!;
    if (slices.length > 1) {
      // Envoy chooses the priority with the request hash for hash-based policies.
      const point = usesHash ? hash % 100 : Math.floor(this.random() * 100);
      for (const candidate of slices) {
        slice = candidate;
        if (point < candidate.upTo) break;
      }
    }
    const picker = (slice.picker ??= this.factory.create(slice.hosts, this.cluster, this.random));
    const exclude = ctx.exclude;
    let host = picker.pick(ctx, hash, 0);
    if (exclude === undefined || exclude.size === 0 || host === undefined) return host;
    // Retries with previous_hosts: pick again a bounded number of times, then settle for the
    // last pick (Envoy's host_selection_retry_max_attempts behaviour) rather than failing.
    const attempts = Math.min(slice.hosts.length, MAX_EXCLUDE_ATTEMPTS, 2 * exclude.size + 2);
    for (let attempt = 1; attempt < attempts && exclude.has(host!.key); attempt++) {
      host = picker.pick(ctx, hash, attempt);
    }
    // Random re-picks can keep landing on excluded hosts (RANDOM with two hosts: half the time);
    // PickContext promises exclusion while any host remains, so take the first one left.
    if (host !== undefined && exclude.has(host.key))
      host = slice.hosts.find((candidate) => !exclude.has(candidate.key)) ?? host;
    return host;
  }
}

function reuseHost(
  previous: Map<string, HostRef>,
  next: Map<string, HostRef>,
  endpoint: EndpointModel,
  priority: number,
): HostRef {
  const key = formatHostPort(endpoint.host, endpoint.port);
  const weight = Math.max(1, endpoint.weight);
  const identity = `${key}|${priority}|${weight}|${endpoint.healthStatus}|${endpoint.hostname}`;
  const host: HostRef = previous.get(identity) ??
    next.get(identity) ?? {
      key,
      host: endpoint.host,
      port: endpoint.port,
      weight,
      hostname: endpoint.hostname,
      priority,
      healthStatus: endpoint.healthStatus,
    };
  next.set(identity, host);
  return host;
}
