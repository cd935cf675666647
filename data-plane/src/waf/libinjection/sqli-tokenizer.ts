// libinjection's SQL tokenizer: one token per call, chosen by the class of the byte at the cursor.
// The input is a byte string (one char code 0-255 per byte). It is lenient by design: any byte
// sequence tokenizes, unterminated strings and comments run to the end of the input, and every
// branch moves forward, so a whole pass is linear in the input length.

import { lookupKeyword } from './sqli-keywords.js';
import {
  CHAR_DOUBLE,
  CHAR_SINGLE,
  CHAR_TICK,
  SqliToken,
  TOKEN_VALUE_MAX,
  TYPE_BACKSLASH,
  TYPE_BAREWORD,
  TYPE_COLON,
  TYPE_COMMENT,
  TYPE_DOT,
  TYPE_EVIL,
  TYPE_FUNCTION,
  TYPE_NONE,
  TYPE_NUMBER,
  TYPE_OPERATOR,
  TYPE_STRING,
  TYPE_UNKNOWN,
  TYPE_VARIABLE,
} from './sqli-token.js';

/** Pretend the input starts inside a '...' or "..." string (libinjection's quote contexts). */
export const FLAG_QUOTE_NONE = 1;
export const FLAG_QUOTE_SINGLE = 2;
export const FLAG_QUOTE_DOUBLE = 4;
/** ANSI: `--x` starts a comment and `#` is an operator. MySQL: `--x` is two minus signs, `#` a comment. */
export const FLAG_SQL_ANSI = 8;
export const FLAG_SQL_MYSQL = 16;

// Byte classes: which parser starts at a byte.
const C_WHITE = 0;
const C_WORD = 1;
const C_OPERATOR1 = 2;
const C_OPERATOR2 = 3;
const C_CHAR = 4;
const C_OTHER = 5;
const C_STRING = 6;
const C_HASH = 7;
const C_MONEY = 8;
const C_DASH = 9;
const C_NUMBER = 10;
const C_SLASH = 11;
const C_VAR = 12;
const C_BSTRING = 13;
const C_ESTRING = 14;
const C_NQSTRING = 15;
const C_QSTRING = 16;
const C_USTRING = 17;
const C_XSTRING = 18;
const C_BWORD = 19;
const C_BACKSLASH = 20;
const C_TICK = 21;

const BYTE_CLASS = new Uint8Array(256).fill(C_WORD);
function classify(chars: string, byteClass: number): void {
  for (let i = 0; i < chars.length; i++) BYTE_CLASS[chars.charCodeAt(i)] = byteClass;
}
for (let b = 0; b <= 0x20; b++) BYTE_CLASS[b] = C_WHITE;
BYTE_CLASS[0x7f] = C_WHITE;
BYTE_CLASS[0xa0] = C_WHITE; // latin-1 no-break space
classify('!&*:<=>|', C_OPERATOR2);
classify('%+^~', C_OPERATOR1);
classify('(),;{}', C_CHAR);
classify('?]', C_OTHER);
classify('"\'', C_STRING);
classify('#', C_HASH);
classify('$', C_MONEY);
classify('-', C_DASH);
classify('.0123456789', C_NUMBER);
classify('/', C_SLASH);
classify('@', C_VAR);
classify('Bb', C_BSTRING);
classify('Ee', C_ESTRING);
classify('Nn', C_NQSTRING);
classify('Qq', C_QSTRING);
classify('Uu', C_USTRING);
classify('Xx', C_XSTRING);
classify('[', C_BWORD);
classify('\\', C_BACKSLASH);
classify('`', C_TICK);

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

