/**
 * Malformed and ambiguous HTTP/1.1 requests with the answer ferry-proxy gives (Envoy's, where
 * Envoy documents one), for the codec's unit tests and the proxy's end-to-end tests. A request
 * smuggling defence must refuse each of these before anything is forwarded; `afterHead` marks
 * those whose head is valid and whose body framing fails later (the stream exists and is reset).
 */
export interface SmugglingVector {
  readonly name: string;
  /** Latin-1 bytes on the wire; every one ends the request (no keep-alive follow-up needed). */
  readonly request: string;
  readonly status: number;
  readonly afterHead?: boolean;
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
];
