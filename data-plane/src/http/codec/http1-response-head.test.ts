/**
 * http1-response-head.ts: what it accepts (fields as received, OWS trimmed, keep-alive by version
 * and Connection), heads split at every byte, the size limit, and each malformed form rejected at
 * once (not after waiting for more bytes).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1HeadError, Http1HeadParser } from './http1-parser.js';
import { Http1ResponseHeadParser } from './http1-response-head.js';
import { mutatedHeads } from '../../test-support/head-mutations.js';

const HEAD =
  'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\nX-Empty:\r\nX-Ows: \t a b \t\r\n' +
  'X-Obs: caf\u00e9\r\n\r\n';
const FIELDS = [
  'Server',
  'nginx',
  'Content-Length',
  '3',
  'X-Empty',
  '',
  'X-Ows',
  'a b',
  'X-Obs',
  'caf\u00e9',
];

function parse(text: string, max = 16 * 1024): Http1ResponseHeadParser | Http1HeadError {
  const parser = new Http1ResponseHeadParser();
  parser.begin(max);
  const result = parser.execute(Buffer.from(text, 'latin1'));
  return result instanceof Http1HeadError ? result : parser;
}

test('a head in one read: status, fields as received, where the body starts', () => {
  const parser = new Http1ResponseHeadParser();
  parser.begin(16 * 1024);
  const data = Buffer.from(`${HEAD}abc`, 'latin1');
  assert.equal(parser.execute(data), HEAD.length);
  assert.equal(parser.headComplete, true);
  assert.equal(parser.statusCode, 200);
  assert.deepEqual(parser.rawHeaders, FIELDS);
  assert.equal(parser.shouldKeepAlive, true);
});

test('a head split at every byte, and fed one byte at a time, parses the same', () => {
  const data = Buffer.from(`${HEAD}abc`, 'latin1');
  for (let cut = 1; cut < HEAD.length; cut++) {
    const parser = new Http1ResponseHeadParser();
    parser.begin(16 * 1024);
    assert.equal(parser.execute(data.subarray(0, cut)), cut);
    assert.equal(parser.headComplete, false);
    assert.equal(parser.execute(data.subarray(cut)), HEAD.length - cut, `cut at ${cut}`);
    assert.equal(parser.headComplete, true);
    assert.deepEqual(parser.rawHeaders, FIELDS, `cut at ${cut}`);
  }
  const parser = new Http1ResponseHeadParser();
  parser.begin(16 * 1024);
  let fed = 0;
  while (!parser.headComplete) {
    assert.equal(parser.execute(data.subarray(fed, fed + 1)), 1);
    fed++;
  }
  assert.equal(fed, HEAD.length);
  assert.deepEqual(parser.rawHeaders, FIELDS);
});

test('the parser is reusable: begin() forgets the previous head, also one left incomplete', () => {
  const parser = new Http1ResponseHeadParser();
  parser.begin(16 * 1024);
  parser.execute(Buffer.from('HTTP/1.1 100 Continue\r\nX-A: 1\r\n'));
  parser.begin(16 * 1024);
  assert.equal(parser.execute(Buffer.from('HTTP/1.0 404 Not Found\r\n\r\n')), 26);
  assert.equal(parser.statusCode, 404);
  assert.deepEqual(parser.rawHeaders, []);
});

test('keep-alive: HTTP/1.1 unless Connection says close, HTTP/1.0 only with keep-alive', () => {
  const cases: [string, boolean][] = [
    ['HTTP/1.1 200 OK\r\n\r\n', true],
    ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', false],
    ['HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n', true],
    ['HTTP/1.0 200 OK\r\nCONNECTION: x, Keep-Alive\r\n\r\n', true],
  ];
  for (const [head, keepAlive] of cases) {
    const parser = parse(head);
    assert.ok(!(parser instanceof Http1HeadError), head);
    assert.equal(parser.shouldKeepAlive, keepAlive, head);
  }
});

test('status lines without a reason phrase, and with any reason bytes allowed', () => {
  for (const line of ['HTTP/1.1 204', 'HTTP/1.1 204 ', 'HTTP/1.1 204 No\tContent \u00ff']) {
    const parser = parse(`${line}\r\n\r\n`);
    assert.ok(!(parser instanceof Http1HeadError), line);
    assert.equal(parser.statusCode, 204);
  }
});

test('malformed heads are rejected at the offending byte, before the head ends', () => {
  const cases: [string, string][] = [
    ['HTTP/2.0 200 OK\r\n', 'HPE_INVALID_VERSION'],
    ['HTTP/1.2 200 OK\r\n', 'HPE_INVALID_VERSION'],
    ['http/1.1 200 OK\r\n', 'HPE_INVALID_VERSION'],
    ['HTTP/1.1  200 OK\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 20 OK\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 2000 OK\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 O\x01K\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\r\r\n', 'HPE_LF_EXPECTED'],
    ['HTTP/1.1 200 OK\r\nx-a: 1\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nx-a: 1\r\n 2\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nx-a : 1\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\n: 1\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nx(a): 1\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nx-a: a\0b\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nx-a: a\x7fb\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nx-a: 1\r\n\rx', 'HPE_LF_EXPECTED'],
  ];
  for (const [head, code] of cases) {
    const result = parse(head);
    assert.ok(result instanceof Http1HeadError, JSON.stringify(head));
    assert.equal(result.code, code, JSON.stringify(head));
    // Also when the offending byte arrives in a later read.
    const parser = new Http1ResponseHeadParser();
    parser.begin(16 * 1024);
    const bytes = Buffer.from(head, 'latin1');
    let error: unknown;
    for (let i = 0; i < bytes.length && error === undefined; i++) {
      const step = parser.execute(bytes.subarray(i, i + 1));
      if (step instanceof Http1HeadError) error = step;
    }
    assert.ok(error instanceof Http1HeadError, `byte by byte: ${JSON.stringify(head)}`);
    assert.equal(error.code, code, `byte by byte: ${JSON.stringify(head)}`);
  }
});

test('a head longer than the limit is refused, in one read or many; one at the limit passes', () => {
  const head = `HTTP/1.1 200 OK\r\nx-a: ${'a'.repeat(100)}\r\n\r\n`;
  const atLimit = parse(head, head.length);
  assert.ok(!(atLimit instanceof Http1HeadError));
  const over = parse(head, head.length - 1);
  assert.ok(over instanceof Http1HeadError);
  assert.equal(over.code, 'HPE_HEADER_OVERFLOW');
  // Incomplete and already over the limit: refused without waiting for the rest.
  const endless = parse(`HTTP/1.1 200 OK\r\nx-a: ${'a'.repeat(200)}`, 100);
  assert.ok(endless instanceof Http1HeadError);
  assert.equal(endless.code, 'HPE_HEADER_OVERFLOW');
  for (const max of [head.length - 1, head.length]) {
    const parser = new Http1ResponseHeadParser();
    parser.begin(max);
    const bytes = Buffer.from(`${head}body`);
    let result: number | Http1HeadError = 0;
    for (let at = 0; at < bytes.length && !parser.headComplete; at += 7) {
      result = parser.execute(bytes.subarray(at, at + 7));
      if (result instanceof Http1HeadError) break;
    }
    if (max < head.length) {
      assert.ok(result instanceof Http1HeadError, `max ${max}`);
      assert.equal(result.code, 'HPE_HEADER_OVERFLOW');
    } else {
      assert.equal(parser.headComplete, true, `max ${max}`);
      assert.equal(parser.rawHeaders[1], 'a'.repeat(100));
    }
  }
});

test('empty lines before the status line are skipped, in the same read or an earlier one', () => {
  const parser = new Http1ResponseHeadParser();
  parser.begin(16 * 1024);
  assert.equal(parser.execute(Buffer.from('\r\n\r\n')), 4);
  assert.equal(parser.execute(Buffer.from('\r\nHTTP/1.1 200 OK\r\nA: b\r\n\r\nbody')), 27);
  assert.equal(parser.headComplete, true);
  assert.deepEqual(parser.rawHeaders, ['A', 'b']);
});

test('differential: every head this parser accepts, llhttp accepts and reads the same way', () => {
  const bases = [
    'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\n\r\n',
    'HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\nX-A: b c\r\n\r\n',
    'HTTP/1.1 204 No Content\r\nX-E:\r\n\r\n',
  ];
  const alphabet = [
    ' ',
    '\t',
    '\r',
    '\n',
    ':',
    '\0',
    '\x7f',
    '\x80',
    '\xff',
    'a',
    '0',
    '9',
    ',',
    '(',
    'HTTP/1.1',
    '\r\n',
    'Connection: close',
    '1',
    '.',
  ];
  let accepted = 0;
  for (const text of mutatedHeads(7122026, bases, alphabet, 20000)) {
    const bytes = Buffer.from(`${text}abc`, 'latin1');
    const parser = new Http1ResponseHeadParser();
    parser.begin(16 * 1024);
    const length = parser.execute(bytes);
    if (typeof length !== 'number' || !parser.headComplete) continue;
    accepted++;
    const where = JSON.stringify(text);
    const reference = new Http1HeadParser('response');
    reference.begin(16 * 1024);
    const expected = reference.execute(bytes);
    reference.close();
    // A malformed Content-Length is the connection's to refuse (readFraming), not the parser's.
    if (expected instanceof Http1HeadError && expected.code === 'HPE_INVALID_CONTENT_LENGTH')
      continue;
    assert.equal(length, expected, where);
    assert.equal(parser.statusCode, reference.statusCode, where);
    assert.deepEqual(parser.rawHeaders, reference.rawHeaders, where);
    // llhttp also says no when the body must be read to the close, which the connection decides.
    if (reference.shouldKeepAlive) assert.equal(parser.shouldKeepAlive, true, where);
  }
  assert.ok(accepted > 2000, `only ${accepted} heads accepted`);
});
