// libinjection's folding: reduces the token stream to at most five tokens whose types make the
// fingerprint. It drops what does not change the shape of a statement (`1+1` -> `1`, `a.b` -> `a`,
// unary operators, casts, repeated parentheses, `{x ...}` ODBC escapes), merges multi-word
// keywords (`UNION` `ALL` -> `UNION ALL`), and re-types ambiguous words from context (`IN (` is an
// operator, `USER(` a function). It looks at two, then three tokens at `left`; after a fold it
// usually restarts at 0 so that a fold can enable another one earlier in the buffer.

import { lookupKeyword } from './sqli-keywords.js';
import {
  SqliToken,
  TOKEN_VALUE_MAX,
  TYPE_BACKSLASH,
  TYPE_BAREWORD,
  TYPE_COLLATE,
  TYPE_COMMA,
  TYPE_COMMENT,
  TYPE_DOT,
  TYPE_EVIL,
  TYPE_EXPRESSION,
  TYPE_FUNCTION,
  TYPE_GROUP,
  TYPE_KEYWORD,
  TYPE_LEFTBRACE,
  TYPE_LEFTPARENS,
  TYPE_LOGIC_OPERATOR,
  TYPE_NONE,
  TYPE_NUMBER,
  TYPE_OPERATOR,
  TYPE_RIGHTBRACE,
  TYPE_RIGHTPARENS,
  TYPE_SEMICOLON,
  TYPE_SQLTYPE,
  TYPE_STRING,
  TYPE_TSQL,
  TYPE_UNION,
  TYPE_VARIABLE,
} from './sqli-token.js';
import type { SqliTokenizer } from './sqli-tokenizer.js';

const MAX_TOKENS = 5;

/** Words that are functions when a '(' follows although they usually are columns or variables. */
const FUNCTION_BEFORE_PARENS = [
  'USER_ID',
  'USER_NAME',
  'DATABASE',
  'PASSWORD',
  'USER',
  'CURRENT_USER',
  'CURRENT_DATE',
  'CURRENT_TIME',
  'CURRENT_TIMESTAMP',
  'LOCALTIME',
  'LOCALTIMESTAMP',
];

function isUnaryOperator(token: SqliToken): boolean {
  if (token.type !== TYPE_OPERATOR) return false;
  const first = token.byteAt(0);
  switch (token.len) {
    case 1:
      return first === 0x2b || first === 0x2d || first === 0x21 || first === 0x7e; // + - ! ~
    case 2:
      return first === 0x21 && token.byteAt(1) === 0x21; // !!
    case 3:
      return token.valueIs('NOT');
    default:
      return false;
  }
}

function isArithmeticOperator(token: SqliToken): boolean {
  const ch = token.byteAt(0);
  return (
    token.type === TYPE_OPERATOR &&
    token.len === 1 &&
    (ch === 0x2a || ch === 0x2f || ch === 0x2d || ch === 0x2b || ch === 0x25) // * / - + %
  );
}

function isWordLike(type: number): boolean {
  return (
    type === TYPE_KEYWORD ||
    type === TYPE_BAREWORD ||
    type === TYPE_OPERATOR ||
    type === TYPE_UNION ||
    type === TYPE_FUNCTION ||
    type === TYPE_EXPRESSION ||
    type === TYPE_TSQL ||
    type === TYPE_SQLTYPE
  );
}

function isOneOf(type: number, a: number, b: number, c = -1, d = -1): boolean {
  return type === a || type === b || type === c || type === d;
}

/** Folds the tokens of one tokenizer pass; reused across calls (no per-call allocation). */
export class SqliFolder {
  private readonly mergeBuffer = new Uint8Array(TOKEN_VALUE_MAX + 1);
  private readonly lastComment = new SqliToken();
  private tokens: readonly SqliToken[] = [];
  private tokenizer!: SqliTokenizer;
  /** Where the next token goes. */
  private pos = 0;
  /** How many tokens at the front are settled (part of the fingerprint). */
  private left = 0;
  private more = true;