/** SQL whitespace: ASCII white, NUL (Oracle) and latin-1 no-break space. */
const WHITE = byteSet(' \t\n\v\f\r\xa0\0');
/** Bytes that end a bare word. */
const WORD_END = byteSet(' []{}<>:\\?=@!#~+-*/&|^%(),\';\t\n\v\f\r"\xa0\0');
/** Bytes that end a variable name (no brackets, braces or '.', unlike a word). */
const VAR_END = byteSet(' <>:\\?=@!#~+-*/&|^%(),\';\t\n\v\f\r`"\0');
// Spans accept NUL as well: libinjection tests span membership with strchr, which finds the
// terminator of its set for a NUL byte.
const BINARY_DIGITS = byteSet('01\0');
const HEX_DIGITS = byteSet('0123456789ABCDEFabcdef\0');
const MONEY_CHARS = byteSet('0123456789.,\0');
const LETTERS = byteSet('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\0');

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** The tokenizer's state over one input; `tokens` doubles as the folding buffer. */
export class SqliTokenizer {
  s = '';
  slen = 0;
  flags = FLAG_QUOTE_NONE | FLAG_SQL_ANSI;
  pos = 0;
  /** Five fingerprint tokens plus room to look one or two tokens ahead while folding. */
  readonly tokens: readonly SqliToken[] = Array.from({ length: 8 }, () => new SqliToken());
  current: SqliToken;
  statsCommentDdx = 0;
  statsCommentHash = 0;
  statsTokens = 0;

  constructor() {
    this.current = this.tokens[0] as SqliToken;
  }

  reset(input: string, flags: number): void {
    this.s = input;
    this.slen = input.length;
    this.flags = flags;
    this.pos = 0;
    for (const token of this.tokens) token.clear();
    this.current = this.tokens[0] as SqliToken;
    this.statsCommentDdx = 0;
    this.statsCommentHash = 0;
    this.statsTokens = 0;
  }

  /** The input byte at `i`, 0 past the end (the terminator ModSecurity's strings carry). */
  byteAt(i: number): number {
    return i < this.slen ? this.s.charCodeAt(i) : 0;
  }

  /**
   * Reads the next token into `current`; false at the end of the input. In a quote context the
   * first token is the rest of the pretended string.
   */
  tokenize(): boolean {
    const current = this.current;
    if (this.slen === 0) return false;
    current.clear();
    if (this.pos === 0 && (this.flags & (FLAG_QUOTE_SINGLE | FLAG_QUOTE_DOUBLE)) !== 0) {
      const delim = (this.flags & FLAG_QUOTE_SINGLE) !== 0 ? CHAR_SINGLE : CHAR_DOUBLE;
      this.pos = this.parseStringBody(0, delim, 0);
      this.statsTokens += 1;
      return true;
    }
    while (this.pos < this.slen) {
      this.pos = this.parseAt(this.pos);
      if (current.type !== TYPE_NONE) {
        this.statsTokens += 1;
        return true;
      }
    }
    return false;
  }

  private parseAt(pos: number): number {
    const current = this.current;
    const ch = this.s.charCodeAt(pos);
    switch (BYTE_CLASS[ch]) {
      case C_WHITE:
        return pos + 1;
      case C_OPERATOR1:
        current.assignChar(TYPE_OPERATOR, pos, ch);
        return pos + 1;
      case C_OPERATOR2:
        return this.parseOperator2(pos);
      case C_CHAR:
        current.assignChar(ch, pos, ch);
        return pos + 1;
      case C_OTHER:
        current.assignChar(TYPE_UNKNOWN, pos, ch);
        return pos + 1;
      case C_STRING:
        return this.parseStringBody(pos, ch, 1);
      case C_HASH:
        return this.parseHash(pos);
      case C_MONEY:
        return this.parseMoney(pos);
      case C_DASH:
        return this.parseDash(pos);
      case C_NUMBER:
        return this.parseNumber(pos);
      case C_SLASH:
        return this.parseSlash(pos);
      case C_VAR:
        return this.parseVar(pos);
      case C_BSTRING:
        return this.parseDigitString(pos, BINARY_DIGITS);
      case C_XSTRING:
        return this.parseDigitString(pos, HEX_DIGITS);
      case C_ESTRING:
        return this.parseEString(pos);
      case C_NQSTRING:
        return this.parseNqString(pos);
      case C_QSTRING:
        return this.parseQString(pos, 0);
      case C_USTRING:
        return this.parseUString(pos);
      case C_BWORD:
        return this.parseBracketWord(pos);
      case C_BACKSLASH:
        return this.parseBackslash(pos);
      case C_TICK:
        return this.parseTick(pos);
      default:
        return this.parseWord(pos);
    }
  }

