/**
 * The prefilter literals of every @rx of a rule set in one Aho-Corasick automaton (ASCII case
 * folded; each literal's payload is its regex's slot): one pass over a value tells which regexes
 * may match it, so a value is scanned once for all of them instead of once per regex. Built at
 * compile time; a regex without literals (see regex-prefilter.ts) always runs.
 *
 * The phrases of @pm and @pmFromFile operators whose phrases are all ASCII have slots too: a
 * phrase operator lower-cases the value and looks for its phrases, which for ASCII phrases is
 * what the ASCII-folded automaton finds, so the same pass tells which phrase operators cannot
 * match (and the rule set's shared per-value candidates spare them their own scans).
 */
import { AhoCorasickBuilder, type AhoCorasick } from './aho-corasick.js';
import { prefilterLiterals } from './regex-prefilter.js';

/**
 * Candidates are bitsets (slot k: bit k % 32 of word k / 32): for CRS's ~240 slots that is 32
 * bytes, small enough for V8 to allocate on its heap (a larger typed array gets an off-heap
 * buffer, several times slower to make).
 */
const wordsFor = (slots: number): number => (slots + 31) >>> 5;

const ABOVE_LATIN1 = /[^\0-\xff]/;

export class RegexPrefilterSet {
  #slots = 0;
  /** Collects the literals until build(). */
  #builder: AhoCorasickBuilder | undefined = new AhoCorasickBuilder({ foldAsciiCase: true });
  #automaton: AhoCorasick | undefined;
  #words = 0;
  /** The result for a value with no literal. */
  #noHits = new Uint32Array(0);
  /** The slots of phrase operators (addPhrases), as a bitset once built. */
  readonly #phraseSlots: number[] = [];
  #phraseMask: Uint32Array | undefined;

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

  /**
   * Registers the phrases of a phrase operator (lower-cased, every one ASCII and not empty);
   * returns its slot: a value's candidates hold it when the value holds one of the phrases,
   * ASCII case folded.
   */
  addPhrases(phrases: readonly string[]): number {
    const builder = this.#builder;
    if (builder === undefined) throw new Error('RegexPrefilterSet: addPhrases() after build()');
    const slot = this.#slots++;
    for (const phrase of phrases) builder.add(phrase, slot);
    this.#phraseSlots.push(slot);
    return slot;
  }

  /** The number of slots (regexes with literals, phrase operators). */
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
    if (this.#phraseSlots.length > 0) {
      const mask = new Uint32Array(this.#words);
      for (const slot of this.#phraseSlots) mask[slot >>> 5]! |= 1 << (slot & 31);
      this.#phraseMask = mask;
    }
  }

  /**
   * The slots whose regex may match `value`, a bitset for mayMatch(). Shared when nothing was
   * found, else fresh (the caller caches it per value); never to be written.
   */
  candidates(value: string): Uint32Array {
    const automaton = this.#automaton;
    if (automaton === undefined) return new Uint32Array(wordsFor(this.#slots)).fill(0xffffffff);
    const found = automaton.payloadsIn(value, this.#words) ?? this.#noHits;
    const phrases = this.#phraseMask;
    // Lower-casing a char above U+00FF may give an ASCII letter (U+212A KELVIN SIGN gives 'k'),
    // which the automaton, reading a char's low byte, does not see: every phrase operator runs.
    if (phrases === undefined || !ABOVE_LATIN1.test(value)) return found;
    const out = found.slice();
    for (let k = 0; k < out.length; k++) out[k]! |= phrases[k]!;
    return out;
  }
}

/** true when the regex in `slot` (from add(); -1: none) may match a value with `candidates`. */
export function mayMatch(candidates: Uint32Array, slot: number): boolean {
  return slot < 0 || ((candidates[slot >>> 5]! >>> (slot & 31)) & 1) === 1;
}
