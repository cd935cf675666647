// libinjection's SQLi detection: fingerprint the input in several quote contexts and SQL dialects,
// and report SQLi when a fingerprint is in libinjection's set and the false-positive rules
// (`libinjection_sqli_not_whitelist`) do not clear it.

import { SqliFolder } from './sqli-fold.js';
import { isSqliFingerprint } from './sqli-keywords.js';
import {
  CHAR_TICK,
  TYPE_BAREWORD,
  TYPE_COMMENT,
  TYPE_EVIL,
  TYPE_KEYWORD,
  TYPE_NUMBER,
  TYPE_UNION,
} from './sqli-token.js';
import {
  FLAG_QUOTE_DOUBLE,
  FLAG_QUOTE_NONE,
  FLAG_QUOTE_SINGLE,
  FLAG_SQL_ANSI,
  FLAG_SQL_MYSQL,
  SqliTokenizer,
} from './sqli-tokenizer.js';

export interface SqliResult {
  readonly match: boolean;
  /** The token-type fingerprint that matched (e.g. `s&sos`), '' when there is no match. */
  readonly fingerprint: string;
}

const NO_MATCH: SqliResult = Object.freeze({ match: false, fingerprint: '' });

// Every token type, case kept, gets a 5-bit code (1-26) so that a fingerprint of up to five types
// keys the result cache with a small integer.
const TOKEN_TYPES = 'kUBEtfn1vso&cA(){}.,:;T?X\\';
const RESULT_KEY_CODE = new Uint8Array(128);
for (let i = 0; i < TOKEN_TYPES.length; i++) RESULT_KEY_CODE[TOKEN_TYPES.charCodeAt(i)] = i + 1;

/**
 * One detector's reusable state: the token buffer and the fingerprint of the last pass. Detection
 * is synchronous, so one instance serves every call.
 */
export class SqliDetector {
  readonly tokenizer = new SqliTokenizer();
  private readonly folder = new SqliFolder();
  /** Token types of the last fingerprint, `fingerprintLength` of them. */
  readonly fingerprint = new Uint8Array(8);
  fingerprintLength = 0;
  /** Results by fingerprint, made on first match: a match allocates nothing after warm-up. */
  private readonly results = new Map<number, SqliResult>();

  /** Tokenizes and folds `input` in one context; fills `fingerprint`. */
  fingerprintOf(input: string, flags: number): void {
    const tokenizer = this.tokenizer;
    tokenizer.reset(input, flags);
    const count = this.folder.fold(tokenizer);
    const tokens = tokenizer.tokens;
    // PHP's backtick comment: an empty, unclosed `` ` `` at the end is a comment.
    const last = tokens[count - 1];
    if (
      count > 2 &&
      last !== undefined &&
      last.type === TYPE_BAREWORD &&
      last.strOpen === CHAR_TICK &&
      last.len === 0 &&
      last.strClose === 0
    ) {
      last.type = TYPE_COMMENT;
    }
    let evil = false;
    for (let i = 0; i < count; i++) {
      const type = tokens[i]?.type ?? 0;
      this.fingerprint[i] = type;
      if (type === TYPE_EVIL) evil = true;
    }
    this.fingerprintLength = count;
    if (evil) {
      // Unparsable consistently (nested or conditional comments): the fingerprint is just `X`.
      this.fingerprint[0] = TYPE_EVIL;
      this.fingerprintLength = 1;
      const first = tokens[0];
      if (first !== undefined) {
        first.type = TYPE_EVIL;
        first.len = 1;
        first.val[0] = TYPE_EVIL;
        first.val[1] = 0;
      }
    }
  }

  /** Whether the last fingerprint is SQLi: in the set and not cleared by the false-positive rules. */
  isSqliFingerprint(): boolean {
    return (
      isSqliFingerprint(this.fingerprint, this.fingerprintLength) && !this.isLikelyBenign()
    );
  }

  /** libinjection's `libinjection_is_sqli`: the context passes in order, first match wins. */
  detect(input: string): SqliResult {
    if (input.length === 0) return NO_MATCH;
    if (this.matches(input, FLAG_QUOTE_NONE)) return this.result();
    if (input.indexOf("'") >= 0 && this.matches(input, FLAG_QUOTE_SINGLE)) return this.result();
    if (input.indexOf('"') >= 0) {
      this.fingerprintOf(input, FLAG_QUOTE_DOUBLE | FLAG_SQL_MYSQL);
      if (this.isSqliFingerprint()) return this.result();
    }
    return NO_MATCH;
  }

