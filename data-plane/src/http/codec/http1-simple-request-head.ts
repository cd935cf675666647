/**
 * A fast path in front of llhttp for the commonest request heads: complete in one read, an
 * origin-form target, HTTP/1.1 or 1.0, no body framing and nothing to upgrade. Such a head is
 * parsed here in JavaScript, without llhttp's call into C++ and back and its per-field strings
 * made there. Every other head, including every malformed one, is left to llhttp, so what is
 * accepted and refused, and with which status, is llhttp's (and http1-request-head.ts's) as
 * before.
 *
 * A head is simple when it is exactly: a method of GET, HEAD, DELETE, OPTIONS, POST, PUT or
 * PATCH; SP; `/` followed by RFC 3986 characters (unreserved, reserved, `%`); SP; `HTTP/1.1` or
 * `HTTP/1.0`; CRLF; fields `token ":" OWS value CRLF` whose value is VCHARs with inner SP or
 * HTAB (no obs-text, no trailing whitespace); CRLF; and no Content-Length, Transfer-Encoding or
 * Upgrade field, and Connection only as `close` or `keep-alive`. llhttp accepts every such head
 * and reads it the same way (the differential test in http1-simple-request-head.test.ts).
 */
import type { RequestHeadFields } from './http1-request-head.js';
import { TOKEN_CHAR as TOKEN_TABLE } from './http1-chunked.js';

// A module-local copy: an imported binding is read through its module cell on every access.
const TOKEN_CHAR: Uint8Array = TOKEN_TABLE;

/** unreserved, reserved and `%` (RFC 3986 §2): the request-target bytes of a simple head. */
const TARGET_CHAR: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let c = 48; c <= 57; c++) table[c] = 1;
  for (let c = 65; c <= 90; c++) table[c] = 1;
  for (let c = 97; c <= 122; c++) table[c] = 1;
  for (const c of "-._~:/?[]@!$&'()*+,;=%") table[c.charCodeAt(0)] = 1;
  return table;
})();

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const SLASH = 47;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

const SIMPLE_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'DELETE',
  'OPTIONS',
  'POST',
  'PUT',
  'PATCH',
]);

export class Http1SimpleRequestHead implements RequestHeadFields {
  readonly versionMajor = 1;
  versionMinor = 1;
  method = '';
  url = '';
  rawHeaders: string[] = [];
  readonly upgrade = false;
  shouldKeepAlive = false;
  /** Fields as they are read; entries past the last head's stay until overwritten. */
  private readonly fields: string[] = [];

  /**
   * Parses the head starting at `data[offset]` if it is simple and at most `maxBytes` long;
   * returns its length, or -1 when llhttp has to parse it (the fields are then meaningless).
   */
  parse(data: Buffer, offset: number, maxBytes: number): number {
    const end = data.indexOf(HEAD_END, offset);
    if (end < 0) return -1;
    const length = end + 4 - offset;
    if (length > maxBytes) return -1;
    const text = data.toString('latin1', offset, end + 4);
    // Method.
    let i = 0;
    let c = text.charCodeAt(0);
    while (c >= 65 && c <= 90) c = text.charCodeAt(++i);
    if (c !== SP) return -1;
    const method = text.slice(0, i);
    if (!SIMPLE_METHODS.has(method)) return -1;
    // Origin-form target.
    const targetStart = ++i;
    if (text.charCodeAt(i) !== SLASH) return -1;
    while (TARGET_CHAR[(c = text.charCodeAt(++i))] === 1);
    if (c !== SP) return -1;
    const url = text.slice(targetStart, i);
    // Version, then CRLF.
    if (!text.startsWith('HTTP/1.', ++i)) return -1;
    i += 7;
    const minor = text.charCodeAt(i) - 48;
    if ((minor !== 0 && minor !== 1) || text.charCodeAt(i + 1) !== CR) return -1;
    if (text.charCodeAt(i + 2) !== LF) return -1;
    i += 3;
    // Fields, up to the empty line at `length - 2`.
    const fields = this.fields;
    let count = 0;
    let close = false;
    let keepAlive = false;
    const last = length - 2;
    while (i < last) {
      const nameStart = i;
      while (TOKEN_CHAR[(c = text.charCodeAt(i))] === 1) i++;
      if (c !== COLON || i === nameStart) return -1;
      const nameEnd = i;
      c = text.charCodeAt(++i);
      while (c === SP || c === HTAB) c = text.charCodeAt(++i);
      const valueStart = i;
      while (c > SP && c < 127) {
        c = text.charCodeAt(++i);
        // Inner whitespace only: a value may not end with it.
        if (c === SP || c === HTAB) {
          do c = text.charCodeAt(++i);
          while (c === SP || c === HTAB);
          if (!(c > SP && c < 127)) return -1;
        }
      }
      if (c !== CR || text.charCodeAt(i + 1) !== LF) return -1;
      const name = text.slice(nameStart, nameEnd);
      const value = text.slice(valueStart, i);
      i += 2;
      switch (nameEnd - nameStart) {
        case 7:
        case 14:
        case 17: {
          const lower = name.toLowerCase();
          if (lower === 'upgrade' || lower === 'content-length' || lower === 'transfer-encoding')
            return -1;
          break;
        }
        case 10:
          if (name.toLowerCase() === 'connection') {
            const token = value.toLowerCase();
            if (token === 'close') close = true;
            else if (token === 'keep-alive') keepAlive = true;
            else return -1;
          }
          break;
      }
      fields[count++] = name;
      fields[count++] = value;
    }
    this.versionMinor = minor;
    this.method = method;
    this.url = url;
    // Copied out at its final length (grown by push, a list takes 17 slots at least).
    this.rawHeaders = fields.slice(0, count);
    // llhttp's reading: HTTP/1.1 persists unless closed, HTTP/1.0 when asked to (close or not).
    this.shouldKeepAlive = minor === 1 ? !close : keepAlive;
    return length;
  }
}
