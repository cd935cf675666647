/**
 * PCRE patterns (as ModSecurity's @rx compiles them: DOTALL and MULTILINE, byte strings) to
 * JavaScript RegExps. Inspected values are latin1 strings (one char per byte), so the translation
 * keeps PCRE's byte semantics:
 * - `(?i)` and `(?i:...)` scopes become explicit case alternatives (`[aA]`), because V8 has no
 *   inline modifiers and its linear-time engine refuses the `i` flag;
 * - possessive quantifiers and atomic groups become `(?=(?<n>X))\k<n>` (the standard atomic-group
 *   emulation), which has the same match semantics;
 * - `\A`, `\z`, `\Z`, `\h`, `\e`, `\x{..}`, POSIX classes and `(?P<` are rewritten; `\s` is
 *   PCRE's ASCII set, not JavaScript's Unicode one.
 * Anything else PCRE-only (recursion, conditionals, \K, \G, callouts, other inline flags) throws
 * a RegexSyntaxError naming the construct, so the rule is refused instead of misread.
 *
 * Matching runs on V8's backtracking engine (irregexp, compiled to machine code: fast on
 * ordinary input) with V8's linear-time engine as the fallback: once a match has backtracked
 * more than BACKTRACKS_BEFORE_FALLBACK times, V8 reruns it on the linear engine
 * (`--enable-experimental-regexp-engine-on-excessive-backtracks`), so a pattern without
 * backreferences or lookaround cannot go exponential. The linear engine alone (the `l` flag) is
 * an NFA simulation that is many times slower on long inputs, so it is not used directly.
 * Patterns with backreferences or lookaround cannot fall back; the caller bounds their input.
 */
import v8 from 'node:v8';

export class RegexSyntaxError extends Error {}

let linearEnabled: boolean | undefined;

/** V8's linear-engine flag (unknown to linters, so kept in a variable). */
const LINEAR_FLAG: string = 'l';

/** Backtracks a match may take before V8 reruns it on the linear engine. */
export const BACKTRACKS_BEFORE_FALLBACK = 10_000;

/**
 * Turns on the linear-engine fallback for this process (idempotent; it applies to RegExps
 * created afterwards); false: this V8 does not have it.
 */
export function enableLinearRegex(): boolean {
  if (linearEnabled !== undefined) return linearEnabled;
  try {
    v8.setFlagsFromString('--enable-experimental-regexp-engine');
    v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
    v8.setFlagsFromString(`--regexp-backtracks-before-fallback=${BACKTRACKS_BEFORE_FALLBACK}`);
    // The linear engine exists when the `l` flag compiles.
    new RegExp('a', LINEAR_FLAG);
    linearEnabled = true;
  } catch {
    linearEnabled = false;
  }
  return linearEnabled;
}

export interface CompiledRegex {
  readonly regex: RegExp;
  /** true: excessive backtracking falls back to the linear-time engine. */
  readonly linear: boolean;
  /** The JavaScript source it was translated to. */
  readonly source: string;
}

/** Compiles a PCRE pattern (`caseless`: the whole pattern ignores ASCII case). */
export function compilePcre(pattern: string, caseless = false): CompiledRegex {
  const { source, backtracking } = translatePcre(pattern, caseless);
  let linear = false;
  if (!backtracking && enableLinearRegex()) {
    try {
      // Only to learn whether the linear engine takes it (large counted repetitions are refused).
      new RegExp(source, 'ms' + LINEAR_FLAG);
      linear = true;
    } catch {
      linear = false;
    }
  }
  try {
    return { regex: new RegExp(source, 'ms'), linear, source };
  } catch (err) {
    throw new RegexSyntaxError(`invalid regular expression: ${(err as Error).message}`);
  }
}

const POSIX: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\t-\\r ',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
  cntrl: '\\x00-\\x1f\\x7f',
  print: ' -~',
  graph: '!-~',
};

