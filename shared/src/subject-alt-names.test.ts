import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subjectAltNames } from './subject-alt-names.js';

test('subject alternative names as Node prints them, quoted values decoded', () => {
  assert.deepEqual(subjectAltNames(undefined), []);
  assert.deepEqual(
    subjectAltNames('DNS:a.example, URI:spiffe://ferry/group/web/node/web-1, IP Address:127.0.0.1'),
    [
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'spiffe://ferry/group/web/node/web-1' },
      { type: 'IP Address', value: '127.0.0.1' },
    ],
  );
  // A comma inside a URI is quoted by Node and must not split it into two names.
  assert.deepEqual(subjectAltNames('URI:"spiffe://x/a, DNS:evil", DNS:b'), [
    { type: 'URI', value: 'spiffe://x/a, DNS:evil' },
    { type: 'DNS', value: 'b' },
  ]);
});
