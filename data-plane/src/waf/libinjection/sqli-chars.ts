// Byte classes of libinjection's SQL tokenizer: which parser a byte starts, and the byte sets that
// end words and variables or make up digits and dollar-quote tags.

// Byte classes: which parser starts at a byte.
export const C_WHITE = 0;
export const C_WORD = 1;
export const C_OPERATOR1 = 2;
export const C_OPERATOR2 = 3;
export const C_CHAR = 4;
export const C_OTHER = 5;
export const C_STRING = 6;
export const C_HASH = 7;
export const C_MONEY = 8;
export const C_DASH = 9;
export const C_NUMBER = 10;
export const C_SLASH = 11;
export const C_VAR = 12;
export const C_BSTRING = 13;
export const C_ESTRING = 14;
export const C_NQSTRING = 15;
export const C_QSTRING = 16;
export const C_USTRING = 17;
export const C_XSTRING = 18;
export const C_BWORD = 19;
export const C_BACKSLASH = 20;
export const C_TICK = 21;

export const BYTE_CLASS = new Uint8Array(256).fill(C_WORD);
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
export const WHITE = byteSet(' \t\n\v\f\r\xa0\0');
/** Bytes that end a bare word. */
export const WORD_END = byteSet(' []{}<>:\\?=@!#~+-*/&|^%(),\';\t\n\v\f\r"\xa0\0');
/** Bytes that end a variable name (no brackets, braces or '.', unlike a word). */
export const VAR_END = byteSet(' <>:\\?=@!#~+-*/&|^%(),\';\t\n\v\f\r`"\0');
// Spans accept NUL as well: libinjection tests span membership with strchr, which finds the
// terminator of its set for a NUL byte.
export const BINARY_DIGITS = byteSet('01\0');
export const HEX_DIGITS = byteSet('0123456789ABCDEFabcdef\0');
export const MONEY_CHARS = byteSet('0123456789.,\0');
export const LETTERS = byteSet('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\0');

export function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}