  private indexOf(ch: number, from: number): number {
    const s = this.s;
    const end = this.slen;
    for (let i = from; i < end; i++) if (s.charCodeAt(i) === ch) return i;
    return -1;
  }

  /** Index of the two-byte sequence `c0 c1` at or after `from`, or -1. */
  private indexOf2(c0: number, c1: number, from: number, end: number): number {
    const s = this.s;
    for (let i = from; i + 1 < end; i++) {
      if (s.charCodeAt(i) === c0 && s.charCodeAt(i + 1) === c1) return i;
    }
    return -1;
  }

  /** Length of the run of bytes in `set` starting at `from`. */
  private span(from: number, set: Uint8Array): number {
    const s = this.s;
    let i = from;
    while (i < this.slen && set[s.charCodeAt(i)] === 1) i++;
    return i - from;
  }

  /** Length of the run of bytes not in `set` starting at `from`. */
  private spanUntil(from: number, set: Uint8Array): number {
    const s = this.s;
    let i = from;
    while (i < this.slen && set[s.charCodeAt(i)] !== 1) i++;
    return i - from;
  }

  private parseEolComment(pos: number): number {
    const newline = this.indexOf(0x0a, pos);
    if (newline < 0) {
      this.current.assign(TYPE_COMMENT, pos, this.s, pos, this.slen - pos);
      return this.slen;
    }
    this.current.assign(TYPE_COMMENT, pos, this.s, pos, newline - pos);
    return newline + 1;
  }

  private parseHash(pos: number): number {
    this.statsCommentHash += 1;
    if ((this.flags & FLAG_SQL_MYSQL) !== 0) {
      this.statsCommentHash += 1;
      return this.parseEolComment(pos);
    }
    this.current.assignChar(TYPE_OPERATOR, pos, 0x23);
    return pos + 1;
  }

  private parseDash(pos: number): number {
    // `--` then white or the end is a comment everywhere; `--x` is a comment in ANSI SQL only
    // (MySQL reads two unary minus signs); a lone `-` is an operator.
    const next = this.byteAt(pos + 1);
    if (pos + 1 < this.slen && next === 0x2d) {
      if (pos + 2 === this.slen || WHITE[this.byteAt(pos + 2)] === 1) {
        return this.parseEolComment(pos);
      }
      if ((this.flags & FLAG_SQL_ANSI) !== 0) {
        this.statsCommentDdx += 1;
        return this.parseEolComment(pos);
      }
    }
    this.current.assignChar(TYPE_OPERATOR, pos, 0x2d);
    return pos + 1;
  }

  private parseSlash(pos: number): number {
    if (this.byteAt(pos + 1) !== 0x2a || pos + 1 >= this.slen) {
      this.current.assignChar(TYPE_OPERATOR, pos, 0x2f);
      return pos + 1;
    }
    const close = this.indexOf2(0x2a, 0x2f, pos + 2, this.slen);
    const length = close < 0 ? this.slen - pos : close + 2 - pos;
    // A comment opening inside a comment (PostgreSQL nests them) or a MySQL `/*!` conditional
    // comment cannot be parsed the same way by every database: evil.
    let type = TYPE_COMMENT;
    if (close >= 0 && this.indexOf2(0x2f, 0x2a, pos + 2, close + 1) >= 0) type = TYPE_EVIL;
    else if (pos + 2 < this.slen && this.byteAt(pos + 2) === 0x21) type = TYPE_EVIL;
    this.current.assign(type, pos, this.s, pos, length);
    return pos + length;
  }

  private parseBackslash(pos: number): number {
    // `\N` is MySQL's NULL.
    if (pos + 1 < this.slen && this.byteAt(pos + 1) === 0x4e) {
      this.current.assign(TYPE_NUMBER, pos, this.s, pos, 2);
      return pos + 2;
    }
    this.current.assignChar(TYPE_BACKSLASH, pos, 0x5c);
    return pos + 1;
  }

