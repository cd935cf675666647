import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { compilePcre, translatePcre } from './regex.js';
import { compileWafSync, hostLoader, PersistentCollections, WafTransaction } from './index.js';
import { detectSqli, detectXss } from '../libinjection/index.js';

describe('PCRE translation', () => {
  test('inline caseless scopes become explicit alternatives', () => {
    assert.equal(translatePcre('(?i)ab', false).source, '[aA][bB]');
    assert.equal(translatePcre('a(?i:b)c', false).source, 'a(?:[bB])c');
    assert.equal(translatePcre('(?i)[a-c_]', false).source, '[a-cA-C_]');
    const re = compilePcre('(?i)select\\s+from').regex;
    assert.ok(re.test('SeLeCt \t FROM'));
    assert.ok(!re.test('selectfrom'));
  });

  test('possessive quantifiers and atomic groups keep their semantics', () => {
    // a++a never matches: the possessive run gives nothing back.
    assert.ok(!compilePcre('^a++a$').regex.test('aaa'));
    assert.ok(compilePcre('^a+a$').regex.test('aaa'));
    assert.ok(!compilePcre('^(?>a+)a$').regex.test('aaa'));
    assert.ok(compilePcre('^(?:\\s*+;)+$').regex.test(' ; ;'));
  });

  test('anchors, escapes, POSIX classes', () => {
    assert.ok(compilePcre('\\Aab\\z').regex.test('ab'));
    assert.ok(!compilePcre('\\Aab\\z').regex.test('ab\n'));
    assert.ok(compilePcre('ab\\Z').regex.test('ab\n'));
    assert.ok(compilePcre('^[[:digit:]]+$').regex.test('123'));
    assert.ok(compilePcre('\\x{41}\\e').regex.test('A\x1b'));
    // PCRE's \s is ASCII: no-break space (0xA0) is not a space.
    assert.ok(!compilePcre('a\\sb').regex.test('a\xa0b'));
  });

  test('what cannot be translated is refused', () => {
    for (const p of ['(?R)', 'a\\Kb', '(?(1)a|b)', '(*FAIL)', '(?x)a', '\\p{L}'])
      assert.throws(() => compilePcre(p), /is not supported/, p);
  });

  test('patterns without backreferences or lookaround run on the linear engine', () => {
    assert.equal(compilePcre('(a+)+b').linear, true);
    assert.equal(compilePcre('(?i)(?:union\\s+select)').linear, true);
    assert.equal(compilePcre('a(?=b)').linear, false);
  });
});

const CRS_INSTALLED = fs.existsSync('/usr/share/modsecurity-crs/rules');

describe(
  'bounded WAF time on pathological input',
  { skip: !CRS_INSTALLED && 'CRS not installed' },
  () => {
    test('one request with CRS stays bounded (printed, not asserted)', () => {
      const rs = compileWafSync('Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf', {
        loader: hostLoader,
        detectors: { detectSqli, detectXss },
      });
      const big = Number(process.env.WAF_PATHO_BYTES ?? 8_000);
      const cases: Array<[string, string]> = [
        ['a repeated', 'a'.repeat(big)],
        ['spaces and quotes', "' ".repeat(big / 2)],
        ['nested brackets', '('.repeat(big / 2) + ')'.repeat(big / 2)],
        ['script-ish', '<a '.repeat(big / 3)],
        ['comment openers', '/*'.repeat(big / 2)],
        ['url-encoded', '%41'.repeat(big / 3)],
        ['semicolons', ';'.repeat(big)],
      ];
      const rows: string[] = [];
      for (const [name, payload] of cases) {
        const tx = new WafTransaction(rs, new PersistentCollections(), 'On');
        const started = performance.now();
        tx.processRequestHeaders({
          method: 'POST',
          uri: '/submit',
          protocol: 'HTTP/1.1',
          headers: [
            ['Host', 'shop.example'],
            ['User-Agent', 'Mozilla/5.0'],
            ['Accept', '*/*'],
            ['Content-Type', 'application/x-www-form-urlencoded'],
          ],
          remoteAddr: '192.0.2.1',
          remotePort: 1,
          uniqueId: 'p',
        });
        tx.processRequestBody(Buffer.from(`v=${encodeURIComponent(payload)}`, 'latin1'));
        const ms = performance.now() - started;
        rows.push(
          `${name.padEnd(18)} ${String(payload.length).padStart(7)} B  ${ms.toFixed(1).padStart(8)} ms  score ${tx.anomalyScore}`,
        );
      }
      console.log(`WAF time per request (CRS PL1, one form argument):\n${rows.join('\n')}`);
    });
  },
);
