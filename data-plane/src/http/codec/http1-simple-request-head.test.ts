/**
 * http1-simple-request-head.ts: the heads it takes are read exactly as llhttp reads them (a
 * differential test over mutated heads), and everything else is left to llhttp.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1HeadParser } from './http1-parser.js';
import { Http1SimpleRequestHead } from './http1-simple-request-head.js';
import { mutatedHeads } from '../../test-support/head-mutations.js';

const MAX = 16 * 1024;

function simple(text: string, max = MAX): Http1SimpleRequestHead | number {
  const head = new Http1SimpleRequestHead();
  const length = head.parse(Buffer.from(text, 'latin1'), 0, max);
  return length < 0 ? length : head;
}

/** llhttp's reading of `bytes`, or undefined when it refuses them or wants more. */
function llhttp(bytes: Buffer): { length: number; parser: Http1HeadParser } | undefined {
  const parser = new Http1HeadParser('request');
  parser.begin(MAX);
  const result = parser.execute(bytes);
  const read = typeof result === 'number' && parser.headComplete ? result : undefined;
  parser.close();
  return read === undefined ? undefined : { length: read, parser };
}

test('a typical GET: method, target, version, fields as received, keep-alive', () => {
  const head = simple(
    'GET /a/b?c=d%20e HTTP/1.1\r\nHost: example.com:8080\r\nX-Empty:\r\nAccept:\t*/*\r\n' +
      'User-Agent: curl/8.0 (x)\r\n\r\nnext',
  );
  assert.ok(typeof head !== 'number');
  assert.equal(head.method, 'GET');
  assert.equal(head.url, '/a/b?c=d%20e');
  assert.equal(head.versionMinor, 1);
  assert.equal(head.upgrade, false);
  assert.equal(head.shouldKeepAlive, true);
  assert.deepEqual(head.rawHeaders, [
    'Host',
    'example.com:8080',
    'X-Empty',
    '',
    'Accept',
    '*/*',
    'User-Agent',
    'curl/8.0 (x)',
  ]);
});

test('the length returned is where the next message starts, also at an offset', () => {
  const first = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
  const bytes = Buffer.from(`${first}${first}`, 'latin1');
  const head = new Http1SimpleRequestHead();
  assert.equal(head.parse(bytes, 0, MAX), first.length);
  assert.equal(head.parse(bytes, first.length, MAX), first.length);
});

test('keep-alive as llhttp reads it: Connection close / keep-alive by version', () => {
  const cases: [string, boolean][] = [
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', false],
    ['GET / HTTP/1.0\r\nHost: a\r\n\r\n', false],
    ['GET / HTTP/1.0\r\nHost: a\r\nconnection: Keep-Alive\r\n\r\n', true],
    // llhttp: on HTTP/1.0 keep-alive wins over close.
    ['GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n', true],
    ['GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n', false],
  ];
  for (const [text, keepAlive] of cases) {
    const head = simple(text);
    assert.ok(typeof head !== 'number', text);
    assert.equal(head.shouldKeepAlive, keepAlive, text);
    assert.equal(llhttp(Buffer.from(text))!.parser.shouldKeepAlive, keepAlive, text);
  }
});

test('anything beyond the simple form is left to llhttp', () => {
  const cases = [
    'GET / HTTP/1.1\r\nHost: a\r\n', // incomplete
    'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n',
    'get / HTTP/1.1\r\n\r\n',
    'GET * HTTP/1.1\r\n\r\n',
    'GET http://a/ HTTP/1.1\r\n\r\n',
    'GET /a|b HTTP/1.1\r\n\r\n',
    'GET /a#b HTTP/1.1\r\n\r\n',
    'GET / HTTP/2.0\r\n\r\n',
    'GET / HTTP/1.1\n\r\n',
    'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a \r\n\r\n',
    'GET / HTTP/1.1\r\nHost: caf\u00e9\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n',
    'POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc',
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nConnection: keep-alive, te\r\n\r\n',
  ];
  for (const text of cases) assert.equal(simple(text), -1, JSON.stringify(text));
  // Over the limit: llhttp answers it (431).
  assert.equal(simple('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 20), -1);
});

test('differential: every head the fast path takes, llhttp takes and reads the same way', () => {
  const bases = [
    'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /x/y?z=1&w=%41 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-A: b c\td\r\n\r\n',
    'HEAD /a HTTP/1.0\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n',
    'DELETE /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    "OPTIONS /!$&'()*+,;=:@[]~._- HTTP/1.1\r\nHost: a\r\n\r\n",
  ];
  // Bytes that stress the boundaries of the simple form.
  const alphabet = [
    ' ',
    '\t',
    '\r',
    '\n',
    ':',
    '/',
    '?',
    '#',
    '%',
    '"',
    '<',
    '|',
    '{',
    '\\',
    '^',
    '`',
    '\0',
    '\x7f',
    '\x80',
    '\xff',
    'a',
    'Z',
    '0',
    ',',
    '(',
    '@',
    'HTTP/1.1',
    '\r\n',
    'Connection: ',
    'Content-Length: 0',
    'Upgrade: x',
  ];
  let taken = 0;
  for (const text of mutatedHeads(20261207, bases, alphabet, 20000)) {
    const bytes = Buffer.from(text, 'latin1');
    const head = new Http1SimpleRequestHead();
    const length = head.parse(bytes, 0, MAX);
    if (length < 0) continue;
    taken++;
    const reference = llhttp(bytes);
    const where = JSON.stringify(text);
    assert.ok(reference !== undefined, `llhttp refuses what the fast path took: ${where}`);
    const parser = reference.parser;
    assert.equal(length, reference.length, where);
    assert.equal(head.method, parser.method, where);
    assert.equal(head.url, parser.url, where);
    assert.equal(head.versionMajor, parser.versionMajor, where);
    assert.equal(head.versionMinor, parser.versionMinor, where);
    assert.deepEqual(head.rawHeaders, parser.rawHeaders, where);
    assert.equal(head.upgrade, parser.upgrade, where);
    assert.equal(head.shouldKeepAlive, parser.shouldKeepAlive, where);
  }
  // The mutations must leave enough heads simple for the comparison to mean something.
  assert.ok(taken > 2000, `only ${taken} heads took the fast path`);
});
