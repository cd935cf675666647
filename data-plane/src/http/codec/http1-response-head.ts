/**
 * Strict parser of HTTP/1.x response heads (RFC 9112 §4, §5) for the upstream HTTP/1.1 pool,
 * in JavaScript: llhttp through Node's binding costs a call into C++ and a call back per head,
 * plus a string per field made there, about twice what this scan costs for a typical head
 * (`scripts/bench-head-parsers.mjs`).
 *
 * Accepted: empty lines (CRLF), then `HTTP/1.0` or `HTTP/1.1`, SP, a three-digit status code,
 * optionally SP and a reason phrase (HTAB, SP, VCHAR, obs-text), CRLF; then fields
 * `token ":" OWS field-value OWS CRLF`; then CRLF. Rejected at the first offending byte: any other version or status line, a field
 * name that is empty or not a token (whitespace before the colon included), obs-fold (a line
 * starting with SP or HTAB), control bytes or DEL in a value, CR not followed by LF and LF
 * without CR; and a head longer than the limit given to `begin`. Framing fields
 * (Content-Length, Transfer-Encoding) are checked by the connection that reads the body.
 *
 * A head split over several reads is copied into a buffer of the parser's own (the reads may be
 * views of a shared buffer) and scanning resumes where the previous read stopped: each byte is
 * scanned once.
 */
import { Http1HeadError } from './http1-parser.js';
import {
  FIELD_VALUE_CHAR as FIELD_VALUE_TABLE,
  TOKEN_CHAR as TOKEN_TABLE,
} from './http1-chunked.js';

// Module-local copies: an imported binding is read through its module cell on every access.
const FIELD_VALUE_CHAR: Uint8Array = FIELD_VALUE_TABLE;
const TOKEN_CHAR: Uint8Array = TOKEN_TABLE;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
/** `HTTP/1.`, the first seven bytes of every accepted status line. */
const VERSION_PREFIX = Buffer.from('HTTP/1.', 'latin1');

const enum State {
  /** Within `HTTP/1.x DDD`: the byte's offset in the head says what it must be. */
  StatusLine,
  AfterStatusCode,
  Reason,
  StatusLf,
  LineStart,
  Name,
  ValueStart,
  Value,
  LineLf,
  EndLf,
}

/** What a proxy answers for a malformed response (Http1HeadError carries a status). */
const BAD_GATEWAY = 502;

function malformed(code: string, reason: string): Http1HeadError {
  return new Http1HeadError(BAD_GATEWAY, code, reason);
}

export class Http1ResponseHeadParser {
  headComplete = false;
  versionMinor = 0;
  statusCode = 0;
  /** The response lets the connection carry another request (its version and Connection). */
  shouldKeepAlive = false;
  /** `[name, value, ...]` as received (names in their original case, values without OWS). */
  rawHeaders: string[] = [];

  private state = State.StatusLine;
  private maxBytes = 0;
  /** Offsets in the head of each field: name start, name end, value start, value end. */
  private marks = new Int32Array(64);
  private fields = 0;
  private nameStart = 0;
  private nameEnd = 0;
  private valueStart = 0;
  private valueEnd = 0;
  /** The head's bytes so far when it spans reads (`heldLength` of them); else null. */
  private held: Buffer | null = null;
  private heldLength = 0;

  /** Prepares for a new head of at most `maxBytes` bytes (status line and fields). */
  begin(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.headComplete = false;
    this.state = State.StatusLine;
    this.statusCode = 0;
    this.fields = 0;
    this.held = null;
    this.heldLength = 0;
    this.rawHeaders = [];
  }

