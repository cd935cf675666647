/**
 * Config regexes (Envoy's RegexMatcher, RE2 syntax) as JavaScript RegExps that run on V8's
 * linear-time engine (the `l` flag), so that no pattern and no input can make a match take
 * more than time linear in the input, as with Envoy's RE2. Nothing falls back to the
 * backtracking engine: a pattern the linear engine cannot run is rejected with the reason. The
 * one exception is by proof: a full match whose backtracking is linear in the input
 * (re2-deterministic.ts) keeps the same source on V8's faster default engine.
 *
 * Semantics (docs/architecture.md, "Linear-time regexes"):
 * - Inputs are byte strings (one char per byte, as the HTTP codecs decode heads with latin1), and
 *   the pattern is compiled to UTF-8 byte sequences, as RE2 matches UTF-8 text: `.`, classes and
 *   non-ASCII literals match one UTF-8 encoded code point.
 * - `.` matches anything but `\n` (RE2's default; JavaScript would also exclude `\r`, U+2028 and
 *   U+2029); `(?s)` makes it match `\n`. Negated classes match `\n`, as in RE2.
 * - `\d`, `\s`, `\w`, `\b` and POSIX classes are ASCII as in RE2 (`\s` is `[\t\n\f\r ]`, no `\v`).
 * - `(?i)` folds case with Unicode simple case folding, expanded into the classes (the linear
 *   engine has no `i` flag).
 * - `^`/`$` and `\A`/`\z` anchor at the start and end of the text; multi-line `(?m)` anchors,
 *   Unicode classes `\p{...}`, `\C`, and counted repetitions of capture groups the linear engine
 *   cannot unroll are rejected.
 * - Matching is leftmost-first with greedy/lazy preferences, as RE2 (not leftmost-longest), and
 *   `full` anchors the whole pattern as RE2::FullMatch does.
 */
import v8 from 'node:v8';
import { utf8Sequences, type CodePointSet } from './re2-charset.js';
import { parseRe2, Re2SyntaxError, type Re2Node } from './re2-syntax.js';
import { backtracksLinearly } from './re2-deterministic.js';

export { Re2SyntaxError };

// V8 reads the flag when it parses a RegExp, so setting it at load time suffices in every
// process that imports this module (proxy primary and workers, control plane, tests). The
// excessive-backtracks fallback additionally protects the project's own regexes.
v8.setFlagsFromString('--enable-experimental-regexp-engine');
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** The linear engine's flag (a variable: linters do not know it). */
const LINEAR = 'l';

let linearAvailable: boolean | undefined;

function assertLinearEngine(): void {
  if (linearAvailable === undefined) {
    try {
      new RegExp('a', LINEAR);
      linearAvailable = true;
    } catch {
      linearAvailable = false;
    }
  }
  if (!linearAvailable) {
    throw new Error(
      "V8's linear-time regexp engine is unavailable in this Node.js; start node with " +
        '--enable-experimental-regexp-engine',
    );
  }
}

/**
 * The largest product of counted repetitions V8's linear engine accepts along one nesting
 * chain (`a{16}` and `(?:a{4}){4}` compile, `a{17}` and `a{16,}` do not); larger repetitions
 * are unrolled into copies.
 */
const MAX_REPLICATION = 16;

interface Emitted {
  readonly source: string;
  /** Safe to quantify without wrapping in `(?:...)`. */
  readonly atom: boolean;
  /** Product of the counted repetitions inside, as the linear engine counts them. */
  readonly weight: number;
  readonly captures: number;
  /** A counted repetition inside was unrolled into copies. */
  readonly unrolled?: boolean;
}

function hex(byte: number): string {
  return '\\x' + byte.toString(16).padStart(2, '0');
}

function byteRange(lo: number, hi: number): string {
  if (lo === hi)
    return /[0-9A-Za-z]/.test(String.fromCharCode(lo)) ? String.fromCharCode(lo) : hex(lo);
  return `${hex(lo)}-${hex(hi)}`;
}

