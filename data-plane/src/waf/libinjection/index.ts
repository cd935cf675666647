// SQL injection and XSS detection with libinjection's algorithms (the `@detectSQLi` and
// `@detectXSS` operators of ModSecurity), written for Ferry. The behaviour follows the libinjection
// that ModSecurity 3.0.9 bundles (libinjection 3.9.2, commit bfba51f), so verdicts match a
// ModSecurity v3 reference running the same rules.
//
// Input contract: the string is a byte string, one char code per byte (latin-1), which is how the
// WAF carries request data after its transformations. libinjection works on bytes, and several of
// its rules single out bytes such as 0xA0 (SQL whitespace) and 0x80-0xFF (never ASCII letters). A
// string that contains a char code above 0xFF is not a byte string: it is encoded as UTF-8 first,
// which is what libinjection sees in ModSecurity for the same text.
//
// Both functions are linear in the input length, use no regular expressions, and reuse one
// detector state (they are synchronous and not re-entrant); a call allocates nothing once warm,
// except to re-encode a non-byte string.

import { SqliDetector, type SqliResult } from './sqli.js';
import { XssDetector } from './xss.js';

export type { SqliResult };

const sqli = new SqliDetector();
const xss = new XssDetector();

/** A latin-1 byte string for `input`: itself, or its UTF-8 bytes when it has a char code > 0xFF. */
export function toByteString(input: string): string {
  for (let i = 0; i < input.length; i++) {
    if (input.charCodeAt(i) > 0xff) return Buffer.from(input, 'utf8').toString('latin1');
  }
  return input;
}

/**
 * libinjection's `libinjection_sqli`: whether `input` looks like SQL injection, and the token
 * fingerprint that matched (ModSecurity puts it in `TX:0`).
 */
export function detectSqli(input: string): SqliResult {
  return sqli.detect(toByteString(input));
}

/** libinjection's `libinjection_xss`: whether `input` looks like an XSS payload. */
export function detectXss(input: string): boolean {
  return xss.detect(toByteString(input));
}
