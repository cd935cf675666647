// The subset of the HTML5 tokenizer (WHATWG HTML, "Tokenization") that libinjection's XSS check
// runs: tags, attribute names and values, comments, CDATA and doctype, plus a few legacy browser
// quirks (NUL ignored in tag names, back-quoted attribute values, `<% ... %>` comments). Input is a
// byte string (one char code 0-255 per byte). States hand over to each other in a loop, never by
// recursion, and every state consumes input, so a pass is linear in the input length.

export const DATA_TEXT = 0;
export const TAG_NAME_OPEN = 1;
export const TAG_NAME_CLOSE = 2;
export const TAG_NAME_SELFCLOSE = 3;
export const TAG_DATA = 4;
export const TAG_CLOSE = 5;
export const ATTR_NAME = 6;
export const ATTR_VALUE = 7;
export const TAG_COMMENT = 8;
export const DOCTYPE = 9;

/** Where tokenizing starts: in text, or already inside a tag or an attribute value. */
export const START_DATA = 0;
export const START_VALUE_NO_QUOTE = 1;
export const START_VALUE_SINGLE_QUOTE = 2;
export const START_VALUE_DOUBLE_QUOTE = 3;
export const START_VALUE_BACK_QUOTE = 4;

const S_EOF = 0;
const S_DATA = 1;
const S_TAG_OPEN = 2;
const S_END_TAG_OPEN = 3;
const S_TAG_NAME = 4;
const S_TAG_NAME_CLOSE = 5;
const S_BEFORE_ATTRIBUTE_NAME = 6;
const S_ATTRIBUTE_NAME = 7;
const S_AFTER_ATTRIBUTE_NAME = 8;
const S_BEFORE_ATTRIBUTE_VALUE = 9;
const S_VALUE_DOUBLE_QUOTE = 10;
const S_VALUE_SINGLE_QUOTE = 11;
const S_VALUE_BACK_QUOTE = 12;
const S_VALUE_NO_QUOTE = 13;
const S_AFTER_VALUE_QUOTED = 14;
const S_SELF_CLOSING_START_TAG = 15;
const S_BOGUS_COMMENT = 16;
const S_PERCENT_COMMENT = 17;
const S_MARKUP_DECLARATION_OPEN = 18;
const S_COMMENT = 19;
const S_CDATA = 20;
const S_DOCTYPE = 21;

const EOF = -1;

/** Tag whitespace; NUL counts too (libinjection tests it with strchr, which matches a NUL). */
function isWhite(ch: number): boolean {
  return ch === 0x20 || (ch >= 0x09 && ch <= 0x0d) || ch === 0;
}

function isAsciiLetter(ch: number): boolean {
  return (ch >= 0x61 && ch <= 0x7a) || (ch >= 0x41 && ch <= 0x5a);
}

export class Html5Tokenizer {
  s = '';
  len = 0;
  pos = 0;
  private state = S_EOF;
  private isClose = false;
  tokenStart = 0;
  tokenLen = 0;
  tokenType = DATA_TEXT;

  reset(input: string, start: number): void {
    this.s = input;
    this.len = input.length;
    this.pos = 0;
    this.isClose = false;
    this.tokenStart = 0;
    this.tokenLen = 0;
    this.tokenType = DATA_TEXT;
    this.state =
      start === START_VALUE_NO_QUOTE
        ? S_BEFORE_ATTRIBUTE_NAME
        : start === START_VALUE_SINGLE_QUOTE
          ? S_VALUE_SINGLE_QUOTE
          : start === START_VALUE_DOUBLE_QUOTE
            ? S_VALUE_DOUBLE_QUOTE
            : start === START_VALUE_BACK_QUOTE
              ? S_VALUE_BACK_QUOTE
              : S_DATA;
  }

  private byteAt(i: number): number {
    return i < this.len ? this.s.charCodeAt(i) : 0;
  }

  private indexOf(ch: number, from: number): number {
    const s = this.s;
    for (let i = from; i < this.len; i++) if (s.charCodeAt(i) === ch) return i;
    return -1;
  }

  private emit(type: number, start: number, length: number): true {
    this.tokenType = type;
    this.tokenStart = start;
    this.tokenLen = length;
    return true;
  }

  /**
   * Skips tag whitespace (and NUL) and returns the next byte, or EOF. Byte 0xFF reads as EOF too:
   * libinjection returns the byte as a signed char, and (char)0xFF is its EOF marker.
   */
  private skipWhite(): number {
    while (this.pos < this.len) {
      const ch = this.s.charCodeAt(this.pos);
      if (ch === 0 || ch === 0x20 || (ch >= 0x09 && ch <= 0x0d)) {
        this.pos += 1;
      } else {
        return ch === 0xff ? EOF : ch;
      }
    }
    return EOF;
  }

