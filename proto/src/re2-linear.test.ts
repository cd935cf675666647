import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkLinearRe2, compileLinearRe2, fullMatchLiteralPrefix } from './re2-linear.js';

/** A request head as the codecs decode it: UTF-8 bytes, one char per byte. */
function bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function full(pattern: string, input: string): boolean {
  return compileLinearRe2(pattern, { full: true }).test(bytes(input));
}

describe('compileLinearRe2: pathological patterns finish (a backtracking engine would not)', () => {
  // Each of these takes time exponential in the input length on a backtracking engine: at
  // these lengths, longer than the test file's timeout by many orders of magnitude.
  const cases: Array<[string, string, boolean]> = [
    ['(a+)+$', 'a'.repeat(5000) + '!', false],
    ['(a+)+$', 'a'.repeat(5000), true],
    ['(a|aa)*b', 'a'.repeat(5000), false],
    ['(a|aa)*b', 'a'.repeat(5000) + 'b', true],
    ['(x+x+)+y', 'x'.repeat(5000), false],
    ['(x+x+)+y', 'x'.repeat(5000) + 'y', true],
    ['(.*a){12}', 'a'.repeat(40) + 'b', false],
    ['(.*a){12}', 'a'.repeat(40), true],
    ['/(\\w+\\.?)+/$', '/' + 'a'.repeat(5000) + '!/', false],
  ];
  for (const [pattern, input, expected] of cases) {
    test(`${pattern} on ${input.length} chars → ${expected}`, () => {
      assert.equal(full(pattern, input), expected);
    });
  }

  test('search (regex_rewrite) over a crafted input also finishes', () => {
    const re = compileLinearRe2('(a+)+b', { global: true });
    assert.equal(('a'.repeat(5000) + 'c').replace(re, 'X'), 'a'.repeat(5000) + 'c');
    assert.equal('xaab'.replace(re, 'X'), 'xX');
  });
});

