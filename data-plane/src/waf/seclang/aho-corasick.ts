/**
 * One Aho-Corasick automaton over latin1 char codes, built once (at rule compile time) and then
 * read by the hot path: @pm's phrase sets ask whether any pattern occurs in a value, the @rx
 * literal prefilter which patterns' payloads (small integers: regex slots) occur.
 *
 * The automaton is a complete transition table: `next[state * width + class]`, where each byte
 * maps to a class (0: in no pattern), so a scan is one table read per byte. States are numbered
 * so that those reporting payloads (their own patterns' or those of their suffix states) come
 * last, from `firstReporting` on: a scan only looks further when a transition lands there. The
 * numbering keeps the table free of flag bits, so it fits a Uint16Array up to 65536 states (CRS's
 * largest automaton has ~45000), half the memory of 32-bit entries.
 */

export interface AhoCorasickOptions {
  /** Fold ASCII letters (A-Z onto a-z) in patterns and scanned values alike. */
  readonly foldAsciiCase?: boolean;
}

/** Collects patterns with their payloads, then build() makes the automaton. */
export class AhoCorasickBuilder {
  readonly #foldAsciiCase: boolean;
  /** pattern (folded) -> its payloads */
  readonly #patterns = new Map<string, number[]>();

  constructor(options: AhoCorasickOptions = {}) {
    this.#foldAsciiCase = options.foldAsciiCase === true;
  }

  /** Adds a pattern reporting `payload` (a non-negative integer) wherever it occurs. */
  add(pattern: string, payload: number): void {
    const key = this.#foldAsciiCase ? pattern.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : pattern;
    let payloads = this.#patterns.get(key);
    if (payloads === undefined) this.#patterns.set(key, (payloads = []));
    if (!payloads.includes(payload)) payloads.push(payload);
  }

  build(): AhoCorasick {
    const classOf = new Uint8Array(256);
    let width = 1;
    for (const pattern of this.#patterns.keys())
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern.charCodeAt(i) & 0xff;
        if (classOf[c] !== 0) continue;
        classOf[c] = width++;
        // Patterns are folded already: an upper-case letter in a value shares its class.
        if (this.#foldAsciiCase && c >= 0x61 && c <= 0x7a) classOf[c - 32] = classOf[c]!;
      }
    // The trie: edges per state, the payloads of the patterns ending there.
    const edges: Array<Map<number, number>> = [new Map<number, number>()];
    const own: number[][] = [[]];
    for (const [pattern, payloads] of this.#patterns) {
      let s = 0;
      for (let i = 0; i < pattern.length; i++) {
        const c = classOf[pattern.charCodeAt(i) & 0xff]!;
        let t = edges[s]!.get(c);
        if (t === undefined) {
          t = edges.length;
          edges.push(new Map<number, number>());
          own.push([]);
          edges[s]!.set(c, t);
        }
        s = t;
      }
      for (const p of payloads) if (!own[s]!.includes(p)) own[s]!.push(p);
    }
    const states = edges.length;
    const next = new Int32Array(states * width);
    const fail = new Int32Array(states);
    const reports: number[][] = new Array<number[]>(states);
    reports[0] = own[0]!;
    const queue: number[] = [];
    for (let c = 0; c < width; c++) {
      const t = edges[0]!.get(c);
      next[c] = t ?? 0;
      if (t !== undefined) queue.push(t);
    }
    // Breadth-first: a state's failure link (and so what it inherits) is complete before its
    // children's.
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head]!;
      const inherited = reports[fail[s]!]!;
      const mine = own[s]!;
      reports[s] =
        inherited.length === 0
          ? mine
          : mine.length === 0
            ? inherited
            : [...new Set([...mine, ...inherited])];
      for (let c = 0; c < width; c++) {
        const t = edges[s]!.get(c);
        if (t === undefined) next[s * width + c] = next[fail[s]! * width + c]!;
        else {
          fail[t] = next[fail[s]! * width + c]!;
          next[s * width + c] = t;
          queue.push(t);
        }
      }
    }
    // Renumber: non-reporting states first (the root stays 0: when it reports, every state
    // does, since all inherit from it), then the reporting ones.
    const numberOf = new Int32Array(states);
    const order: number[] = [];
    for (let s = 0; s < states; s++) if (reports[s]!.length === 0) order.push(s);
    const firstReporting = order.length;
    for (let s = 0; s < states; s++) if (reports[s]!.length > 0) order.push(s);
    for (let k = 0; k < states; k++) numberOf[order[k]!] = k;
    const table =
      states <= 0x10000 ? new Uint16Array(states * width) : new Uint32Array(states * width);
    for (let k = 0; k < states; k++) {
      const from = order[k]! * width;
      const to = k * width;
      for (let c = 0; c < width; c++) table[to + c] = numberOf[next[from + c]!]!;
    }
    const outStart = new Int32Array(states + 1);
    let total = 0;
    for (let k = 0; k < states; k++) {
      outStart[k] = total;
      total += reports[order[k]!]!.length;
    }
    outStart[states] = total;
    const out = new Int32Array(total);
    for (let k = 0; k < states; k++) out.set(reports[order[k]!]!, outStart[k]);
    return new AhoCorasick(classOf, width, table, firstReporting, outStart, out);
  }
}

