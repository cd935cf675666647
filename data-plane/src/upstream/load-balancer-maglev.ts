/**
 * MAGLEV (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer", §3.4),
 * weighted as in Envoy's MaglevLoadBalancer: each host has a permutation of the table slots,
 * offset = h0(key) mod M and skip = h1(key) mod (M − 1) + 1; hosts take turns claiming their
 * next free slot, a host with weight w/max taking a turn every max/w rounds. The table size M is
 * a prime (default 65537). A request takes slot hash mod M; retries mix the attempt into the hash.
 */
import type { HostPicker, HostPickerFactory, HostRef } from './load-balancer.js';
import { mixAttempt, xxhash32 } from './xxhash32.js';

const DEFAULT_TABLE_SIZE = 65537;

interface BuildEntry {
  readonly offset: number;
  readonly skip: number;
  readonly weight: number;
  target: number;
  next: number;
}

export class MaglevPicker implements HostPicker {
  private readonly table: Uint32Array;
  private readonly hosts: readonly HostRef[];

  constructor(hosts: readonly HostRef[], tableSize: number) {
    this.hosts = [...hosts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const size = tableSize;
    this.table = new Uint32Array(size);
    if (this.hosts.length === 0) return;
    const filled = new Uint8Array(size);
    const maxWeight = Math.max(...this.hosts.map((h) => h.weight));
    const entries: BuildEntry[] = this.hosts.map((host) => ({
      offset: xxhash32(host.key, 0) % size,
      skip: (xxhash32(host.key, 1) % (size - 1)) + 1,
      weight: host.weight,
      target: 0,
      next: 0,
    }));
    let placed = 0;
    for (let round = 1; placed < size; round++) {
      for (let i = 0; i < entries.length && placed < size; i++) {
        const entry = entries[i]!;
        if (round * entry.weight < entry.target) continue;
        entry.target += maxWeight;
        let slot = (entry.offset + entry.skip * entry.next) % size;
        while (filled[slot] === 1) {
          entry.next++;
          slot = (entry.offset + entry.skip * entry.next) % size;
        }
        filled[slot] = 1;
        this.table[slot] = i;
        entry.next++;
        placed++;
      }
    }
  }

  /** Host index per slot (tests measure disruption with it). */
  ownerAt(slot: number): HostRef | undefined {
    return this.hosts[this.table[slot]!];
  }

  get size(): number {
    return this.table.length;
  }

  pick(_ctx: unknown, hash: number, attempt: number): HostRef | undefined {
    if (this.hosts.length === 0) return undefined;
    const h = attempt === 0 ? hash >>> 0 : mixAttempt(hash, attempt);
    return this.hosts[this.table[h % this.table.length]!];
  }
}

export const MaglevPickerFactory: HostPickerFactory = {
  usesHash: true,
  create(hosts, cluster) {
    return new MaglevPicker(hosts, cluster.maglevTableSize || DEFAULT_TABLE_SIZE);
  },
};
