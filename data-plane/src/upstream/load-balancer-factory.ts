/**
 * Builds a cluster's LoadBalancer: Envoy's priority and health handling
 * (load-balancer-priority.ts) over the HostPicker of the cluster's lb_policy. The one module
 * that knows every policy's implementation; the implementations know only load-balancer.ts.
 */
import type { ClusterModel, LbPolicy } from '../config/model.js';
import type { HostPickerFactory, LoadBalancer, RandomSource } from './load-balancer.js';
import { LeastRequestPickerFactory } from './load-balancer-least-request.js';
import { MaglevPickerFactory } from './load-balancer-maglev.js';
import { PriorityLoadBalancer } from './load-balancer-priority.js';
import { RandomPickerFactory } from './load-balancer-random.js';
import { RingHashPickerFactory } from './load-balancer-ring-hash.js';
import { RoundRobinPickerFactory } from './load-balancer-round-robin.js';

export interface LoadBalancerOptions {
  readonly random?: RandomSource;
}

export const PICKER_FACTORIES: Readonly<Record<LbPolicy, HostPickerFactory>> = {
  ROUND_ROBIN: RoundRobinPickerFactory,
  LEAST_REQUEST: LeastRequestPickerFactory,
  RANDOM: RandomPickerFactory,
  RING_HASH: RingHashPickerFactory,
  MAGLEV: MaglevPickerFactory,
};

export function createLoadBalancer(
  cluster: ClusterModel,
  options: LoadBalancerOptions = {},
): LoadBalancer {
  return new PriorityLoadBalancer(
    cluster,
    PICKER_FACTORIES[cluster.lbPolicy],
    options.random ?? Math.random,
  );
}
