// libinjection's XSS check: tokenize the input as HTML5, starting in text and in each
// attribute-value context, and flag dangerous tags, attributes, URL schemes and comments. The
// blacklists are libinjection's (BSD-3-Clause, see THIRD_PARTY_NOTICES), as of the version that
// ModSecurity 3.0.9 bundles (commit bfba51f): every `on*` attribute of five or more bytes is an
// event handler.

import {
  ATTR_NAME,
  ATTR_VALUE,
  DOCTYPE,
  Html5Tokenizer,
  START_DATA,
  START_VALUE_BACK_QUOTE,
  START_VALUE_DOUBLE_QUOTE,
  START_VALUE_NO_QUOTE,
  START_VALUE_SINGLE_QUOTE,
  TAG_COMMENT,
  TAG_NAME_OPEN,
} from './html5-tokenizer.js';

const ATTR_NONE = 0;
/** Dangerous whatever the value. */
const ATTR_BLACK = 1;
/** The value is a URL: dangerous with a script-capable scheme. */
const ATTR_URL = 2;
/** Inline style: always dangerous. */
const ATTR_STYLE = 3;
/** The value names another attribute (SVG `attributeName`). */
const ATTR_INDIRECT = 4;

const BLACK_TAGS = [
  'APPLET',
  'BASE',
  'COMMENT', // Internet Explorer
  'EMBED',
  'FRAME',
  'FRAMESET',
  'HANDLER', // Opera SVG: a script tag in effect
  'IFRAME',
  'IMPORT',
  'ISINDEX',
  'LINK',
  'LISTENER',
  'META',
  'NOSCRIPT',
  'OBJECT',
  'SCRIPT',
  'STYLE',
  'VMLFRAME',
  'XML',
  'XSS',
];

const BLACK_ATTRIBUTES: ReadonlyArray<readonly [string, number]> = [
  ['ACTION', ATTR_URL], // form
  ['ATTRIBUTENAME', ATTR_INDIRECT], // SVG
  ['BY', ATTR_URL], // SVG
  ['BACKGROUND', ATTR_URL], // IE6, Opera 11
  ['DATAFORMATAS', ATTR_BLACK], // Internet Explorer
  ['DATASRC', ATTR_BLACK], // Internet Explorer
  ['DYNSRC', ATTR_URL], // obsolete img attribute
  ['FILTER', ATTR_STYLE], // Opera, SVG inline style
  ['FORMACTION', ATTR_URL], // HTML5
  ['FOLDER', ATTR_URL], // Internet Explorer, on <a>
  ['FROM', ATTR_URL], // SVG
  ['HANDLER', ATTR_URL], // SVG Tiny, Opera
  ['HREF', ATTR_URL],
  ['LOWSRC', ATTR_URL], // obsolete img attribute
  ['POSTER', ATTR_URL], // Opera 10, 11
  ['SRC', ATTR_URL],
  ['STYLE', ATTR_STYLE],
  ['TO', ATTR_URL], // SVG
  ['VALUES', ATTR_URL], // SVG
  ['XLINK:HREF', ATTR_URL],
];

/** URL schemes that run script or show source: `JAVA` covers `javascript:`. */
const BLACK_URL_PREFIXES = ['DATA', 'VIEW-SOURCE', 'JAVA', 'VBSCRIPT'];

/**
 * Blacklist entries by their first letter, so that a name is compared only with the entries that
 * can match it (most names match none).
 */
function byFirstLetter<T>(
  entries: ReadonlyArray<readonly [string, T]>,
): Array<Array<readonly [string, T]>> {
  const index: Array<Array<readonly [string, T]>> = Array.from({ length: 128 }, () => []);
  for (const entry of entries) index[entry[0].charCodeAt(0)]?.push(entry);
  return index;
}

const BLACK_TAGS_BY_LETTER = byFirstLetter(BLACK_TAGS.map((tag) => [tag, true] as const));
const BLACK_ATTRIBUTES_BY_LETTER = byFirstLetter(BLACK_ATTRIBUTES);
const NO_ENTRIES: ReadonlyArray<readonly [string, unknown]> = [];

const START_STATES = [
  START_DATA,
  START_VALUE_NO_QUOTE,
  START_VALUE_SINGLE_QUOTE,
  START_VALUE_DOUBLE_QUOTE,
  START_VALUE_BACK_QUOTE,
];

