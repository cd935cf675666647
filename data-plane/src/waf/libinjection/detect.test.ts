import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { detectSqli, detectXss, toByteString } from './index.js';
import { REFERENCE_VERDICTS } from './fixtures/reference-verdicts.js';

describe('detectSqli / detectXss', () => {
  // [input, SQLi fingerprint or '' (none), XSS]; the verdicts are libinjection's.
  const table: ReadonlyArray<readonly [string, string, boolean]> = [
    // SQL injection
    ["1' OR '1'='1", 's&sos', false],
    ['1 UNION SELECT username, password FROM users', '1UEnk', false],
    ["' OR 1=1 --", 's&1c', false],
    ['1; DROP TABLE users', '1;Tnn', false],
    ["admin'--", 'sc', false],
    ['1 AND SLEEP(5)', '1&f(1', false],
    ["-1' UNION ALL SELECT NULL,NULL--", 'sUEvc', false],
    ['1) or (1=1', '1)&(1', false],
    ['" or ""="', 's&sos', false],
    ['1 or 1=1', '1&1', false],
    ['1/*!union*/select 1', 'X', false], // MySQL conditional comment
    // XSS
    ['<script>alert(1)</script>', '', true],
    ['<img src=x onerror=alert(1)>', '', true],
    ['<a href="javascript:alert(1)">x</a>', '', true],
    ['<a href=&#x6A;avascript:alert(1)>', '', true], // entity-encoded scheme
    ['<svg onload=alert(1)>', '', true],
    ['<iframe src=//evil>', '', true],
    ['"><script>alert(1)</script>', '', true],
    ["' onmouseover='alert(1)", '', true], // breaks out of a quoted attribute value
    ['<body style="background:url(x)">', '', true],
    // A bare scheme is not markup: libinjection flags `javascript:` only as a URL attribute value
    // (the Core Rule Set's regular-expression rules cover bare schemes).
    ['javascript:alert(1)', '', false],
    // Benign
    ["O'Brien", '', false],
    ["it's fine", '', false],
    ['1-2', '', false],
    ['$1-2', '', false],
    ['prices 1-2 EUR', '', false],
    ['john.doe@example.com', '', false],
    ['{"a":1,"b":[1,2],"c":"x"}', '', false],
    ['Hello, world!', '', false],
    ["rock 'n' roll", '', false],
    ['select a product from the list', '', false],
    ["I'd like 2 or 3", '', false],
    ['<b>bold</b> text', '', false],
    ['a < b and c > d', '', false],
    ['https://example.com/search?q=shoes&page=2', '', false],
    ['2024-01-02T03:04:05Z', '', false],
    ['the union of two sets', '', false],
    ['', '', false],
  ];

  test('attacks are detected and ordinary input is not', () => {
    for (const [input, fingerprint, xss] of table) {
      assert.deepEqual(
        detectSqli(input),
        { match: fingerprint !== '', fingerprint },
        `detectSqli(${JSON.stringify(input)})`,
      );
      assert.equal(detectXss(input), xss, `detectXss(${JSON.stringify(input)})`);
    }
  });

  test('verdicts agree with the libinjection bundled in ModSecurity 3.0.9', () => {
    let sqliAgree = 0;
    let xssAgree = 0;
    const disagreements: string[] = [];
    for (const [input, fingerprint, xss] of REFERENCE_VERDICTS) {
      const sqli = detectSqli(input);
      if (sqli.match === (fingerprint !== '') && sqli.fingerprint === fingerprint) sqliAgree++;
      else
        disagreements.push(`sqli ${JSON.stringify(input)}: ${fingerprint} vs ${sqli.fingerprint}`);
      if (detectXss(input) === xss) xssAgree++;
      else disagreements.push(`xss ${JSON.stringify(input)}: ${xss}`);
    }
    const total = REFERENCE_VERDICTS.length;
    const attacks = REFERENCE_VERDICTS.filter(([, f, x]) => f !== '' || x).length;
    console.log(
      `reference: ${total} inputs (${attacks} flagged by the reference); ` +
        `SQLi ${sqliAgree}/${total} agree, XSS ${xssAgree}/${total} agree`,
    );
    assert.deepEqual(disagreements, []);
  });

  test("libinjection's byte-level behaviour is kept (verdicts from the reference)", () => {
    // [input, SQLi fingerprint or '', XSS, why]
    const quirks: ReadonlyArray<readonly [string, string, boolean, string]> = [
      // The byte after a leading number is read at the number's length from the input's start,
      // as a signed char: 0xA0 there counts as white space, so `1 --` is SQLi.
      ['\xa0\xa01 --', '1c', false, 'signed byte after a number'],
      // An Oracle q-string delimiter must be ASCII above space; 0x80 makes `q` a word.
      ["x=q'\x80a\x80' union select 1,2--", '', false, 'q-string delimiter'],
      // Digit spans accept NUL (C's strchr finds its set's terminator).
      ['1 union select 0x4\x001,2/*', '1UE1c', false, 'NUL inside hex digits'],
      // A character reference above 0xFF is compared by its low byte: &#x14A; reads as 'J'.
      ['<a href=&#x14A;ava:alert(1)>', '', true, 'character reference low byte'],
      // Byte 0xFF where an attribute may start reads as the end of input.
      ['<a \xff onload=x>', '', false, '0xFF before an attribute'],
    ];
    for (const [input, fingerprint, xss, why] of quirks) {
      assert.deepEqual(detectSqli(input), { match: fingerprint !== '', fingerprint }, why);
      assert.equal(detectXss(input), xss, why);
    }
  });

  test('a match result is stable and frozen; no match is the same frozen object', () => {
    const first = detectSqli("1' OR '1'='1");
    assert.equal(detectSqli("2' OR '2'='2"), first);
    assert.ok(Object.isFrozen(first));
    assert.equal(detectSqli('hello'), detectSqli('world'));
    assert.ok(Object.isFrozen(detectSqli('hello')));
  });

  test('a byte string is read as is; a string with a char code above 0xFF as its UTF-8 bytes', () => {
    const latin1 = 'caf\xe9 1\xa0or\xa01=1';
    assert.equal(toByteString(latin1), latin1);
    const text = '\u2713 1\u00a0or\u00a01=1';
    const utf8 = Buffer.from(text, 'utf8').toString('latin1');
    assert.equal(toByteString(text), utf8);
    assert.deepEqual(detectSqli(text), detectSqli(utf8));
    // As bytes, 0xA0 is SQL whitespace; UTF-8 puts a 0xC2 (a word byte) before it.
    assert.deepEqual(detectSqli('1\xa0or\xa01=1'), { match: true, fingerprint: '1&1' });
    assert.equal(detectXss('<a on\u2713=1>'), true);
  });
});

