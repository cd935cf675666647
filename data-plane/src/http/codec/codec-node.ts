/**
 * The codec contract (codec.ts) over Node's own servers, for the connections ferry-proxy still
 * serves through them: node:http (TLS HTTP/1.1) and node:http2's compatibility API (HTTP/2, and
 * HTTP/1.1 through allowHTTP1). The listener calls `serveNodeRequest` for every 'request' event;
 * the connection manager sees the same events as from codec-http1.ts.
 *
 * Node's parsers already refuse most malformed input (llhttp without lenient flags for HTTP/1,
 * nghttp2's header validation for HTTP/2). The checks they leave out are applied here so that
 * both paths give the same answers: for HTTP/1 the same head rules as codec-http1.ts
 * (http1-request-head.ts: versions, Host, Transfer-Encoding other than `chunked` → 501,
 * absolute-form targets, header count → 431, hop-by-hop removal, 100-continue not forwarded);
 * for HTTP/2 a valid :authority, the header count and hop-by-hop removal. A refused request gets
 * its status (with `connection: close` on HTTP/1), protocolError, and no stream.
 *
 * The listener should set `maxHeadersCount = 0` on node:http servers (Node otherwise drops fields
 * past its limit silently instead of answering 431) and give node:http the same
 * maxHeaderSize as the codec's limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  constants as http2Constants,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type {
  DownstreamConnectionInfo,
  ResponseEncoder,
  ServerConnectionCallbacks,
  StreamDecoder,
} from './codec.js';
import {
  copyForwardableHeaders,
  HeaderMap,
  RequestHeaderMap,
  type ResponseHeaderMap,
} from '../header-map.js';
import { connectionIdOf } from './connection-id.js';
import { BodyFraming, ParsedRequest, readRequestHead } from './http1-request-head.js';
import { Http1HeadError, statusForParserError } from './http1-parser.js';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { trimOws } from './http1-chunked.js';

const EMPTY = Buffer.alloc(0);

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * Whether node:http2 parsed the request. Not `httpVersionMajor === 2`: node:http reports the
 * version a request line claims, and "HTTP/2.0" on an HTTP/1 connection must get a 400, not the
 * HTTP/2 handling.
 */
function isHttp2(req: NodeRequest): req is Http2ServerRequest {
  return (req as Partial<Http2ServerRequest>).stream !== undefined;
}

/** The connection a node request arrived on (HTTP/2: the session's socket). */
export function nodeConnectionInfo(req: NodeRequest): DownstreamConnectionInfo {
  const socket = isHttp2(req) ? (req.stream.session?.socket ?? req.socket) : req.socket;
  const tlsSocket = socket as { encrypted?: boolean; servername?: string | false };
  return {
    id: connectionIdOf(socket),
    socket: socket,
    encrypted: tlsSocket.encrypted === true,
    serverName: typeof tlsSocket.servername === 'string' ? tlsSocket.servername : undefined,
  };
}

/**
 * An upgrade request's head as the upgrade hand-off takes it (hop-by-hop fields removed, the
 * Upgrade value read from the request itself).
 */
export function nodeRequestHead(
  req: NodeRequest,
  connection: DownstreamConnectionInfo,
): RequestHeaderMap {
  const http2 = isHttp2(req);
  const rawAuthority = http2 ? req.headers[':authority'] : req.headers.host;
  const authority = typeof rawAuthority === 'string' ? rawAuthority : (req.headers.host ?? '');
  const head = new RequestHeaderMap(
    req.method ?? 'GET',
    req.url ?? '/',
    authority,
    connection.encrypted ? 'https' : 'http',
    http2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
  );
  copyForwardableHeaders(req.rawHeaders, head);
  return head;
}

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2) and HTTP/1 framing owns: never written by the codec. */
function isConnectionSpecific(name: string): boolean {
  return (
    name === 'connection' ||
    name === 'transfer-encoding' ||
    name === 'keep-alive' ||
    name === 'proxy-connection' ||
    name === 'upgrade' ||
    name === 'http2-settings'
  );
}

/** One request served through Node's request/response objects. */
class NodeStream implements ResponseEncoder {
  decoder: StreamDecoder | null = null;
  private done = false;
  private resetLocally = false;
  private readonly http2: boolean;