function upper(ch: number): number {
  return ch >= 0x61 && ch <= 0x7a ? ch - 0x20 : ch;
}

/** Detects XSS; one instance serves every call (detection is synchronous). */
export class XssDetector {
  private readonly html = new Html5Tokenizer();
  private s = '';

  detect(input: string): boolean {
    this.s = input;
    for (let i = 0; i < START_STATES.length; i++) {
      if (this.detectFrom(START_STATES[i] ?? START_DATA)) return true;
    }
    return false;
  }

  /** libinjection's `libinjection_is_xss` for one start state. */
  detectFrom(start: number): boolean {
    const html = this.html;
    html.reset(this.s, start);
    let attribute = ATTR_NONE;
    while (html.next()) {
      const type = html.tokenType;
      const at = html.tokenStart;
      const len = html.tokenLen;
      if (type !== ATTR_VALUE) attribute = ATTR_NONE;
      if (type === DOCTYPE) return true;
      if (type === TAG_NAME_OPEN) {
        if (this.isBlackTag(at, len)) return true;
      } else if (type === ATTR_NAME) {
        attribute = this.attributeKind(at, len);
      } else if (type === ATTR_VALUE) {
        if (attribute === ATTR_BLACK || attribute === ATTR_STYLE) return true;
        if (attribute === ATTR_URL && this.isBlackUrl(at, len)) return true;
        if (attribute === ATTR_INDIRECT && this.attributeKind(at, len) !== ATTR_NONE) return true;
        attribute = ATTR_NONE;
      } else if (type === TAG_COMMENT && this.isBlackComment(at, len)) {
        return true;
      }
    }
    return false;
  }

  private byteAt(i: number): number {
    return i < this.s.length ? this.s.charCodeAt(i) : 0;
  }

  /**
   * Whether the `len` bytes at `at`, NULs removed and a-z upper-cased, are exactly `word`
   * (libinjection's `cstrcasecmp_with_null`).
   */
  private equalsIgnoringNul(word: string, at: number, len: number): boolean {
    let w = 0;
    for (let i = at; i < at + len; i++) {
      const ch = this.byteAt(i);
      if (ch === 0) continue;
      if (w >= word.length || upper(ch) !== word.charCodeAt(w)) return false;
      w++;
    }
    return w === word.length;
  }

  /** The first byte that is not NUL, upper-cased, or 0. */
  private firstLetter(at: number, len: number): number {
    for (let i = at; i < at + len; i++) {
      const ch = this.byteAt(i);
      if (ch !== 0) return upper(ch);
    }
    return 0;
  }

  private isBlackTag(at: number, len: number): boolean {
    if (len < 3) return false;
    const candidates = BLACK_TAGS_BY_LETTER[this.firstLetter(at, len)] ?? NO_ENTRIES;
    for (let i = 0; i < candidates.length; i++) {
      if (this.equalsIgnoringNul(candidates[i]?.[0] ?? '', at, len)) return true;
    }
    // Any tag name that starts with SVG or XSL (SVG elements, XSL and XSLT).
    const c0 = upper(this.byteAt(at));
    const c1 = upper(this.byteAt(at + 1));
    const c2 = upper(this.byteAt(at + 2));
    return (
      (c0 === 0x53 && c1 === 0x56 && c2 === 0x47) || (c0 === 0x58 && c1 === 0x53 && c2 === 0x4c)
    );
  }