describe('pathological input', () => {
  const K = 100 * 1024;
  // [name, input, SQLi fingerprint or '', XSS], verdicts from the reference.
  const cases: ReadonlyArray<readonly [string, string, string, boolean]> = [
    ['single quotes', "'".repeat(K), '', false],
    ['double quotes', '"'.repeat(K), '', false],
    ['backslashes then a quote', '\\'.repeat(K) + "'", '', false],
    ['nested comment openers', '/*'.repeat(K / 2), 'X', false],
    ['comment open-close runs', '/*/'.repeat(K / 3), 'X', false],
    ['parentheses', '('.repeat(K), '', false],
    ['arithmetic to fold', '1+'.repeat(K / 2), '', false],
    ['dashes', '-'.repeat(K), '', false],
    ['less-than signs', '<'.repeat(K), '', false],
    ['attributes', '<a ' + 'a=b '.repeat(K / 4), '', false],
    ['comment of dashes', '<!--' + '-'.repeat(K), '', false],
    ['comment dashes and NULs', '<!--' + ('-' + '\0'.repeat(100)).repeat(K / 101), '', false],
    ['character references', '<a href="' + '&#x'.repeat(K / 3) + '">', '', false],
    ['percent comment', '<%' + '%'.repeat(K), '', false],
    ['CDATA brackets', '<![CDATA[' + ']'.repeat(K), '', false],
  ];

  test('100 KiB inputs built to make a scanner backtrack are processed in one pass each', () => {
    for (const [name, input, fingerprint, xss] of cases) {
      const start = performance.now();
      const sqli = detectSqli(input);
      const xssVerdict = detectXss(input);
      const ms = performance.now() - start;
      console.log(`${name} (${input.length} bytes): ${ms.toFixed(2)} ms`);
      assert.deepEqual(sqli, { match: fingerprint !== '', fingerprint }, name);
      assert.equal(xssVerdict, xss, name);
    }
  });
});