  /** Reads the next token into tokenType/tokenStart/tokenLen; false when the input is done. */
  next(): boolean {
    for (;;) {
      switch (this.state) {
        case S_EOF:
          return false;
        case S_DATA: {
          const lt = this.indexOf(0x3c, this.pos);
          if (lt < 0) {
            this.state = S_EOF;
            this.emit(DATA_TEXT, this.pos, this.len - this.pos);
            return this.tokenLen !== 0;
          }
          this.emit(DATA_TEXT, this.pos, lt - this.pos);
          this.pos = lt + 1;
          this.state = S_TAG_OPEN;
          if (this.tokenLen !== 0) return true;
          break;
        }
        case S_TAG_OPEN:
          if (this.tagOpen()) return true;
          break;
        case S_END_TAG_OPEN: {
          if (this.pos >= this.len) return false;
          const ch = this.byteAt(this.pos);
          if (ch === 0x3e) {
            this.state = S_DATA; // `</>` is dropped; is-close stays set as in libinjection
          } else if (isAsciiLetter(ch)) {
            this.state = S_TAG_NAME;
          } else {
            this.isClose = false;
            this.state = S_BOGUS_COMMENT;
          }
          break;
        }
        case S_TAG_NAME:
          return this.tagName();
        case S_TAG_NAME_CLOSE:
          this.isClose = false;
          this.emit(TAG_NAME_CLOSE, this.pos, 1);
          this.pos += 1;
          this.state = this.pos < this.len ? S_DATA : S_EOF;
          return true;
        case S_BEFORE_ATTRIBUTE_NAME: {
          const ch = this.skipWhite();
          if (ch === EOF) return false;
          if (ch === 0x2f) {
            this.pos += 1;
            this.state = S_SELF_CLOSING_START_TAG;
          } else if (ch === 0x3e) {
            this.state = S_DATA;
            this.emit(TAG_NAME_CLOSE, this.pos, 1);
            this.pos += 1;
            return true;
          } else {
            this.state = S_ATTRIBUTE_NAME;
          }
          break;
        }
        case S_ATTRIBUTE_NAME:
          return this.attributeName();
        case S_AFTER_ATTRIBUTE_NAME: {
          const ch = this.skipWhite();
          if (ch === EOF) return false;
          if (ch === 0x2f) {
            this.pos += 1;
            this.state = S_SELF_CLOSING_START_TAG;
          } else if (ch === 0x3d) {
            this.pos += 1;
            this.state = S_BEFORE_ATTRIBUTE_VALUE;
          } else if (ch === 0x3e) {
            this.state = S_TAG_NAME_CLOSE;
          } else {
            this.state = S_ATTRIBUTE_NAME;
          }
          break;
        }
        case S_BEFORE_ATTRIBUTE_VALUE: {
          const ch = this.skipWhite();
          if (ch === EOF) {
            this.state = S_EOF;
            return false;
          }
          this.state =
            ch === 0x22
              ? S_VALUE_DOUBLE_QUOTE
              : ch === 0x27
                ? S_VALUE_SINGLE_QUOTE
                : ch === 0x60 // back-quoted values: old Internet Explorer
                  ? S_VALUE_BACK_QUOTE
                  : S_VALUE_NO_QUOTE;
          break;
        }
        case S_VALUE_DOUBLE_QUOTE:
          return this.quotedValue(0x22);
        case S_VALUE_SINGLE_QUOTE:
          return this.quotedValue(0x27);
        case S_VALUE_BACK_QUOTE:
          return this.quotedValue(0x60);
        case S_VALUE_NO_QUOTE:
          return this.unquotedValue();
        case S_AFTER_VALUE_QUOTED: {
          if (this.pos >= this.len) return false;
          const ch = this.byteAt(this.pos);
          if (isWhite(ch)) {
            this.pos += 1;
            this.state = S_BEFORE_ATTRIBUTE_NAME;
          } else if (ch === 0x2f) {
            this.pos += 1;
            this.state = S_SELF_CLOSING_START_TAG;
          } else if (ch === 0x3e) {
            this.emit(TAG_NAME_CLOSE, this.pos, 1);
            this.pos += 1;
            this.state = S_DATA;
            return true;
          } else {
            this.state = S_BEFORE_ATTRIBUTE_NAME;
          }
          break;
        }
        case S_SELF_CLOSING_START_TAG:
          if (this.pos >= this.len) return false;
          if (this.byteAt(this.pos) === 0x3e) {
            this.emit(TAG_NAME_SELFCLOSE, this.pos - 1, 2);
            this.state = S_DATA;
            this.pos += 1;
            return true;
          }
          this.state = S_BEFORE_ATTRIBUTE_NAME;
          break;
        case S_BOGUS_COMMENT:
          return this.bogusComment();
        case S_PERCENT_COMMENT:
          return this.percentComment();
        case S_MARKUP_DECLARATION_OPEN:
          this.markupDeclarationOpen();
          break;
        case S_COMMENT:
          return this.comment();
        case S_CDATA:
          return this.cdata();
        default: // S_DOCTYPE
          return this.doctype();
      }
    }
  }