  private parseOperator2(pos: number): number {
    const current = this.current;
    const ch = this.byteAt(pos);
    if (pos + 1 >= this.slen) {
      current.assignChar(TYPE_OPERATOR, pos, ch);
      return pos + 1;
    }
    if (
      pos + 2 < this.slen &&
      ch === 0x3c &&
      this.byteAt(pos + 1) === 0x3d &&
      this.byteAt(pos + 2) === 0x3e
    ) {
      current.assign(TYPE_OPERATOR, pos, this.s, pos, 3); // <=>
      return pos + 3;
    }
    current.assign(TYPE_OPERATOR, pos, this.s, pos, 2);
    const type = lookupKeyword(current.val, 2);
    if (type !== TYPE_NONE) {
      current.type = type;
      return pos + 2;
    }
    if (ch === 0x3a) current.assignChar(TYPE_COLON, pos, ch);
    else current.assignChar(TYPE_OPERATOR, pos, ch);
    return pos + 1;
  }

  /**
   * A string delimited by `delim` whose body starts at `pos + offset` (offset 0: the opening quote
   * is only pretended). A quote preceded by an odd number of backslashes, or doubled, does not
   * close it; without a closing quote the string runs to the end.
   */
  parseStringBody(pos: number, delim: number, offset: number): number {
    const current = this.current;
    const start = pos + offset;
    let quote = this.indexOf(delim, start);
    while (quote >= 0) {
      if (this.isBackslashEscaped(quote - 1, start)) {
        quote = this.indexOf(delim, quote + 1);
      } else if (quote + 1 < this.slen && this.byteAt(quote + 1) === delim) {
        quote = this.indexOf(delim, quote + 2);
      } else {
        current.assign(TYPE_STRING, start, this.s, start, quote - start);
        current.strOpen = offset > 0 ? delim : 0;
        current.strClose = delim;
        return quote + 1;
      }
    }
    current.assign(TYPE_STRING, start, this.s, start, this.slen - start);
    current.strOpen = offset > 0 ? delim : 0;
    current.strClose = 0;
    return this.slen;
  }

  /** Whether an odd number of backslashes ends at `end` (not looking before `start`). */
  private isBackslashEscaped(end: number, start: number): boolean {
    let i = end;
    while (i >= start && this.s.charCodeAt(i) === 0x5c) i--;
    return ((end - i) & 1) === 1;
  }

  /** `E'...'` (PostgreSQL escaped string) and `N'...'` (national character set). */
  private parseEString(pos: number): number {
    if (pos + 2 >= this.slen || this.byteAt(pos + 1) !== CHAR_SINGLE) return this.parseWord(pos);
    return this.parseStringBody(pos, CHAR_SINGLE, 2);
  }

  /** `U&'...'`: a PostgreSQL unicode string. */
  private parseUString(pos: number): number {
    if (pos + 2 < this.slen && this.byteAt(pos + 1) === 0x26 && this.byteAt(pos + 2) === CHAR_SINGLE) {
      const end = this.parseStringBody(pos + 2, CHAR_SINGLE, 1);
      this.current.strOpen = 0x75; // u
      if (this.current.strClose === CHAR_SINGLE) this.current.strClose = 0x75;
      return end;
    }
    return this.parseWord(pos);
  }

  /** Oracle's `q'<delim>...<delim>'` (after an optional `n` at `pos`). */
  private parseQString(pos: number, offset: number): number {
    const at = pos + offset;
    const q = this.byteAt(at);
    if (
      at >= this.slen ||
      (q !== 0x71 && q !== 0x51) ||
      at + 2 >= this.slen ||
      this.byteAt(at + 1) !== CHAR_SINGLE
    ) {
      return this.parseWord(pos);
    }
    let close = this.byteAt(at + 2);
    // libinjection compares a signed char: bytes 0x80-0xFF are "below 33" too.
    if (close < 33 || close >= 0x80) return this.parseWord(pos);
    if (close === 0x28) close = 0x29;
    else if (close === 0x5b) close = 0x5d;
    else if (close === 0x7b) close = 0x7d;
    else if (close === 0x3c) close = 0x3e;
    const current = this.current;
    const start = at + 3;
    const end = this.indexOf2(close, CHAR_SINGLE, start, this.slen);
    current.assign(TYPE_STRING, start, this.s, start, (end < 0 ? this.slen : end) - start);
    current.strOpen = 0x71; // q
    current.strClose = end < 0 ? 0 : 0x71;
    return end < 0 ? this.slen : end + 2;
  }

