/** RANDOM: each pick independent, weighted by load_balancing_weight. */
import {
  allWeightsEqual,
  type HostPicker,
  type HostPickerFactory,
  type HostRef,
  type RandomSource,
} from './load-balancer.js';

class RandomPicker implements HostPicker {
  private readonly hosts: readonly HostRef[];
  private readonly random: RandomSource;
  /** Cumulative weights (exclusive upper bounds), or undefined when all weights are equal. */
  private readonly bounds: Float64Array | undefined;
  private readonly total: number;

  constructor(hosts: readonly HostRef[], random: RandomSource) {
    this.hosts = hosts;
    this.random = random;
    if (allWeightsEqual(hosts)) {
      this.bounds = undefined;
      this.total = hosts.length;
    } else {
      this.bounds = new Float64Array(hosts.length);
      let total = 0;
      hosts.forEach((host, i) => (this.bounds![i] = total += host.weight));
      this.total = total;
    }
  }

  pick(): HostRef | undefined {
    const point = Math.floor(this.random() * this.total);
    const bounds = this.bounds;
    if (bounds === undefined) return this.hosts[point];
    let low = 0;
    let high = bounds.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (point < bounds[mid]!) high = mid;
      else low = mid + 1;
    }
    return this.hosts[low];
  }
}

export const RandomPickerFactory: HostPickerFactory = {
  usesHash: false,
  create(hosts, _cluster, random) {
    return new RandomPicker(hosts, random);
  },
};