  constructor(
    private readonly req: NodeRequest,
    private readonly res: NodeResponse,
  ) {
    this.http2 = isHttp2(req);
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  /** Starts delivering the request body (the request has one). */
  readBody(): void {
    this.req.on('data', this.onData);
    this.req.on('end', this.onEnd);
  }

  watchClose(): void {
    this.res.on('close', this.onClose);
    this.res.on('drain', this.onDrain);
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    if (this.done || this.res.headersSent) return;
    const names = headers.names;
    const values = headers.values;
    if (this.http2) {
      const object: Record<string, string | string[]> = {};
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        if (isConnectionSpecific(name)) continue;
        const existing = object[name];
        if (existing === undefined) object[name] = values[i]!;
        else if (Array.isArray(existing)) existing.push(values[i]!);
        else object[name] = [existing, values[i]!];
      }
      const res = this.res as Http2ServerResponse;
      if (endStream) {
        // Headers set on the response and sent by end() leave as one HEADERS frame with
        // END_STREAM (writeHead would send them without it, then an empty DATA frame): gRPC's
        // trailers-only responses need that shape.
        res.statusCode = headers.status;
        for (const name in object) res.setHeader(name, object[name]!);
      } else res.writeHead(headers.status, object);
    } else {
      const flat: string[] = [];
      for (let i = 0; i < names.length; i++) {
        if (isConnectionSpecific(names[i]!)) continue;
        flat.push(names[i]!, values[i]!);
      }
      (this.res as ServerResponse).writeHead(headers.status, flat);
    }
    if (endStream) this.finish(undefined);
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (this.done) return false;
    if (endStream) {
      this.finish(data);
      return true;
    }
    return (this.res as ServerResponse).write(data);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    const object: Record<string, string> = {};
    for (let i = 0; i < trailers.names.length; i++) {
      const name = trailers.names[i]!;
      object[name] =
        object[name] === undefined ? trailers.values[i]! : `${object[name]},${trailers.values[i]!}`;
    }
    this.res.addTrailers(object);
    this.finish(undefined);
  }

  readDisable(disabled: boolean): void {
    if (disabled) this.req.pause();
    else this.req.resume();
  }

  resetStream(): void {
    if (this.done) return;
    this.done = true;
    this.resetLocally = true;
    if (this.http2)
      (this.res as Http2ServerResponse).stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
    else (this.res as ServerResponse).destroy();
  }

  closeConnectionAfterResponse(): void {
    // HTTP/2 streams do not close their connection; node:http adds `connection: close`.
    if (!this.http2) (this.res as ServerResponse).shouldKeepAlive = false;
  }

  private finish(data: Buffer | undefined): void {
    this.done = true;
    if (data === undefined) (this.res as ServerResponse).end();
    else (this.res as ServerResponse).end(data);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.decoder?.decodeData(chunk, false);
  };

  private readonly onEnd = (): void => {
    const decoder = this.decoder;
    if (decoder === null) return;
    const raw = this.req.rawTrailers;
    if (raw.length === 0) {
      decoder.decodeData(EMPTY, true);
      return;
    }
    const trailers = new HeaderMap();
    for (let i = 0; i + 1 < raw.length; i += 2) trailers.append(raw[i]!.toLowerCase(), raw[i + 1]!);
    decoder.decodeTrailers(trailers);
  };

  private readonly onDrain = (): void => {
    if (!this.done) this.decoder?.onBelowWriteBufferLowWatermark();
  };

  private readonly onClose = (): void => {
    if (this.resetLocally || this.res.writableFinished) return;
    this.done = true;
    this.decoder?.onResetStream('remote-close');
  };
}

const parsedScratch = new ParsedRequest();

/**
 * Serves one request that node:http or node:http2 parsed: validates it as codec-http1 would,
 * then hands it to the connection manager as a stream.
 */