  /** Runs the tokenizer to its end or to five settled tokens; returns the token count (<= 5). */
  fold(tokenizer: SqliTokenizer): number {
    this.tokenizer = tokenizer;
    this.tokens = tokenizer.tokens;
    this.lastComment.clear();
    this.pos = 0;
    this.left = 0;
    this.more = true;

    // Leading comments, '(', casts and unary operators say nothing about the statement.
    tokenizer.current = this.token(0);
    while (this.more) {
      this.more = tokenizer.tokenize();
      const current = tokenizer.current;
      if (
        !(
          current.type === TYPE_COMMENT ||
          current.type === TYPE_LEFTPARENS ||
          current.type === TYPE_SQLTYPE ||
          isUnaryOperator(current)
        )
      ) {
        break;
      }
    }
    if (!this.more) return 0;
    this.pos = 1;

    for (;;) {
      if (this.pos >= MAX_TOKENS) this.restartOnFunctionCallShapes();
      if (!this.more || this.left >= MAX_TOKENS) {
        this.left = this.pos;
        break;
      }
      this.fetchUpTo(2);
      if (this.pos - this.left < 2) {
        this.left = this.pos;
        continue;
      }
      const pair = this.foldPair();
      if (pair === PAIR_RESTART) continue;
      if (pair === PAIR_EVIL) return this.left + 2;
      this.fetchUpTo(3);
      if (this.pos - this.left < 3) {
        this.left = this.pos;
        continue;
      }
      if (this.foldTriple()) continue;
      this.left += 1;
    }

    let count = this.left;
    if (count < MAX_TOKENS && this.lastComment.type === TYPE_COMMENT) {
      this.token(count).copyFrom(this.lastComment);
      count += 1;
    }
    // A sixth token may have been read to decide the type of the fifth.
    return count > MAX_TOKENS ? MAX_TOKENS : count;
  }

  private token(i: number): SqliToken {
    return this.tokens[i] as SqliToken;
  }

  private type(i: number): number {
    return this.token(i).type;
  }

  /**
   * Reads tokens until `count` are unsettled past `left`. Comments are not kept in the buffer; the
   * last one is remembered and appended at the end when there is room.
   */
  private fetchUpTo(count: number): void {
    const tokenizer = this.tokenizer;
    while (this.more && this.pos <= MAX_TOKENS && this.pos - this.left < count) {
      tokenizer.current = this.token(this.pos);
      this.more = tokenizer.tokenize();
      if (!this.more) break;
      if (tokenizer.current.type === TYPE_COMMENT) {
        this.lastComment.copyFrom(tokenizer.current);
      } else {
        this.lastComment.type = TYPE_NONE;
        this.pos += 1;
      }
    }
  }

  /**
   * With five tokens read: `1,(1)`, `n+(n)`, `1),(1` and `n)+(n` are a value list or a function
   * call's arguments; forget them and keep folding what follows.
   */
  private restartOnFunctionCallShapes(): void {
    const t0 = this.type(0);
    const t1 = this.type(1);
    const t2 = this.type(2);
    const t3 = this.type(3);
    const t4 = this.type(4);
    const restart =
      (t0 === TYPE_NUMBER &&
        (t1 === TYPE_OPERATOR || t1 === TYPE_COMMA) &&
        t2 === TYPE_LEFTPARENS &&
        t3 === TYPE_NUMBER &&
        t4 === TYPE_RIGHTPARENS) ||
      (t0 === TYPE_BAREWORD &&
        t1 === TYPE_OPERATOR &&
        t2 === TYPE_LEFTPARENS &&
        (t3 === TYPE_BAREWORD || t3 === TYPE_NUMBER) &&
        t4 === TYPE_RIGHTPARENS) ||
      (t0 === TYPE_NUMBER &&
        t1 === TYPE_RIGHTPARENS &&
        t2 === TYPE_COMMA &&
        t3 === TYPE_LEFTPARENS &&
        t4 === TYPE_NUMBER) ||
      (t0 === TYPE_BAREWORD &&
        t1 === TYPE_RIGHTPARENS &&
        t2 === TYPE_OPERATOR &&
        t3 === TYPE_LEFTPARENS &&
        t4 === TYPE_BAREWORD);
    if (!restart) return;
    if (this.pos > MAX_TOKENS) {
      this.token(1).copyFrom(this.token(MAX_TOKENS));
      this.pos = 2;
    } else {
      this.pos = 1;
    }
    this.left = 0;
  }

  /** `a` `b` -> `a b` when that phrase is a keyword (`UNION ALL`, `NOT IN`, `ORDER BY`). */
  private mergeWords(a: SqliToken, b: SqliToken): boolean {
    if (!isWordLike(a.type) || !(isWordLike(b.type) || b.type === TYPE_LOGIC_OPERATOR)) return false;
    const length = a.len + b.len + 1;
    if (length > TOKEN_VALUE_MAX) return false;
    const merged = this.mergeBuffer;
    merged.set(a.val.subarray(0, a.len), 0);
    merged[a.len] = 0x20;
    merged.set(b.val.subarray(0, b.len), a.len + 1);
    const type = lookupKeyword(merged, length);
    if (type === TYPE_NONE) return false;
    a.type = type;
    a.len = length;
    a.val.set(merged.subarray(0, length));
    a.val[length] = 0;
    return true;
  }

