/**
 * The prefilter literals of every @rx of a rule set in one Aho-Corasick automaton (ASCII case
 * folded, over latin1 char codes): one pass over a value tells which regexes may match it, so a
 * value is scanned once for all of them instead of once per regex. Built at compile time; a
 * regex without literals (see regex-prefilter.ts) always runs.
 */
import { prefilterLiterals } from './regex-prefilter.js';

/**
 * Candidates are bitsets (slot k: bit k % 32 of word k / 32): for CRS's ~240 slots that is 32
 * bytes, small enough for V8 to allocate on its heap (a larger typed array gets an off-heap
 * buffer, several times slower to make).
 */
const wordsFor = (slots: number): number => (slots + 31) >>> 5;

export class RegexPrefilterSet {
  #slots = 0;
  /** literal -> the slots that list it (collected until build()). */
  #pending: Map<string, number[]> | undefined = new Map<string, number[]>();
  readonly #classOf = new Uint8Array(256);
  #width = 1;
  /** next[state * width + class]: the next state, bit-inverted (< 0) when it reports slots. */
  #next = new Int32Array(1);
  /** Slots each state reports (its literals and those of its suffix states): CSR offsets. */
  #outStart = new Int32Array(2);
  #out = new Int32Array(0);
  #built = false;
  /** The result for a value with no literal. */
  #noHits = new Uint32Array(0);

  /**
   * Registers a pattern; returns its slot, or -1 when it has no prefilter (the regex must
   * always run).
   */
  add(pattern: string): number {
    if (this.#pending === undefined) throw new Error('RegexPrefilterSet: add() after build()');
    const literals = prefilterLiterals(pattern);
    if (literals === undefined) return -1;
    const slot = this.#slots++;
    for (const lit of literals) {
      let slots = this.#pending.get(lit);
      if (slots === undefined) this.#pending.set(lit, (slots = []));
      slots.push(slot);
    }
    return slot;
  }

  /** The number of slots (regexes with literals). */
  get size(): number {
    return this.#slots;
  }

  build(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    const classOf = this.#classOf;
    let width = 1;
    for (const lit of pending.keys())
      for (let i = 0; i < lit.length; i++) {
        const c = lit.charCodeAt(i) & 0xff;
        if (classOf[c] === 0) {
          classOf[c] = width++;
          // ASCII upper-case letters fold onto their lower-case class.
          if (c >= 0x61 && c <= 0x7a) classOf[c - 32] = classOf[c]!;
        }
      }
    this.#width = width;
    const edges: Array<Map<number, number>> = [new Map<number, number>()];
    const own: number[][] = [[]];
    for (const [lit, slots] of pending) {
      let s = 0;
      for (let i = 0; i < lit.length; i++) {
        const c = classOf[lit.charCodeAt(i) & 0xff]!;
        let t = edges[s]!.get(c);
        if (t === undefined) {
          t = edges.length;
          edges.push(new Map<number, number>());
          own.push([]);
          edges[s]!.set(c, t);
        }
        s = t;
      }
      own[s]!.push(...slots);
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
    // Breadth-first: a state's failure link is complete before its children's.
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head]!;
      const inherited = reports[fail[s]!]!;
      reports[s] = inherited.length === 0 ? own[s]! : [...new Set([...own[s]!, ...inherited])];
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
    for (let k = 0; k < next.length; k++) if (reports[next[k]!]!.length > 0) next[k] = ~next[k]!;
    const outStart = new Int32Array(states + 1);
    let total = 0;
    for (let s = 0; s < states; s++) {
      outStart[s] = total;
      total += reports[s]!.length;
    }
    outStart[states] = total;
    const out = new Int32Array(total);
    for (let s = 0; s < states; s++) out.set(reports[s]!, outStart[s]);
    this.#next = next;
    this.#outStart = outStart;
    this.#out = out;
    this.#noHits = new Uint32Array(wordsFor(this.#slots));
    this.#built = true;
  }

  /**
   * The slots whose regex may match `value`, a bitset for mayMatch(). Shared when nothing was
   * found, else fresh (the caller caches it per value); never to be written.
   */
  candidates(value: string): Uint32Array {
    const words = wordsFor(this.#slots);
    if (!this.#built) return new Uint32Array(words).fill(0xffffffff);
    const next = this.#next;
    const classOf = this.#classOf;
    const width = this.#width;
    const outStart = this.#outStart;
    const out = this.#out;
    let result: Uint32Array | undefined;
    let s = 0;
    // State 0 reports nothing: prefilterLiterals never yields ''.
    for (let i = 0; i < value.length; i++) {
      s = next[s * width + classOf[value.charCodeAt(i) & 0xff]!]!;
      if (s < 0) {
        s = ~s;
        result ??= new Uint32Array(words);
        for (let k = outStart[s]!, end = outStart[s + 1]!; k < end; k++) {
          const slot = out[k]!;
          result[slot >>> 5]! |= 1 << (slot & 31);
        }
      }
    }
    return result ?? this.#noHits;
  }
}

/** true when the regex in `slot` (from add(); -1: none) may match a value with `candidates`. */
export function mayMatch(candidates: Uint32Array, slot: number): boolean {
  return slot < 0 || ((candidates[slot >>> 5]! >>> (slot & 31)) & 1) === 1;
}
