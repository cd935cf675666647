/**
 * A parser for RE2 syntax (https://github.com/google/re2/wiki/Syntax) into a small tree, used by
 * re2-linear.ts to emit an equivalent JavaScript RegExp for V8's linear-time engine. It accepts
 * what RE2 accepts with Envoy's options (UTF-8, Perl classes, leftmost-first) and throws
 * Re2SyntaxError, with the offset and a reason, for the rest.
 */
import { caseFold, negate, normalize, MAX_CODE_POINT, type CodePointSet } from './re2-charset.js';

export class Re2SyntaxError extends Error {}

export type Re2Node =
  | { readonly type: 'empty' }
  /** One code point from the set. */
  | { readonly type: 'set'; readonly set: CodePointSet }
  | { readonly type: 'assert'; readonly kind: 'begin' | 'end' | 'word' | 'not-word' }
  | { readonly type: 'concat'; readonly items: readonly Re2Node[] }
  | { readonly type: 'alt'; readonly items: readonly Re2Node[] }
  | { readonly type: 'group'; readonly capture: boolean; readonly body: Re2Node }
  | {
      readonly type: 'repeat';
      readonly body: Re2Node;
      readonly min: number;
      /** -1: unbounded. */
      readonly max: number;
      readonly greedy: boolean;
    };

interface Flags {
  /** (?i): case-insensitive. */
  i: boolean;
  /** (?s): `.` matches `\n`. */
  s: boolean;
  /** (?m): multi-line `^`/`$`. */
  m: boolean;
  /** (?U): ungreedy (swaps `x*` and `x*?`). */
  U: boolean;
}

/** RE2's repetition limit (`{n,m}` with n or m above it is an error). */
const MAX_REPEAT = 1000;

const DIGIT = [0x30, 0x39];
const SPACE = normalize([0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20]);
const WORD = normalize([0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]);

const POSIX: Record<string, readonly number[]> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  ascii: [0x00, 0x7f],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: DIGIT,
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  word: WORD,
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };

function isAsciiAlnum(c: string): boolean {
  return /^[0-9A-Za-z]$/.test(c);
}

class Parser {
  private pos = 0;
  private flags: Flags = { i: false, s: false, m: false, U: false };
  private readonly names = new Set<string>();

  constructor(private readonly src: string) {}

  parse(): Re2Node {
    const node = this.parseAlt();
    if (this.pos < this.src.length) this.fail('unmatched ")"');
    return node;
  }

  private fail(reason: string, at = this.pos): never {
    throw new Re2SyntaxError(`${reason} at offset ${at}`);
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private parseAlt(): Re2Node {
    const items = [this.parseConcat()];
    while (this.peek() === '|') {
      this.pos++;
      items.push(this.parseConcat());
    }
    return items.length === 1 ? items[0]! : { type: 'alt', items };
  }

  private parseConcat(): Re2Node {
    const items: Re2Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      if (c === '*' || c === '+' || c === '?' || (c === '{' && this.repeatBounds())) {
        const last = items.pop();
        if (last === undefined) this.fail(`missing argument to repetition operator "${c}"`);
        if (last.type === 'repeat') this.fail('bad repetition operator: a repeated repetition');
        items.push(this.parseRepeat(last));
        continue;
      }
      const atom = this.parseAtom();
      // \Q...\E is a run of literals: a following repetition applies to the last one.
      if (atom?.type === 'concat') items.push(...atom.items);
      else if (atom) items.push(atom);
    }
    if (items.length === 0) return { type: 'empty' };
    return items.length === 1 ? items[0]! : { type: 'concat', items };
  }

  /** At a `{`: the bounds when it starts a valid `{n}`, `{n,}` or `{n,m}`, else undefined. */
  private repeatBounds(): { min: number; max: number; length: number } | undefined {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    return { min, max, length: m[0].length };
  }

  private parseRepeat(body: Re2Node): Re2Node {
    const start = this.pos;
    const c = this.src[this.pos]!;
    let min: number;
    let max: number;
    if (c === '{') {
      const bounds = this.repeatBounds()!;
      ({ min, max } = bounds);
      if (min > MAX_REPEAT || max > MAX_REPEAT || (max !== -1 && max < min)) {
        this.fail(`bad repetition operator ${this.src.slice(start, start + bounds.length)}`);
      }
      this.pos += bounds.length;
    } else {
      this.pos++;
      [min, max] = c === '*' ? [0, -1] : c === '+' ? [1, -1] : [0, 1];
    }
    let greedy = true;
    if (this.peek() === '?') {
      greedy = false;
      this.pos++;
    }
    if (this.flags.U) greedy = !greedy;
    if (body.type === 'assert' || body.type === 'empty') {
      // RE2 accepts e.g. `^*`; repeating an empty-width match is the match itself or nothing.
      return min === 0 ? { type: 'empty' } : body;
    }
    return { type: 'repeat', body, min, max, greedy };
  }

