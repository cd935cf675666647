/**
 * ROUND_ROBIN. Equal weights: a plain rotation starting at a random index (so the workers and
 * proxies of a fleet do not all begin on the same host). Unequal weights: earliest deadline first
 * like Envoy, host i's k-th turn due at k / weight_i, which gives exact proportions: weights
 * 1:2:3 over 600 picks give 100/200/300, interleaved rather than in bursts.
 */
import {
  allWeightsEqual,
  type HostPicker,
  type HostPickerFactory,
  type HostRef,
  type RandomSource,
} from './load-balancer.js';
import { EdfScheduler } from './load-balancer-edf.js';

class RotationPicker implements HostPicker {
  private readonly hosts: readonly HostRef[];
  private next: number;

  constructor(hosts: readonly HostRef[], random: RandomSource) {
    this.hosts = hosts;
    this.next = Math.floor(random() * hosts.length) % hosts.length;
  }

  pick(): HostRef | undefined {
    const host = this.hosts[this.next];
    this.next = this.next + 1 === this.hosts.length ? 0 : this.next + 1;
    return host;
  }
}

interface Turn {
  readonly host: HostRef;
  turns: number;
}

class WeightedRoundRobinPicker implements HostPicker {
  private readonly scheduler = new EdfScheduler<Turn>();

  constructor(hosts: readonly HostRef[]) {
    for (const host of hosts) this.scheduler.add({ host, turns: 1 }, 1 / host.weight);
  }

  pick(): HostRef | undefined {
    const due = this.scheduler.pop();
    if (due === undefined) return undefined;
    const turn = due.item;
    turn.turns++;
    // turns / weight, not an accumulated sum: equal rationals give identical doubles, so ties
    // between hosts stay ties and the FIFO order decides, as in exact arithmetic.
    this.scheduler.add(turn, turn.turns / turn.host.weight);
    return turn.host;
  }
}

export const RoundRobinPickerFactory: HostPickerFactory = {
  usesHash: false,
  create(hosts, _cluster, random) {
    return allWeightsEqual(hosts)
      ? new RotationPicker(hosts, random)
      : new WeightedRoundRobinPicker(hosts);
  },
};