  private parseNqString(pos: number): number {
    if (pos + 2 < this.slen && this.byteAt(pos + 1) === CHAR_SINGLE) return this.parseEString(pos);
    return this.parseQString(pos, 1);
  }

  /** `b'0101'` and `x'12ab'` literals: numbers. */
  private parseDigitString(pos: number, digits: Uint8Array): number {
    if (pos + 2 >= this.slen || this.byteAt(pos + 1) !== CHAR_SINGLE) return this.parseWord(pos);
    const length = this.span(pos + 2, digits);
    if (pos + 2 + length >= this.slen || this.byteAt(pos + 2 + length) !== CHAR_SINGLE) {
      return this.parseWord(pos);
    }
    this.current.assign(TYPE_NUMBER, pos, this.s, pos, length + 3);
    return pos + length + 3;
  }

  /** SQL Server's `[name]`. */
  private parseBracketWord(pos: number): number {
    const close = this.indexOf(0x5d, pos);
    const end = close < 0 ? this.slen : close + 1;
    this.current.assign(TYPE_BAREWORD, pos, this.s, pos, end - pos);
    return end;
  }

  parseWord(pos: number): number {
    const current = this.current;
    const length = this.spanUntil(pos, WORD_END);
    current.assign(TYPE_BAREWORD, pos, this.s, pos, length);
    // `SELECT.1` or SELECT`col`: a keyword before a '.' or '`' is a token of its own.
    const val = current.val;
    for (let i = 0; i < current.len; i++) {
      const b = val[i];
      if (b === 0x2e || b === 0x60) {
        const type = lookupKeyword(val, i);
        if (type !== TYPE_NONE && type !== TYPE_BAREWORD) {
          current.clear();
          current.assign(type, pos, this.s, pos, i);
          return pos + i;
        }
      }
    }
    if (length <= TOKEN_VALUE_MAX) {
      const type = lookupKeyword(val, length);
      current.type = type === TYPE_NONE ? TYPE_BAREWORD : type;
    }
    return pos + length;
  }

  /** MySQL's `` `name` ``: a bare word, or a function when it names one. */
  private parseTick(pos: number): number {
    const end = this.parseStringBody(pos, CHAR_TICK, 1);
    const current = this.current;
    current.type =
      lookupKeyword(current.val, current.len) === TYPE_FUNCTION ? TYPE_FUNCTION : TYPE_BAREWORD;
    return end;
  }

  /** `@name`, `@@name`, and MySQL's `@@'name'` or `` @@`name` ``. */
  private parseVar(at: number): number {
    const current = this.current;
    let pos = at + 1;
    if (pos < this.slen && this.byteAt(pos) === 0x40) {
      pos += 1;
      current.count = 2;
    } else {
      current.count = 1;
    }
    if (pos < this.slen) {
      const ch = this.byteAt(pos);
      if (ch === CHAR_TICK) {
        const end = this.parseTick(pos);
        current.type = TYPE_VARIABLE;
        return end;
      }
      if (ch === CHAR_SINGLE || ch === CHAR_DOUBLE) {
        const end = this.parseStringBody(pos, ch, 1);
        current.type = TYPE_VARIABLE;
        return end;
      }
    }
    const length = this.spanUntil(pos, VAR_END);
    current.assign(TYPE_VARIABLE, pos, this.s, pos, length);
    return pos + length;
  }