function emitSet(set: CodePointSet): Emitted {
  const sequences = utf8Sequences(set);
  if (sequences.length === 0) return { source: '[]', atom: true, weight: 1, captures: 0 };
  const singles: string[] = [];
  const multis: string[] = [];
  for (const seq of sequences) {
    if (seq.length === 1) singles.push(byteRange(seq[0]![0], seq[0]![1]));
    else {
      multis.push(
        seq.map(([lo, hi]) => (lo === hi ? byteRange(lo, hi) : `[${byteRange(lo, hi)}]`)).join(''),
      );
    }
  }
  const single =
    singles.length === 1 && singles[0]!.length <= 4 && !singles[0]!.includes('-')
      ? singles[0]!
      : singles.length > 0
        ? `[${singles.join('')}]`
        : undefined;
  if (multis.length === 0) return { source: single!, atom: true, weight: 1, captures: 0 };
  const alternatives = single === undefined ? multis : [single, ...multis];
  const source = alternatives.length === 1 ? alternatives[0]! : `(?:${alternatives.join('|')})`;
  return { source, atom: alternatives.length > 1, weight: 1, captures: 0 };
}

function group(e: Emitted): string {
  return e.atom ? e.source : `(?:${e.source})`;
}

class Emitter {
  emit(node: Re2Node, capture: boolean): Emitted {
    switch (node.type) {
      case 'empty':
        return { source: '', atom: false, weight: 1, captures: 0 };
      case 'set':
        return emitSet(node.set);
      case 'assert': {
        const source = { begin: '^', end: '$', word: '\\b', 'not-word': '\\B' }[node.kind];
        return { source, atom: false, weight: 1, captures: 0 };
      }
      case 'concat':
      case 'alt': {
        const parts = node.items.map((item) => this.emit(item, capture));
        const source = parts.map((p) => p.source).join(node.type === 'alt' ? '|' : '');
        return {
          source,
          atom: false,
          weight: Math.max(...parts.map((p) => p.weight)),
          captures: parts.reduce((n, p) => n + p.captures, 0),
          unrolled: parts.some((p) => p.unrolled === true),
        };
      }
      case 'group': {
        const body = this.emit(node.body, capture);
        const open = node.capture && capture ? '(' : '(?:';
        return {
          source: `${open}${body.source})`,
          atom: true,
          weight: body.weight,
          captures: body.captures + (node.capture && capture ? 1 : 0),
          unrolled: body.unrolled === true,
        };
      }
      case 'repeat':
        return this.emitRepeat(node, capture);
    }
  }

  private emitRepeat(node: Extract<Re2Node, { type: 'repeat' }>, capture: boolean): Emitted {
    const body = this.emit(node.body, capture);
    const lazy = node.greedy ? '' : '?';
    const { min, max } = node;
    const factor = max === -1 ? min + 1 : max;
    if (factor * body.weight <= MAX_REPLICATION) {
      const op =
        min === 0 && max === -1
          ? '*'
          : min === 1 && max === -1
            ? '+'
            : min === 0 && max === 1
              ? '?'
              : max === -1
                ? `{${min},}`
                : min === max
                  ? `{${min}}`
                  : `{${min},${max}}`;
      return {
        source: group(body) + op + lazy,
        atom: false,
        weight: factor * body.weight,
        captures: body.captures,
        unrolled: body.unrolled === true,
      };
    }
    // Unrolled: min copies, then (max - min) nested optional copies or a star.
    const copy = body.captures > 0 ? this.emit(node.body, false) : body;
    if (body.captures > 0 && max !== min) {
      throw new Re2SyntaxError(
        `a repetition {${min},${max === -1 ? '' : max}} of a capture group larger than ` +
          `${MAX_REPLICATION} cannot run on the linear engine; use a non-capturing group (?:...)`,
      );
    }
    const unit = group(copy);
    let source = '';
    if (body.captures > 0) {
      source = unit.repeat(min - 1) + group(body);
    } else {
      source = unit.repeat(min);
      if (max === -1) source += `${unit}*${lazy}`;
      else {
        let optional = '';
        for (let i = min; i < max; i++) optional = `(?:${unit}${optional})?${lazy}`;
        source += optional;
      }
    }
    return { source, atom: false, weight: body.weight, captures: body.captures, unrolled: true };
  }
}

