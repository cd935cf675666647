import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  compileWaf,
  compileWafSync,
  hostLoader,
  asyncHostLoader,
  WafCompileError,
} from './index.js';

const CRS_INSTALLED = fs.existsSync('/usr/share/modsecurity-crs/rules');
const CRS = 'Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf\n';
const detectors = {
  detectSqli: () => ({ match: false, fingerprint: '' }),
  detectXss: () => false,
};

describe('CRS 3.3.4 loads', { skip: !CRS_INSTALLED && 'modsecurity-crs is not installed' }, () => {
  test('every rule of crs-setup.conf and rules/*.conf compiles', () => {
    const started = performance.now();
    const rs = compileWafSync(CRS, { loader: hostLoader, detectors });
    const ms = performance.now() - started;
    let linear = 0;
    let backtracking = 0;
    for (const phase of rs.phases)
      for (const r of phase)
        for (let l: typeof r | undefined = r; l !== undefined; l = l.chain)
          if (l.operator.name === 'rx') {
            if (l.operator.linear) linear++;
            else backtracking++;
          }
    console.log(
      `CRS: ${rs.ruleCount} rules from ${Object.keys(rs.files).length} files in ${ms.toFixed(0)} ms; ` +
        `@rx linear ${linear}, backtracking ${backtracking}; warnings: ${rs.warnings.join('; ')}`,
    );
    // Rule ids in the Debian 3.3.4 files (SecRule/SecAction with an id, uncommented).
    const expected = countIds(Object.entries(rs.files));
    assert.equal(rs.ruleCount, expected);
    assert.ok(rs.ruleCount > 500);
    assert.deepEqual(rs.components, ['OWASP_CRS/3.3.4']);
  });

  test('compileWaf (async I/O) gives the same rule set', async () => {
    const a = await compileWaf(CRS, { ...asyncHostLoader, detectors });
    const b = compileWafSync(CRS, { loader: hostLoader, detectors });
    assert.equal(a.hash, b.hash);
    assert.equal(a.ruleCount, b.ruleCount);
  });

  test('without libinjection the detect operators are refused with file:line: rule id', () => {
    assert.throws(
      () => compileWafSync(CRS, { loader: hostLoader }),
      (err: unknown) =>
        err instanceof WafCompileError &&
        err.errors.some((e) =>
          /REQUEST-942-APPLICATION-ATTACK-SQLI\.conf:\d+: rule 942100: @detectSQLi is not supported/.test(
            e,
          ),
        ),
    );
  });
});

function countIds(files: Array<[string, string]>): number {
  let n = 0;
  for (const [, text] of files) {
    const joined = text.replace(/\\\r?\n/g, ' ');
    for (const line of joined.split('\n')) {
      const t = line.trim();
      if (!/^Sec(Rule|Action)\b/.test(t)) continue;
      if (/["',\s]id:\s*'?\d+/.test(t)) n++;
    }
  }
  return n;
}