const isLetter = (c: string): boolean => /^[a-zA-Z]$/.test(c);
const swapCase = (c: string): string => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());

/** Translates; `backtracking` is true when the result needs the backtracking engine. */
export function translatePcre(
  pattern: string,
  caselessAll: boolean,
): { source: string; backtracking: boolean } {
  let i = 0;
  let out = '';
  let backtracking = false;
  let atomicCount = 0;
  // One entry per open group: the case flag to restore, the output offset where it starts, and
  // whether it is an emulated atomic group.
  const stack: Array<{ ci: boolean; start: number; atomic: boolean }> = [];
  let ci = caselessAll;
  let lastAtomStart = -1;
  const n = pattern.length;

  const fail = (what: string): never => {
    throw new RegexSyntaxError(`${what} at offset ${i} is not supported`);
  };

  const atomic = (body: string): string => {
    backtracking = true;
    const name = `a${atomicCount++}`;
    return `(?=(?<${name}>${body}))\\k<${name}>`;
  };

  /** Reads one escape (after the backslash) outside a class; returns its JS form. */
  const escapeOutside = (): string => {
    const c = pattern[i++];
    if (c === undefined) return fail('a trailing backslash');
    switch (c) {
      case 'A':
        return '(?<![\\s\\S])';
      case 'z':
        return '(?![\\s\\S])';
      case 'Z':
        return '(?=\\n?(?![\\s\\S]))';
      case 'h':
        return '[ \\t]';
      case 'H':
        return '[^ \\t]';
      case 'e':
        return '\\x1b';
      case 's':
        return '[\\t-\\r ]';
      case 'S':
        return '[^\\t-\\r ]';
      case 'x':
        return hexEscape();
      case 'Q': {
        const end = pattern.indexOf('\\E', i);
        const lit = pattern.slice(i, end < 0 ? n : end);
        i = end < 0 ? n : end + 2;
        return [...lit].map((ch) => literal(ch)).join('');
      }
      case 'E':
        return '';
      case 'K':
      case 'G':
      case 'R':
      case 'X':
      case 'C':
      case 'p':
      case 'P':
        return fail(`\\${c}`);
      default:
        if (c >= '1' && c <= '9') {
          backtracking = true;
          let digits = c;
          while (i < n && /[0-9]/.test(pattern[i]!)) digits += pattern[i++];
          return '\\' + digits;
        }
        if (c === '0') {
          let oct = '';
          while (i < n && oct.length < 2 && /[0-7]/.test(pattern[i]!)) oct += pattern[i++];
          return `\\x${parseInt(oct || '0', 8)
            .toString(16)
            .padStart(2, '0')}`;
        }
        if (isLetter(c)) {
          if ('dDwWbBtnrfv'.includes(c)) return '\\' + c;
          if (c === 'c') {
            const ctl = pattern[i++];
            if (ctl === undefined) return fail('\\c');
            return '\\c' + ctl;
          }
          return fail(`\\${c}`);
        }
        return literal(c, true);
    }
  };

  const hexEscape = (): string => {
    let code: number;
    if (pattern[i] === '{') {
      const end = pattern.indexOf('}', i);
      if (end < 0) return fail('\\x{');
      code = parseInt(pattern.slice(i + 1, end), 16);
      i = end + 1;
    } else {
      let hex = '';
      while (i < n && hex.length < 2 && /[0-9a-fA-F]/.test(pattern[i]!)) hex += pattern[i++];
      code = parseInt(hex || '0', 16);
    }
    if (!(code >= 0 && code <= 0xff)) return fail('a code point above \\xff');
    return `\\x${code.toString(16).padStart(2, '0')}`;
  };

  /** A literal char outside a class. */
  const literal = (c: string, escaped = false): string => {
    if (ci && isLetter(c)) return `[${c}${swapCase(c)}]`;
    if (escaped || /[\\^$.|?*+()[\]{}/]/.test(c)) return '\\' + c;
    return c;
  };

  /** A character class starting after `[`. */
  const charClass = (): string => {
    let body = '';
    let negate = false;
    if (pattern[i] === '^') {
      negate = true;
      i++;
    }
    // A `]` first is a literal in PCRE.
    let first = true;
    const items: string[] = [];
    for (;;) {
      if (i >= n) return fail('an unterminated character class');
      const c = pattern[i]!;
      if (c === ']' && !first) {
        i++;
        break;
      }
      first = false;
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        if (end < 0) return fail('a POSIX class');
        let name = pattern.slice(i + 2, end);
        const neg = name.startsWith('^');
        if (neg) name = name.slice(1);
        const set = POSIX[name];
        if (set === undefined || neg) return fail(`[:${name}:]`);
        items.push(set);
        i = end + 2;
        continue;
      }
      let item: string;
      let char: string | undefined;
      if (c === '\\') {
        i++;
        const e = pattern[i++];
        if (e === undefined) return fail('a trailing backslash');
        if (e === 'x') item = hexEscape();
        else if (e === 's') item = '\\t-\\r ';
        else if (e === 'h') item = ' \\t';
        else if (e === 'e') item = '\\x1b';
        else if ('dDwWSbtnrfv'.includes(e)) item = e === 'b' ? '\\x08' : '\\' + e;
        else if (isLetter(e)) return fail(`\\${e} in a character class`);
        else if (/[0-7]/.test(e)) {
          let oct = e;
          while (i < n && oct.length < 3 && /[0-7]/.test(pattern[i]!)) oct += pattern[i++];
          item = `\\x${parseInt(oct, 8).toString(16).padStart(2, '0')}`;
        } else {
          item = '\\' + e;
          char = e;
        }
        if (item.startsWith('\\x') && item.length === 4)
          char = String.fromCharCode(parseInt(item.slice(2), 16));
      } else {
        i++;
        item = /[\]\\^[-]/.test(c) ? '\\' + c : c;
        char = c;
        if (c === '-') char = '-';
      }
      // A range lo-hi.
      if (char !== undefined && pattern[i] === '-' && pattern[i + 1] !== ']' && i + 1 < n) {
        const save = i;
        i++;
        let hiChar: string | undefined;
        let hiItem: string;
        if (pattern[i] === '\\') {
          i++;
          const e = pattern[i++]!;
          if (e === 'x') {
            hiItem = hexEscape();
            hiChar = String.fromCharCode(parseInt(hiItem.slice(2), 16));
          } else if (isLetter(e) || /[0-9]/.test(e)) {
            i = save;
            items.push(item);
            continue;
          } else {
            hiItem = '\\' + e;
            hiChar = e;
          }
        } else if (pattern[i] === '[') {
          i = save;
          items.push(item);
          continue;
        } else {
          hiChar = pattern[i++]!;
          hiItem = /[\]\\^[-]/.test(hiChar) ? '\\' + hiChar : hiChar;
        }
        items.push(`${item}-${hiItem}`);
        if (ci) items.push(...foldRange(char.charCodeAt(0), hiChar.charCodeAt(0)));
        continue;
      }
      items.push(item);
      if (ci && char !== undefined && isLetter(char)) items.push(swapCase(char));
    }
    body = items.join('');
    return `[${negate ? '^' : ''}${body}]`;
  };

  const quantifierAt = (): string | undefined => {
    const c = pattern[i];
    if (c === '*' || c === '+' || c === '?') {
      i++;
      return c;
    }
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (m === null) return undefined;
      i += m[0].length;
      return m[0];
    }
    return undefined;
  };

  while (i < n) {
    const c = pattern[i]!;
    const atomStart = out.length;
    if (c === '\\') {
      i++;
      out += escapeOutside();
    } else if (c === '[') {
      i++;
      out += charClass();
    } else if (c === '(') {
      i++;
      if (pattern[i] === '?') {
        const rest = pattern.slice(i + 1);
        if (rest.startsWith(':')) {
          i += 2;
          stack.push({ ci, start: out.length, atomic: false });
          out += '(?:';
        } else if (rest.startsWith('=') || rest.startsWith('!')) {
          backtracking = true;
          i += 2;
          stack.push({ ci, start: out.length, atomic: false });
          out += '(?' + rest[0];
        } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
          backtracking = true;
          i += 3;
          stack.push({ ci, start: out.length, atomic: false });
          out += '(?' + rest.slice(0, 2);
        } else if (rest.startsWith('>')) {
          i += 2;
          stack.push({ ci, start: out.length, atomic: true });
          out += '(?:';
        } else if (rest.startsWith('P<') || rest.startsWith('<')) {
          const m = /^P?<([A-Za-z_]\w*)>/.exec(rest);
          if (m === null) fail('a named group');
          i += 1 + m![0].length;
          stack.push({ ci, start: out.length, atomic: false });
          out += `(?<${m![1]}>`;
        } else {
          // Inline flags: (?i) (?-i) (?i:...) (?-i:...); other flags are refused.
          const m = /^(-?)([a-zA-Z]*)([:)])/.exec(rest);
          if (m === null || (m[2] !== 'i' && m[2] !== '')) fail(`the group (?${rest.slice(0, 3)}`);
          i += 1 + m![0].length;
          const on = m![1] !== '-' && m![2] === 'i';
          if (m![3] === ')') {
            if (m![2] !== '') ci = on;
            continue;
          }
          stack.push({ ci, start: out.length, atomic: false });
          if (m![2] !== '') ci = on;
          out += '(?:';
        }
      } else if (pattern[i] === '*') {
        fail('a backtracking verb');
      } else {
        stack.push({ ci, start: out.length, atomic: false });
        out += '(';
      }
      continue;
    } else if (c === ')') {
      i++;
      const group = stack.pop();
      if (group === undefined) fail('an unmatched )');
      ci = group!.ci;
      out += ')';
      if (group!.atomic) {
        const inner = out.slice(group!.start + 3, out.length - 1);
        out = out.slice(0, group!.start) + atomic(inner);
      }
      lastAtomStart = group!.start;
      const q = quantifierAt();
      if (q !== undefined) applyQuantifier(q, lastAtomStart);
      continue;
    } else if (c === '|' || c === '^' || c === '$') {
      i++;
      out += c;
      lastAtomStart = -1;
      continue;
    } else if (c === '.') {
      i++;
      out += '.';
    } else if (c === '*' || c === '+' || c === '?') {
      fail(`a quantifier ${c} with nothing to repeat`);
    } else if (c === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i))) {
      fail('a quantifier with nothing to repeat');
    } else {
      i++;
      out += literal(c);
    }
    lastAtomStart = atomStart;
    const q = quantifierAt();
    if (q !== undefined) applyQuantifier(q, lastAtomStart);
  }
  if (stack.length > 0) fail('an unterminated group');
  return { source: out, backtracking };

  /**
   * Appends quantifier `q` to the atom that starts at out[start]: a lazy `?` is kept, a
   * possessive `+` turns the quantified atom into an emulated atomic group.
   */
  function applyQuantifier(q: string, start: number): void {
    if (pattern[i] === '?') {
      i++;
      out += q + '?';
    } else if (pattern[i] === '+') {
      i++;
      out = out.slice(0, start) + atomic(out.slice(start) + q);
    } else {
      out += q;
    }
  }
}

/** The other-case counterparts of the ASCII letters in lo..hi, as class ranges. */
function foldRange(lo: number, hi: number): string[] {
  const out: string[] = [];
  const add = (a: number, b: number, delta: number): void => {
    const from = Math.max(lo, a);
    const to = Math.min(hi, b);
    if (from <= to)
      out.push(`${String.fromCharCode(from + delta)}-${String.fromCharCode(to + delta)}`);
  };
  add(0x61, 0x7a, -32);
  add(0x41, 0x5a, 32);
  return out;
}
