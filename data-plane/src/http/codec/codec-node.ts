/**
 * The codec contract (codec.ts) over node:http's and node:http2's request/response objects, for
 * the connections ferry-proxy's own HTTP/1.1 codec does not take (HTTP/2, and HTTP/1.1 under
 * TLS): the request becomes a RequestHeaderMap and body events, the response encoder writes
 * through the ServerResponse. One NodeStream per request.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { copyForwardableHeaders, RequestHeaderMap, type HeaderMap } from '../header-map.js';
import type { ResponseHeaderMap } from '../header-map.js';
import type {
  DownstreamConnectionInfo,
  ResponseEncoder,
  ServerConnectionCallbacks,
  StreamDecoder,
} from './codec.js';
import { connectionIdOf } from './connection-id.js';

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

const EMPTY = Buffer.alloc(0);

/** The connection a node request arrived on (HTTP/2: the session's socket). */
export function nodeConnectionInfo(req: NodeRequest): DownstreamConnectionInfo {
  const socket =
    req.httpVersionMajor === 2
      ? ((req as http2.Http2ServerRequest).stream.session?.socket ?? req.socket)
      : req.socket;
  const tlsSocket = socket as { encrypted?: boolean; servername?: string | false };
  return {
    id: connectionIdOf(socket),
    socket: socket,
    encrypted: tlsSocket.encrypted === true,
    serverName: typeof tlsSocket.servername === 'string' ? tlsSocket.servername : undefined,
  };
}

/** The request's head as the connection manager takes it (hop-by-hop fields removed). */
export function nodeRequestHead(
  req: NodeRequest,
  connection: DownstreamConnectionInfo,
): RequestHeaderMap {
  const http2 = req.httpVersionMajor === 2;
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

class NodeStream implements ResponseEncoder {
  readonly #req: NodeRequest;
  readonly #res: NodeResponse;
  readonly #http2: boolean;
  #decoder: StreamDecoder | undefined;
  #ended = false;

  constructor(req: NodeRequest, res: NodeResponse) {
    this.#req = req;
    this.#res = res;
    this.#http2 = req.httpVersionMajor === 2;
  }

  attach(decoder: StreamDecoder, hasBody: boolean): void {
    this.#decoder = decoder;
    this.#res.once('close', this.#onClose);
    if (hasBody) {
      this.#req.on('data', this.#onData);
      this.#req.once('end', this.#onEnd);
    }
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#decoder!.decodeData(chunk, false);
  };

  readonly #onEnd = (): void => {
    this.#decoder!.decodeData(EMPTY, true);
  };

  readonly #onClose = (): void => {
    if (!this.#ended) this.#decoder!.onResetStream('remote-close');
  };

  readonly #onDrain = (): void => {
    this.#decoder!.onBelowWriteBufferLowWatermark();
  };

  get headersSent(): boolean {
    return this.#res.headersSent;
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    const res = this.#res;
    if (this.#http2) {
      const object: Record<string, string | string[]> = {};
      for (let i = 0; i < headers.names.length; i++) {
        const name = headers.names[i]!;
        const existing = object[name];
        const value = headers.values[i]!;
        if (existing === undefined) object[name] = value;
        else if (Array.isArray(existing)) existing.push(value);
        else object[name] = [existing, value];
      }
      res.writeHead(headers.status, object);
    } else {
      (res as { writeHead(status: number, headers: string[]): unknown }).writeHead(
        headers.status,
        headers.toFlat(),
      );
    }
    if (endStream) this.#end(undefined);
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    if (endStream) {
      this.#end(data.length > 0 ? data : undefined);
      return true;
    }
    if (data.length === 0) return true;
    const writable = (this.#res as { write(chunk: Buffer): boolean }).write(data);
    if (!writable) this.#res.once('drain', this.#onDrain);
    return writable;
  }

  encodeTrailers(trailers: HeaderMap): void {
    const object: Record<string, string> = {};
    for (let i = 0; i < trailers.names.length; i++)
      object[trailers.names[i]!] = trailers.get(trailers.names[i]!)!;
    this.#res.addTrailers(object);
    this.#end(undefined);
  }

  #end(data: Buffer | undefined): void {
    this.#ended = true;
    if (data === undefined) this.#res.end();
    else (this.#res as { end(chunk: Buffer): unknown }).end(data);
    const req = this.#req;
    // A body the stream no longer wants: let Node read and drop it.
    req.off('data', this.#onData);
    req.resume();
  }

  readDisable(disabled: boolean): void {
    if (disabled) this.#req.pause();
    else this.#req.resume();
  }

  resetStream(): void {
    this.#ended = true;
    this.#res.destroy();
  }

  closeConnectionAfterResponse(): void {
    if (!this.#http2) (this.#res as http.ServerResponse).shouldKeepAlive = false;
  }
}

/**
 * Serves one node:http / node:http2 request through the connection manager's callbacks.
 * Requests with more header fields than max_headers_count get 431, as Envoy's codec answers.
 */
export function serveNodeRequest(
  req: NodeRequest,
  res: NodeResponse,
  callbacks: ServerConnectionCallbacks,
): void {
  const connection = nodeConnectionInfo(req);
  const settings = callbacks.settings();
  if (settings.maxHeadersCount > 0 && req.rawHeaders.length / 2 > settings.maxHeadersCount) {
    callbacks.protocolError(431, connection);
    res.writeHead(431, { 'content-length': 0 });
    res.end();
    return;
  }
  const http2 = req.httpVersionMajor === 2;
  const head = nodeRequestHead(req, connection);
  const contentLength = req.headers['content-length'];
  const hasBody =
    (contentLength !== undefined && contentLength !== '0') ||
    req.headers['transfer-encoding'] !== undefined ||
    (http2 && !(req as http2.Http2ServerRequest).stream.endAfterHeaders);
  const stream = new NodeStream(req, res);
  const decoder = callbacks.newStream(head, stream, connection, !hasBody);
  stream.attach(decoder, hasBody);
}
