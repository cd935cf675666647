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
  readonly #seen: SeenTexts | undefined;

  /** `seenSlots`: admit() keeps a text only on its second sighting (see SeenTexts). */
  constructor(
    readonly capacity: number,
    seenSlots?: number,
  ) {
    this.#seen = seenSlots === undefined ? undefined : new SeenTexts(seenSlots);
  }

  get(text: string): T | undefined {
    const found = this.#young.get(text);
    if (found !== undefined) return found;
    const old = this.#old.get(text);
    if (old !== undefined) this.set(text, old);
    return old;
  }

  /**
   * Keeps `value` for `text` when the memo admits the text (always without a seen table, else
   * on its second sighting); true when kept.
   */
  admit(text: string, value: T): boolean {
    if (this.#seen !== undefined && !this.#seen.seenBefore(text)) return false;
    this.set(text, value);
    return true;
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

/**
 * Which short texts were seen recently: a direct-mapped table of texts by a cheap hash (length
 * and a few chars), the latest text per slot. seenBefore() is true when the same text was the
 * slot's last one, so a text passes on its second sighting unless others of its slot came
 * between. A memo admits only such texts: one seen once (a request id, a random attack string,
 * a form's unique values) would only occupy it, and kept across collections it would be copied
 * to the old generation to die there.
 */
export class SeenTexts {
  readonly #slots: Array<string | undefined>;
  readonly #mask: number;

  /** `size`: a power of two. */
  constructor(size: number) {
    this.#slots = new Array<string | undefined>(size);
    this.#mask = size - 1;
  }

  seenBefore(text: string): boolean {
    const n = text.length;
    let h = n;
    if (n > 0)
      h =
        Math.imul(h ^ text.charCodeAt(0), 0x9e3779b1) ^
        Math.imul(text.charCodeAt(n >> 1), 0x85ebca6b) ^
        Math.imul(text.charCodeAt(n - 1), 0xc2b2ae35) ^
        Math.imul(text.charCodeAt(n >> 2), 0x27d4eb2f);
    const slot = (h ^ (h >>> 15)) & this.#mask;
    if (this.#slots[slot] === text) return true;
    this.#slots[slot] = text;
    return false;
  }
}