  /**
   * Feeds bytes of the head. Returns how many bytes of `data` belong to the head once it is
   * complete (`headComplete`; the rest is body or the next message), `data.length` while
   * incomplete, or the error that makes the response unacceptable.
   */
  execute(data: Buffer): number | Http1HeadError {
    if (this.held === null) {
      // Empty lines before a status line are skipped, as llhttp does (RFC 9112 §2.2).
      if (data[0] === CR && data[1] === LF) {
        let start = 2;
        while (data[start] === CR && data[start + 1] === LF) start += 2;
        if (start === data.length) return start;
        const used = this.execute(data.subarray(start));
        return typeof used === 'number' ? start + used : used;
      }
      const end = this.scan(data, 0, data.length);
      if (typeof end !== 'number') return end;
      if (end < 0) {
        if (data.length > this.maxBytes) return overflow();
        this.held = Buffer.allocUnsafe(Math.min(Math.max(1024, data.length * 2), this.maxBytes));
        data.copy(this.held, 0);
        this.heldLength = data.length;
        return data.length;
      }
      if (end > this.maxBytes) return overflow();
      this.complete(data, end);
      return end;
    }
    const start = this.heldLength;
    if (start + data.length > this.maxBytes) {
      // Only what fits can belong to an acceptable head.
      const fits = this.maxBytes - start;
      const end = this.scan(this.append(data.subarray(0, fits)), start, this.maxBytes);
      if (typeof end !== 'number') return end;
      if (end < 0) return overflow();
      this.complete(this.held, end);
      return end - start;
    }
    const held = this.append(data);
    const end = this.scan(held, start, this.heldLength);
    if (typeof end !== 'number') return end;
    if (end < 0) return data.length;
    this.complete(held, end);
    return end - start;
  }

