/**
 * A set of CIDR ranges as binary tries (one per address family), built once when a config is
 * compiled: whether an address is in any range costs one walk of at most 32 (IPv4) or 128 (IPv6)
 * nodes, however many ranges the set holds. A policy listing a thousand office networks is then
 * as cheap to evaluate as one listing a single network.
 */
import { type Cidr, type IpBytes } from '../../../listener/cidr.js';

/** One family's trie: node 0 is the root; child index 0 means "no child". */
class BitTrie {
  #zero: number[] = [0];
  #one: number[] = [0];
  #terminal: boolean[] = [false];
  #zeroFrozen = new Int32Array(0);
  #oneFrozen = new Int32Array(0);
  #terminalFrozen = new Uint8Array(0);

  insert(bytes: IpBytes, prefixLen: number): void {
    let node = 0;
    for (let bit = 0; bit < prefixLen; bit++) {
      if (this.#terminal[node]) return; // A shorter range already covers this one.
      const children = (bytes[bit >> 3]! >> (7 - (bit & 7))) & 1 ? this.#one : this.#zero;
      let next = children[node]!;
      if (next === 0) {
        next = this.#terminal.length;
        this.#zero.push(0);
        this.#one.push(0);
        this.#terminal.push(false);
        children[node] = next;
      }
      node = next;
    }
    this.#terminal[node] = true;
  }

  freeze(): void {
    this.#zeroFrozen = Int32Array.from(this.#zero);
    this.#oneFrozen = Int32Array.from(this.#one);
    this.#terminalFrozen = Uint8Array.from(this.#terminal, (t) => (t ? 1 : 0));
    this.#zero = [];
    this.#one = [];
    this.#terminal = [];
  }

  contains(ip: IpBytes): boolean {
    const zero = this.#zeroFrozen;
    const one = this.#oneFrozen;
    const terminal = this.#terminalFrozen;
    if (terminal.length === 0) return false;
    let node = 0;
    const bits = ip.length * 8;
    for (let bit = 0; ; bit++) {
      if (terminal[node] === 1) return true;
      if (bit === bits) return false;
      node = (ip[bit >> 3]! >> (7 - (bit & 7))) & 1 ? one[node]! : zero[node]!;
      if (node === 0) return false;
    }
  }
}

/** CIDR ranges of both families; an address is only ever in a range of its own family. */
export class CidrSet {
  readonly #v4 = new BitTrie();
  readonly #v6 = new BitTrie();

  constructor(ranges: readonly Cidr[]) {
    for (const range of ranges)
      (range.bytes.length === 4 ? this.#v4 : this.#v6).insert(range.bytes, range.prefixLen);
    this.#v4.freeze();
    this.#v6.freeze();
  }

  contains(ip: IpBytes | undefined): boolean {
    if (ip === undefined) return false;
    return (ip.length === 4 ? this.#v4 : this.#v6).contains(ip);
  }
}
