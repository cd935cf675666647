/**
 * RING_HASH: a Ketama-style consistent hash ring built like Envoy's RingHashLoadBalancer.
 * Every host gets ⌈scale × weight share⌉ points (running sums keep the total near `scale`), where
 * scale makes the lightest host get a whole number of points ≥ its share of minimum_ring_size,
 * capped at maximum_ring_size. Point i of a host hashes `"<host:port>_<i>"`. A request takes the
 * first point at or after its hash, wrapping around; retries (attempt > 0) walk to later points.
 * Hashes are xxHash32 (xxhash32.ts) rather than Envoy's xxHash64.
 */
import type { HostPicker, HostPickerFactory, HostRef } from './load-balancer.js';
import { xxhash32 } from './xxhash32.js';

const DEFAULT_MIN_RING_SIZE = 1024;
const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;

export class RingHashPicker implements HostPicker {
  /** Point hashes, ascending. */
  private readonly points: Uint32Array;
  /** Host index for each point. */
  private readonly owners: Uint32Array;
  private readonly hosts: readonly HostRef[];

  constructor(hosts: readonly HostRef[], minRingSize: number, maxRingSize: number) {
    // Sorted by key so every proxy builds the same ring whatever the endpoint order.
    this.hosts = [...hosts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const totalWeight = this.hosts.reduce((sum, h) => sum + h.weight, 0);
    const minShare = Math.min(...this.hosts.map((h) => h.weight / totalWeight));
    const scale = Math.min(Math.ceil(minShare * minRingSize) / minShare, maxRingSize);
    const size = Math.ceil(scale);
    const entries: { hash: number; owner: number }[] = [];
    let current = 0;
    let target = 0;
    this.hosts.forEach((host, owner) => {
      target += (scale * host.weight) / totalWeight;
      for (let i = 0; current < target && entries.length < size; i++, current++) {
        entries.push({ hash: xxhash32(`${host.key}_${i}`), owner });
      }
    });
    entries.sort((a, b) => a.hash - b.hash || a.owner - b.owner);
    this.points = Uint32Array.from(entries, (e) => e.hash);
    this.owners = Uint32Array.from(entries, (e) => e.owner);
  }

  get size(): number {
    return this.points.length;
  }

  pick(_ctx: unknown, hash: number, attempt: number): HostRef | undefined {
    const points = this.points;
    if (points.length === 0) return undefined;
    const target = hash >>> 0;
    let low = 0;
    let high = points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (points[mid]! < target) low = mid + 1;
      else high = mid;
    }
    return this.hosts[this.owners[(low + attempt) % points.length]!];
  }
}

export const RingHashPickerFactory: HostPickerFactory = {
  usesHash: true,
  create(hosts, cluster) {
    return new RingHashPicker(
      hosts,
      cluster.ringHashMinSize || DEFAULT_MIN_RING_SIZE,
      cluster.ringHashMaxSize || DEFAULT_MAX_RING_SIZE,
    );
  },
};