  /** Adds `data` to the held head (growing it) and returns the held buffer. */
  private append(data: Buffer): Buffer {
    let held = this.held!;
    const length = this.heldLength + data.length;
    if (length > held.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(length, held.length * 2), this.maxBytes));
      held.copy(grown, 0, 0, this.heldLength);
      held = grown;
      this.held = grown;
    }
    data.copy(held, this.heldLength);
    this.heldLength = length;
    return held;
  }

  /**
   * Scans `head[from, to)` (offsets in the head); returns the head's length once its empty line
   * ended, -1 when more bytes are needed, or what is wrong.
   */
  private scan(head: Buffer, from: number, to: number): number | Http1HeadError {
    let state = this.state;
    let i = from;
    for (; i < to; i++) {
      let c = head[i]!;
      switch (state) {
        case State.StatusLine:
          if (i < 7) {
            if (c !== VERSION_PREFIX[i])
              return malformed('HPE_INVALID_VERSION', 'Invalid HTTP version');
          } else if (i === 7) {
            if (c !== 48 && c !== 49)
              return malformed('HPE_INVALID_VERSION', 'Invalid HTTP version');
            this.versionMinor = c - 48;
          } else if (i === 8) {
            if (c !== SP) return malformed('HPE_INVALID_VERSION', 'Expected space after version');
          } else {
            if (c < 48 || c > 57) return malformed('HPE_INVALID_STATUS', 'Invalid status code');
            this.statusCode = this.statusCode * 10 + c - 48;
            if (i === 11) state = State.AfterStatusCode;
          }
          break;
        case State.AfterStatusCode:
          if (c === SP) state = State.Reason;
          else if (c === CR) state = State.StatusLf;
          else return malformed('HPE_INVALID_STATUS', 'Invalid status code');
          break;
        case State.Reason:
          if (c === CR) state = State.StatusLf;
          else if (FIELD_VALUE_CHAR[c] !== 1)
            return malformed('HPE_INVALID_STATUS', 'Invalid character in reason phrase');
          break;
        case State.StatusLf:
        case State.LineLf:
          if (c !== LF) return malformed('HPE_LF_EXPECTED', 'CR not followed by LF');
          state = State.LineStart;
          break;
        case State.LineStart:
          if (c === CR) state = State.EndLf;
          else if (TOKEN_CHAR[c] === 1) {
            this.nameStart = i;
            state = State.Name;
          } else if (c === SP || c === HTAB)
            return malformed('HPE_INVALID_HEADER_TOKEN', 'Folded field line (obs-fold)');
          else return malformed('HPE_INVALID_HEADER_TOKEN', 'Invalid field name character');
          break;
        case State.Name: {
          // The rest of the name in one loop: most bytes of a head are names and values.
          while (c !== COLON) {
            if (TOKEN_CHAR[c] !== 1)
              return malformed('HPE_INVALID_HEADER_TOKEN', 'Invalid field name character');
            if (++i === to) {
              this.state = state;
              return -1;
            }
            c = head[i]!;
          }
          this.nameEnd = i;
          state = State.ValueStart;
          break;
        }
        case State.ValueStart:
          if (c === SP || c === HTAB) break;
          if (c === CR) {
            this.valueStart = i;
            this.valueEnd = i;
            this.addField();
            state = State.LineLf;
          } else if (FIELD_VALUE_CHAR[c] === 1) {
            this.valueStart = i;
            this.valueEnd = i + 1;
            state = State.Value;
          } else return malformed('HPE_INVALID_HEADER_TOKEN', 'Invalid field value character');
          break;
        case State.Value: {
          let valueEnd = this.valueEnd;
          while (c !== CR) {
            if (FIELD_VALUE_CHAR[c] !== 1)
              return malformed('HPE_INVALID_HEADER_TOKEN', 'Invalid field value character');
            // Trailing OWS is not part of the value (SP and HTAB are the only bytes up to SP).
            if (c > SP) valueEnd = i + 1;
            if (++i === to) {
              this.valueEnd = valueEnd;
              this.state = state;
              return -1;
            }
            c = head[i]!;
          }
          this.valueEnd = valueEnd;
          this.addField();
          state = State.LineLf;
          break;
        }
        case State.EndLf:
          if (c !== LF) return malformed('HPE_LF_EXPECTED', 'CR not followed by LF');
          this.state = state;
          return i + 1;
      }
    }
    this.state = state;
    return -1;
  }

  private addField(): void {
    const at = this.fields * 4;
    if (at + 4 > this.marks.length) {
      const grown = new Int32Array(this.marks.length * 2);
      grown.set(this.marks);
      this.marks = grown;
    }
    const marks = this.marks;
    marks[at] = this.nameStart;
    marks[at + 1] = this.nameEnd;
    marks[at + 2] = this.valueStart;
    marks[at + 3] = this.valueEnd;
    this.fields++;
  }

  /** The head's fields as strings (one latin1 string for the head, fields sliced from it). */
  private complete(head: Buffer, end: number): void {
    this.headComplete = true;
    this.held = null;
    const text = head.toString('latin1', 0, end);
    const count = this.fields;
    const marks = this.marks;
    const raw = new Array<string>(count * 2);
    let close = false;
    let keepAlive = false;
    for (let f = 0; f < count; f++) {
      const at = f * 4;
      const name = text.slice(marks[at], marks[at + 1]);
      const value = text.slice(marks[at + 2], marks[at + 3]);
      raw[2 * f] = name;
      raw[2 * f + 1] = value;
      if (name.length === 10 && name.toLowerCase() === 'connection') {
        const lower = value.toLowerCase();
        // The usual single token without splitting.
        if (lower === 'keep-alive') keepAlive = true;
        else if (lower === 'close') close = true;
        else
          for (const token of lower.split(',')) {
            const trimmed = token.trim();
            if (trimmed === 'close') close = true;
            else if (trimmed === 'keep-alive') keepAlive = true;
          }
      }
    }
    this.rawHeaders = raw;
    // HTTP/1.1 persists unless closed; HTTP/1.0 only when asked to (RFC 9112 §9.3).
    this.shouldKeepAlive = !close && (this.versionMinor === 1 || keepAlive);
  }
}

function overflow(): Http1HeadError {
  return malformed('HPE_HEADER_OVERFLOW', 'Header overflow');
}
