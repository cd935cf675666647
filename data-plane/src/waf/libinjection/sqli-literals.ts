// SQL literals for libinjection's tokenizer: quoted strings in their dialect forms (E'', N'',
// U&'', Oracle's q'[...]', PostgreSQL's $$...$$ and $tag$...$tag$), b''/x'' and 0x/0b numbers,
// decimals with exponents and Oracle's d/f suffixes, and money ($1,000.00). Each parser writes the
// tokenizer's current token and returns the position after the literal; one that does not fit
// its form falls back to a word.

import { BINARY_DIGITS, HEX_DIGITS, LETTERS, MONEY_CHARS, WHITE, isDigit } from './sqli-chars.js';
import {
  CHAR_SINGLE,
  TYPE_BAREWORD,
  TYPE_DOT,
  TYPE_NUMBER,
  TYPE_STRING,
  type SqliToken,
} from './sqli-token.js';

/** What the literal parsers read of the tokenizer (sqli-tokenizer.ts's SqliTokenizer). */
export interface SqliTokenizer {
  readonly s: string;
  readonly slen: number;
  readonly current: SqliToken;
  byteAt(i: number): number;
  indexOf(ch: number, from: number): number;
  indexOf2(c0: number, c1: number, from: number, end: number): number;
  span(from: number, set: Uint8Array): number;
  parseWord(pos: number): number;
}

/**
 * A string delimited by `delim` whose body starts at `pos + offset` (offset 0: the opening quote
 * is only pretended). A quote preceded by an odd number of backslashes, or doubled, does not
 * close it; without a closing quote the string runs to the end.
 */
export function parseStringBody(
  t: SqliTokenizer,
  pos: number,
  delim: number,
  offset: number,
): number {
  const current = t.current;
  const start = pos + offset;
  let quote = t.indexOf(delim, start);
  while (quote >= 0) {
    if (isBackslashEscaped(t, quote - 1, start)) {
      quote = t.indexOf(delim, quote + 1);
    } else if (quote + 1 < t.slen && t.byteAt(quote + 1) === delim) {
      quote = t.indexOf(delim, quote + 2);
    } else {
      current.assign(TYPE_STRING, start, t.s, start, quote - start);
      current.strOpen = offset > 0 ? delim : 0;
      current.strClose = delim;
      return quote + 1;
    }
  }
  current.assign(TYPE_STRING, start, t.s, start, t.slen - start);
  current.strOpen = offset > 0 ? delim : 0;
  current.strClose = 0;
  return t.slen;
}

/** Whether an odd number of backslashes ends at `end` (not looking before `start`). */
function isBackslashEscaped(t: SqliTokenizer, end: number, start: number): boolean {
  let i = end;
  while (i >= start && t.s.charCodeAt(i) === 0x5c) i--;
  return ((end - i) & 1) === 1;
}

/** `E'...'` (PostgreSQL escaped string) and `N'...'` (national character set). */
export function parseEString(t: SqliTokenizer, pos: number): number {
  if (pos + 2 >= t.slen || t.byteAt(pos + 1) !== CHAR_SINGLE) return t.parseWord(pos);
  return parseStringBody(t, pos, CHAR_SINGLE, 2);
}

/** `U&'...'`: a PostgreSQL unicode string. */
export function parseUString(t: SqliTokenizer, pos: number): number {
  if (pos + 2 < t.slen && t.byteAt(pos + 1) === 0x26 && t.byteAt(pos + 2) === CHAR_SINGLE) {
    const end = parseStringBody(t, pos + 2, CHAR_SINGLE, 1);
    t.current.strOpen = 0x75; // u
    if (t.current.strClose === CHAR_SINGLE) t.current.strClose = 0x75;
    return end;
  }
  return t.parseWord(pos);
}

/** Oracle's `q'<delim>...<delim>'` (after an optional `n` at `pos`). */
export function parseQString(t: SqliTokenizer, pos: number, offset: number): number {
  const at = pos + offset;
  const q = t.byteAt(at);
  if (
    at >= t.slen ||
    (q !== 0x71 && q !== 0x51) ||
    at + 2 >= t.slen ||
    t.byteAt(at + 1) !== CHAR_SINGLE
  ) {
    return t.parseWord(pos);
  }
  let close = t.byteAt(at + 2);
  // libinjection compares a signed char: bytes 0x80-0xFF are "below 33" too.
  if (close < 33 || close >= 0x80) return t.parseWord(pos);
  if (close === 0x28) close = 0x29;
  else if (close === 0x5b) close = 0x5d;
  else if (close === 0x7b) close = 0x7d;
  else if (close === 0x3c) close = 0x3e;
  const current = t.current;
  const start = at + 3;
  const end = t.indexOf2(close, CHAR_SINGLE, start, t.slen);
  current.assign(TYPE_STRING, start, t.s, start, (end < 0 ? t.slen : end) - start);
  current.strOpen = 0x71; // q
  current.strClose = end < 0 ? 0 : 0x71;
  return end < 0 ? t.slen : end + 2;
}

export function parseNqString(t: SqliTokenizer, pos: number): number {
  if (pos + 2 < t.slen && t.byteAt(pos + 1) === CHAR_SINGLE) return parseEString(t, pos);
  return parseQString(t, pos, 1);
}

