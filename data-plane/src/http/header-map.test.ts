import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap, copyForwardableHeaders } from './header-map.js';

test('copyForwardableHeaders drops hop-by-hop, host, pseudo-headers and nominated fields', () => {
  const into = new HeaderMap();
  copyForwardableHeaders(
    [
      'Host',
      'a.example',
      ':path',
      '/',
      'X-Drop',
      '1',
      'Connection',
      'keep-alive, X-Drop',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Accept',
      'text/html',
      'accept',
      'text/plain',
    ],
    into,
  );
  assert.deepEqual(into.toFlat(), [
    'te',
    'trailers',
    'accept',
    'text/html',
    'accept',
    'text/plain',
  ]);
});

test('copyForwardableHeaders drops te other than trailers', () => {
  const into = new HeaderMap();
  copyForwardableHeaders(['te', 'gzip', 'x-a', 'b'], into);
  assert.deepEqual(into.toFlat(), ['x-a', 'b']);
});

test('copyForwardableHeaders keeps header bytes of Buffer lists as they are (latin1)', () => {
  // Regression: decoding undici's Buffers as UTF-8 turned a non-ASCII byte into U+FFFD, which
  // Node then wrote back as a different byte.
  const into = new HeaderMap();
  copyForwardableHeaders([Buffer.from('X-Name'), Buffer.from([0x63, 0xe9])], into);
  assert.equal(Buffer.from(into.get('x-name')!, 'latin1').toString('hex'), '63e9');
});
