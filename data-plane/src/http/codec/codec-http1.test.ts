import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseHeaderMap, HeaderMap } from '../header-map.js';
import {
  eventually,
  parseResponses,
  RawClient,
  startHttp1Server,
  type CodecServer,
  assertServed,
  type RecordedStream,
} from './codec-test-fixtures.js';
import { SMUGGLING_VECTORS } from '@ferry/shared/testing/http1-smuggling-vectors';

const servers: CodecServer[] = [];
after(async () => {
  for (const server of servers) await server.close();
});

async function server(settings: Parameters<typeof startHttp1Server>[0] = {}): Promise<CodecServer> {
  const started = await startHttp1Server(settings);
  servers.push(started);
  return started;
}

/** Sends `request` on a new connection and waits for the server to close it. */
async function exchange(srv: CodecServer, request: string | Buffer): Promise<RawClient> {
  const client = await RawClient.connect(srv.port);
  client.write(request);
  await client.untilClosed();
  return client;
}

for (const vector of SMUGGLING_VECTORS) {
  if (vector.forwarded !== undefined) {
    const forwarded = vector.forwarded;
    test(`serves ${vector.name}: forwards ${forwarded.length}, answers ${vector.responses!.map((r) => r.status).join(', ')}`, async () => {
      const srv = await server();
      const client = await exchange(srv, vector.request);
      assertServed(vector, client.text, srv.streams);
    });
    continue;
  }
  test(`rejects ${vector.name} with ${vector.status}${vector.afterHead ? ' (stream reset)' : ', no stream'}`, async () => {
    const srv = await server({
      acceptHttp10: vector.name.includes('HTTP/1.0 refused') ? false : undefined,
    });
    const client = await exchange(srv, vector.request);
    const responses = parseResponses(client.text);
    assert.equal(responses.length, 1, client.text);
    assert.equal(responses[0]!.status, vector.status, client.text);
    assert.equal(responses[0]!.headers.connection, 'close');
    if (vector.afterHead) {
      // The head was valid: its stream existed and was reset, and never saw the end of its body.
      assert.equal(srv.streams.length, 1);
      assert.equal(srv.streams[0]!.reset, 'connection-error');
      assert.equal(srv.streams[0]!.ended, false);
    } else {
      assert.equal(srv.streams.length, 0, 'a rejected request must not become a stream');
      assert.deepEqual(srv.protocolErrors, [vector.status]);
    }
  });
}

test('a request with nothing wrong goes through (control for the vector table)', async () => {
  const srv = await server();
  const client = await exchange(
    srv,
    'POST /p?q=1 HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
  );
  const [response] = parseResponses(client.text);
  assert.equal(response!.status, 200);
  assert.equal(response!.body, 'POST a.example /p?q=1 3');
});

test('keep-alive: two requests on one connection, hop-by-hop fields removed, Host moved to authority', async () => {
  const srv = await server();
  const client = await RawClient.connect(srv.port);
  client.write(
    'GET /one HTTP/1.1\r\nHost: a.example:8080\r\nConnection: keep-alive, X-Nominated\r\nX-Nominated: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: gzip\r\nX-Kept: yes\r\n\r\n',
  );
  await client.until((c) => parseResponses(c.text).length === 1, 'the first response');
  client.write('GET /two HTTP/1.1\r\nHost: b\r\nTE: trailers\r\n\r\n');
  await client.until((c) => parseResponses(c.text).length === 2, 'the second response');
  assert.equal(client.closed, false);
  const [first, second] = srv.streams;
  assert.equal(first!.head.authority, 'a.example:8080');
  assert.deepEqual(first!.head.toFlat(), ['x-kept', 'yes']);
  assert.deepEqual(second!.head.toFlat(), ['te', 'trailers']);
  assert.equal(first!.endStreamAtHead, true);
  client.destroy();
});

test('pipelined requests are processed one at a time, in order', async () => {
  const srv = await server();
  const held: RecordedStream[] = [];
  srv.onStream = (stream) => {
    stream.onEnd = (s) => held.push(s);
  };
  const client = await RawClient.connect(srv.port);
  client.write(
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
  );
  await eventually(() => held.length === 1, 'the first stream');
  // The second request waits for the first response.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(srv.streams.length, 1);
  const answer = (stream: RecordedStream, body: string): void => {
    const headers = new ResponseHeaderMap(200);
    headers.append('content-length', String(body.length));
    stream.encoder.encodeHeaders(headers, false);
    stream.encoder.encodeData(Buffer.from(body), true);
  };
  answer(held[0]!, 'first');
  await eventually(() => held.length === 2, 'the second stream');
  assert.equal(held[1]!.bodyText, 'hi');
  answer(held[1]!, 'second');
  await eventually(() => held.length === 3, 'the third stream');
  answer(held[2]!, 'third');
  await client.until((c) => parseResponses(c.text).length === 3, 'three responses');
  assert.deepEqual(
    parseResponses(client.text).map((r) => r.body),
    ['first', 'second', 'third'],
  );
  client.destroy();
});

