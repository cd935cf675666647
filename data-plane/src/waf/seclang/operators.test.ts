import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { detectSqli, detectXss } from '../libinjection/index.js';
import { compileOperator, mayBeXss } from './operators.js';

const xssOperator = compileOperator('detectXSS', '', {
  detectors: { detectSqli, detectXss },
  readData: () => '',
});
const noCapture = { macroValue: () => '', setCapture: () => undefined };

/** A deterministic generator (xorshift32), so that a failure can be replayed. */
function generator(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Pieces of HTML and script that libinjection's XSS check looks at. */
const PIECES = [
  ' ',
  '\t',
  '\n',
  '\0',
  '"',
  "'",
  '`',
  '/',
  '>',
  '!--',
  '-->',
  '?',
  '%',
  '&',
  ';',
  ':',
  '(',
  ')',
  'a',
  'x',
  'on',
  'onerror',
  'onload',
  'style',
  'src',
  'href',
  'xmlns',
  'javascript:',
  'vbscript:',
  'data:',
  'alert(1)',
  'script',
  'svg',
  'img',
  'iframe',
  'DOCTYPE',
  '[if',
  'xml',
  'IMPORT',
  'ENTITY',
];

function randomInput(next: () => number, extra: readonly string[]): string {
  const pieces = [...PIECES, ...extra];
  let out = '';
  const n = 1 + Math.floor(next() * 12);
  for (let i = 0; i < n; i++) out += pieces[Math.floor(next() * pieces.length)];
  return out;
}

describe('@detectXSS', () => {
  test('input with neither < nor = is never flagged by libinjection, so it is not run on it', () => {
    const next = generator(0x9e3779b9);
    for (let i = 0; i < 20000; i++) {
      const input = randomInput(next, []);
      assert.equal(mayBeXss(input), false);
      assert.equal(detectXss(input), false, JSON.stringify(input));
    }
  });

  test('the operator answers as libinjection on any input', () => {
    const next = generator(0x12345678);
    let flagged = 0;
    for (let i = 0; i < 20000; i++) {
      const input = randomInput(next, ['<', '=', '</', '<!', '=']);
      const expected = detectXss(input);
      if (expected) flagged++;
      assert.equal(xssOperator.test(input, noCapture, false), expected, JSON.stringify(input));
    }
    // The inputs reach both verdicts.
    assert.ok(flagged > 100, `${flagged} flagged`);
    for (const attack of [
      '<script>alert(1)</script>',
      '" onmouseover="alert(1)',
      'x onerror=alert(1)',
    ])
      assert.equal(xssOperator.test(attack, noCapture, false), true, attack);
  });
});