  private literal(cp: number): Re2Node {
    const set = [cp, cp];
    return { type: 'set', set: this.flags.i ? caseFold(set) : set };
  }

  private parseAtom(): Re2Node | undefined {
    const c = this.src[this.pos]!;
    switch (c) {
      case '(':
        return this.parseGroup();
      case '[':
        return { type: 'set', set: this.parseClass() };
      case '.':
        this.pos++;
        return {
          type: 'set',
          set: this.flags.s ? [0, MAX_CODE_POINT] : [0, 0x09, 0x0b, MAX_CODE_POINT],
        };
      case '^':
      case '$':
        if (this.flags.m) {
          this.fail(
            `multi-line "${c}" (flag m) is not supported: JavaScript's multi-line anchors also ` +
              'break lines at "\\r"; use "\\n" explicitly',
          );
        }
        this.pos++;
        return { type: 'assert', kind: c === '^' ? 'begin' : 'end' };
      case '\\':
        return this.parseEscape();
      default: {
        const cp = this.src.codePointAt(this.pos)!;
        this.pos += cp > 0xffff ? 2 : 1;
        return this.literal(cp);
      }
    }
  }

  private parseEscape(): Re2Node | undefined {
    const start = this.pos;
    const next = this.src[this.pos + 1];
    if (next === undefined) this.fail('trailing backslash');
    switch (next) {
      case 'A':
      case 'z':
        this.pos += 2;
        return { type: 'assert', kind: next === 'A' ? 'begin' : 'end' };
      case 'b':
      case 'B':
        this.pos += 2;
        return { type: 'assert', kind: next === 'b' ? 'word' : 'not-word' };
      case 'Q': {
        const end = this.src.indexOf('\\E', this.pos + 2);
        const text = this.src.slice(this.pos + 2, end === -1 ? undefined : end);
        this.pos = end === -1 ? this.src.length : end + 2;
        const items = [...text].map((ch) => this.literal(ch.codePointAt(0)!));
        return items.length === 0
          ? undefined
          : items.length === 1
            ? items[0]
            : { type: 'concat', items };
      }
      case 'E':
        // A stray \E (no \Q open) is ignored by RE2.
        this.pos += 2;
        return undefined;
      case 'C':
        this.fail('\\C (any byte) is not supported');
        break;
      case 'Z':
        this.fail('invalid escape sequence \\Z (RE2 has no \\Z; use \\z or $)');
        break;
      default:
        break;
    }
    const set = this.classEscape();
    if (set === undefined) this.fail(`invalid escape sequence ${this.src.slice(start, this.pos)}`);
    return { type: 'set', set };
  }

  /**
   * An escape that stands for a character or a class (valid both inside and outside `[...]`),
   * consumed from `\`; undefined (pos past the escape) when RE2 rejects it.
   */
  private classEscape(): CodePointSet | undefined {
    const start = this.pos;
    this.pos++;
    const c = this.src[this.pos];
    if (c === undefined) this.fail('trailing backslash', start);
    this.pos++;
    switch (c) {
      case 'd':
        return DIGIT;
      case 'D':
        return negate(DIGIT);
      case 's':
        return SPACE;
      case 'S':
        return negate(SPACE);
      case 'w':
        return WORD;
      case 'W':
        return negate(WORD);
      case 'p':
      case 'P':
        this.fail(
          `Unicode class \\${c} is not supported (the linear engine runs without Unicode ` +
            'tables); spell the ranges out, e.g. [\\x{370}-\\x{3FF}]',
          start,
        );
        break;
      case 'x': {
        const m = /^(?:\{([0-9A-Fa-f]+)\}|([0-9A-Fa-f]{2}))/.exec(this.src.slice(this.pos));
        if (!m) return undefined;
        this.pos += m[0].length;
        const cp = parseInt(m[1] ?? m[2]!, 16);
        if (cp > MAX_CODE_POINT) this.fail('invalid escape sequence: code point too large', start);
        return this.charSet(cp);
      }
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      // RE2: \1-\7 alone would be backreferences (unsupported); \0, \0d, \dd, \ddd are octal.
      const m = /^[0-7]{0,2}/.exec(this.src.slice(this.pos))![0];
      if (c !== '0' && m === '') {
        this.fail(`backreference \\${c} is not supported (RE2 has no backreferences)`, start);
      }
      this.pos += m.length;
      return this.charSet(parseInt(c + m, 8));
    }
    if (c in SIMPLE_ESCAPES) return this.charSet(SIMPLE_ESCAPES[c]!);
    const cp = c.codePointAt(0)!;
    if (cp < 0x80 && !isAsciiAlnum(c)) return this.charSet(cp);
    return undefined;
  }

