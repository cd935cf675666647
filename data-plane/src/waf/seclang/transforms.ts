/**
 * ModSecurity transformation functions (`t:`) on latin1 strings (one char per byte), as
 * libmodsecurity implements them.
 */
import { hash } from 'node:crypto';

export type Transform = (input: string) => string;

const HEX = /^[0-9a-fA-F]$/;
const isHex = (c: string | undefined): boolean => c !== undefined && HEX.test(c);
const fromCode = (code: number): string => String.fromCharCode(code & 0xff);

/** No char above 0x7f: its UTF-8 bytes, which crypto.hash() hashes a string as, are its latin1 bytes. */
const NOT_ASCII = /[^\0-\x7f]/;

/** The raw digest of the latin1 bytes of `s`, as a latin1 string ('binary'). */
function digest(algorithm: 'sha1' | 'md5', s: string): string {
  return hash(algorithm, NOT_ASCII.test(s) ? Buffer.from(s, 'latin1') : s, 'binary');
}

function urlDecode(input: string): string {
  if (!input.includes('%') && !input.includes('+')) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '%' && isHex(input[i + 1]) && isHex(input[i + 2])) {
      out += fromCode(parseInt(input.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += c === '+' ? ' ' : c;
  }
  return out;
}

/** urlDecode plus IIS `%uXXXX` (the low byte, with full-width ASCII mapped to ASCII). */
function urlDecodeUni(input: string): string {
  if (!input.includes('%') && !input.includes('+')) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '%') {
      const u = input[i + 1];
      if (
        (u === 'u' || u === 'U') &&
        isHex(input[i + 2]) &&
        isHex(input[i + 3]) &&
        isHex(input[i + 4]) &&
        isHex(input[i + 5])
      ) {
        const code = parseInt(input.slice(i + 2, i + 6), 16);
        // Full-width ASCII (U+FF01..U+FF5E) decodes to its ASCII form, as ModSecurity's
        // default unicode map does.
        out += code >= 0xff01 && code <= 0xff5e ? fromCode(code - 0xfee0) : fromCode(code);
        i += 5;
        continue;
      }
      if (isHex(input[i + 1]) && isHex(input[i + 2])) {
        out += fromCode(parseInt(input.slice(i + 1, i + 3), 16));
        i += 2;
        continue;
      }
    }
    out += c === '+' ? ' ' : c;
  }
  return out;
}

const ENTITIES: Record<string, number> = {
  quot: 34,
  amp: 38,
  lt: 60,
  gt: 62,
  nbsp: 160,
};

function htmlEntityDecode(input: string): string {
  if (!input.includes('&')) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== '&') {
      out += c;
      continue;
    }
    let m: RegExpExecArray | null;
    const rest = input.slice(i + 1, i + 12);
    if ((m = /^#[xX]([0-9a-fA-F]{1,8});?/.exec(rest)) !== null) {
      out += fromCode(parseInt(m[1]!, 16));
      i += m[0].length;
    } else if ((m = /^#([0-9]{1,8});?/.exec(rest)) !== null) {
      out += fromCode(parseInt(m[1]!, 10));
      i += m[0].length;
    } else if ((m = /^([a-zA-Z]{2,6});?/.exec(rest)) !== null && ENTITIES[m[1]!.toLowerCase()]) {
      out += fromCode(ENTITIES[m[1]!.toLowerCase()]!);
      i += m[0].length;
    } else out += c;
  }
  return out;
}

function jsDecode(input: string): string {
  if (!input.includes('\\')) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== '\\' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const e = input[i + 1]!;
    const h = input.slice(i + 2, i + 6);
    if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(h)) {
      const code = parseInt(h, 16);
      out += code >= 0xff01 && code <= 0xff5e ? fromCode(code - 0xfee0) : fromCode(code);
      i += 5;
    } else if (e === 'x' && /^[0-9a-fA-F]{2}/.test(h)) {
      out += fromCode(parseInt(h.slice(0, 2), 16));
      i += 3;
    } else if (/[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(input.slice(i + 1))![0];
      const digits = parseInt(m, 8) > 0xff ? m.slice(0, 2) : m;
      out += fromCode(parseInt(digits, 8));
      i += digits.length;
    } else {
      const map: Record<string, string> = {
        a: '\x07',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
        v: '\v',
      };
      out += map[e] ?? e;
      i += 1;
    }
  }
  return out;
}

function cssDecode(input: string): string {
  if (!input.includes('\\')) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    if (i + 1 >= input.length) break;
    const m = /^[0-9a-fA-F]{1,6}/.exec(input.slice(i + 1, i + 7));
    if (m !== null) {
      let code = parseInt(m[0], 16);
      if (m[0].length >= 5 || code > 0xff) code = parseInt(m[0].slice(-2), 16);
      if (code >= 0xff01 && code <= 0xff5e) code -= 0xfee0;
      out += fromCode(code);
      i += m[0].length;
      // One whitespace after a hex escape belongs to it.
      if (input[i + 1] === ' ') i++;
    } else if (input[i + 1] === '\n') {
      i++;
    } else {
      out += input[i + 1];
      i++;
    }
  }
  return out;
}

/** Windows/Unix command-line normalisation (t:cmdLine). */
function cmdLine(input: string): string {
  let out = '';
  let space = false;
  for (const c of input) {
    if (c === '\\' || c === '"' || c === "'" || c === '^') continue;
    if (c === ' ' || c === ',' || c === ';' || c === '\t' || c === '\r' || c === '\n') {
      space = true;
      continue;
    }
    if ((c === '/' || c === '(') && space && out.endsWith(' ')) out = out.slice(0, -1);
    if (space) {
      if (c !== '/' && c !== '(') out += ' ';
      space = false;
    }
    out += c.toLowerCase();
  }
  return out;
}