/** `b'0101'` and `x'12ab'` literals: numbers. */
export function parseDigitString(t: SqliTokenizer, pos: number, digits: Uint8Array): number {
  if (pos + 2 >= t.slen || t.byteAt(pos + 1) !== CHAR_SINGLE) return t.parseWord(pos);
  const length = t.span(pos + 2, digits);
  if (pos + 2 + length >= t.slen || t.byteAt(pos + 2 + length) !== CHAR_SINGLE) {
    return t.parseWord(pos);
  }
  t.current.assign(TYPE_NUMBER, pos, t.s, pos, length + 3);
  return pos + length + 3;
}

/** `$1,000.00` (money), `$$...$$` and `$tag$...$tag$` (PostgreSQL dollar-quoted strings). */
export function parseMoney(t: SqliTokenizer, pos: number): number {
  const current = t.current;
  if (pos + 1 === t.slen) {
    current.assignChar(TYPE_BAREWORD, pos, 0x24);
    return t.slen;
  }
  const digits = t.span(pos + 1, MONEY_CHARS);
  if (digits === 1 && t.byteAt(pos + 1) === 0x2e) return t.parseWord(pos);
  if (digits > 0) {
    current.assign(TYPE_NUMBER, pos, t.s, pos, digits + 1);
    return pos + digits + 1;
  }
  if (t.byteAt(pos + 1) === 0x24) {
    const start = pos + 2;
    const end = t.indexOf2(0x24, 0x24, start, t.slen);
    return dollarString(t, start, end, 2);
  }
  const tag = t.span(pos + 1, LETTERS);
  if (tag === 0 || pos + tag + 1 === t.slen || t.byteAt(pos + tag + 1) !== 0x24) {
    current.assignChar(TYPE_BAREWORD, pos, 0x24);
    return pos + 1;
  }
  const start = pos + tag + 2;
  return dollarString(t, start, indexOfDelimiter(t, pos, tag + 2, start), tag + 2);
}

function dollarString(
  t: SqliTokenizer,
  start: number,
  end: number,
  delimiterLength: number,
): number {
  const current = t.current;
  current.assign(TYPE_STRING, start, t.s, start, (end < 0 ? t.slen : end) - start);
  current.strOpen = 0x24;
  current.strClose = end < 0 ? 0 : 0x24;
  return end < 0 ? t.slen : end + delimiterLength;
}

/** Index of the next copy of the `length` bytes at `delimiter`, searching from `from`. */
function indexOfDelimiter(
  t: SqliTokenizer,
  delimiter: number,
  length: number,
  from: number,
): number {
  const s = t.s;
  const first = s.charCodeAt(delimiter);
  const last = t.slen - length;
  outer: for (let i = from; i <= last; i++) {
    if (s.charCodeAt(i) !== first) continue;
    for (let j = 1; j < length; j++) {
      if (s.charCodeAt(i + j) !== s.charCodeAt(delimiter + j)) continue outer;
    }
    return i;
  }
  return -1;
}

export function parseNumber(t: SqliTokenizer, start: number): number {
  const current = t.current;
  const slen = t.slen;
  if (t.byteAt(start) === 0x30 && start + 1 < slen) {
    const radix = t.byteAt(start + 1) | 0x20;
    const digits = radix === 0x78 ? HEX_DIGITS : radix === 0x62 ? BINARY_DIGITS : undefined;
    if (digits !== undefined) {
      const length = t.span(start + 2, digits);
      // `0x` without digits is a word.
      current.assign(length === 0 ? TYPE_BAREWORD : TYPE_NUMBER, start, t.s, start, length + 2);
      return start + 2 + length;
    }
  }
  let pos = start;
  while (pos < slen && isDigit(t.byteAt(pos))) pos++;
  if (pos < slen && t.byteAt(pos) === 0x2e) {
    pos++;
    while (pos < slen && isDigit(t.byteAt(pos))) pos++;
    if (pos - start === 1) {
      current.assignChar(TYPE_DOT, start, 0x2e);
      return pos;
    }
  }
  let haveE = false;
  let haveExponent = false;
  if (pos < slen && (t.byteAt(pos) | 0x20) === 0x65) {
    haveE = true;
    pos++;
    if (pos < slen && (t.byteAt(pos) === 0x2b || t.byteAt(pos) === 0x2d)) pos++;
    while (pos < slen && isDigit(t.byteAt(pos))) {
      haveExponent = true;
      pos++;
    }
  }
  // Oracle's float/double suffix: `1.2f`, and `1fUNION` reads as `1f UNION`.
  if (pos < slen) {
    const suffix = t.byteAt(pos) | 0x20;
    if (suffix === 0x64 || suffix === 0x66) {
      const next = t.byteAt(pos + 1);
      if (pos + 1 === slen || WHITE[next] === 1 || next === 0x3b || (next | 0x20) === 0x75) pos++;
    }
  }
  // `1234.e` or `10.10E` without exponent digits is a word.
  const type = haveE && !haveExponent ? TYPE_BAREWORD : TYPE_NUMBER;
  current.assign(type, start, t.s, start, pos - start);
  return pos;
}