test('HEAD: no body on the wire whatever the encoder is given, Content-Length kept', async () => {
  const srv = await server();
  srv.onStream = (stream) => {
    stream.onEnd = (s) => {
      const headers = new ResponseHeaderMap(200);
      headers.append('content-length', '5');
      s.encoder.encodeHeaders(headers, false);
      s.encoder.encodeData(Buffer.from('hello'), true);
    };
  };
  const client = await RawClient.connect(srv.port);
  client.write('HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await client.until((c) => parseResponses(c.text, new Set([0])).length === 2, 'two responses');
  const [head, get] = parseResponses(client.text, new Set([0]));
  assert.equal(head!.headers['content-length'], '5');
  assert.equal(get!.body, 'hello');
  assert.equal(client.text.split('hello').length, 2, 'the HEAD response carried no body');
  client.destroy();
});

test('204 and 304 carry no body; 204 no Content-Length', async () => {
  const srv = await server();
  let status = 204;
  srv.onStream = (stream) => {
    stream.onEnd = (s) => {
      const headers = new ResponseHeaderMap(status);
      headers.append('content-length', '3');
      s.encoder.encodeHeaders(headers, false);
      s.encoder.encodeData(Buffer.from('abc'), true);
    };
  };
  const client = await RawClient.connect(srv.port);
  client.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await client.until((c) => parseResponses(c.text).length === 1, 'the 204');
  status = 304;
  client.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await client.until((c) => parseResponses(c.text).length === 2, 'the 304');
  const [noContent, notModified] = parseResponses(client.text);
  assert.equal(noContent!.headers['content-length'], undefined);
  assert.equal(notModified!.headers['content-length'], '3');
  assert.equal(client.text.includes('abc'), false);
  client.destroy();
});

test('chunked both ways: request body and trailers decoded, response chunked with trailers', async () => {
  const srv = await server();
  srv.onStream = (stream) => {
    stream.onEnd = (s) => {
      s.encoder.encodeHeaders(new ResponseHeaderMap(200), false);
      s.encoder.encodeData(Buffer.from(`got ${s.bodyText}`), false);
      s.encoder.encodeData(Buffer.from('!'), false);
      const trailers = new HeaderMap();
      trailers.append('x-checksum', 'abc');
      s.encoder.encodeTrailers(trailers);
    };
  };
  const client = await RawClient.connect(srv.port);
  client.write('POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
  client.write('5;name=value\r\nhello\r\n');
  client.write('6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n');
  await client.until((c) => parseResponses(c.text).length === 1, 'the response');
  const [response] = parseResponses(client.text);
  assert.equal(response!.headers['transfer-encoding'], 'chunked');
  assert.equal(response!.body, 'got hello world!');
  assert.deepEqual(response!.trailers, { 'x-checksum': 'abc' });
  assert.equal(srv.streams[0]!.trailers?.get('x-sum'), '42');
  assert.equal(srv.streams[0]!.head.has('transfer-encoding'), false);
  client.destroy();
});

test('HTTP/1.0: close-delimited by default, keep-alive only when asked', async () => {
  const srv = await server();
  srv.onStream = (stream) => {
    stream.onEnd = (s) => {
      s.encoder.encodeHeaders(new ResponseHeaderMap(200), false);
      s.encoder.encodeData(Buffer.from('streamed'), true);
    };
  };
  const plain = await exchange(srv, 'GET / HTTP/1.0\r\n\r\n');
  const [closeDelimited] = parseResponses(plain.text);
  assert.equal(closeDelimited!.headers.connection, 'close');
  assert.equal(closeDelimited!.headers['transfer-encoding'], undefined);
  assert.equal(closeDelimited!.body, 'streamed');

  srv.onStream = undefined;
  const keepAlive = await RawClient.connect(srv.port);
  keepAlive.write('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  await keepAlive.until((c) => parseResponses(c.text).length === 1, 'the response');
  assert.equal(parseResponses(keepAlive.text)[0]!.headers.connection, 'keep-alive');
  keepAlive.write('GET /b HTTP/1.0\r\n\r\n');
  await keepAlive.untilClosed();
  assert.equal(parseResponses(keepAlive.text).length, 2);
});

test('Expect: 100-continue is answered by the codec and not forwarded', async () => {
  const srv = await server();
  const client = await RawClient.connect(srv.port);
  client.write('PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  await client.until((c) => c.text.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue');
  client.write('data');
  await client.until((c) => parseResponses(c.text).length === 1, 'the final response');
  assert.equal(parseResponses(client.text)[0]!.body, 'PUT a /x 4');
  assert.equal(srv.streams[0]!.head.has('expect'), false);
  client.destroy();
});

test('absolute-form target: authority and path come from the URL', async () => {
  const srv = await server();
  const client = await exchange(
    srv,
    'GET http://Origin.example:8443/p/q?x=1 HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n',
  );
  assert.equal(parseResponses(client.text)[0]!.status, 200);
  assert.equal(srv.streams[0]!.head.authority, 'Origin.example:8443');
  assert.equal(srv.streams[0]!.head.path, '/p/q?x=1');
});

test('CONNECT and Upgrade are handed over with the socket and the bytes after the head', async () => {
  const srv = await server();
  const handed: { authority: string; upgrade: string | undefined; rest: string }[] = [];
  srv.upgrade = (head, socket, rest) => {
    handed.push({ authority: head.authority, upgrade: head.get('upgrade'), rest: rest.toString() });
    socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\nraw');
  };
  const ws = await exchange(
    srv,
    'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe',
  );
  assert.equal(ws.text, 'HTTP/1.1 101 Switching Protocols\r\n\r\nraw');
  await exchange(srv, 'CONNECT b.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n');
  assert.deepEqual(handed, [
    { authority: 'a', upgrade: 'websocket', rest: 'frame' },
    { authority: 'b.example:443', upgrade: undefined, rest: '' },
  ]);
  assert.equal(srv.streams.length, 0);
});

test('Upgrade: h2c is ignored and the request served as HTTP/1.1', async () => {
  const srv = await server();
  const client = await exchange(
    srv,
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: close\r\n\r\n',
  );
  assert.equal(parseResponses(client.text)[0]!.status, 200);
  assert.deepEqual(srv.streams[0]!.head.toFlat(), []);
});

test('backpressure: encodeData reports the write watermark and the drain follows', async () => {
  const srv = await server({ bufferLimitBytes: 64 * 1024 });
  let refused = 0;
  srv.onStream = (stream) => {
    stream.onEnd = (s) => {
      const headers = new ResponseHeaderMap(200);
      headers.append('content-length', String(64 * 1024 * 64));
      s.encoder.encodeHeaders(headers, false);
      const chunk = Buffer.alloc(64 * 1024, 97);
      let sent = 0;
      const pump = (): void => {
        while (sent < 64) {
          sent++;
          if (!s.encoder.encodeData(chunk, sent === 64)) {
            refused++;
            return;
          }
        }
      };
      s.onBelowWatermark = pump;
      pump();
    };
  };
  const client = await RawClient.connect(srv.port);
  client.socket.pause();
  client.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
  await eventually(() => refused > 0, 'encodeData to refuse more');
  client.socket.resume();
  await client.until((c) => parseResponses(c.text).length === 1, 'the whole body', 20_000);
  assert.equal(parseResponses(client.text)[0]!.body.length, 64 * 1024 * 64);
  assert.ok(srv.streams[0]!.belowWatermark >= refused);
  client.destroy();
});

test('readDisable pauses the request body until re-enabled', async () => {
  const srv = await server();
  let violations = 0;
  let disabled = false;
  srv.onStream = (stream) => {
    stream.onData = (s) => {
      if (disabled) violations++;
      if (s.body.length === 1) {
        disabled = true;
        s.encoder.readDisable(true);
      }
    };
  };
  const total = 8 * 1024 * 1024;
  const client = await RawClient.connect(srv.port);
  client.write(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
  client.write(Buffer.alloc(total, 98));
  await eventually(() => disabled, 'the first body chunk');
  // Bytes arrived and are held in the socket: proof that reading paused, not just slowed.
  await eventually(() => srv.sockets[0]!.readableLength > 0, 'held bytes');
  assert.equal(violations, 0);
  disabled = false;
  srv.streams[0]!.encoder.readDisable(false);
  await client.until((c) => parseResponses(c.text).length === 1, 'the response', 20_000);
  assert.equal(parseResponses(client.text)[0]!.body, `POST a /up ${total}`);
  client.destroy();
});

test('readDisable holds the rest of a chunk already read and delivers it when re-enabled', async () => {
  const srv = await server();
  let disabledAt = -1;
  srv.onStream = (stream) => {
    stream.onData = (s) => {
      if (disabledAt < 0) {
        disabledAt = s.body.length;
        s.encoder.readDisable(true);
      }
    };
  };
  const client = await RawClient.connect(srv.port);
  // One write: the second chunk and a pipelined request arrive with the first chunk.
  client.write(
    'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n',
  );
  await eventually(() => disabledAt === 1, 'the first chunk');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(srv.streams[0]!.bodyText, 'abc', 'nothing more while disabled');
  srv.streams[0]!.encoder.readDisable(false);
  await client.until((c) => parseResponses(c.text).length === 2, 'both responses');
  assert.deepEqual(
    parseResponses(client.text).map((r) => r.body),
    ['POST a /c 6', 'GET a /next 0'],
  );
  client.destroy();
});

test('request_headers_timeout: a slow head gets 408 and no stream', async () => {
  const srv = await server({ requestHeadersTimeoutMs: 100 });
  const client = await RawClient.connect(srv.port);
  client.write('GET / HTTP/1.1\r\nHost: a\r\n');
  await client.untilClosed();
  assert.equal(parseResponses(client.text)[0]!.status, 408);
  assert.equal(srv.streams.length, 0);
  assert.deepEqual(srv.protocolErrors, [408]);
});

test('idle_timeout closes a keep-alive connection with no stream, not one with a stream', async () => {
  const srv = await server({ idleTimeoutMs: 100 });
  let held: RecordedStream | undefined;
  srv.onStream = (stream) => {
    stream.onEnd = (s) => (held = s);
  };
  const client = await RawClient.connect(srv.port);
  client.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await eventually(() => held !== undefined, 'the stream');
  // A second connection, opened later and never used, is closed by its idle timeout: by then
  // the first connection's timer would have fired too had the stream not stopped it.
  const idle = await RawClient.connect(srv.port);
  await idle.untilClosed();
  assert.equal(idle.text, '');
  assert.equal(client.closed, false);
  srv.onStream = undefined;
  const headers = new ResponseHeaderMap(200);
  headers.append('content-length', '0');
  held!.encoder.encodeHeaders(headers, true);
  await client.untilClosed();
  assert.equal(parseResponses(client.text).length, 1);
});

test('maxRequestHeadersBytes and maxHeadersCount give 431', async () => {
  const srv = await server({ maxRequestHeadersBytes: 1024, maxHeadersCount: 5 });
  const big = await exchange(srv, `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(2000)}\r\n\r\n`);
  assert.equal(parseResponses(big.text)[0]!.status, 431);
  const many = await exchange(
    srv,
    `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 6 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
  );
  assert.equal(parseResponses(many.text)[0]!.status, 431);
  assert.equal(srv.streams.length, 0);
});

test('closeConnectionAfterResponse and close(): connection: close, then FIN', async () => {
  const srv = await server();
  srv.onStream = (stream) => {
    stream.onEnd = (s) => {
      s.encoder.closeConnectionAfterResponse();
      const headers = new ResponseHeaderMap(200);
      headers.append('content-length', '0');
      s.encoder.encodeHeaders(headers, true);
    };
  };
  const client = await exchange(srv, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(parseResponses(client.text)[0]!.headers.connection, 'close');

  let held: RecordedStream | undefined;
  srv.onStream = (stream) => {
    stream.onEnd = (s) => (held = s);
  };
  const second = await RawClient.connect(srv.port);
  second.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await eventually(() => held !== undefined, 'the stream');
  const connection = srv.connections.at(-1)!;
  connection.close();
  connection.close();
  assert.equal(second.closed, false);
  held!.encoder.encodeHeaders(new ResponseHeaderMap(204), true);
  await second.untilClosed();
  assert.equal(parseResponses(second.text)[0]!.headers.connection, 'close');
});

test('destroy() resets the active stream (local-reset); idempotent', async () => {
  const srv = await server();
  srv.onStream = (stream) => {
    stream.onEnd = () => undefined;
  };
  const client = await RawClient.connect(srv.port);
  client.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await eventually(() => srv.streams.length === 1, 'the stream');
  srv.connections[0]!.destroy();
  srv.connections[0]!.destroy();
  await client.untilClosed();
  await eventually(() => srv.streams[0]!.reset !== undefined, 'the reset');
  assert.equal(srv.streams[0]!.reset, 'local-reset');
});

test('the client going away mid-body resets the stream (remote-close)', async () => {
  const srv = await server();
  const client = await RawClient.connect(srv.port);
  client.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial');
  await eventually(() => srv.streams.length === 1 && srv.streams[0]!.body.length > 0, 'the body');
  client.destroy();
  await eventually(() => srv.streams[0]!.reset !== undefined, 'the reset');
  assert.equal(srv.streams[0]!.reset, 'remote-close');
  assert.equal(srv.streams[0]!.ended, false);
});

test('a half-close after a complete request still gets the response', async () => {
  const srv = await server();
  const client = await RawClient.connect(srv.port);
  client.socket.end('GET /h HTTP/1.1\r\nHost: a\r\n\r\n');
  await client.untilClosed();
  assert.equal(parseResponses(client.text)[0]!.body, 'GET a /h 0');
});
