import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEncoding, type ChainCompressor } from './accept-encoding.js';

function compressor(encoding: string, types: string[], chooseFirst = false): ChainCompressor {
  return { encoding, chooseFirst, allows: (t) => types.includes(t) };
}

const TEXT = ['text/plain', 'text/html'];

test('Accept-Encoding decisions (Envoy chooseEncoding)', () => {
  const gzipThenBr = [compressor('gzip', TEXT), compressor('br', TEXT)];
  const table: Array<[accept: string, chain: ChainCompressor[], type: string, expected: string]> = [
    ['gzip', gzipThenBr, 'text/plain', 'gzip compressor'],
    ['GZip', gzipThenBr, 'text/plain', 'gzip compressor'],
    ['br;q=0.9, gzip;q=0.8', gzipThenBr, 'text/plain', 'br compressor'],
    ['gzip, br', gzipThenBr, 'text/plain', 'gzip compressor'],
    ['*', gzipThenBr, 'text/plain', 'gzip wildcard'],
    ['gzip;q=0, *', gzipThenBr, 'text/plain', 'br wildcard'],
    ['*;q=0, gzip', gzipThenBr, 'text/plain', 'gzip compressor'],
    ['gzip;q=0', gzipThenBr, 'text/plain', 'identity not_valid'],
    ['identity', gzipThenBr, 'text/plain', 'identity identity'],
    ['gzip;q=0.5, identity', gzipThenBr, 'text/plain', 'identity identity'],
    ['deflate', gzipThenBr, 'text/plain', 'identity not_valid'],
    ['', gzipThenBr, 'text/plain', 'identity not_valid'],
    ['gzip;q=high', gzipThenBr, 'text/plain', 'identity not_valid'],
    ['gzip;level=1', gzipThenBr, 'text/plain', 'gzip compressor'],
    ['gzip', gzipThenBr, 'image/png', 'identity not_valid'],
    ['gzip', gzipThenBr, '', 'gzip compressor'],
    [
      'br, gzip',
      [compressor('br', TEXT), compressor('gzip', TEXT, true)],
      'text/plain',
      'gzip compressor',
    ],
    [
      'gzip, br',
      [compressor('gzip', ['text/html']), compressor('br', TEXT)],
      'text/plain',
      'br compressor',
    ],
  ];
  for (const [accept, chain, type, expected] of table) {
    const decision = chooseEncoding(accept, chain, type);
    assert.equal(
      `${decision.encoding} ${decision.kind}`,
      expected,
      `${accept} (${type || 'no type'})`,
    );
  }
});
