/**
 * HTTP/1.x message heads through Node's own llhttp binding (`_http_common`.HTTPParser, the
 * parser node:http uses), strict: no lenient flags, so llhttp itself rejects obs-fold, bare CR or
 * LF, control bytes in names and values, invalid methods, URLs and versions, duplicate
 * Content-Length and Content-Length together with Transfer-Encoding.
 *
 * Only heads go through llhttp: every head stops the parser (the binding's "upgrade" answer from
 * kOnHeadersComplete), and the codecs frame bodies themselves (http1-body.ts), which lets them
 * hand body bytes on as views of the socket's buffers instead of llhttp's per-chunk copies.
 * After a head the parser is re-initialized before the next one.
 *
 * Measured on this machine (one head of three fields, 10⁶ runs): initialize + execute through
 * this binding 2.7 µs; undici's llhttp wasm build (llhttp_reset + copy into wasm memory +
 * execute, strings sliced in the callbacks) 3.2 µs — so this binding.
 */
import { createRequire } from 'node:module';

interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParserError;
  close(): void;
  [key: number]: unknown;
}

interface NodeHttpParserModule {
  HTTPParser: {
    new (): NodeHttpParser;
    REQUEST: number;
    RESPONSE: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone: number;
  };
  methods: string[];
}

/** What the binding's execute returns for malformed input. */
interface ParserError extends Error {
  code: string;
  reason: string;
  bytesParsed: number;
}

const nodeHttp = createRequire(import.meta.url)('_http_common') as NodeHttpParserModule;
const { HTTPParser, methods } = nodeHttp;
const ASYNC_RESOURCE = {};

/** The binding's answer from kOnHeadersComplete that stops execute right after the head. */
const STOP_AFTER_HEAD = 2;

export class Http1HeadError {
  constructor(
    /** The status a server answers (400, 431, 501). */
    readonly status: number,
    /** llhttp's error code, e.g. HPE_INVALID_HEADER_TOKEN, or a codec-level code. */
    readonly code: string,
    readonly reason: string,
  ) {}
}

/** The status a server answers to llhttp's `code` (and `reason`). */
export function statusForParserError(error: { code: string; reason: string }): number {
  if (error.code === 'HPE_HEADER_OVERFLOW') return 431;
  // Envoy answers a transfer-coding it does not implement with 501; Transfer-Encoding together
  // with Content-Length is a framing conflict (400).
  if (error.code === 'HPE_INVALID_TRANSFER_ENCODING' && !error.reason.includes('Content-Length'))
    return 501;
  return 400;
}

/**
 * One connection's head parser. The parsed head is left in the public fields until the next
 * `begin()`; `rawHeaders` is `[name, value, ...]` as received (original case).
 */
export class Http1HeadParser {
  private readonly parser = new HTTPParser();
  private readonly type: number;
  private closed = false;
  headComplete = false;
  versionMajor = 0;
  versionMinor = 0;
  method = '';
  url = '';
  statusCode = 0;
  statusMessage = '';
  upgrade = false;
  shouldKeepAlive = false;
  rawHeaders: string[] = [];

  constructor(kind: 'request' | 'response') {
    this.type = kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE;
    const parser = this.parser;
    parser[HTTPParser.kOnHeaders] = this.onHeaders.bind(this);
    parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete.bind(this);
    parser[HTTPParser.kOnBody] = noop;
    parser[HTTPParser.kOnMessageComplete] = noop;
    parser[HTTPParser.kOnExecute] = noop;
    parser[HTTPParser.kOnMessageBegin] = noop;
  }

  /** Prepares for a new head; `maxHeaderBytes` bounds the request line plus fields (431). */
  begin(maxHeaderBytes: number): void {
    this.parser.initialize(this.type, ASYNC_RESOURCE, maxHeaderBytes, HTTPParser.kLenientNone);
    this.headComplete = false;
    this.url = '';
    this.rawHeaders = [];
  }

  /**
   * Feeds head bytes. Returns how many bytes of `data` belong to the head once it is complete
   * (`headComplete`; the rest is body or the next message), `data.length` while incomplete, or
   * the error that makes the message unacceptable.
   */
  execute(data: Buffer): number | Http1HeadError {
    const result = this.parser.execute(data);
    if (typeof result === 'number') return result;
    return new Http1HeadError(statusForParserError(result), result.code, result.reason);
  }

  /** Frees the native parser; idempotent, nothing may be parsed afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.close();
  }

  private onHeaders(headers: string[], url: string | undefined): void {
    if (url) this.url += url;
    for (let i = 0; i < headers.length; i++) this.rawHeaders.push(headers[i]!);
  }

  private onHeadersComplete(
    versionMajor: number,
    versionMinor: number,
    headers: string[] | undefined,
    method: number | undefined,
    url: string | undefined,
    statusCode: number | undefined,
    statusMessage: string | undefined,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number {
    this.versionMajor = versionMajor;
    this.versionMinor = versionMinor;
    if (headers !== undefined) {
      if (this.rawHeaders.length === 0) this.rawHeaders = headers;
      else for (let i = 0; i < headers.length; i++) this.rawHeaders.push(headers[i]!);
    }
    this.method = method === undefined ? '' : (methods[method] ?? '');
    if (url) this.url += url;
    this.statusCode = statusCode ?? 0;
    this.statusMessage = statusMessage ?? '';
    this.upgrade = upgrade;
    this.shouldKeepAlive = shouldKeepAlive;
    this.headComplete = true;
    return STOP_AFTER_HEAD;
  }
}

function noop(): void {}
