/**
 * Strict decoder of the chunked transfer coding (RFC 9112 §7.1) shared by the server codec and
 * the upstream HTTP/1.1 pool. Data is handed on as views of the input buffers (no copies).
 *
 * Rejected (the message is unusable and the connection must close): a chunk-size that is not
 * 1*HEXDIG or exceeds 2^52, whitespace after the size outside an extension, control bytes in
 * extensions, a size line longer than MAX_SIZE_LINE_BYTES, CR not followed by LF or LF without
 * CR anywhere, chunk data not followed by CRLF, and trailer fields that are not
 * `token ":" OWS field-value OWS` (obs-fold included) or larger than the head limit.
 */

/** Longest accepted chunk-size line (size + extensions), as a bound on what is buffered. */
export const MAX_SIZE_LINE_BYTES = 4096;
const MAX_SIZE_DIGITS = 13;

const CR = 13;
const LF = 10;
const SEMICOLON = 59;

/** tchar (RFC 9110 §5.6.2). */
export const TOKEN_CHAR: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let c = 48; c <= 57; c++) table[c] = 1;
  for (let c = 65; c <= 90; c++) table[c] = 1;
  for (let c = 97; c <= 122; c++) table[c] = 1;
  for (const c of "!#$%&'*+-.^_`|~") table[c.charCodeAt(0)] = 1;
  return table;
})();

/** field-vchar, SP and HTAB (RFC 9110 §5.5): what a field value may contain. */
export const FIELD_VALUE_CHAR: Uint8Array = (() => {
  const table = new Uint8Array(256);
  table[9] = 1;
  for (let c = 32; c < 127; c++) table[c] = 1;
  for (let c = 128; c < 256; c++) table[c] = 1;
  return table;
})();

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export interface ChunkedBodySink {
  /** Chunk data, a view of the decoder's input valid until the sink returns or keeps it. */
  onChunkedData(data: Buffer): void;
  /** The last chunk and its trailer section were read; `[name, value, ...]`, names lower-case. */
  onChunkedEnd(rawTrailers: string[]): void;
  /** Read after every callback: true stops decoding until `decode` is called again. */
  readonly bodyPaused: boolean;
}

const enum State {
  Size,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailers,
  Done,
}

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  private sizeDigits = 0;
  private lineBytes = 0;
  private trailerText = '';
  /** Why decoding failed, once `decode` returned -1. */
  error = '';

  constructor(
    private readonly sink: ChunkedBodySink,
    /** Bound on the trailer section (the head size limit). */
    private maxTrailerBytes: number,
  ) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /** Starts a new message. */
  reset(maxTrailerBytes: number): void {
    this.state = State.Size;
    this.remaining = 0;
    this.sizeDigits = 0;
    this.lineBytes = 0;
    this.trailerText = '';
    this.error = '';
    this.maxTrailerBytes = maxTrailerBytes;
  }

  /**
   * Decodes from `offset`; returns the offset where it stopped (the end of the data, the first
   * byte after the message once `done`, or where the sink paused), or -1 on malformed input.
   */
  decode(data: Buffer, offset: number): number {
    const end = data.length;
    let i = offset;
    while (i < end) {
      switch (this.state) {
        case State.Size: {
          const c = data[i]!;
          const digit = hexValue(c);
          if (digit >= 0) {
            if (++this.sizeDigits > MAX_SIZE_DIGITS) return this.fail('chunk size too large');
            this.remaining = this.remaining * 16 + digit;
            i++;
            if (++this.lineBytes > MAX_SIZE_LINE_BYTES)
              return this.fail('chunk size line too long');
            break;
          }
          if (this.sizeDigits === 0) return this.fail('invalid chunk size');
          if (c === SEMICOLON) this.state = State.Extension;
          else if (c === CR) this.state = State.SizeLf;
          else return this.fail('invalid character after chunk size');
          i++;
          break;
        }
        case State.Extension: {
          const c = data[i++]!;
          if (++this.lineBytes > MAX_SIZE_LINE_BYTES) return this.fail('chunk size line too long');
          if (c === CR) this.state = State.SizeLf;
          else if (FIELD_VALUE_CHAR[c] !== 1) return this.fail('invalid chunk extension');
          break;
        }
        case State.SizeLf: {
          if (data[i++] !== LF) return this.fail('chunk size line not ended by CRLF');
          this.lineBytes = 0;
          this.sizeDigits = 0;
          this.state = this.remaining === 0 ? State.Trailers : State.Data;
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, end - i);
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.DataCr;
          const chunk = data.subarray(i, i + take);
          i += take;
          this.sink.onChunkedData(chunk);
          if (this.sink.bodyPaused) return i;
          break;
        }
        case State.DataCr:
          if (data[i++] !== CR) return this.fail('chunk data not followed by CRLF');
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (data[i++] !== LF) return this.fail('chunk data not followed by CRLF');
          this.state = State.Size;
          break;
        case State.Trailers: {
          const result = this.readTrailers(data, i);
          if (result < 0) return -1;
          i = result;
          if ((this.state as State) === State.Done) return i;
          break;
        }
        case State.Done:
          return i;
      }
    }
    return i;
  }

  /** Accumulates the trailer section up to its empty line, then parses it. */
  private readTrailers(data: Buffer, offset: number): number {
    const before = this.trailerText.length;
    const available = Math.min(data.length - offset, this.maxTrailerBytes + 4 - before);
    this.trailerText += data.toString('latin1', offset, offset + available);
    const text = this.trailerText;
    let endOfSection = -1;
    if (text.startsWith('\r\n')) endOfSection = 2;
    else {
      const blank = text.indexOf('\r\n\r\n');
      if (blank >= 0) endOfSection = blank + 4;
    }
    if (endOfSection < 0) {
      if (text.length > this.maxTrailerBytes) return this.fail('trailer section too large');
      return offset + available;
    }
    const trailers = parseFieldLines(text.slice(0, endOfSection - 2));
    if (trailers === undefined) return this.fail('invalid trailer field');
    this.state = State.Done;
    this.trailerText = '';
    this.sink.onChunkedEnd(trailers);
    return offset + (endOfSection - before);
  }

  private fail(reason: string): number {
    this.error = reason;
    return -1;
  }
}

/**
 * Parses `name: value\r\n` lines strictly (a field section without its final empty line);
 * returns `[lowerName, value, ...]` or undefined when any line is malformed.
 */
export function parseFieldLines(text: string): string[] | undefined {
  const fields: string[] = [];
  let position = 0;
  while (position < text.length) {
    const lineEnd = text.indexOf('\r\n', position);
    if (lineEnd < 0) return undefined;
    const colon = text.indexOf(':', position);
    if (colon <= position || colon > lineEnd) return undefined;
    for (let i = position; i < colon; i++)
      if (TOKEN_CHAR[text.charCodeAt(i)] !== 1) return undefined;
    for (let i = colon + 1; i < lineEnd; i++)
      if (FIELD_VALUE_CHAR[text.charCodeAt(i)] !== 1) return undefined;
    fields.push(text.slice(position, colon).toLowerCase(), trimOws(text, colon + 1, lineEnd));
    position = lineEnd + 2;
  }
  return fields;
}

/** The value between `start` and `end` without leading and trailing SP / HTAB (OWS). */
export function trimOws(text: string, start: number, end: number): string {
  while (start < end && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  return text.slice(start, end);
}