  /** Two-token rules at `left`. */
  private foldPair(): number {
    const left = this.left;
    const a = this.token(left);
    const b = this.token(left + 1);
    if (
      (a.type === TYPE_STRING && b.type === TYPE_STRING) || // 'a' 'b' concatenates
      (a.type === TYPE_SEMICOLON && b.type === TYPE_SEMICOLON)
    ) {
      this.pos -= 1;
      return PAIR_RESTART;
    }
    if (
      (a.type === TYPE_OPERATOR || a.type === TYPE_LOGIC_OPERATOR) &&
      (isUnaryOperator(b) || b.type === TYPE_SQLTYPE)
    ) {
      this.pos -= 1;
      this.left = 0;
      return PAIR_RESTART;
    }
    if ((a.type === TYPE_LEFTPARENS && isUnaryOperator(b)) || this.mergeWords(a, b)) {
      this.pos -= 1;
      if (this.left > 0) this.left -= 1;
      return PAIR_RESTART;
    }
    if (
      a.type === TYPE_SEMICOLON &&
      b.type === TYPE_FUNCTION &&
      (b.byteAt(0) | 0x20) === 0x69 &&
      (b.byteAt(1) | 0x20) === 0x66
    ) {
      // `; IF` is Transact-SQL's control flow statement, not the IF() function.
      b.type = TYPE_TSQL;
      return PAIR_RESTART;
    }
    if (
      (a.type === TYPE_BAREWORD || a.type === TYPE_VARIABLE) &&
      b.type === TYPE_LEFTPARENS &&
      FUNCTION_BEFORE_PARENS.some((word) => a.valueIs(word))
    ) {
      a.type = TYPE_FUNCTION;
      return PAIR_RESTART;
    }
    if (a.type === TYPE_KEYWORD && (a.valueIs('IN') || a.valueIs('NOT IN'))) {
      // `IN (` compares like an operator; a bare `IN` (MySQL's `IN BOOLEAN MODE`) means nothing.
      a.type = b.type === TYPE_LEFTPARENS ? TYPE_OPERATOR : TYPE_BAREWORD;
      return PAIR_RESTART;
    }
    if (a.type === TYPE_OPERATOR && (a.valueIs('LIKE') || a.valueIs('NOT LIKE'))) {
      if (b.type === TYPE_LEFTPARENS) a.type = TYPE_FUNCTION; // LIKE(...)
      return PAIR_NONE;
    }
    if (
      a.type === TYPE_SQLTYPE &&
      (isOneOf(b.type, TYPE_BAREWORD, TYPE_NUMBER, TYPE_SQLTYPE, TYPE_LEFTPARENS) ||
        isOneOf(b.type, TYPE_FUNCTION, TYPE_VARIABLE, TYPE_STRING))
    ) {
      a.copyFrom(b); // a cast does not change the shape
      this.pos -= 1;
      this.left = 0;
      return PAIR_RESTART;
    }
    if (a.type === TYPE_COLLATE && b.type === TYPE_BAREWORD) {
      // Too many collations to list: a word with '_' after COLLATE is taken for one.
      if (b.valueHas(0x5f)) {
        b.type = TYPE_SQLTYPE;
        this.left = 0;
      }
      return PAIR_NONE;
    }
    if (a.type === TYPE_BACKSLASH) {
      // Transact-SQL reads `\%1` as `0 % 1` and `\1` as `1`.
      if (isArithmeticOperator(b)) {
        a.type = TYPE_NUMBER;
      } else {
        a.copyFrom(b);
        this.pos -= 1;
      }
      this.left = 0;
      return PAIR_RESTART;
    }
    if (
      (a.type === TYPE_LEFTPARENS && b.type === TYPE_LEFTPARENS) ||
      (a.type === TYPE_RIGHTPARENS && b.type === TYPE_RIGHTPARENS)
    ) {
      this.pos -= 1;
      this.left = 0;
      return PAIR_RESTART;
    }
    if (a.type === TYPE_LEFTBRACE && b.type === TYPE_BAREWORD) {
      // MySQL's `{ ``.``.id }` is too odd to fold; otherwise the ODBC escape `{fn expr}` is expr.
      if (b.len === 0) {
        b.type = TYPE_EVIL;
        return PAIR_EVIL;
      }
      this.left = 0;
      this.pos -= 2;
      return PAIR_RESTART;
    }
    if (b.type === TYPE_RIGHTBRACE) {
      this.pos -= 1;
      this.left = 0;
      return PAIR_RESTART;
    }
    return PAIR_NONE;
  }

