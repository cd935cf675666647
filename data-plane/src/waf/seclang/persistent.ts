/**
 * IP / GLOBAL / SESSION collections (initcol): kept in memory per worker process and shared by
 * the transactions of every rule set there, with SecCollectionTimeout and expirevar. Nothing is
 * written to disk, so state does not survive a restart nor cross workers.
 */
type Entry = { key: string; value: string; expiresAt?: number };

interface Record {
  readonly values: Map<string, Entry>;
  lastUsed: number;
  timeoutMs: number;
}

const MAX_RECORDS = 100_000;

export class PersistentCollections {
  readonly #records = new Map<string, Record>();

  /** The record `collection:key`, created empty (and expired records dropped) on demand. */
  open(collection: string, key: string, timeoutSeconds: number): Map<string, Entry> {
    const now = Date.now();
    const id = `${collection}\0${key}`;
    let rec = this.#records.get(id);
    if (rec !== undefined && now - rec.lastUsed > rec.timeoutMs) {
      this.#records.delete(id);
      rec = undefined;
    }
    if (rec === undefined) {
      if (this.#records.size >= MAX_RECORDS) this.#evict(now);
      rec = { values: new Map(), lastUsed: now, timeoutMs: timeoutSeconds * 1000 };
      this.#records.set(id, rec);
    }
    rec.lastUsed = now;
    return rec.values;
  }

  /** expirevar: the variable disappears `seconds` from now. */
  expire(values: Map<string, Entry> | undefined, name: string, seconds: number): void {
    const e = values?.get(name);
    if (e !== undefined) e.expiresAt = Date.now() + seconds * 1000;
  }

  /** The entries of a record that have not expired. */
  live(values: Map<string, Entry>): Entry[] {
    const now = Date.now();
    const out: Entry[] = [];
    for (const [k, e] of values) {
      if (e.expiresAt !== undefined && e.expiresAt <= now) values.delete(k);
      else out.push(e);
    }
    return out;
  }

  #evict(now: number): void {
    for (const [id, rec] of this.#records)
      if (now - rec.lastUsed > rec.timeoutMs) this.#records.delete(id);
    // Still full: drop the oldest half (Map iteration is insertion order).
    if (this.#records.size >= MAX_RECORDS) {
      let n = this.#records.size / 2;
      for (const id of this.#records.keys()) {
        if (n-- <= 0) break;
        this.#records.delete(id);
      }
    }
  }
}
