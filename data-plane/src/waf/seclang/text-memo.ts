/**
 * What a rule set computed from a short text (its transformed forms, its prefilter candidates),
 * kept across transactions. Much of what a WAF inspects repeats from request to request: the
 * Host, User-Agent, Accept and Accept-* headers of a site's visitors, its paths, the names of its
 * arguments. What is kept is a pure function of the text, so a transaction that finds it here
 * gets exactly what it would have computed.
 *
 * Bounded by entries, in two generations: new and re-used entries go to the young map; when it
 * holds `capacity` entries it becomes the old one and the previous old one is dropped. A text
 * used again since the last turn survives it, one that was not is computed again when next seen.
 * Unique texts (request ids, timestamps, an attacker's random values) only ever pass through.
 */
export class TextMemo<T> {
  #young = new Map<string, T>();
  #old = new Map<string, T>();

  constructor(readonly capacity: number) {}

  get(text: string): T | undefined {
    const found = this.#young.get(text);
    if (found !== undefined) return found;
    const old = this.#old.get(text);
    if (old !== undefined) this.set(text, old);
    return old;
  }

  set(text: string, value: T): void {
    if (this.#young.size >= this.capacity) {
      this.#old = this.#young;
      this.#young = new Map<string, T>();
    }
    this.#young.set(text, value);
  }

  /** Entries held (both generations; a text may be in both). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }
}
