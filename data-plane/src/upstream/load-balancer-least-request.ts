/**
 * LEAST_REQUEST, as Envoy documents it:
 * - equal weights: power of N choices (choice_count, default 2): sample N hosts at random (with
 *   replacement) and take the one with the fewest active requests, the first sampled on a tie;
 * - unequal weights: earliest deadline first where a host's effective weight is
 *   weight / (active_requests + 1) ^ active_request_bias (bias default 1.0; 0 = plain weighted
 *   round robin), computed when the host is rescheduled after being picked.
 */
import {
  allWeightsEqual,
  type HostPicker,
  type HostPickerFactory,
  type HostRef,
  type PickContext,
  type RandomSource,
} from './load-balancer.js';
import { EdfScheduler } from './load-balancer-edf.js';

class PowerOfChoicesPicker implements HostPicker {
  private readonly hosts: readonly HostRef[];
  private readonly random: RandomSource;
  private readonly choices: number;

  constructor(hosts: readonly HostRef[], random: RandomSource, choices: number) {
    this.hosts = hosts;
    this.random = random;
    this.choices = Math.max(1, choices);
  }

  pick(ctx: PickContext): HostRef | undefined {
    const hosts = this.hosts;
    let best: HostRef | undefined;
    let bestActive = Infinity;
    for (let i = 0; i < this.choices; i++) {
      const candidate = hosts[Math.floor(this.random() * hosts.length)]!;
      const active = ctx.activeRequests(candidate.key);
      if (active < bestActive) {
        best = candidate;
        bestActive = active;
      }
    }
    return best;
  }
}

class WeightedLeastRequestPicker implements HostPicker {
  private readonly scheduler = new EdfScheduler<HostRef>();
  private readonly bias: number;

  constructor(hosts: readonly HostRef[], bias: number) {
    this.bias = bias;
    for (const host of hosts) this.scheduler.add(host, 1 / host.weight);
  }

  pick(ctx: PickContext): HostRef | undefined {
    const due = this.scheduler.pop();
    if (due === undefined) return undefined;
    const host = due.item;
    const active = ctx.activeRequests(host.key);
    const effectiveWeight =
      this.bias === 0 ? host.weight : host.weight / Math.pow(active + 1, this.bias);
    this.scheduler.add(host, due.deadline + 1 / effectiveWeight);
    return host;
  }
}

export const LeastRequestPickerFactory: HostPickerFactory = {
  usesHash: false,
  create(hosts, cluster, random) {
    if (allWeightsEqual(hosts)) {
      return new PowerOfChoicesPicker(hosts, random, cluster.leastRequestChoiceCount || 2);
    }
    return new WeightedLeastRequestPicker(hosts, cluster.leastRequestActiveRequestBias ?? 1);
  },
};
