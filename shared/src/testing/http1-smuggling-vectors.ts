/**
 * Malformed and ambiguous HTTP/1.1 requests with the answer ferry-proxy gives (Envoy's, where
 * Envoy documents one), for the codec's unit tests and the proxy's end-to-end tests. A request
 * smuggling defence must refuse each of these before anything is forwarded; `afterHead` marks
 * those whose head is valid and whose body framing fails later (the stream exists and is reset).
 *
 * The vectors with `forwarded` are the edges a defence must get right without refusing: what is
 * forwarded, in which form, and which responses the client reads, in order. Every path the
 * table runs on checks both kinds.
 */
export interface SmugglingVector {
  readonly name: string;
  /** Latin-1 bytes on the wire; every one ends the connection (no follow-up needed). */
  readonly request: string;
  /** The status of the last response on the connection. */
  readonly status: number;
  readonly afterHead?: boolean;
  /**
   * The requests the next hop receives, in order (origin-form path, authority, body), for a
   * vector the proxy serves; absent for a refusal, where nothing completes there.
   */
  readonly forwarded?: readonly ForwardedRequest[];
  /** Every response the client reads, in order, 1xx included: set with `forwarded`. */
  readonly responses?: readonly ExpectedResponse[];
}

export interface ForwardedRequest {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly body: string;
  /** Fields that must not reach the next hop (lower case). */
  readonly absent?: readonly string[];
}

export interface ExpectedResponse {
  readonly status: number;
  /** The response's Connection field, when the vector pins it (lower case). */
  readonly connection?: string;
  /** Whether the response must carry Content-Length (HTTP/1.0 cannot read chunked). */
  readonly contentLength?: boolean;
}

