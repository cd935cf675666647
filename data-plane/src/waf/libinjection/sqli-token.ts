// SQL tokens as libinjection models them. A token's type is the ASCII character that stands for it
// in a fingerprint ('k' keyword, 's' string, '1' number, ...), so a fingerprint is just the types
// of the folded tokens side by side.

export const TYPE_NONE = 0;
export const TYPE_KEYWORD = 0x6b; // k
export const TYPE_UNION = 0x55; // U
export const TYPE_GROUP = 0x42; // B
export const TYPE_EXPRESSION = 0x45; // E
export const TYPE_SQLTYPE = 0x74; // t
export const TYPE_FUNCTION = 0x66; // f
export const TYPE_BAREWORD = 0x6e; // n
export const TYPE_NUMBER = 0x31; // 1
export const TYPE_VARIABLE = 0x76; // v
export const TYPE_STRING = 0x73; // s
export const TYPE_OPERATOR = 0x6f; // o
export const TYPE_LOGIC_OPERATOR = 0x26; // &
export const TYPE_COMMENT = 0x63; // c
export const TYPE_COLLATE = 0x41; // A
export const TYPE_LEFTPARENS = 0x28; // (
export const TYPE_RIGHTPARENS = 0x29; // )
export const TYPE_LEFTBRACE = 0x7b; // {
export const TYPE_RIGHTBRACE = 0x7d; // }
export const TYPE_DOT = 0x2e; // .
export const TYPE_COMMA = 0x2c; // ,
export const TYPE_COLON = 0x3a; // :
export const TYPE_SEMICOLON = 0x3b; // ;
export const TYPE_TSQL = 0x54; // T
export const TYPE_UNKNOWN = 0x3f; // ?
/** Input that cannot be parsed consistently (nested or MySQL-conditional comments): always SQLi. */
export const TYPE_EVIL = 0x58; // X
export const TYPE_BACKSLASH = 0x5c; // \

export const CHAR_SINGLE = 0x27; // '
export const CHAR_DOUBLE = 0x22; // "
export const CHAR_TICK = 0x60; // `

/**
 * A token keeps a copy of at most 31 bytes of its text (libinjection's 32-byte buffer with its
 * terminator); `len` is the length of that copy, not of the source text. Several decisions depend
 * on the truncated copy (keyword lookups, the byte after a leading number), so it is kept exactly.
 */
export const TOKEN_VALUE_MAX = 31;

export class SqliToken {
  type = TYPE_NONE;
  /** Offset of the token's text in the input. */
  pos = 0;
  len = 0;
  /** For variables: how many '@' introduced it (1 or 2). */
  count = 0;
  /** Quote that opened / closed a string token, 0 when there was none. */
  strOpen = 0;
  strClose = 0;
  readonly val = new Uint8Array(TOKEN_VALUE_MAX + 1);

  clear(): void {
    this.type = TYPE_NONE;
    this.pos = 0;
    this.len = 0;
    this.count = 0;
    this.strOpen = 0;
    this.strClose = 0;
    this.val[0] = 0;
  }

  /** Sets the token to `length` bytes of `input` at `start` (truncated to TOKEN_VALUE_MAX). */
  assign(type: number, pos: number, input: string, start: number, length: number): void {
    const len = length < TOKEN_VALUE_MAX ? length : TOKEN_VALUE_MAX;
    this.type = type;
    this.pos = pos;
    this.len = len;
    const val = this.val;
    for (let i = 0; i < len; i++) val[i] = input.charCodeAt(start + i);
    val[len] = 0;
  }

  assignChar(type: number, pos: number, ch: number): void {
    this.type = type;
    this.pos = pos;
    this.len = 1;
    this.val[0] = ch;
    this.val[1] = 0;
  }

  copyFrom(other: SqliToken): void {
    this.type = other.type;
    this.pos = other.pos;
    this.len = other.len;
    this.count = other.count;
    this.strOpen = other.strOpen;
    this.strClose = other.strClose;
    this.val.set(other.val);
  }

  /** The value's byte at `i`, 0 past its end (the C string's terminator). */
  byteAt(i: number): number {
    return i < this.len ? (this.val[i] ?? 0) : 0;
  }

  /** Whether the value equals `upper` (an upper-case ASCII word), ASCII case-insensitively. */
  valueIs(upper: string): boolean {
    const len = this.len;
    if (len !== upper.length) return false;
    const val = this.val;
    for (let i = 0; i < len; i++) {
      let b = val[i] ?? 0;
      if (b >= 0x61 && b <= 0x7a) b -= 0x20;
      if (b !== upper.charCodeAt(i)) return false;
    }
    return true;
  }

  /** Whether the value, up to its first NUL, contains the byte `ch`. */
  valueHas(ch: number): boolean {
    const val = this.val;
    for (let i = 0; i < this.len; i++) {
      const b = val[i] ?? 0;
      if (b === 0) return false;
      if (b === ch) return true;
    }
    return false;
  }
}
