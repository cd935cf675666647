/**
 * Load balancing over a cluster's endpoints: the interfaces every policy implements, and helpers
 * the implementations share. load-balancer-factory.ts picks the implementation for
 * Cluster.lb_policy. Every policy shares Envoy's priority and health handling
 * (load-balancer-priority.ts); each implementation (`load-balancer-<policy>.ts`) only supplies
 * how to pick one host out of a set of eligible hosts (a HostPicker).
 *
 * One LoadBalancer per cluster per worker. It is synchronous and keeps no per-request state
 * beyond its own rotation; the request path owns per-host counters (active requests, pools)
 * keyed by HostRef.key, which therefore carry over when endpoints change.
 */
import type { ClusterModel, HealthStatus, LbPolicy } from '../config/model.js';

export { hashForRequest, type GeneratedCookie, type HashRequest } from './hash-policy.js';

export interface HostRef {
  /** `host:port` (IPv6 as `[addr]:port`): the identity per-host state is keyed by. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** load_balancing_weight (≥ 1). */
  readonly weight: number;
  /** endpoint.hostname, or the DNS name for STRICT_DNS/LOGICAL_DNS ("" if none): auto_host_rewrite. */
  readonly hostname: string;
  readonly priority: number;
  readonly healthStatus: HealthStatus;
}

/**
 * Per-pick inputs. The load balancer does not keep the object, so the request path may reuse
 * one per worker and just reset its fields.
 */
export interface PickContext {
  /** The request hash from hashForRequest (RING_HASH, MAGLEV); absent = a random hash. */
  hash?: number | undefined;
  /** Hosts to avoid (retries with previous_hosts); honoured unless every eligible host is in it. */
  exclude?: ReadonlySet<string> | undefined;
  /** Requests in flight to a host (LEAST_REQUEST). */
  activeRequests(hostKey: string): number;
}

export interface LoadBalancer {
  readonly policy: LbPolicy;
  /** Every host of every priority, healthy or not (admin /clusters). */
  readonly hosts: readonly HostRef[];
  /** undefined when the cluster has no hosts at all (Envoy: 503, response flag UH). */
  pick(ctx: PickContext): HostRef | undefined;
  /** Takes new endpoints/health (EDS or DNS update); HostRefs with an unchanged key+weight+health are reused. */
  updateHosts(cluster: ClusterModel): void;
}

/** Returns a number in [0, 1), like Math.random (tests inject a deterministic sequence). */
export type RandomSource = () => number;

/** Picks from one set of eligible hosts (all of one priority, or its healthy/degraded subset). */
export interface HostPicker {
  /**
   * `hash` is the request hash (hash policies) or a random 32-bit value; `attempt` counts from 0
   * and grows when the previous pick was excluded, so hash pickers can move to another host.
   */
  pick(ctx: PickContext, hash: number, attempt: number): HostRef | undefined;
}

export interface HostPickerFactory {
  /** Whether picks depend on the request hash (priority choice then uses the hash too). */
  readonly usesHash: boolean;
  create(hosts: readonly HostRef[], cluster: ClusterModel, random: RandomSource): HostPicker;
}

/** Whether every host has the same weight (pickers then rotate or draw without weights). */
export function allWeightsEqual(hosts: readonly HostRef[]): boolean {
  for (const host of hosts) if (host.weight !== hosts[0]!.weight) return false;
  return true;
}