  /** ANSI first; MySQL too when the input has comments the dialects read differently. */
  private matches(input: string, quote: number): boolean {
    this.fingerprintOf(input, quote | FLAG_SQL_ANSI);
    if (this.isSqliFingerprint()) return true;
    const tokenizer = this.tokenizer;
    if (tokenizer.statsCommentDdx === 0 && tokenizer.statsCommentHash === 0) return false;
    this.fingerprintOf(input, quote | FLAG_SQL_MYSQL);
    return this.isSqliFingerprint();
  }

  private result(): SqliResult {
    let key = 0;
    for (let i = 0; i < this.fingerprintLength; i++) {
      key = key * 32 + (RESULT_KEY_CODE[this.fingerprint[i] ?? 0] ?? 0);
    }
    let result = this.results.get(key);
    if (result === undefined) {
      const fingerprint = String.fromCharCode(
        ...this.fingerprint.subarray(0, this.fingerprintLength),
      );
      result = Object.freeze({ match: true, fingerprint });
      this.results.set(key, result);
    }
    return result;
  }

  /**
   * libinjection's `libinjection_sqli_not_whitelist`, negated: short fingerprints that are in the
   * set but common in ordinary text.
   */
  private isLikelyBenign(): boolean {
    const length = this.fingerprintLength;
    const fingerprint = this.fingerprint;
    const tokenizer = this.tokenizer;
    const [t0, t1, t2] = tokenizer.tokens;
    if (t0 === undefined || t1 === undefined || t2 === undefined) return false;
    // SQL Server leaves statements with `sp_password` in a comment out of its audit log.
    if (
      length > 1 &&
      fingerprint[length - 1] === TYPE_COMMENT &&
      tokenizer.s.indexOf('sp_password') >= 0
    ) {
      return false;
    }
    if (length === 2) {
      if (fingerprint[1] === TYPE_UNION) {
        // A bare `1 union` is ordinary text; with folding or comments around it, it is not.
        return tokenizer.statsTokens === 2;
      }
      if (t1.byteAt(0) === 0x23) return true; // `#` comments: too many false positives
      // A word then a `--` or `#` comment is text; only `/*` counts after a word.
      if (t0.type === TYPE_BAREWORD && t1.type === TYPE_COMMENT && t1.byteAt(0) !== 0x2f) {
        return true;
      }
      if (t0.type === TYPE_NUMBER && t1.type === TYPE_COMMENT) {
        if (t1.byteAt(0) === 0x2f) return false; // `1/*`
        if (tokenizer.statsTokens > 2) return false; // something folded: `1*1--`
        // `1234 --`, `1234/*` and `1234--` are SQLi; `1234-ABCD--` (base64-like) is not. The byte
        // after the number is read in the input at the number's (truncated) length.
        const next = tokenizer.byteAt(t0.len);
        if (next <= 32 || next >= 0x80) return false; // libinjection compares a signed char
        const after = tokenizer.byteAt(t0.len + 1);
        if (next === 0x2f && after === 0x2a) return false;
        if (next === 0x2d && after === 0x2d) return false;
        return true;
      }
      // `--` with text after it is prose; only an input that ends in `--` is a scan.
      if (t1.len > 2 && t1.byteAt(0) === 0x2d) return true;
      return false;
    }
    if (length === 3) {
      if (matchesFingerprint(fingerprint, 'sos') || matchesFingerprint(fingerprint, 's&s')) {
        // `...foo' + 'bar...`: both strings open to the outside and closed by the same quote.
        return !(t0.strOpen === 0 && t2.strClose === 0 && t0.strClose === t2.strOpen);
      }
      if (
        matchesFingerprint(fingerprint, 's&n') ||
        matchesFingerprint(fingerprint, 'n&1') ||
        matchesFingerprint(fingerprint, '1&1') ||
        matchesFingerprint(fingerprint, '1&v') ||
        matchesFingerprint(fingerprint, '1&s')
      ) {
        // `sexy and 17` is text; `sexy and 17<18` folded into it is not.
        return tokenizer.statsTokens === 3;
      }
      if (t1.type === TYPE_KEYWORD) {
        // Only MySQL's `INTO OUTFILE` / `INTO DUMPFILE` count.
        return t1.len < 5 || !startsWithInto(t1.val);
      }
    }
    return false;
  }
}

function matchesFingerprint(fingerprint: Uint8Array, expected: string): boolean {
  for (let i = 0; i < expected.length; i++) {
    if (fingerprint[i] !== expected.charCodeAt(i)) return false;
  }
  return true;
}

function startsWithInto(val: Uint8Array): boolean {
  const into = 'INTO';
  for (let i = 0; i < 4; i++) {
    let b = val[i] ?? 0;
    if (b >= 0x61 && b <= 0x7a) b -= 0x20;
    if (b !== into.charCodeAt(i)) return false;
  }
  return true;
}
