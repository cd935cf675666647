/**
 * Sets of Unicode code points for the RE2 translator (see re2-linear.ts): normalized as a flat,
 * sorted array of inclusive [lo, hi] pairs, with RE2's simple case folding and the UTF-8 byte
 * sequences that encode a set.
 */

export type CodePointSet = readonly number[];

export const MAX_CODE_POINT = 0x10ffff;

/** Sorts and merges overlapping or adjacent pairs. */
export function normalize(pairs: readonly number[]): number[] {
  const ranges: [number, number][] = [];
  for (let i = 0; i < pairs.length; i += 2) ranges.push([pairs[i]!, pairs[i + 1]!]);
  ranges.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

export function negate(set: CodePointSet): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    if (set[i]! > next) out.push(next, set[i]! - 1);
    next = set[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return out;
}

export function contains(set: CodePointSet, cp: number): boolean {
  for (let i = 0; i < set.length; i += 2) if (cp >= set[i]! && cp <= set[i + 1]!) return true;
  return false;
}

/**
 * Case-folding orbits (code points that fold together, e.g. k, K and U+212A KELVIN SIGN), built
 * once from the engine's one-to-one case mappings; RE2 uses Unicode's simple case folding,
 * which these mappings follow for every cased letter (multi-character mappings such as ß → SS
 * are not simple foldings and are left out, as RE2 does).
 */
let orbits: Map<number, readonly number[]> | undefined;

function caseOrbits(): Map<number, readonly number[]> {
  if (orbits) return orbits;
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    return root;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (!parent.has(ra)) parent.set(ra, ra);
    if (!parent.has(rb)) parent.set(rb, rb);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (let cp = 0; cp <= 0x1ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    for (const mapped of [ch.toLowerCase(), ch.toUpperCase()]) {
      if (mapped === ch) continue;
      const m = mapped.codePointAt(0)!;
      if (String.fromCodePoint(m) === mapped) union(cp, m);
    }
  }
  const members = new Map<number, number[]>();
  for (const cp of parent.keys()) {
    const root = find(cp);
    const list = members.get(root) ?? [];
    list.push(cp);
    members.set(root, list);
  }
  orbits = new Map();
  for (const list of members.values()) for (const cp of list) orbits.set(cp, list);
  return orbits;
}

/** Adds every code point that folds to a member of `set`. */
export function caseFold(set: CodePointSet): number[] {
  const out = [...set];
  for (const [cp, orbit] of caseOrbits()) {
    if (!contains(set, cp)) continue;
    for (const other of orbit) out.push(other, other);
  }
  return normalize(out);
}

/** One UTF-8 encoded byte sequence: for each byte, an inclusive [lo, hi] range. */
export type ByteSequence = readonly (readonly [number, number])[];

const LENGTH_LIMITS = [0x7f, 0x7ff, 0xffff, MAX_CODE_POINT];

function utf8Bytes(cp: number): number[] {
  return [...Buffer.from(String.fromCodePoint(cp), 'utf8')];
}

function splitSameLength(lo: number, hi: number, length: number, out: ByteSequence[]): void {
  for (let i = 1; i < length; i++) {
    const mask = (1 << (6 * i)) - 1;
    if ((lo & ~mask) !== (hi & ~mask)) {
      if ((lo & mask) !== 0) {
        splitSameLength(lo, lo | mask, length, out);
        splitSameLength((lo | mask) + 1, hi, length, out);
        return;
      }
      if ((hi & mask) !== mask) {
        splitSameLength(lo, (hi & ~mask) - 1, length, out);
        splitSameLength(hi & ~mask, hi, length, out);
        return;
      }
    }
  }
  const a = utf8Bytes(lo);
  const b = utf8Bytes(hi);
  out.push(a.map((byte, i) => [byte, b[i]!] as const));
}

/**
 * The UTF-8 byte sequences matching exactly the code points of `set` (surrogates, which UTF-8
 * cannot encode, excluded), as RE2 compiles a class in UTF-8 mode.
 */
export function utf8Sequences(set: CodePointSet): ByteSequence[] {
  const out: ByteSequence[] = [];
  const valid = normalize(set);
  const pieces: number[] = [];
  for (let i = 0; i < valid.length; i += 2) {
    const lo = valid[i]!;
    const hi = valid[i + 1]!;
    if (lo <= 0xdfff && hi >= 0xd800) {
      if (lo < 0xd800) pieces.push(lo, 0xd7ff);
      if (hi > 0xdfff) pieces.push(0xe000, hi);
    } else {
      pieces.push(lo, hi);
    }
  }
  for (let i = 0; i < pieces.length; i += 2) {
    let lo = pieces[i]!;
    const hi = pieces[i + 1]!;
    for (let length = 1; length <= 4 && lo <= hi; length++) {
      const limit = LENGTH_LIMITS[length - 1]!;
      if (lo > limit) continue;
      const top = Math.min(hi, limit);
      splitSameLength(lo, top, length, out);
      lo = top + 1;
    }
  }
  return out;
}
