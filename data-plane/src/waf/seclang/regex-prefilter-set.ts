/**
 * The prefilter literals of every @rx of a rule set in one Aho-Corasick automaton (ASCII case
 * folded; each literal's payload is its regex's slot): one pass over a value tells which regexes
 * may match it, so a value is scanned once for all of them instead of once per regex. Built at
 * compile time; a regex without literals (see regex-prefilter.ts) always runs.
 */
import { AhoCorasickBuilder, type AhoCorasick } from './aho-corasick.js';
import { prefilterLiterals } from './regex-prefilter.js';

/**
 * Candidates are bitsets (slot k: bit k % 32 of word k / 32): for CRS's ~240 slots that is 32
 * bytes, small enough for V8 to allocate on its heap (a larger typed array gets an off-heap
 * buffer, several times slower to make).
 */
const wordsFor = (slots: number): number => (slots + 31) >>> 5;

export class RegexPrefilterSet {
  #slots = 0;
  /** Collects the literals until build(). */
  #builder: AhoCorasickBuilder | undefined = new AhoCorasickBuilder({ foldAsciiCase: true });
  #automaton: AhoCorasick | undefined;
  #words = 0;
  /** The result for a value with no literal. */
  #noHits = new Uint32Array(0);

  /**
   * Registers a pattern; returns its slot, or -1 when it has no prefilter (the regex must
   * always run).
   */
  add(pattern: string): number {
    const builder = this.#builder;
    if (builder === undefined) throw new Error('RegexPrefilterSet: add() after build()');
    const literals = prefilterLiterals(pattern);
    if (literals === undefined) return -1;
    const slot = this.#slots++;
    for (const lit of literals) builder.add(lit, slot);
    return slot;
  }

  /** The number of slots (regexes with literals). */
  get size(): number {
    return this.#slots;
  }

  build(): void {
    const builder = this.#builder;
    if (builder === undefined) return;
    this.#builder = undefined;
    this.#automaton = builder.build();
    this.#words = wordsFor(this.#slots);
    this.#noHits = new Uint32Array(this.#words);
  }

  /**
   * The slots whose regex may match `value`, a bitset for mayMatch(). Shared when nothing was
   * found, else fresh (the caller caches it per value); never to be written.
   */
  candidates(value: string): Uint32Array {
    const automaton = this.#automaton;
    if (automaton === undefined) return new Uint32Array(wordsFor(this.#slots)).fill(0xffffffff);
    return automaton.payloadsIn(value, this.#words) ?? this.#noHits;
  }
}

/** true when the regex in `slot` (from add(); -1: none) may match a value with `candidates`. */
export function mayMatch(candidates: Uint32Array, slot: number): boolean {
  return slot < 0 || ((candidates[slot >>> 5]! >>> (slot & 31)) & 1) === 1;
}
