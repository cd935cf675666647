/**
 * A transaction's TX collection: the rule set's seed (the variables the setup rules give every
 * request, the same each time, built once per rule set; see rule-program.ts) under the
 * transaction's own changes. A request starts from the seed without copying it: with CRS that
 * is some 40 variables, a map each request would otherwise fill and then leave to the garbage
 * collector.
 *
 * It reads and iterates as the Map a transaction would have filled itself: the seed's names in
 * the seed's order, each with the transaction's value where it set one, then the names the
 * transaction added, in the order it added them. Deleting one of the seed's names (rare) first
 * copies the seed under the transaction's changes, so that a name set again after its deletion
 * moves to the end as in a Map.
 */
export interface TxVariable {
  readonly key: string;
}

/** Picks TX variables by their name (a `TX:/regex/` target's selector). */
export interface TxPicker<E extends TxVariable> {
  picks(entry: E): boolean;
  /** The variables of `seed` it picks, in the seed's order (kept by the picker per seed). */
  ofSeed(seed: ReadonlyMap<string, E>): readonly E[];
}

const EMPTY: ReadonlyMap<string, never> = new Map<string, never>();

export class TxCollection<E extends TxVariable> {
  #seed: ReadonlyMap<string, E> = EMPTY;
  readonly #own = new Map<string, E>();
  /** The transaction set one of the seed's names: a look-up must ask its own map first. */
  #shadowed = false;

  /**
   * Starts from `seed`'s variables (entries are shared: never changed, `set` replaces them). On a
   * collection that already holds variables, they stay first and the seed's are set after them.
   */
  seed(seed: ReadonlyMap<string, E>): void {
    if (this.#own.size === 0 && this.#seed.size === 0) this.#seed = seed;
    else for (const e of seed.values()) this.set(e.key, e);
  }

  get(name: string): E | undefined {
    // Most reads are of the seed's settings, which a request rarely sets: one look-up then.
    if (this.#shadowed) return this.#own.get(name) ?? this.#seed.get(name);
    return this.#seed.get(name) ?? this.#own.get(name);
  }

  /** `entry.key` is `name`. */
  set(name: string, entry: E): void {
    if (!this.#shadowed && this.#seed.has(name)) this.#shadowed = true;
    this.#own.set(name, entry);
  }

  delete(name: string): void {
    if (this.#seed.has(name)) this.#materialize();
    this.#own.delete(name);
  }

  clear(): void {
    this.#seed = EMPTY;
    this.#own.clear();
    this.#shadowed = false;
  }

  /** Calls `fn` with each variable, in the collection's order. */
  forEach(fn: (entry: E) => void): void {
    const own = this.#own;
    const seed = this.#seed;
    if (seed.size > 0) for (const e of seed.values()) fn(own.get(e.key) ?? e);
    for (const e of own.values()) if (!seed.has(e.key)) fn(e);
  }

  /**
   * The variables `picker` picks, in the collection's order (undefined: none). Of the seed's
   * names only those it picked from the seed are looked at; it is asked about the others.
   */
  select(picker: TxPicker<E>): E[] | undefined {
    const own = this.#own;
    const seed = this.#seed;
    let out: E[] | undefined;
    if (seed.size > 0)
      for (const e of picker.ofSeed(seed)) {
        const mine = own.get(e.key);
        if (mine === undefined) (out ??= []).push(e);
        else if (picker.picks(mine)) (out ??= []).push(mine);
      }
    // Entries are stored under their own key (see set's callers), so values alone will do.
    for (const e of own.values()) if (!seed.has(e.key) && picker.picks(e)) (out ??= []).push(e);
    return out;
  }

  /** A copy of every variable as a Map, in the collection's order. */
  toMap(): Map<string, E> {
    const own = this.#own;
    const seed = this.#seed;
    const map = new Map<string, E>();
    for (const [name, e] of seed) map.set(name, own.get(name) ?? e);
    for (const [name, e] of own) if (!seed.has(name)) map.set(name, e);
    return map;
  }

  /** Holds exactly `map`'s variables (as toMap returned them). */
  restore(map: ReadonlyMap<string, E>): void {
    this.clear();
    for (const [name, e] of map) this.#own.set(name, e);
  }

  #materialize(): void {
    this.restore(this.toMap());
  }
}
