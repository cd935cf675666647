import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseHostPort } from './net.js';

void describe('formatHostPort', () => {
  const cases: ReadonlyArray<[host: string, port: number, expected: string]> = [
    ['127.0.0.1', 8080, '127.0.0.1:8080'],
    ['backend.example', 443, 'backend.example:443'],
    ['::1', 80, '[::1]:80'],
    ['2001:db8::7', 0, '[2001:db8::7]:0'],
    ['[::1]', 80, '[::1]:80'],
    ['', 9000, ':9000'],
  ];
  for (const [host, port, expected] of cases) {
    void test(`${host || '(empty)'} ${port} → ${expected}`, () => {
      assert.equal(formatHostPort(host, port), expected);
    });
  }

  void test('parseHostPort reads back what formatHostPort writes', () => {
    for (const host of ['10.0.0.1', 'example.com', '::1', 'fe80::1']) {
      assert.deepEqual(parseHostPort(formatHostPort(host, 1234), '--x'), { host, port: 1234 });
    }
  });
});
