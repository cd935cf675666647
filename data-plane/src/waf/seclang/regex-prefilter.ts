/**
 * A literal that every match of a PCRE pattern contains, found at compile time, so that @rx can
 * skip the regex with one indexOf when a value lacks it. The analysis is conservative: only
 * literal runs at the pattern's top level (outside any group or class) count, and a top-level
 * alternation, `\Q`, or the extended flag `x` yields none.
 */
export interface RequiredLiteral {
  readonly text: string;
  /** true: compare lower-cased (the pattern has a `(?i` somewhere). */
  readonly caseless: boolean;
}

const MIN_LENGTH = 2;

/** The longest required literal of `pattern`, or undefined. */
export function requiredLiteral(pattern: string): RequiredLiteral | undefined {
  if (pattern.includes('\\Q') || /\(\?[a-zA-Z-]*x/.test(pattern)) return undefined;
  const caseless = pattern.includes('(?i');
  let best = '';
  let run = '';
  const endRun = (): void => {
    if (run.length > best.length) best = run;
    run = '';
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    let literal: string | undefined;
    let next = i + 1;
    if (c === '|') return undefined;
    if (c === '(') {
      next = skipGroup(pattern, i);
      if (next < 0) return undefined;
    } else if (c === '[') {
      next = skipClass(pattern, i);
      if (next < 0) return undefined;
    } else if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) return undefined;
      // An escaped punctuation character is itself; letters and digits are classes, anchors,
      // back references or character codes (skipped whole, not analysed).
      if (!/[0-9A-Za-z]/.test(e)) {
        literal = e;
        next = i + 2;
      } else next = skipEscape(pattern, i);
    } else if (c === ')') {
      return undefined;
    } else if (!'.^$*+?{'.includes(c)) literal = c;
    // What follows: a quantifier makes an item optional (?, *, {0) or ends the run (+, {n).
    const q = pattern[next];
    let optional = false;
    let repeats = false;
    if (q === '?' || q === '*') optional = true;
    else if (q === '+') repeats = true;
    else if (q === '{') {
      const m = /^\{(\d*)(,\d*)?\}/.exec(pattern.slice(next));
      if (m !== null) {
        if (m[1] === '' || Number(m[1]) === 0) optional = true;
        else repeats = true;
      }
    }
    if (literal === undefined || optional) endRun();
    else {
      run += literal;
      if (repeats) endRun();
    }
    i = next + quantifierLength(pattern, next);
  }
  endRun();
  if (best.length < MIN_LENGTH) return undefined;
  return { text: caseless ? best.toLowerCase() : best, caseless };
}

/** The length of the quantifier at `at` (with a lazy `?` or possessive `+`), or 0. */
function quantifierLength(p: string, at: number): number {
  let n = 0;
  const c = p[at];
  if (c === '?' || c === '*' || c === '+') n = 1;
  else if (c === '{') {
    const m = /^\{\d*(,\d*)?\}/.exec(p.slice(at, at + 32));
    if (m !== null) n = m[0].length;
  }
  if (n > 0 && (p[at + n] === '?' || p[at + n] === '+')) n++;
  return n;
}

/** The index after the escape (backslash, then a letter or digit) at `start`. */
function skipEscape(p: string, start: number): number {
  const e = p[start + 1]!;
  let i = start + 2;
  if (e === 'x') {
    if (p[i] === '{') return closing(p, i, '}');
    while (i < start + 4 && /[0-9a-fA-F]/.test(p[i] ?? '')) i++;
    return i;
  }
  if (/[0-9]/.test(e) || e === 'o') {
    if (p[i] === '{') return closing(p, i, '}');
    while (/[0-9]/.test(p[i] ?? '')) i++;
    return i;
  }
  if (e === 'c') return i + 1;
  if ('pPgkN'.includes(e)) {
    const open = p[i];
    if (open === '{') return closing(p, i, '}');
    if (open === '<') return closing(p, i, '>');
    if (open === "'") return closing(p, i, "'");
    if (e === 'p' || e === 'P') return i + 1;
    if (e === 'g') while (/[-0-9]/.test(p[i] ?? '')) i++;
  }
  return i;
}

function closing(p: string, from: number, close: string): number {
  const end = p.indexOf(close, from + 1);
  return end < 0 ? p.length : end + 1;
}

/** The index after the group that starts at `start`, or -1 if unbalanced. */
function skipGroup(p: string, start: number): number {
  let depth = 0;
  for (let i = start; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const end = skipClass(p, i);
      if (end < 0) return -1;
      i = end - 1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/** The index after the class that starts at `start` (`]` first is a member), or -1. */
function skipClass(p: string, start: number): number {
  let i = start + 1;
  if (p[i] === '^') i++;
  if (p[i] === ']') i++;
  for (; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '[' && p[i + 1] === ':') {
      const end = p.indexOf(':]', i + 2);
      if (end < 0) return -1;
      i = end + 1;
    } else if (c === ']') return i + 1;
  }
  return -1;
}
