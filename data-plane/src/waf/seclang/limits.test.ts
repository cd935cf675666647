import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileWafSync,
  hostLoader,
  PersistentCollections,
  WafTransaction,
  DEFAULT_WAF_LIMITS,
  type CompiledRuleSet,
  type EngineMode,
  type WafLimits,
} from './index.js';

const rules = `
SecRule ARGS "@rx b$" "id:1,phase:1,deny,status:403,msg:'regex'"
SecRule ARGS "@contains c" "id:2,phase:1,deny,status:403,msg:'contains'"
SecRule ARGS "@rx ^x" "id:3,phase:1,deny,status:403,msg:'x'"
`;
const rs: CompiledRuleSet = compileWafSync(rules, { loader: hostLoader });

function run(query: string, limits: WafLimits, mode: EngineMode = 'On'): WafTransaction {
  const tx = new WafTransaction(rs, new PersistentCollections(), mode, limits);
  tx.processRequestHeaders({
    method: 'GET',
    uri: `/?${query}`,
    protocol: 'HTTP/1.1',
    headers: [['Host', 'example.com']],
    remoteAddr: '127.0.0.1',
    remotePort: 40000,
    uniqueId: 'u1',
  });
  return tx;
}

describe('WAF limits', () => {
  const long = 'a'.repeat(DEFAULT_WAF_LIMITS.regexInspectionBytes);

  test('@rx sees only the first regexInspectionBytes of a value; 0 lifts the limit', () => {
    assert.equal(run(`q=${long}b`, DEFAULT_WAF_LIMITS).intervention, undefined);
    assert.equal(run(`q=${long.slice(1)}b`, DEFAULT_WAF_LIMITS).intervention?.ruleId, 1);
    const unlimited = { ...DEFAULT_WAF_LIMITS, regexInspectionBytes: 0 };
    assert.equal(run(`q=${long}b`, unlimited).intervention?.ruleId, 1);
  });

  test('other operators see the whole value', () => {
    assert.equal(run(`q=${long}c`, DEFAULT_WAF_LIMITS).intervention?.ruleId, 2);
  });

  test('a spent time budget refuses the request when On and flags it in DetectionOnly', () => {
    // The smallest budget is spent before the first rule, whatever the clock's resolution.
    const spent = { ...DEFAULT_WAF_LIMITS, timeBudgetMs: Number.MIN_VALUE };
    const on = run('q=x', spent);
    assert.equal(on.intervention?.status, 403);
    assert.equal(on.intervention?.ruleId, 0);
    assert.match(on.intervention?.msg ?? '', /time budget/);
    assert.equal(on.budgetExceeded, true);
    assert.deepEqual(on.matched, []);
    const detect = run('q=x', spent, 'DetectionOnly');
    assert.equal(detect.intervention, undefined);
    assert.equal(detect.budgetExceeded, true);
    assert.deepEqual(detect.matched, []);
    // With the default budget the rules run.
    const normal = run('q=x', DEFAULT_WAF_LIMITS);
    assert.equal(normal.intervention?.ruleId, 3);
    assert.equal(normal.budgetExceeded, false);
  });
});