/** An automaton from AhoCorasickBuilder; immutable, shared by every transaction. */
export class AhoCorasick {
  /** @internal Made by AhoCorasickBuilder.build(). */
  constructor(
    private readonly classOf: Uint8Array,
    private readonly width: number,
    /** Uint16Array up to 65536 states, Uint32Array beyond. */
    private readonly next: Uint16Array | Uint32Array,
    /** States from this one on report payloads. */
    private readonly firstReporting: number,
    /** Payloads each state reports: out[outStart[s] .. outStart[s + 1]). */
    private readonly outStart: Int32Array,
    private readonly out: Int32Array,
  ) {}

  /** true when `value` contains a pattern (an empty pattern is in every value). */
  foundIn(value: string): boolean {
    if (this.outStart[1]! > 0) return true;
    const next = this.next;
    const classOf = this.classOf;
    const width = this.width;
    const firstReporting = this.firstReporting;
    let s = 0;
    for (let i = 0; i < value.length; i++) {
      s = next[s * width + classOf[value.charCodeAt(i) & 0xff]!]!;
      if (s >= firstReporting) return true;
    }
    return false;
  }

  /**
   * The payloads of the patterns `value` contains, as a bitset of `words` 32-bit words
   * (payload p: bit p % 32 of word p / 32; every payload must be below words * 32); undefined
   * when it contains none.
   */
  payloadsIn(value: string, words: number): Uint32Array | undefined {
    const next = this.next;
    const classOf = this.classOf;
    const width = this.width;
    const outStart = this.outStart;
    const out = this.out;
    const firstReporting = this.firstReporting;
    let result: Uint32Array | undefined;
    if (outStart[1]! > 0) result = this.#report(0, new Uint32Array(words));
    let s = 0;
    for (let i = 0; i < value.length; i++) {
      s = next[s * width + classOf[value.charCodeAt(i) & 0xff]!]!;
      if (s >= firstReporting) {
        result ??= new Uint32Array(words);
        for (let k = outStart[s]!, end = outStart[s + 1]!; k < end; k++) {
          const p = out[k]!;
          result[p >>> 5]! |= 1 << (p & 31);
        }
      }
    }
    return result;
  }

  #report(state: number, into: Uint32Array): Uint32Array {
    for (let k = this.outStart[state]!, end = this.outStart[state + 1]!; k < end; k++) {
      const p = this.out[k]!;
      into[p >>> 5]! |= 1 << (p & 31);
    }
    return into;
  }
}