  /** After '<'. Returns true when it emitted a token, else it set the next state. */
  private tagOpen(): boolean {
    if (this.pos >= this.len) {
      this.state = S_EOF;
      return false;
    }
    const ch = this.byteAt(this.pos);
    if (ch === 0x21) {
      this.pos += 1;
      this.state = S_MARKUP_DECLARATION_OPEN;
    } else if (ch === 0x2f) {
      this.pos += 1;
      this.isClose = true;
      this.state = S_END_TAG_OPEN;
    } else if (ch === 0x3f) {
      this.pos += 1;
      this.state = S_BOGUS_COMMENT;
    } else if (ch === 0x25) {
      this.pos += 1;
      this.state = S_PERCENT_COMMENT; // `<% ... %>`: old Internet Explorer and Safari
    } else if (isAsciiLetter(ch) || ch === 0) {
      this.state = S_TAG_NAME; // NUL: old Internet Explorer ignores it
    } else if (this.pos === 0) {
      this.state = S_DATA;
    } else {
      this.emit(DATA_TEXT, this.pos - 1, 1);
      this.state = S_DATA;
      return true;
    }
    return false;
  }

  private tagName(): boolean {
    const start = this.pos;
    for (let pos = start; pos < this.len; pos++) {
      const ch = this.s.charCodeAt(pos);
      if (ch === 0) continue; // NUL inside a tag name is ignored by old browsers
      if (isWhite(ch) || ch === 0x2f) {
        this.emit(TAG_NAME_OPEN, start, pos - start);
        this.pos = pos + 1;
        this.state = ch === 0x2f ? S_SELF_CLOSING_START_TAG : S_BEFORE_ATTRIBUTE_NAME;
        return true;
      }
      if (ch === 0x3e) {
        if (this.isClose) {
          this.emit(TAG_CLOSE, start, pos - start);
          this.pos = pos + 1;
          this.isClose = false;
          this.state = S_DATA;
        } else {
          this.emit(TAG_NAME_OPEN, start, pos - start);
          this.pos = pos;
          this.state = S_TAG_NAME_CLOSE;
        }
        return true;
      }
    }
    this.emit(TAG_NAME_OPEN, start, this.len - start);
    this.state = S_EOF;
    return true;
  }

  private attributeName(): boolean {
    const start = this.pos;
    for (let pos = start + 1; pos < this.len; pos++) {
      const ch = this.s.charCodeAt(pos);
      let next = -1;
      if (isWhite(ch)) next = S_AFTER_ATTRIBUTE_NAME;
      else if (ch === 0x2f) next = S_SELF_CLOSING_START_TAG;
      else if (ch === 0x3d) next = S_BEFORE_ATTRIBUTE_VALUE;
      else if (ch === 0x3e) next = S_TAG_NAME_CLOSE;
      if (next >= 0) {
        this.emit(ATTR_NAME, start, pos - start);
        this.state = next;
        this.pos = ch === 0x3e ? pos : pos + 1;
        return true;
      }
    }
    this.emit(ATTR_NAME, start, this.len - start);
    this.state = S_EOF;
    this.pos = this.len;
    return true;
  }

  private quotedValue(quote: number): boolean {
    // Skip the opening quote, except when tokenizing started inside the value (position 0).
    if (this.pos > 0) this.pos += 1;
    const close = this.indexOf(quote, this.pos);
    if (close < 0) {
      this.emit(ATTR_VALUE, this.pos, this.len - this.pos);
      this.state = S_EOF;
    } else {
      this.emit(ATTR_VALUE, this.pos, close - this.pos);
      this.state = S_AFTER_VALUE_QUOTED;
      this.pos = close + 1;
    }
    return true;
  }

  private unquotedValue(): boolean {
    const start = this.pos;
    for (let pos = start; pos < this.len; pos++) {
      const ch = this.s.charCodeAt(pos);
      if (isWhite(ch)) {
        this.emit(ATTR_VALUE, start, pos - start);
        this.pos = pos + 1;
        this.state = S_BEFORE_ATTRIBUTE_NAME;
        return true;
      }
      if (ch === 0x3e) {
        this.emit(ATTR_VALUE, start, pos - start);
        this.pos = pos;
        this.state = S_TAG_NAME_CLOSE;
        return true;
      }
    }
    this.state = S_EOF;
    this.emit(ATTR_VALUE, start, this.len - start);
    return true;
  }

