/**
 * Literals that every match of a PCRE pattern contains (one of them at least), found at compile
 * time so that @rx can skip its regex when a value holds none of them (RE2's prefilter idea):
 * alternation ORs its branches' sets, concatenation keeps the most selective of its parts (or
 * their cross product while that stays small), and anything the analysis cannot bound (`.`, big
 * classes, `*`, back references) contributes no literal. The literals are ASCII lower-cased and
 * meant to be compared with an ASCII case-folded value, which keeps `(?i)` and transformations
 * like t:lowercase conservative: a match in the value is always a match in its folded form.
 * Patterns the analysis does not understand get no prefilter (the regex always runs).
 */

/**
 * What the analysis knows of a sub-pattern: `exact`, every string it matches is one of these;
 * `match`, every string it matches contains one of these; neither: nothing.
 */
interface Info {
  readonly exact?: readonly string[];
  readonly match?: readonly string[];
}

const ANY: Info = {};
const EMPTY: Info = { exact: [''] };
/** Bounds on exact sets before they turn into match sets. */
const MAX_EXACT = 16;
/** A class with more members than this is not worth expanding into literals. */
const MAX_CLASS = 4;

class GiveUp extends Error {}

const fold = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const foldChar = (code: number): string =>
  String.fromCharCode(code >= 0x41 && code <= 0x5a ? code + 32 : code);

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** The match set an info implies (undefined: none, e.g. the sub-pattern may match ''). */
function asMatch(info: Info): readonly string[] | undefined {
  const set = info.exact ?? info.match;
  if (set === undefined || set.length === 0 || set.includes('')) return undefined;
  return simplify(set);
}

/** Drops literals that contain another literal of the set (the shorter one suffices). */
function simplify(set: readonly string[]): string[] {
  const sorted = unique(set).sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const s of sorted) if (!out.some((o) => s.includes(o))) out.push(s);
  return out;
}

/** Higher is more selective: the shortest literal's length, then fewer literals. */
function score(set: readonly string[]): number {
  let min = Infinity;
  for (const s of set) min = Math.min(min, s.length);
  return Math.min(min, 8) * 1000 - set.length;
}

function concat(items: readonly Info[]): Info {
  let cur: string[] | undefined = [''];
  let allExact = true;
  const candidates: Array<readonly string[]> = [];
  const flush = (): void => {
    if (cur !== undefined) {
      const m = asMatch({ exact: cur });
      if (m !== undefined) candidates.push(m);
    }
    cur = [''];
  };
  for (const item of items) {
    if (item.exact !== undefined && cur !== undefined) {
      if (cur.length * item.exact.length <= MAX_EXACT) {
        const next: string[] = [];
        for (const a of cur) for (const b of item.exact) next.push(a + b);
        cur = unique(next);
        continue;
      }
      allExact = false;
      flush();
      cur = [...item.exact];
      continue;
    }
    allExact = false;
    flush();
    const m = asMatch(item);
    if (m !== undefined) candidates.push(m);
  }
  if (allExact) return { exact: cur };
  flush();
  let best: readonly string[] | undefined;
  for (const c of candidates) if (best === undefined || score(c) > score(best)) best = c;
  return best === undefined ? ANY : { match: best };
}

function alternate(branches: readonly Info[]): Info {
  if (branches.every((b) => b.exact !== undefined)) {
    const all = unique(branches.flatMap((b) => b.exact!));
    if (all.length <= MAX_EXACT) return { exact: all };
  }
  const out: string[] = [];
  for (const b of branches) {
    const m = asMatch(b);
    if (m === undefined) return ANY;
    out.push(...m);
  }
  return { match: simplify(out) };
}

/** `info` repeated min..max times (max Infinity: unbounded). */
function repeat(info: Info, min: number, max: number): Info {
  if (min === 0) {
    if (max === 1 && info.exact !== undefined) return { exact: unique(['', ...info.exact]) };
    return ANY;
  }
  if (min === 1 && max === 1) return info;
  const m = asMatch(info);
  return m === undefined ? ANY : { match: m };
}

class Analyzer {
  #i = 0;
  constructor(private readonly p: string) {}