  private attributeKind(at: number, len: number): number {
    if (len < 2) return ATTR_NONE;
    if (len >= 5) {
      // Event handlers (`onload`, `onerror`, ...).
      if (upper(this.byteAt(at)) === 0x4f && upper(this.byteAt(at + 1)) === 0x4e) return ATTR_BLACK;
      // XMLNS can declare arbitrary tags; XLINK attributes take URLs.
      if (this.equalsIgnoringNul('XMLNS', at, 5) || this.equalsIgnoringNul('XLINK', at, 5)) {
        return ATTR_BLACK;
      }
    }
    const candidates = BLACK_ATTRIBUTES_BY_LETTER[this.firstLetter(at, len)];
    if (candidates === undefined) return ATTR_NONE;
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i];
      if (entry !== undefined && this.equalsIgnoringNul(entry[0], at, len)) return entry[1];
    }
    return ATTR_NONE;
  }

  private isBlackUrl(at: number, len: number): boolean {
    let start = at;
    let remaining = len;
    // Leading controls, spaces and non-ASCII bytes are skipped (browsers ignore some of them).
    while (remaining > 0) {
      const ch = this.byteAt(start);
      if (ch > 32 && ch < 127) break;
      start++;
      remaining--;
    }
    for (const prefix of BLACK_URL_PREFIXES) {
      if (this.htmlDecodedStartsWith(prefix, start, remaining)) return true;
    }
    return false;
  }

  /**
   * Whether the value, HTML-entity-decoded (`&#106;`, `&#x6A;`), starts with `prefix` ignoring
   * case, leading controls and spaces, and any NUL or newline (libinjection's
   * `htmlencode_startswith`). A numeric reference may run past the value into the rest of the input
   * as in libinjection; the comparison stops at the end of the input.
   */
  private htmlDecodedStartsWith(prefix: string, at: number, len: number): boolean {
    let p = 0;
    let pos = at;
    let remaining = len;
    let first = true;
    while (remaining > 0) {
      if (p === prefix.length) return true;
      if (pos >= this.s.length) return false;
      const consumed = this.decodeCharAt(pos, remaining);
      let ch = this.decoded;
      pos += consumed;
      remaining = consumed > remaining ? Infinity : remaining - consumed;
      if (first && ch <= 32) continue;
      first = false;
      if (ch === 0 || ch === 10) continue;
      if (ch >= 0x61 && ch <= 0x7a) ch -= 0x20;
      if ((ch & 0xff) !== prefix.charCodeAt(p)) return false;
      p++;
    }
    return p === prefix.length;
  }

  /** The value decodeCharAt decoded. */
  private decoded = 0;

  /**
   * Decodes one character at `pos` of a value with `len` bytes left: a byte, or a numeric
   * character reference (`&#...;`, the `;` optional). Sets `decoded`, returns the bytes consumed.
   * A named reference is not decoded (`&`). Like libinjection, it reads the two bytes after `&#`
   * even when the value ends before them.
   */
  private decodeCharAt(pos: number, len: number): number {
    const ch = this.byteAt(pos);
    this.decoded = ch;
    if (ch !== 0x26 || len < 2) return 1;
    if (this.byteAt(pos + 1) !== 0x23) return 1;
    const hex = (this.byteAt(pos + 2) | 0x20) === 0x78;
    let i = hex ? 3 : 2;
    let digit = hex ? hexValue(this.byteAt(pos + 3)) : decimalValue(this.byteAt(pos + 2));
    if (digit < 0) return 1; // `&#` without digits: just '&'
    let value = digit;
    for (i += 1; i < len; i++) {
      const c = this.byteAt(pos + i);
      if (c === 0x3b) {
        this.decoded = value;
        return i + 1;
      }
      digit = hex ? hexValue(c) : decimalValue(c);
      if (digit < 0) break;
      value = value * (hex ? 16 : 10) + digit;
      if (value > 0x1000ff) return 1; // out of range: just '&'
    }
    this.decoded = value;
    return i;
  }

  private isBlackComment(at: number, len: number): boolean {
    // Internet Explorer ends tags at '`'.
    for (let i = at; i < at + len; i++) if (this.byteAt(i) === 0x60) return true;
    if (len > 3) {
      const c0 = upper(this.byteAt(at));
      const c1 = upper(this.byteAt(at + 1));
      const c2 = upper(this.byteAt(at + 2));
      if (c0 === 0x5b && c1 === 0x49 && c2 === 0x46) return true; // `[if`: conditional comment
      if (c0 === 0x58 && c1 === 0x4d && c2 === 0x4c) return true; // `<?xml`
    }
    // `<?import` (Internet Explorer) and `<!ENTITY` (XML entity definitions).
    return (
      len > 5 &&
      (this.equalsIgnoringNul('IMPORT', at, 6) || this.equalsIgnoringNul('ENTITY', at, 6))
    );
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const folded = c | 0x20;
  if (folded >= 0x61 && folded <= 0x66) return folded - 0x61 + 10;
  return -1;
}

function decimalValue(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
}
