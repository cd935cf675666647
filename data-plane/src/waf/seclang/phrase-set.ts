/**
 * A set of phrases searched in one pass over a value (one Aho-Corasick automaton), for @pm and
 * @pmFromFile: CRS's phrase files hold up to ~1,300 phrases, which a phrase-by-phrase search
 * would scan the value for one at a time. The caller lower-cases phrases and values alike
 * (latin1, beyond ASCII too), so the automaton compares them as they are.
 */
import { AhoCorasickBuilder, type AhoCorasick } from './aho-corasick.js';

export class PhraseSet {
  readonly #automaton: AhoCorasick;

  constructor(phrases: readonly string[]) {
    const builder = new AhoCorasickBuilder();
    for (const p of phrases) builder.add(p, 0);
    this.#automaton = builder.build();
  }

  /** true when a lower-cased `value` contains one of the phrases. */
  foundIn(lowerValue: string): boolean {
    return this.#automaton.foundIn(lowerValue);
  }
}