describe('compileLinearRe2: RE2 semantics', () => {
  const cases: Array<[string, string, boolean]> = [
    // Full match, leftmost-first alternation still tries the others for the anchored match.
    ['a|ab', 'ab', true],
    ['/api/v[0-9]+/users/[^/]+', '/api/v12/users/alice', true],
    ['/api/v[0-9]+/users/[^/]+', '/api/v12/users/alice/x', false],
    // `.` is anything but \n; (?s) includes it; \r is an ordinary char (unlike JS `.`).
    ['a.c', 'a\nc', false],
    ['(?s)a.c', 'a\nc', true],
    ['a.c', 'a\rc', true],
    // Negated classes match \n (RE2 ClassNL).
    ['a[^x]c', 'a\nc', true],
    // `.` and classes match one UTF-8 encoded code point.
    ['caf.', 'café', true],
    ['^.$', '😀', true],
    ['[^/]', 'é', true],
    ['[é-ê]', 'ê', true],
    ['\\x{1F600}', '😀', true],
    ['\\xe9', 'é', true],
    // ASCII Perl classes: \s has no \v, \d no other digits.
    ['\\s', '\v', false],
    ['\\s', '\f', true],
    ['\\d', '٣', false],
    ['\\w+', 'abc_9', true],
    // Case folding, including non-ASCII and the Kelvin sign.
    ['(?i)hello', 'HeLLo', true],
    ['(?i)CAFÉ', 'café', true],
    ['(?i)k', '\u212a', true],
    ['(?i:a)b', 'AB', false],
    ['(?i)[a-c]+', 'AbC', true],
    ['(?i)[^a]', 'A', false],
    ['(?U)a+', 'aaa', true],
    // Anchors and escapes.
    ['\\Aabc\\z', 'abc', true],
    ['\\Qa.b\\E', 'a.b', true],
    ['\\Qa.b\\E', 'axb', false],
    ['[[:alpha:]]+[[:digit:]]', 'abc1', true],
    ['[[:^alpha:]]', 'a', false],
    ['\\141', 'a', true],
    ['a{,3}', 'a{,3}', true],
    ['(?P<v>[0-9]+)\\.(?<w>[0-9]+)', '1.2', true],
    // Counted repetitions beyond the engine's native limit are unrolled.
    ['[0-9a-f]{32}', 'a'.repeat(32), true],
    ['[0-9a-f]{32}', 'a'.repeat(31), false],
    ['(?:[a-z]{1,8}\\.){1,4}com', 'a.bb.ccc.com', true],
    ['(?:[a-z]{1,8}\\.){1,4}com', 'a.b.c.d.e.com', false],
    ['x{3,}', 'x'.repeat(40), true],
    ['(ab){20}', 'ab'.repeat(20), true],
  ];
  for (const [pattern, input, expected] of cases) {
    test(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(input)}`, () => {
      assert.equal(full(pattern, input), expected);
    });
  }

  test('captures keep their numbers (regex_rewrite substitutions)', () => {
    const re = compileLinearRe2('^/v([0-9]+)/(?P<rest>.*)$');
    assert.deepEqual([...re.exec('/v12/users')!].slice(1), ['12', 'users']);
    const unrolled = compileLinearRe2('(x){20}(y)');
    assert.deepEqual([...unrolled.exec('x'.repeat(20) + 'y')!].slice(1), ['x', 'y']);
  });

  test('search and global RegExps always run on the linear engine', () => {
    for (const pattern of ['(a+)+$', '[^/]+', '(?i)x', '[0-9]{32}', '/api/.*']) {
      assert.ok(compileLinearRe2(pattern).flags.includes('l'), pattern);
      assert.ok(compileLinearRe2(pattern, { global: true }).flags.includes('l'), pattern);
    }
  });

  test('full matches leave the linear engine only when provably linear when backtracking', () => {
    const backtracking = [
      '/api/v[0-9]+/users/[^/]+',
      '/api/.*',
      '^/static/[a-z]+\\.js$',
      '/(?:v1)/[0-9]*x',
      '(?i)/users/[a-z0-9_]+',
      '/static/.*\\.js',
      '.*\\.(png|jpg)',
      '/[0-9]+/(?:a|bc)(d|e)',
    ];
    const linear = [
      '(a+)+$',
      '/x/.*/y.*z',
      '(a|ab)[a-z]*',
      '.*(a|)',
      '(?:a|b)(?:a|b)(?:a|b)(?:a|b)(?:a|b)(?:a|b)(?:a|b)',
      '[a-z]+[a-z0-9]*',
      '/[a-z]*[0-9]*[a-z]',
      'a+?b',
      '(?:ab)+',
      '[0-9]{32}',
      '\\bx',
    ];
    for (const p of backtracking)
      assert.ok(!compileLinearRe2(p, { full: true }).flags.includes('l'), p);
    for (const p of linear) assert.ok(compileLinearRe2(p, { full: true }).flags.includes('l'), p);
  });

  test('the provably linear class stays fast on crafted inputs', () => {
    const long = 'a'.repeat(200_000);
    assert.equal(full('/[a-z]+/[0-9]+', `/${long}/x`), false);
    assert.equal(full('/[a-z]*[0-9]*/', `/${long}`), false);
    assert.equal(full('/api/.*', `/api/${long}\n`), false);
    assert.equal(full('/api/.*', `/api/${long}`), true);
    assert.equal(full('/static/.*\\.js', `/static/${long}`), false);
    assert.equal(full('/static/.*\\.js', `/static/${long}.js`), true);
    assert.equal(full('.*\\.(png|jpg)', `/${long}.pn`), false);
    assert.equal(full('.*\\.(png|jpg)', `/${long}.jpg`), true);
  });
});

describe('checkLinearRe2: rejects with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['(a)\\1', /backreference \\1 is not supported/],
    ['(?=a)', /lookahead is not supported/],
    ['(?<!a)b', /lookbehind is not supported/],
    ['\\pL', /Unicode class \\p is not supported/],
    ['\\p{Greek}', /Unicode class/],
    ['(?m)^a$', /multi-line "\^"/],
    ['\\C', /\\C \(any byte\)/],
    ['a**', /bad repetition operator/],
    ['*a', /missing argument to repetition operator/],
    ['a{1001}', /bad repetition operator/],
    ['a{3,2}', /bad repetition operator/],
    ['(a', /missing closing \)/],
    ['a)', /unmatched "\)"/],
    ['[a', /missing closing \]/],
    ['[z-a]', /bad character class range/],
    ['\\e', /invalid escape sequence/],
    ['(?P<n>a)(?P<n>b)', /duplicate capture group name/],
    ['(a){2,20}', /capture group larger than 16/],
  ];
  for (const [pattern, reason] of cases) {
    test(`${JSON.stringify(pattern)}`, () => {
      assert.match(checkLinearRe2(pattern) ?? 'accepted', reason);
    });
  }

  test('accepts RE2 syntax', () => {
    for (const p of ['', '[]a]', '\\_', '^*', '(?i)(?-i:a)b', '(?s:.)', '[\\d\\-]', 'a|']) {
      assert.equal(checkLinearRe2(p), undefined, p);
    }
  });
});

describe('fullMatchLiteralPrefix', () => {
  const cases: Array<[string, string]> = [
    ['/api/v[0-9]+/users', '/api/v'],
    ['^/static/.*', '/static/'],
    ['/(a+)+$', '/a'],
    ['(?:/v1|/v2)/x', ''],
    ['(?i)/api', '/'],
    ['/caf\u00e9/x*', bytes('/caf\u00e9/')],
    ['/a?b', '/'],
    ['/\\Qa.b\\E.*', '/a.b'],
    ['\\b/x', ''],
  ];
  for (const [pattern, prefix] of cases) {
    test(`${JSON.stringify(pattern)} → ${JSON.stringify(prefix)}`, () => {
      assert.equal(fullMatchLiteralPrefix(pattern), prefix);
    });
  }

  test('every full match starts with the prefix', () => {
    const inputs = ['/api/v1/users', '/a', '/aaa', '/b', '/ab', '/static/x', '/v1/x', '/x'];
    for (const [pattern] of cases) {
      const prefix = fullMatchLiteralPrefix(pattern);
      for (const input of inputs.map(bytes)) {
        if (compileLinearRe2(pattern, { full: true }).test(input))
          assert.ok(input.startsWith(prefix), `${pattern} matched ${input}`);
      }
    }
  });
});