export interface LinearRegexOptions {
  /** Anchor at both ends (RE2::FullMatch, Envoy's RegexMatcher match); default search. */
  readonly full?: boolean;
  /** Add the `g` flag (every non-overlapping match, for RE2::GlobalReplace). */
  readonly global?: boolean;
}

/** Longest JavaScript source accepted after unrolling and UTF-8 expansion. */
const MAX_SOURCE_LENGTH = 64 * 1024;

/**
 * Compiles an RE2 pattern into a RegExp on V8's linear-time engine, matching byte strings
 * (latin1-decoded UTF-8). Throws Re2SyntaxError with the reason when RE2 would reject the
 * pattern or the linear engine cannot run it.
 */
export function compileLinearRe2(pattern: string, options: LinearRegexOptions = {}): RegExp {
  assertLinearEngine();
  const tree = parseRe2(pattern);
  const emitted = new Emitter().emit(tree, true);
  const source = options.full ? `^(?:${emitted.source})$` : emitted.source;
  if (source.length > MAX_SOURCE_LENGTH) {
    throw new Re2SyntaxError(
      `the pattern expands to ${source.length} characters (limit ${MAX_SOURCE_LENGTH}); ` +
        'use smaller counted repetitions',
    );
  }
  let linear: RegExp;
  try {
    linear = new RegExp(source === '' ? '(?:)' : source, options.global ? LINEAR + 'g' : LINEAR);
  } catch (err) {
    throw new Re2SyntaxError(
      `cannot run on the linear-time engine: ${(err as Error).message.replace(/^.*: /, '')}`,
    );
  }
  // Same source, same results: only patterns proven linear on a backtracking engine
  // (re2-deterministic.ts) and not unrolled (their repetitions stay loops) leave the
  // linear engine.
  if (options.full && !options.global && !emitted.unrolled && backtracksLinearly(tree))
    return new RegExp(linear.source);
  return linear;
}

interface Prefix {
  readonly bytes: string;
  /** The node is entirely this literal: what follows it extends the prefix. */
  readonly complete: boolean;
}

function literalPrefix(node: Re2Node): Prefix {
  switch (node.type) {
    case 'empty':
      return { bytes: '', complete: true };
    case 'set': {
      const single = node.set.length === 2 && node.set[0] === node.set[1];
      if (!single) return { bytes: '', complete: false };
      const bytes = Buffer.from(String.fromCodePoint(node.set[0]!), 'utf8').toString('latin1');
      return { bytes, complete: true };
    }
    case 'assert':
      return { bytes: '', complete: node.kind === 'begin' };
    case 'concat': {
      let bytes = '';
      for (const item of node.items) {
        const p = literalPrefix(item);
        bytes += p.bytes;
        if (!p.complete) return { bytes, complete: false };
      }
      return { bytes, complete: true };
    }
    case 'group':
      return literalPrefix(node.body);
    case 'alt':
      return { bytes: '', complete: false };
    case 'repeat':
      return { bytes: node.min > 0 ? literalPrefix(node.body).bytes : '', complete: false };
  }
}

/**
 * The bytes every input that fully matches `pattern` starts with ('' when none): a
 * `startsWith` check on them rejects most non-matching inputs before the regex runs (the
 * linear engine costs microseconds per match, a prefix check nanoseconds).
 */
export function fullMatchLiteralPrefix(pattern: string): string {
  return literalPrefix(parseRe2(pattern)).bytes;
}

/** Undefined when `pattern` compiles (see compileLinearRe2), else the reason. */
export function checkLinearRe2(pattern: string): string | undefined {
  try {
    compileLinearRe2(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof Re2SyntaxError) return err.message;
    throw err;
  }
}