  /** `$1,000.00` (money), `$$...$$` and `$tag$...$tag$` (PostgreSQL dollar-quoted strings). */
  private parseMoney(pos: number): number {
    const current = this.current;
    if (pos + 1 === this.slen) {
      current.assignChar(TYPE_BAREWORD, pos, 0x24);
      return this.slen;
    }
    const digits = this.span(pos + 1, MONEY_CHARS);
    if (digits === 1 && this.byteAt(pos + 1) === 0x2e) return this.parseWord(pos);
    if (digits > 0) {
      current.assign(TYPE_NUMBER, pos, this.s, pos, digits + 1);
      return pos + digits + 1;
    }
    if (this.byteAt(pos + 1) === 0x24) {
      const start = pos + 2;
      const end = this.indexOf2(0x24, 0x24, start, this.slen);
      return this.dollarString(start, end, 2);
    }
    const tag = this.span(pos + 1, LETTERS);
    if (tag === 0 || pos + tag + 1 === this.slen || this.byteAt(pos + tag + 1) !== 0x24) {
      current.assignChar(TYPE_BAREWORD, pos, 0x24);
      return pos + 1;
    }
    const start = pos + tag + 2;
    return this.dollarString(start, this.indexOfDelimiter(pos, tag + 2, start), tag + 2);
  }

  private dollarString(start: number, end: number, delimiterLength: number): number {
    const current = this.current;
    current.assign(TYPE_STRING, start, this.s, start, (end < 0 ? this.slen : end) - start);
    current.strOpen = 0x24;
    current.strClose = end < 0 ? 0 : 0x24;
    return end < 0 ? this.slen : end + delimiterLength;
  }

  /** Index of the next copy of the `length` bytes at `delimiter`, searching from `from`. */
  private indexOfDelimiter(delimiter: number, length: number, from: number): number {
    const s = this.s;
    const first = s.charCodeAt(delimiter);
    const last = this.slen - length;
    outer: for (let i = from; i <= last; i++) {
      if (s.charCodeAt(i) !== first) continue;
      for (let j = 1; j < length; j++) {
        if (s.charCodeAt(i + j) !== s.charCodeAt(delimiter + j)) continue outer;
      }
      return i;
    }
    return -1;
  }

  private parseNumber(start: number): number {
    const current = this.current;
    const slen = this.slen;
    if (this.byteAt(start) === 0x30 && start + 1 < slen) {
      const radix = this.byteAt(start + 1) | 0x20;
      const digits = radix === 0x78 ? HEX_DIGITS : radix === 0x62 ? BINARY_DIGITS : undefined;
      if (digits !== undefined) {
        const length = this.span(start + 2, digits);
        // `0x` without digits is a word.
        current.assign(length === 0 ? TYPE_BAREWORD : TYPE_NUMBER, start, this.s, start, length + 2);
        return start + 2 + length;
      }
    }
    let pos = start;
    while (pos < slen && isDigit(this.byteAt(pos))) pos++;
    if (pos < slen && this.byteAt(pos) === 0x2e) {
      pos++;
      while (pos < slen && isDigit(this.byteAt(pos))) pos++;
      if (pos - start === 1) {
        current.assignChar(TYPE_DOT, start, 0x2e);
        return pos;
      }
    }
    let haveE = false;
    let haveExponent = false;
    if (pos < slen && (this.byteAt(pos) | 0x20) === 0x65) {
      haveE = true;
      pos++;
      if (pos < slen && (this.byteAt(pos) === 0x2b || this.byteAt(pos) === 0x2d)) pos++;
      while (pos < slen && isDigit(this.byteAt(pos))) {
        haveExponent = true;
        pos++;
      }
    }
    // Oracle's float/double suffix: `1.2f`, and `1fUNION` reads as `1f UNION`.
    if (pos < slen) {
      const suffix = this.byteAt(pos) | 0x20;
      if (suffix === 0x64 || suffix === 0x66) {
        const next = this.byteAt(pos + 1);
        if (pos + 1 === slen || WHITE[next] === 1 || next === 0x3b || (next | 0x20) === 0x75) pos++;
      }
    }
    // `1234.e` or `10.10E` without exponent digits is a word.
    const type = haveE && !haveExponent ? TYPE_BAREWORD : TYPE_NUMBER;
    current.assign(type, start, this.s, start, pos - start);
    return pos;
  }
}
