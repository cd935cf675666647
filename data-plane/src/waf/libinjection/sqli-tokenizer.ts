// libinjection's SQL tokenizer: one token per call, chosen by the class of the byte at the cursor.
// The input is a byte string (one char code 0-255 per byte). It is lenient by design: any byte
// sequence tokenizes, unterminated strings and comments run to the end of the input, and every
// branch moves forward, so a whole pass is linear in the input length.

import {
  BINARY_DIGITS,
  BYTE_CLASS,
  C_BACKSLASH,
  C_BSTRING,
  C_BWORD,
  C_CHAR,
  C_DASH,
  C_ESTRING,
  C_HASH,
  C_MONEY,
  C_NQSTRING,
  C_NUMBER,
  C_OPERATOR1,
  C_OPERATOR2,
  C_OTHER,
  C_QSTRING,
  C_SLASH,
  C_STRING,
  C_TICK,
  C_USTRING,
  C_VAR,
  C_WHITE,
  C_XSTRING,
  HEX_DIGITS,
  VAR_END,
  WHITE,
  WORD_END,
} from './sqli-chars.js';
import { lookupKeyword } from './sqli-keywords.js';
import {
  parseDigitString,
  parseEString,
  parseMoney,
  parseNqString,
  parseNumber,
  parseQString,
  parseStringBody,
  parseUString,
} from './sqli-literals.js';
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
  TYPE_EVIL,
  TYPE_FUNCTION,
  TYPE_NONE,
  TYPE_NUMBER,
  TYPE_OPERATOR,
  TYPE_UNKNOWN,
  TYPE_VARIABLE,
} from './sqli-token.js';

/** Pretend the input starts inside a '...' or "..." string (libinjection's quote contexts). */
export const FLAG_QUOTE_NONE = 1;
export const FLAG_QUOTE_SINGLE = 2;
export const FLAG_QUOTE_DOUBLE = 4;
/**
 * Dialect. ANSI: `--x` starts a comment and `#` is an operator. MySQL: `--x` is two minus signs
 * and `#` starts a comment.
 */
export const FLAG_SQL_ANSI = 8;
export const FLAG_SQL_MYSQL = 16;

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
    for (let i = 0; i < this.tokens.length; i++) this.tokens[i]?.clear();
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
      this.pos = parseStringBody(this, 0, delim, 0);
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
        return parseStringBody(this, pos, ch, 1);
      case C_HASH:
        return this.parseHash(pos);
      case C_MONEY:
        return parseMoney(this, pos);
      case C_DASH:
        return this.parseDash(pos);
      case C_NUMBER:
        return parseNumber(this, pos);
      case C_SLASH:
        return this.parseSlash(pos);
      case C_VAR:
        return this.parseVar(pos);
      case C_BSTRING:
        return parseDigitString(this, pos, BINARY_DIGITS);
      case C_XSTRING:
        return parseDigitString(this, pos, HEX_DIGITS);
      case C_ESTRING:
        return parseEString(this, pos);
      case C_NQSTRING:
        return parseNqString(this, pos);
      case C_QSTRING:
        return parseQString(this, pos, 0);
      case C_USTRING:
        return parseUString(this, pos);
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

  indexOf(ch: number, from: number): number {
    const s = this.s;
    const end = this.slen;
    for (let i = from; i < end; i++) if (s.charCodeAt(i) === ch) return i;
    return -1;
  }

  /** Index of the two-byte sequence `c0 c1` at or after `from`, or -1. */
  indexOf2(c0: number, c1: number, from: number, end: number): number {
    const s = this.s;
    for (let i = from; i + 1 < end; i++) {
      if (s.charCodeAt(i) === c0 && s.charCodeAt(i + 1) === c1) return i;
    }
    return -1;
  }

  /** Length of the run of bytes in `set` starting at `from`. */
  span(from: number, set: Uint8Array): number {
    const s = this.s;
    let i = from;
    while (i < this.slen && set[s.charCodeAt(i)] === 1) i++;
    return i - from;
  }

  /** Length of the run of bytes not in `set` starting at `from`. */
  spanUntil(from: number, set: Uint8Array): number {
    const s = this.s;
    let i = from;
    while (i < this.slen && set[s.charCodeAt(i)] !== 1) i++;
    return i - from;
  }

  parseEolComment(pos: number): number {
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
    const end = parseStringBody(this, pos, CHAR_TICK, 1);
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
        const end = parseStringBody(this, pos, ch, 1);
        current.type = TYPE_VARIABLE;
        return end;
      }
    }
    const length = this.spanUntil(pos, VAR_END);
    current.assign(TYPE_VARIABLE, pos, this.s, pos, length);
    return pos + length;
  }
}
