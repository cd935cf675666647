/**
 * A set of phrases searched in one pass over a value (Aho-Corasick over latin1 char codes), for
 * @pm and @pmFromFile: CRS's phrase files hold up to ~1,300 phrases, which a phrase-by-phrase
 * search would scan the value for one at a time. Phrases and values are compared lower-cased.
 */
export class PhraseSet {
  /** The class of each byte: 0 for bytes in no phrase, else 1.. (keeps the table small). */
  readonly #classOf = new Uint8Array(256);
  readonly #width: number;
  /** next[state * width + class]: the next state (the automaton is complete). */
  readonly #next: Int32Array;
  /** true where a phrase ends at the state or at one of its suffix states. */
  readonly #accepts: Uint8Array;

  constructor(phrases: readonly string[]) {
    const classOf = this.#classOf;
    let width = 1;
    for (const p of phrases)
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i) & 0xff;
        if (classOf[c] === 0) classOf[c] = width++;
      }
    this.#width = width;
    const edges: Array<Map<number, number>> = [new Map<number, number>()];
    const accepts: boolean[] = [false];
    for (const p of phrases) {
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        const c = classOf[p.charCodeAt(i) & 0xff]!;
        let t = edges[s]!.get(c);
        if (t === undefined) {
          t = edges.length;
          edges.push(new Map<number, number>());
          accepts.push(false);
          edges[s]!.set(c, t);
        }
        s = t;
      }
      accepts[s] = true;
    }
    const states = edges.length;
    const next = new Int32Array(states * width);
    const acc = new Uint8Array(states);
    const fail = new Int32Array(states);
    // Breadth-first: a state's failure link is decided before its children's.
    const queue: number[] = [];
    for (let c = 0; c < width; c++) {
      const t = edges[0]!.get(c);
      next[c] = t ?? 0;
      if (t !== undefined) queue.push(t);
    }
    acc[0] = accepts[0] ? 1 : 0;
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head]!;
      acc[s] = accepts[s]! || acc[fail[s]!] === 1 ? 1 : 0;
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
    this.#next = next;
    this.#accepts = acc;
  }

  /** true when a lower-cased `value` contains one of the phrases. */
  foundIn(lowerValue: string): boolean {
    const next = this.#next;
    const acc = this.#accepts;
    const classOf = this.#classOf;
    const width = this.#width;
    if (acc[0] === 1) return true;
    let s = 0;
    for (let i = 0; i < lowerValue.length; i++) {
      s = next[s * width + classOf[lowerValue.charCodeAt(i) & 0xff]!]!;
      if (acc[s] === 1) return true;
    }
    return false;
  }
}