  /** Three-token rules at `left`; true when something folded (restart). */
  private foldTriple(): boolean {
    const left = this.left;
    const a = this.token(left);
    const b = this.token(left + 1);
    const c = this.token(left + 2);
    if (
      (a.type === TYPE_NUMBER && b.type === TYPE_OPERATOR && c.type === TYPE_NUMBER) ||
      (a.type === TYPE_OPERATOR && b.type !== TYPE_LEFTPARENS && c.type === TYPE_OPERATOR) ||
      (a.type === TYPE_LOGIC_OPERATOR && c.type === TYPE_LOGIC_OPERATOR) ||
      (a.type === TYPE_VARIABLE &&
        b.type === TYPE_OPERATOR &&
        isOneOf(c.type, TYPE_VARIABLE, TYPE_NUMBER, TYPE_BAREWORD)) ||
      (isOneOf(a.type, TYPE_BAREWORD, TYPE_NUMBER) &&
        b.type === TYPE_OPERATOR &&
        isOneOf(c.type, TYPE_NUMBER, TYPE_BAREWORD)) ||
      (isOneOf(a.type, TYPE_BAREWORD, TYPE_NUMBER, TYPE_VARIABLE, TYPE_STRING) &&
        b.type === TYPE_OPERATOR &&
        b.valueIs('::') &&
        c.type === TYPE_SQLTYPE) ||
      (isOneOf(a.type, TYPE_BAREWORD, TYPE_NUMBER, TYPE_STRING, TYPE_VARIABLE) &&
        b.type === TYPE_COMMA &&
        isOneOf(c.type, TYPE_NUMBER, TYPE_BAREWORD, TYPE_STRING, TYPE_VARIABLE)) ||
      (a.type === TYPE_BAREWORD && b.type === TYPE_DOT && c.type === TYPE_BAREWORD) // db.table
    ) {
      this.pos -= 2;
      this.left = 0;
      return true;
    }
    if (
      (isOneOf(a.type, TYPE_EXPRESSION, TYPE_GROUP, TYPE_COMMA) &&
        isUnaryOperator(b) &&
        c.type === TYPE_LEFTPARENS) ||
      (isOneOf(a.type, TYPE_KEYWORD, TYPE_EXPRESSION, TYPE_GROUP) &&
        isUnaryOperator(b) &&
        (isOneOf(c.type, TYPE_NUMBER, TYPE_BAREWORD, TYPE_VARIABLE, TYPE_STRING) ||
          c.type === TYPE_FUNCTION))
    ) {
      b.copyFrom(c); // drop the unary operator: `SELECT - 1`, `LIMIT + (`
      this.pos -= 1;
      this.left = 0;
      return true;
    }
    if (
      a.type === TYPE_COMMA &&
      isUnaryOperator(b) &&
      isOneOf(c.type, TYPE_NUMBER, TYPE_BAREWORD, TYPE_VARIABLE, TYPE_STRING)
    ) {
      // `, -1` -> `,1`, then back up so that `1,-1` can fold to `1`.
      b.copyFrom(c);
      this.left = 0;
      this.pos -= 3;
      return true;
    }
    if (
      (a.type === TYPE_COMMA && isUnaryOperator(b) && c.type === TYPE_FUNCTION) ||
      (a.type === TYPE_EXPRESSION && b.type === TYPE_DOT && c.type === TYPE_BAREWORD)
    ) {
      b.copyFrom(c); // `1,-sin(1)` -> `1,sin(1)`; `SELECT . x` -> `SELECT x`
      this.pos -= 1;
      this.left = 0;
      return true;
    }
    if (
      a.type === TYPE_FUNCTION &&
      b.type === TYPE_LEFTPARENS &&
      c.type !== TYPE_RIGHTPARENS &&
      a.valueIs('USER')
    ) {
      a.type = TYPE_BAREWORD; // USER() takes no argument: `user(x)` is not the function
    }
    return false;
  }
}

const PAIR_NONE = 0;
const PAIR_RESTART = 1;
const PAIR_EVIL = 2;