export function serveNodeRequest(
  req: NodeRequest,
  res: NodeResponse,
  callbacks: ServerConnectionCallbacks,
  connection: DownstreamConnectionInfo = nodeConnectionInfo(req),
): void {
  const settings = callbacks.settings();
  const scheme = connection.encrypted ? 'https' : 'http';
  let head: RequestHeaderMap;
  let endStream: boolean;
  if (isHttp2(req)) {
    const result = readHttp2Head(req, scheme, settings.maxHeadersCount);
    if (result instanceof Http1HeadError) {
      refuse(res, result.status, true, callbacks, connection);
      return;
    }
    head = result;
    endStream = req.stream.endAfterHeaders;
  } else {
    const error = readRequestHead(
      {
        versionMajor: req.httpVersionMajor,
        versionMinor: req.httpVersionMinor,
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        upgrade: false,
        shouldKeepAlive: true,
      },
      scheme,
      settings,
      parsedScratch,
    );
    if (error !== undefined) {
      refuse(res, error.status, false, callbacks, connection);
      return;
    }
    head = parsedScratch.head!;
    parsedScratch.head = undefined;
    endStream = parsedScratch.framing === BodyFraming.None;
  }
  const stream = new NodeStream(req, res);
  stream.watchClose();
  stream.decoder = callbacks.newStream(head, stream, connection, endStream);
  if (!endStream) stream.readBody();
  else req.resume();
}

function refuse(
  res: NodeResponse,
  status: number,
  http2: boolean,
  callbacks: ServerConnectionCallbacks,
  connection: DownstreamConnectionInfo,
): void {
  if (http2) (res as Http2ServerResponse).writeHead(status, { 'content-length': '0' });
  else {
    (res as ServerResponse).shouldKeepAlive = false;
    (res as ServerResponse).writeHead(status, ['content-length', '0']);
  }
  (res as ServerResponse).end();
  callbacks.protocolError(status, connection);
}

/** reg-name / IP-literal / port characters an :authority may hold. */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%[\]]+$/;

/** An HTTP/2 request head (nghttp2 validated names and values) as a RequestHeaderMap. */
function readHttp2Head(
  req: Http2ServerRequest,
  scheme: string,
  maxHeadersCount: number,
): RequestHeaderMap | Http1HeadError {
  const raw = req.rawHeaders;
  let regular = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== 58) regular++;
  if (maxHeadersCount > 0 && regular > maxHeadersCount)
    return new Http1HeadError(
      431,
      'too_many_headers',
      `more than ${maxHeadersCount} header fields`,
    );
  const authority = req.authority;
  if (authority === undefined || authority === '' || !AUTHORITY.test(authority))
    return new Http1HeadError(400, 'invalid_authority', 'missing or invalid :authority');
  const method = req.method;
  const path = method === 'CONNECT' ? '' : req.url;
  const head = new RequestHeaderMap(method, path, authority, scheme, 'HTTP/2');
  let nominated: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 || name === 'host') continue;
    const value = raw[i + 1]!;
    if (isConnectionSpecific(name)) {
      if (name === 'connection') nominated = value;
      continue;
    }
    if (name === 'te' && trimOws(value, 0, value.length).toLowerCase() !== 'trailers') continue;
    head.append(name, value);
  }
  if (nominated !== undefined)
    for (const token of nominated.split(','))
      head.remove(trimOws(token, 0, token.length).toLowerCase());
  return head;
}

/**
 * node:http's 'clientError' handler: answers what llhttp refused with the status codec-http1
 * gives for the same error (431 for an oversized head, 501 for an unknown transfer-coding, 400
 * otherwise, 408 for a head timeout), then reports protocolError. The answer keeps HTTP/1.1's
 * order: when the error is in a request pipelined behind one whose response is still being
 * written, it follows that response; when it is in the body of the request being answered, the
 * connection is closed (with the status if that response has not started).
 */
export function answerClientError(
  err: NodeJS.ErrnoException & { reason?: string },
  socket: Duplex,
  callbacks: ServerConnectionCallbacks,
  connection: DownstreamConnectionInfo,
): void {
  const code = err.code ?? '';
  if (code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 408
      : code.startsWith('HPE_')
        ? statusForParserError({ code, reason: err.reason ?? err.message })
        : 400;
  const answer = (): void => {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
    callbacks.protocolError(status, connection);
  };
  const inFlight = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight === undefined || inFlight === null || inFlight.writableFinished) {
    answer();
    return;
  }
  if (!inFlight.req.complete) {
    // The error is in the body of the request being answered: that stream cannot complete.
    if (inFlight.headersSent) socket.destroy();
    else answer();
    return;
  }
  // A later pipelined request: nothing more is read, the current response finishes first.
  socket.pause();
  inFlight.once('finish', answer);
  inFlight.once('close', () => {
    if (!inFlight.writableFinished) socket.destroy();
  });
}