  private bogusComment(): boolean {
    const gt = this.indexOf(0x3e, this.pos);
    if (gt < 0) {
      this.emit(TAG_COMMENT, this.pos, this.len - this.pos);
      this.pos = this.len;
      this.state = S_EOF;
    } else {
      this.emit(TAG_COMMENT, this.pos, gt - this.pos);
      this.pos = gt + 1;
      this.state = S_DATA;
    }
    return true;
  }

  /** `<% ... %>`. */
  private percentComment(): boolean {
    let from = this.pos;
    for (;;) {
      const percent = this.indexOf(0x25, from);
      if (percent < 0 || percent + 1 >= this.len) {
        this.emit(TAG_COMMENT, this.pos, this.len - this.pos);
        this.pos = this.len;
        this.state = S_EOF;
        return true;
      }
      if (this.byteAt(percent + 1) === 0x3e) {
        this.emit(TAG_COMMENT, this.pos, percent - this.pos);
        this.pos = percent + 2;
        this.state = S_DATA;
        return true;
      }
      from = percent + 1;
    }
  }

  /** After `<!`: a doctype (any case), `[CDATA[` (upper case only), `--` comment, or bogus. */
  private markupDeclarationOpen(): void {
    const pos = this.pos;
    const remaining = this.len - pos;
    if (remaining >= 7 && this.matchesFolded(pos, 'DOCTYPE')) {
      this.state = S_DOCTYPE;
    } else if (remaining >= 7 && this.s.startsWith('[CDATA[', pos)) {
      this.pos += 7;
      this.state = S_CDATA;
    } else if (remaining >= 2 && this.byteAt(pos) === 0x2d && this.byteAt(pos + 1) === 0x2d) {
      this.pos += 2;
      this.state = S_COMMENT;
    } else {
      this.state = S_BOGUS_COMMENT;
    }
  }

  private matchesFolded(pos: number, upper: string): boolean {
    for (let i = 0; i < upper.length; i++) {
      const ch = this.byteAt(pos + i);
      if (ch !== upper.charCodeAt(i) && ch !== upper.charCodeAt(i) + 0x20) return false;
    }
    return true;
  }

  /** A `<!--` comment ends at `-->` or `--!>` (NULs between the dashes ignored) or at the end. */
  private comment(): boolean {
    const len = this.len;
    let from = this.pos;
    for (;;) {
      const dash = this.indexOf(0x2d, from);
      if (dash < 0 || dash > len - 3) return this.commentToEnd();
      let offset = 1;
      while (dash + offset < len && this.byteAt(dash + offset) === 0) offset += 1;
      if (dash + offset === len) return this.commentToEnd();
      const second = this.byteAt(dash + offset);
      if (second !== 0x2d && second !== 0x21) {
        from = dash + 1;
        continue;
      }
      offset += 1;
      if (dash + offset === len) return this.commentToEnd();
      if (this.byteAt(dash + offset) !== 0x3e) {
        from = dash + 1;
        continue;
      }
      this.emit(TAG_COMMENT, this.pos, dash - this.pos);
      this.pos = dash + offset + 1;
      this.state = S_DATA;
      return true;
    }
  }

  private commentToEnd(): boolean {
    this.state = S_EOF;
    return this.emit(TAG_COMMENT, this.pos, this.len - this.pos);
  }

  private cdata(): boolean {
    let from = this.pos;
    for (;;) {
      const bracket = this.indexOf(0x5d, from);
      if (bracket < 0 || bracket > this.len - 3) {
        this.state = S_EOF;
        return this.emit(DATA_TEXT, this.pos, this.len - this.pos);
      }
      if (this.byteAt(bracket + 1) === 0x5d && this.byteAt(bracket + 2) === 0x3e) {
        this.state = S_DATA;
        this.emit(DATA_TEXT, this.pos, bracket - this.pos);
        this.pos = bracket + 3;
        return true;
      }
      from = bracket + 1;
    }
  }

  private doctype(): boolean {
    const gt = this.indexOf(0x3e, this.pos);
    if (gt < 0) {
      this.state = S_EOF;
      return this.emit(DOCTYPE, this.pos, this.len - this.pos);
    }
    this.state = S_DATA;
    this.emit(DOCTYPE, this.pos, gt - this.pos);
    this.pos = gt + 1;
    return true;
  }
}