  run(): Info {
    const info = this.#alternation();
    if (this.#i < this.p.length) throw new GiveUp();
    return info;
  }

  #alternation(): Info {
    const branches = [this.#sequence()];
    while (this.p[this.#i] === '|') {
      this.#i++;
      branches.push(this.#sequence());
    }
    return branches.length === 1 ? branches[0]! : alternate(branches);
  }

  #sequence(): Info {
    const items: Info[] = [];
    const p = this.p;
    while (this.#i < p.length && p[this.#i] !== '|' && p[this.#i] !== ')') {
      const atom = this.#atom();
      items.push(this.#quantified(atom));
    }
    return items.length === 1 ? items[0]! : concat(items);
  }

  #quantified(atom: Info): Info {
    const p = this.p;
    let info = atom;
    for (;;) {
      const c = p[this.#i];
      let min: number;
      let max: number;
      if (c === '?') [min, max] = [0, 1];
      else if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '{') {
        const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(p.slice(this.#i, this.#i + 24));
        if (m === null) return info;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        this.#i += m[0].length - 1;
      } else return info;
      this.#i++;
      // Lazy and possessive forms match the same strings.
      if (p[this.#i] === '?' || p[this.#i] === '+') this.#i++;
      info = repeat(info, min, max);
    }
  }

  #atom(): Info {
    const p = this.p;
    const c = p[this.#i]!;
    this.#i++;
    switch (c) {
      case '(':
        return this.#group();
      case '[':
        return this.#class();
      case '\\':
        return this.#escape();
      case '.':
        return ANY;
      case '^':
      case '$':
        return EMPTY;
      case '*':
      case '+':
      case '?':
        throw new GiveUp();
      default:
        return { exact: [foldChar(c.charCodeAt(0))] };
    }
  }

  #group(): Info {
    const p = this.p;
    let inner: 'normal' | 'empty' = 'normal';
    if (p[this.#i] === '?') {
      const rest = p.slice(this.#i + 1, this.#i + 40);
      let m: RegExpExecArray | null;
      if (rest.startsWith(':') || rest.startsWith('>') || rest.startsWith('|')) {
        if (rest.startsWith('|')) throw new GiveUp();
        this.#i += 2;
      } else if (rest.startsWith('=') || rest.startsWith('!')) {
        this.#i += 2;
        inner = 'empty';
      } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
        this.#i += 3;
        inner = 'empty';
      } else if ((m = /^(?:P?<[A-Za-z_]\w*>|'[A-Za-z_]\w*')/.exec(rest)) !== null) {
        this.#i += 1 + m[0].length;
      } else if ((m = /^[a-zA-Z]*(?:-[a-zA-Z]*)?([:)])/.exec(rest)) !== null) {
        // Inline flags: only case-insensitivity, which the folded comparison covers anyway.
        if (/[^i:)-]/.test(m[0])) throw new GiveUp();
        this.#i += 1 + m[0].length;
        if (m[1] === ')') return EMPTY;
      } else throw new GiveUp();
    } else if (p[this.#i] === '*') throw new GiveUp();
    const info = this.#alternation();
    if (p[this.#i] !== ')') throw new GiveUp();
    this.#i++;
    // A lookaround matches no text of its own.
    return inner === 'empty' ? EMPTY : info;
  }

  /** The char codes of a class, or undefined when it is too big or negated. */
  #class(): Info {
    const p = this.p;
    let negated = false;
    if (p[this.#i] === '^') {
      negated = true;
      this.#i++;
    }
    const members = new Set<string>();
    let tooBig = false;
    let first = true;
    for (;;) {
      if (this.#i >= p.length) throw new GiveUp();
      const c = p[this.#i]!;
      if (c === ']' && !first) {
        this.#i++;
        break;
      }
      first = false;
      if (c === '[' && p[this.#i + 1] === ':') {
        const end = p.indexOf(':]', this.#i + 2);
        if (end < 0) throw new GiveUp();
        this.#i = end + 2;
        tooBig = true;
        continue;
      }
      const lo = this.#classChar();
      if (lo === undefined) {
        tooBig = true;
        continue;
      }
      if (p[this.#i] === '-' && p[this.#i + 1] !== ']' && this.#i + 1 < p.length) {
        const save = this.#i;
        this.#i++;
        const hi = p[this.#i] === '[' ? undefined : this.#classChar();
        if (hi === undefined) {
          // `[a-\d]`: the dash is a member.
          this.#i = save + 1;
          members.add(foldChar(lo));
          members.add('-');
          continue;
        }
        if (hi < lo) throw new GiveUp();
        if (hi - lo > 2 * MAX_CLASS) tooBig = true;
        else for (let k = lo; k <= hi; k++) members.add(foldChar(k));
        continue;
      }
      members.add(foldChar(lo));
    }
    if (negated || tooBig || members.size > MAX_CLASS) return ANY;
    return { exact: [...members] };
  }

  /** One class member's char code, or undefined for a set escape (\d, \w, ...). */
  #classChar(): number | undefined {
    const p = this.p;
    const c = p[this.#i++];
    if (c === undefined) throw new GiveUp();
    if (c !== '\\') return c.charCodeAt(0);
    const e = p[this.#i++];
    if (e === undefined) throw new GiveUp();
    const code = this.#charEscape(e);
    if (code !== undefined) return code;
    if ('dDwWsShHvVpP'.includes(e)) {
      if ((e === 'p' || e === 'P') && p[this.#i] === '{') this.#skipPast('}');
      else if (e === 'p' || e === 'P') this.#i++;
      return undefined;
    }
    if (/[0-9A-Za-z]/.test(e)) throw new GiveUp();
    return e.charCodeAt(0);
  }

  /** The code of a single-character escape (after its backslash), or undefined. */
  #charEscape(e: string): number | undefined {
    const p = this.p;
    switch (e) {
      case 'n':
        return 10;
      case 'r':
        return 13;
      case 't':
        return 9;
      case 'f':
        return 12;
      case 'a':
        return 7;
      case 'b':
        // Only inside a class (outside, \b is an assertion and handled before this).
        return 8;
      case 'e':
        return 27;
      case 'x': {
        if (p[this.#i] === '{') {
          const end = p.indexOf('}', this.#i);
          if (end < 0) throw new GiveUp();
          const code = parseInt(p.slice(this.#i + 1, end), 16);
          this.#i = end + 1;
          if (Number.isNaN(code)) throw new GiveUp();
          return code;
        }
        let hex = '';
        while (hex.length < 2 && /[0-9a-fA-F]/.test(p[this.#i] ?? '')) hex += p[this.#i++];
        return parseInt(hex || '0', 16);
      }
      case 'c': {
        const ctl = p[this.#i++];
        if (ctl === undefined) throw new GiveUp();
        return ctl.toUpperCase().charCodeAt(0) ^ 0x40;
      }
      case '0': {
        let oct = '';
        while (oct.length < 2 && /[0-7]/.test(p[this.#i] ?? '')) oct += p[this.#i++];
        return parseInt(oct || '0', 8);
      }
      default:
        return undefined;
    }
  }

  #escape(): Info {
    const p = this.p;
    const e = p[this.#i++];
    if (e === undefined) throw new GiveUp();
    if (e === 'Q') {
      const end = p.indexOf('\\E', this.#i);
      const text = p.slice(this.#i, end < 0 ? p.length : end);
      this.#i = end < 0 ? p.length : end + 2;
      return { exact: [fold(text)] };
    }
    if (e === 'E') return EMPTY;
    // Zero-width assertions.
    if ('bBAzZG'.includes(e)) return EMPTY;
    const code = this.#charEscape(e);
    if (code !== undefined) return { exact: [foldChar(code)] };
    // One character of a set, or a back reference (any text).
    if ('dDwWsShHvVRNX'.includes(e)) return ANY;
    if (e === 'p' || e === 'P') {
      if (p[this.#i] === '{') this.#skipPast('}');
      else this.#i++;
      return ANY;
    }
    if (e >= '1' && e <= '9') {
      while (/[0-9]/.test(p[this.#i] ?? '')) this.#i++;
      return ANY;
    }
    if (e === 'g' || e === 'k') {
      const open = p[this.#i];
      if (open === '{') this.#skipPast('}');
      else if (open === '<') this.#skipPast('>');
      else if (open === "'") {
        this.#i++;
        this.#skipPast("'");
      } else while (/[-0-9]/.test(p[this.#i] ?? '')) this.#i++;
      return ANY;
    }
    if (/[0-9A-Za-z]/.test(e)) throw new GiveUp();
    return { exact: [foldChar(e.charCodeAt(0))] };
  }

  #skipPast(close: string): void {
    const end = this.p.indexOf(close, this.#i + 1);
    if (end < 0) throw new GiveUp();
    this.#i = end + 1;
  }
}

/**
 * Literals (ASCII lower-cased) such that every match of `pattern` contains one of them, or
 * undefined when the analysis finds none it can vouch for.
 */
export function prefilterLiterals(pattern: string): string[] | undefined {
  let info: Info;
  try {
    info = new Analyzer(pattern).run();
  } catch (err) {
    if (err instanceof GiveUp) return undefined;
    throw err;
  }
  const set = asMatch(info);
  return set === undefined ? undefined : [...set];
}