  private charSet(cp: number): CodePointSet {
    return this.flags.i ? caseFold([cp, cp]) : [cp, cp];
  }

  private parseClass(): CodePointSet {
    const start = this.pos;
    this.pos++;
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.pos++;
    }
    const pairs: number[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('missing closing ]', start);
      if (c === ']' && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c === '[' && this.peek(1) === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(this.src.slice(this.pos));
        if (m) {
          const members = POSIX[m[2]!];
          if (!members) this.fail(`invalid character class range [:${m[2]}:]`);
          pairs.push(...(m[1] ? negate(normalize([...members])) : members));
          this.pos += m[0].length;
          continue;
        }
      }
      const lo = this.classAtom();
      if (lo.length !== 2 || lo[0] !== lo[1] || this.peek() !== '-' || this.peek(1) === ']') {
        pairs.push(...lo);
        continue;
      }
      this.pos++;
      const rangeStart = this.pos;
      const hi = this.classAtom();
      if (hi.length !== 2 || hi[0] !== hi[1]) this.fail('bad character class range', rangeStart);
      if (hi[0]! < lo[0]!) this.fail('bad character class range (end before start)', rangeStart);
      pairs.push(lo[0]!, hi[0]!);
    }
    let set = normalize(pairs);
    if (this.flags.i) set = caseFold(set);
    return negated ? negate(set) : set;
  }

  /** One class member: a character (as a one-element set) or an escape class such as \d. */
  private classAtom(): CodePointSet {
    const c = this.src[this.pos]!;
    if (c === '\\') {
      const start = this.pos;
      const saved = this.flags.i;
      // Case folding applies once to the whole class (parseClass), not per member.
      this.flags.i = false;
      const set = this.src[this.pos + 1] === 'b' ? undefined : this.classEscape();
      this.flags.i = saved;
      if (set === undefined) {
        this.fail(`invalid escape sequence ${this.src.slice(start, start + 2)} in class`, start);
      }
      return set;
    }
    const cp = this.src.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return [cp, cp];
  }

  private parseGroup(): Re2Node | undefined {
    const start = this.pos;
    this.pos++;
    if (this.peek() === '?') {
      const rest = this.src.slice(this.pos + 1);
      const named = /^P?<([^>]*)>/.exec(rest);
      if (named) {
        const name = named[1]!;
        if (!/^[A-Za-z0-9_]+$/.test(name)) this.fail(`invalid named capture group "${name}"`);
        if (this.names.has(name)) this.fail(`duplicate capture group name "${name}"`);
        this.names.add(name);
        this.pos += 1 + named[0].length;
      } else {
        const flags = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(rest);
        if (!flags || (flags[1] === '' && flags[2] === undefined && flags[3] === ')')) {
          const what = rest.startsWith('=') || rest.startsWith('!') ? 'lookahead' : undefined;
          const behind = rest.startsWith('<=') || rest.startsWith('<!') ? 'lookbehind' : what;
          this.fail(
            behind
              ? `${behind} is not supported (RE2 has no lookaround)`
              : 'invalid or unsupported Perl syntax after "(?"',
            start,
          );
        }
        if (flags[2] === '') this.fail('invalid flag group: "-" with no flags', start);
        this.pos += 1 + flags[0].length;
        const next: Flags = { ...this.flags };
        for (const f of flags[1]!) next[f as keyof Flags] = true;
        for (const f of flags[2] ?? '') next[f as keyof Flags] = false;
        if (flags[3] === ')') {
          // (?flags) applies to the rest of the enclosing group.
          this.flags = next;
          return undefined;
        }
        const saved = this.flags;
        this.flags = next;
        const body = this.parseAlt();
        this.expectClose(start);
        this.flags = saved;
        return { type: 'group', capture: false, body };
      }
    }
    const saved = this.flags;
    const body = this.parseAlt();
    this.expectClose(start);
    this.flags = saved;
    return { type: 'group', capture: true, body };
  }

  private expectClose(start: number): void {
    if (this.peek() !== ')') this.fail('missing closing )', start);
    this.pos++;
  }
}

/** Parses an RE2 pattern; throws Re2SyntaxError with the reason and offset. */
export function parseRe2(pattern: string): Re2Node {
  return new Parser(pattern).parse();
}