const WS = /[ \t\n\r\f\v\xa0]/;

/** Whitespace other than single spaces (without any, compressWhitespace changes nothing). */
const COMPRESSIBLE = /[\t\n\r\f\v\xa0]| {2}/;

function compressWhitespace(input: string): string {
  if (!COMPRESSIBLE.test(input)) return input;
  return input.replace(/[ \t\n\r\f\v\xa0]+/g, ' ');
}

function replaceComments(input: string): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    if (input[i] === '/' && input[i + 1] === '*') {
      const end = input.indexOf('*/', i + 2);
      out += ' ';
      if (end < 0) break;
      i = end + 2;
    } else out += input[i++];
  }
  return out;
}

function removeCommentsChar(input: string): string {
  return input.replace(/\/\*|\*\/|--|#/g, '');
}

function removeComments(input: string): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    if (input[i] === '/' && input[i + 1] === '*') {
      const end = input.indexOf('*/', i + 2);
      if (end < 0) break;
      i = end + 2;
    } else if ((input[i] === '-' && input[i + 1] === '-') || input[i] === '#') {
      const end = input.indexOf('\n', i);
      if (end < 0) break;
      i = end;
    } else out += input[i++];
  }
  return out;
}

/** Removes `.` segments and resolves `..` without going above the root (t:normalisePath). */
function normalisePath(input: string, win: boolean): string {
  let s = win ? input.replace(/\\/g, '/') : input;
  // Without a slash the value is one segment, itself unless it is '.'.
  if (s === '' || (!s.includes('/') && s !== '.')) return s;
  const absolute = s.startsWith('/');
  const trailing = /\/\.{0,2}$/.test(s) && s !== '/';
  const parts: string[] = [];
  for (const seg of s.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!absolute) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  s = (absolute ? '/' : '') + parts.join('/');
  if (trailing && !s.endsWith('/')) s += '/';
  return s;
}

function base64Decode(input: string): string {
  const clean = input.replace(/[^A-Za-z0-9+/]/g, '');
  return Buffer.from(clean, 'base64').toString('latin1');
}

function hexDecode(input: string): string {
  let out = '';
  for (let i = 0; i + 1 < input.length; i += 2) {
    if (!isHex(input[i]) || !isHex(input[i + 1])) break;
    out += fromCode(parseInt(input.slice(i, i + 2), 16));
  }
  return out;
}

/** UTF-8 sequences become `%uXXXX` (t:utf8toUnicode); invalid bytes stay. */
function utf8toUnicode(input: string): string {
  if (!/[\x80-\xff]/.test(input)) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const b = input.charCodeAt(i);
    let len = 0;
    let code = 0;
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
      code = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      code = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      code = b & 0x07;
    }
    let ok = len > 0 && i + len <= input.length;
    for (let k = 1; ok && k < len; k++) {
      const cb = input.charCodeAt(i + k);
      if ((cb & 0xc0) !== 0x80) ok = false;
      else code = (code << 6) | (cb & 0x3f);
    }
    if (!ok) {
      out += input[i];
      continue;
    }
    out += '%u' + code.toString(16).padStart(4, '0');
    i += len - 1;
  }
  return out;
}

export const TRANSFORMS: Readonly<Record<string, Transform>> = {
  lowercase: (s) => s.toLowerCase(),
  uppercase: (s) => s.toUpperCase(),
  urldecode: urlDecode,
  urldecodeuni: urlDecodeUni,
  urlencode: (s) =>
    Buffer.from(s, 'latin1')
      .toString('latin1')
      .replace(/[^A-Za-z0-9*\-._]/g, (c) =>
        c === ' ' ? '+' : '%' + c.charCodeAt(0).toString(16).padStart(2, '0'),
      ),
  htmlentitydecode: htmlEntityDecode,
  jsdecode: jsDecode,
  cssdecode: cssDecode,
  cmdline: cmdLine,
  compresswhitespace: compressWhitespace,
  removewhitespace: (s) => (WS.test(s) ? s.replace(/[ \t\n\r\f\v\xa0]+/g, '') : s),
  removenulls: (s) => (s.includes('\0') ? s.replace(/\0/g, '') : s),
  replacenulls: (s) => (s.includes('\0') ? s.replace(/\0/g, ' ') : s),
  replacecomments: replaceComments,
  removecomments: removeComments,
  removecommentschar: removeCommentsChar,
  normalisepath: (s) => normalisePath(s, false),
  normalizepath: (s) => normalisePath(s, false),
  normalisepathwin: (s) => normalisePath(s, true),
  normalizepathwin: (s) => normalisePath(s, true),
  base64decode: base64Decode,
  base64decodeext: base64Decode,
  base64encode: (s) => Buffer.from(s, 'latin1').toString('base64'),
  hexdecode: hexDecode,
  hexencode: (s) => Buffer.from(s, 'latin1').toString('hex'),
  length: (s) => String(s.length),
  sha1: (s) => digest('sha1', s),
  md5: (s) => digest('md5', s),
  utf8tounicode: utf8toUnicode,
  trim: (s) => s.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, ''),
  trimleft: (s) => s.replace(/^[ \t\n\r\f\v]+/, ''),
  trimright: (s) => s.replace(/[ \t\n\r\f\v]+$/, ''),
  escapeseqdecode: jsDecode,
};