/** One response head as read off the wire: its status and fields (names lower case). */
export interface ResponseHead {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The response heads in `text`, in order, 1xx included. Bodies are skipped by Content-Length or
 * chunked framing; a response framed by the close is the last one.
 */
export function readResponseHeads(text: string): ResponseHead[] {
  const heads: ResponseHead[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const lines = text.slice(at, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? 'NaN');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    heads.push({ status, headers });
    at = headEnd + 4;
    if (status < 200 || status === 204 || status === 304) continue;
    if (headers['transfer-encoding'] === 'chunked') {
      const end = text.indexOf('\r\n0\r\n\r\n', at - 2);
      if (end < 0) break;
      at = end + 7;
    } else if (headers['content-length'] !== undefined) {
      at += Number(headers['content-length']);
    } else break;
  }
  return heads;
}

/**
 * Why `heads` differ from `vector.responses`, or undefined when they match: the status of each
 * response in order, and its Connection and Content-Length where the vector pins them.
 */
export function responsesMismatch(
  vector: SmugglingVector,
  heads: readonly ResponseHead[],
): string | undefined {
  const expected = vector.responses ?? [];
  const got = heads.map((h) => h.status);
  if (got.length !== expected.length || expected.some((e, i) => e.status !== got[i]))
    return `statuses ${JSON.stringify(got)}, expected ${JSON.stringify(expected.map((e) => e.status))}`;
  for (const [i, e] of expected.entries()) {
    const headers = heads[i]!.headers;
    if (e.connection !== undefined && headers.connection?.toLowerCase() !== e.connection)
      return `response ${i}: connection ${String(headers.connection)}, expected ${e.connection}`;
    if (e.contentLength === true && headers['content-length'] === undefined)
      return `response ${i}: no content-length`;
  }
  return undefined;
}

const H = 'Host: a.example\r\n';

export const SMUGGLING_VECTORS: readonly SmugglingVector[] = [
  {
    name: 'Content-Length with Transfer-Encoding: chunked',
    request: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'Transfer-Encoding: chunked with Content-Length',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'duplicate Content-Length, equal values',
    request: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`,
    status: 400,
  },
  {
    name: 'duplicate Content-Length, differing values',
    request: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    status: 400,
  },
  {
    name: 'comma-joined differing Content-Length',
    request: `POST / HTTP/1.1\r\n${H}Content-Length: 3, 4\r\n\r\nabcd`,
    status: 400,
  },
  {
    name: 'negative Content-Length',
    request: `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
    status: 400,
  },
  {
    name: 'Content-Length with a sign',
    request: `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`,
    status: 400,
  },
  {
    name: 'Transfer-Encoding: gzip (unknown final coding)',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`,
    status: 501,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    status: 501,
  },
  {
    name: 'Transfer-Encoding: chunked, gzip',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
    status: 501,
  },
  {
    name: 'Transfer-Encoding twice',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 501,
  },
  {
    name: 'Transfer-Encoding: xchunked',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    status: 501,
  },
  {
    name: 'Transfer-Encoding on HTTP/1.0',
    request: `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'space before the colon of Transfer-Encoding',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'obs-fold (continuation line)',
    request: `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`,
    status: 400,
  },
  {
    name: 'obs-fold of Transfer-Encoding',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'bare LF ending the request line',
    request: `GET / HTTP/1.1\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'bare LF ending a header line',
    request: `GET / HTTP/1.1\r\n${H}X: a\n\r\n`,
    status: 400,
  },
  {
    name: 'bare CR inside a header line',
    request: `GET / HTTP/1.1\r\n${H}X: a\rY: b\r\n\r\n`,
    status: 400,
  },
  {
    name: 'NUL in a header value',
    request: `GET / HTTP/1.1\r\n${H}X: a\0b\r\n\r\n`,
    status: 400,
  },
  {
    name: 'control byte in a header value',
    request: `GET / HTTP/1.1\r\n${H}X: a\x0bb\r\n\r\n`,
    status: 400,
  },
  {
    name: 'DEL in a header value',
    request: `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`,
    status: 400,
  },
  {
    name: 'NUL in a header name',
    request: `GET / HTTP/1.1\r\n${H}X\0Y: b\r\n\r\n`,
    status: 400,
  },
  {
    name: 'empty header name',
    request: `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`,
    status: 400,
  },
  {
    name: 'control byte in the request target',
    request: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'invalid method token',
    request: `G@T / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'request line without version (HTTP/0.9)',
    request: 'GET /\r\n\r\n',
    status: 400,
  },
  {
    name: 'HTTP/0.9 version',
    request: 'GET / HTTP/0.9\r\n\r\n',
    status: 400,
  },
  {
    name: 'HTTP/1.2 version',
    request: `GET / HTTP/1.2\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'HTTP/2.0 version on an HTTP/1 connection',
    request: 'GET / HTTP/2.0\r\n\r\n',
    status: 400,
  },
  {
    name: 'HTTP/1.1 without Host',
    request: 'GET / HTTP/1.1\r\nX: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'two Host fields',
    request: `GET / HTTP/1.1\r\n${H}Host: b.example\r\n\r\n`,
    status: 400,
  },
  {
    name: 'Host with a space',
    request: 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
    status: 400,
  },
  {
    name: 'Host with userinfo-like characters',
    request: 'GET / HTTP/1.1\r\nHost: a.example/evil\r\n\r\n',
    status: 400,
  },
  {
    name: 'absolute-form target with a non-HTTP scheme',
    request: `GET ftp://a.example/x HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'absolute-form target with userinfo',
    request: `GET http://user@a.example/x HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'asterisk-form target outside OPTIONS',
    request: `GET * HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'CONNECT (no CONNECT route)',
    request: 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n',
    status: 404,
  },
  {
    name: 'Upgrade: websocket (upgrade not configured)',
    request: `GET / HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    status: 403,
  },
  {
    name: 'HTTP/1.0 refused (accept_http_10 false)',
    request: 'GET / HTTP/1.0\r\n\r\n',
    status: 426,
  },
  {
    name: 'invalid chunk size',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'chunk size with 0x prefix',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'chunk size overflowing 64 bits',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'space after the chunk size',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'bare LF after the chunk size',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'bare LF inside a chunk extension',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'control byte in a chunk extension',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'oversized chunk-size line',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;${'x'.repeat(5000)}\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'chunk data longer than its size',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  {
    name: 'obs-fold in a trailer',
    request: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n`,
    status: 400,
    afterHead: true,
  },
  // Served, not refused: Envoy's answers (conn_manager_impl.cc, http1/codec_impl.cc).
  {
    // proxy_100_continue defaults to false: the proxy answers 100 itself and removes Expect, so
    // the next hop never sends an interim response of its own into the stream.
    name: 'Expect: 100-continue answered by the proxy, not forwarded',
    request: `PUT /continue HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata`,
    status: 200,
    forwarded: [
      {
        method: 'PUT',
        path: '/continue',
        authority: 'a.example',
        body: 'data',
        absent: ['expect'],
      },
    ],
    responses: [{ status: 100 }, { status: 200 }],
  },
  {
    // accept_http_10: a keep-alive HTTP/1.0 request keeps the connection when the response has a
    // length (Envoy adds `connection: keep-alive`); the next, without keep-alive, closes it.
    name: 'HTTP/1.0 keep-alive honoured with Content-Length',
    request: `GET /ten-a HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\nGET /ten-b HTTP/1.0\r\n${H}\r\n`,
    status: 200,
    forwarded: [
      { method: 'GET', path: '/ten-a', authority: 'a.example', body: '' },
      { method: 'GET', path: '/ten-b', authority: 'a.example', body: '' },
    ],
    responses: [
      { status: 200, connection: 'keep-alive', contentLength: true },
      { status: 200, connection: 'close' },
    ],
  },
  {
    // RFC 9112 §3.2.2: the target's authority replaces Host; routed by it, sent in origin form.
    name: 'absolute-form target routed by its authority, forwarded in origin form',
    request:
      'GET http://absolute.example/abs?x=1 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n',
    status: 200,
    forwarded: [{ method: 'GET', path: '/abs?x=1', authority: 'absolute.example', body: '' }],
    responses: [{ status: 200 }],
  },
  {
    // A request is parsed only after the one before it is answered; after the 400 nothing more
    // is read and the connection closes, so /after is never processed.
    name: 'pipelined requests after an error are not processed',
    request: `GET /ok HTTP/1.1\r\n${H}\r\nGET /bad HTTP/1.1\r\n${H}X: a\x01b\r\n\r\nGET /after HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    forwarded: [{ method: 'GET', path: '/ok', authority: 'a.example', body: '' }],
    responses: [{ status: 200 }, { status: 400, connection: 'close' }],
  },
];
