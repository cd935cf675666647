import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  compileWafSync,
  hostLoader,
  PersistentCollections,
  WafTransaction,
  type CompiledRuleSet,
} from './index.js';
import { EVALUATE, JUMP, SEED } from './rule-program.js';

const detectors = {
  detectSqli: () => ({ match: false, fingerprint: '' }),
  detectXss: () => false,
};
const compile = (d: string): CompiledRuleSet =>
  compileWafSync(d, { loader: hostLoader, detectors });

/** Each phase's folded program as `kind:id` (seed, jump, or the id of a rule it evaluates). */
function shape(rs: CompiledRuleSet, phase: number): string[] {
  return WafTransaction.programsOf(rs).folded[phase]!.map((s) =>
    s.kind === SEED ? `seed:${s.rule.id}` : s.kind === JUMP ? `jump:${s.rule.id}` : `${s.rule.id}`,
  );
}

function run(rs: CompiledRuleSet, uri: string): WafTransaction {
  const tx = new WafTransaction(rs, new PersistentCollections(), rs.engineMode);
  const iv = tx.processRequestHeaders({
    method: 'GET',
    uri,
    protocol: 'HTTP/1.1',
    headers: [['Host', 'example.com']],
    remoteAddr: '127.0.0.1',
    remotePort: 40000,
    uniqueId: 'u1',
  });
  if (iv === undefined) tx.processRequestBody(undefined);
  return tx;
}

/** A CRS-like start: settings, defaults for what they leave unset, a paranoia-level gate. */
const SETUP = `SecRuleEngine On
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:10,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAction "id:11,phase:1,pass,nolog,setvar:tx.setup=1"
SecRule &TX:setup "@eq 0" "id:12,phase:1,deny,status:500,log,msg:'no setup'"
SecRule &TX:level "@eq 0" "id:13,phase:1,pass,nolog,setvar:tx.level=1"
SecRule &TX:executing "@eq 0" "id:14,phase:1,pass,nolog,setvar:'tx.executing=%{tx.level}'"
SecAction "id:15,phase:1,pass,nolog,setvar:tx.score=0"
`;
const GATED = `SecRule TX:executing "@lt 2" "id:20,phase:2,pass,nolog,skipAfter:END-2"
SecRule ARGS "@rx attack" "id:21,phase:2,deny,status:403,msg:'level 2'"
SecMarker END-2
SecRule TX:executing "@ge 5" "id:22,phase:2,deny,status:403,msg:'never'"
SecRule ARGS "@rx evil" "id:23,phase:2,deny,status:403,msg:'level 1'"
`;

describe('phase programs', () => {
  test('the TX-only setup becomes a seed; rules on TX nothing changes become jumps or go', () => {
    const rs = compile(SETUP + GATED);
    assert.deepEqual(shape(rs, 1), ['10', 'seed:11']);
    // Rule 21 only the plain program runs: the jump lands after the marker.
    assert.deepEqual(shape(rs, 2), ['jump:20', '23']);
    assert.equal(WafTransaction.programsOf(rs).folded[2]![0]!.next, 1);
    assert.equal(run(rs, '/?q=attack').intervention, undefined);
    assert.equal(run(rs, '/?q=evil').intervention?.ruleId, 23);
    // The seed leaves TX as the setup rules did.
    const tx = run(rs, '/?q=fine');
    assert.equal(tx.anomalyScore, 0);
    // A higher level set in the configuration turns the gate off.
    const pl2 = compile(
      SETUP.replace('setvar:tx.setup=1', 'setvar:tx.setup=1,setvar:tx.level=2') + GATED,
    );
    assert.deepEqual(shape(pl2, 2), ['21', '23']);
    assert.equal(run(pl2, '/?q=attack').intervention?.ruleId, 21);
  });

  test('a folded rule adds its match to MATCHED_VARS as before', () => {
    const rs = compile(
      SETUP +
        GATED +
        `SecRule MATCHED_VARS_NAMES "@streq TX:executing" "id:30,phase:2,deny,status:403,msg:'seen'"\n`,
    );
    assert.deepEqual(shape(rs, 2), ['jump:20', '23', '30']);
    assert.equal(run(rs, '/?q=fine').intervention?.ruleId, 30);
  });

  test('a run of jumps is taken at once, with every folded match in order', () => {
    const rs = compile(
      SETUP +
        `SecRule TX:executing "@lt 2" "id:40,phase:2,pass,nolog,skipAfter:END-40"\n` +
        'SecMarker END-40\n' +
        `SecRule TX:level "@lt 3" "id:41,phase:2,pass,nolog,skipAfter:END-41"\n` +
        `SecRule ARGS "@rx attack" "id:42,phase:2,deny,status:403,msg:'level 3'"\n` +
        'SecMarker END-41\n' +
        `SecRule MATCHED_VAR_NAME "@streq TX:level" "id:43,phase:2,pass,nolog,setvar:tx.last=1"\n`,
    );
    assert.deepEqual(shape(rs, 2), ['jump:40', 'jump:41', '43']);
    const first = WafTransaction.programsOf(rs).folded[2]![0]!;
    assert.equal(first.next, 2);
    assert.deepEqual(
      first.matched.map((v) => (v as { name: string }).name),
      ['TX:executing', 'TX:level'],
    );
    assert.equal(run(rs, '/?q=attack').macroValue('TX', 'last'), '1');
  });

  test('a chain on unset TX settings folds whole; a chain whose matching link acts does not', () => {
    const rs = compile(
      SETUP +
        // CRS's "is this feature configured" checks: every link counts a setting nobody sets.
        `SecRule &TX:dos_a "@eq 0" "id:50,phase:2,pass,nolog,chain,skipAfter:END-50"\n` +
        `  SecRule &TX:dos_b "@eq 0" "chain"\n` +
        `    SecRule &TX:dos_c "@eq 0"\n` +
        `SecRule ARGS "@rx dos" "id:51,phase:2,deny,status:403,msg:'dos'"\n` +
        'SecMarker END-50\n' +
        // Its second link misses: it never matches, and its first link does nothing.
        `SecRule &TX:dos_a "@eq 0" "id:52,phase:2,deny,status:403,chain"\n` +
        `  SecRule TX:level "@eq 7"\n` +
        // Its first link matches and sets a variable: that happens whatever the second does.
        `SecRule &TX:dos_a "@eq 0" "id:53,phase:2,pass,nolog,chain,setvar:tx.seen=1"\n` +
        `  SecRule TX:level "@eq 7"\n` +
        `SecRule ARGS "@rx evil" "id:54,phase:2,deny,status:403,msg:'evil'"\n`,
    );
    assert.deepEqual(shape(rs, 2), ['jump:50', '53', '54']);
    const jump = WafTransaction.programsOf(rs).folded[2]![0]!;
    assert.deepEqual(
      jump.matched.map((v) => (v as { name: string }).name),
      ['TX:dos_a', 'TX:dos_b', 'TX:dos_c'],
    );
    assert.equal(run(rs, '/?q=dos').intervention, undefined);
    const tx = run(rs, '/?q=evil');
    assert.equal(tx.intervention?.ruleId, 54);
    assert.equal(tx.macroValue('TX', 'seen'), '1');
    // Configured, the check runs as written.
    const configured = compile(
      SETUP.replace('setvar:tx.setup=1', 'setvar:tx.setup=1,setvar:tx.dos_b=60') +
        `SecRule &TX:dos_a "@eq 0" "id:50,phase:2,pass,nolog,chain,skipAfter:END-50"\n` +
        `  SecRule &TX:dos_b "@eq 0"\n` +
        `SecRule ARGS "@rx dos" "id:51,phase:2,deny,status:403,msg:'dos'"\n` +
        'SecMarker END-50\n',
    );
    assert.deepEqual(shape(configured, 2), ['51']);
    assert.equal(run(configured, '/?q=dos').intervention?.ruleId, 51);
  });

  test('a setvar that may write the gate variable keeps the gate', () => {
    const rs = compile(
      SETUP +
        `SecRule ARGS:set "@rx ^(\\w+)$" "id:16,phase:1,pass,nolog,capture,setvar:'tx.%{tx.1}=3'"\n` +
        GATED,
    );
    assert.deepEqual(shape(rs, 2), ['20', '21', '22', '23']);
    assert.equal(run(rs, '/?q=attack').intervention, undefined);
    assert.equal(run(rs, '/?set=executing&q=attack').intervention?.ruleId, 21);
    const named = compile(
      SETUP + `SecRule ARGS:up "@rx 1" "id:16,phase:1,pass,nolog,setvar:tx.executing=3"\n` + GATED,
    );
    assert.deepEqual(shape(named, 2), ['20', '21', '22', '23']);
    assert.equal(run(named, '/?up=1&q=attack').intervention?.ruleId, 21);
  });

  test('a rule that may see more than TX keeps its step', () => {
    const rs = compile(
      SETUP +
        `SecAction "id:26,phase:1,pass,nolog,msg:'%{REQUEST_URI}',setvar:'tx.uri=%{rule.msg}'"\n` +
        // A regex sees as much of a value as the transaction's inspection limit lets it.
        `SecRule TX:executing "@rx ^1$" "id:25,phase:2,pass,nolog,skip:1"\n`,
    );
    assert.deepEqual(shape(rs, 1), ['10', 'seed:11', '26']);
    assert.deepEqual(shape(rs, 2), ['25']);
  });

  test('a ctl that may remove a rule before it runs keeps it', () => {
    // Before the setup: no seed, so nothing folds.
    const early = compile(
      `SecRule ARGS:x "@rx skip" "id:9,phase:1,pass,nolog,ctl:ruleRemoveById=14"\n` + SETUP + GATED,
    );
    assert.deepEqual(shape(early, 1), ['9', '10', '11', '12', '13', '14', '15']);
    assert.deepEqual(shape(early, 2), ['20', '21', '22', '23']);
    assert.equal(run(early, '/?x=skip').anomalyScore, 0);
    // After the setup, before the gate: the gate stays.
    const removes = `SecRule ARGS:x "@rx skip" "id:17,phase:1,pass,nolog,ctl:ruleRemoveById=20"\n`;
    const before = compile(SETUP + removes + GATED);
    assert.deepEqual(shape(before, 1), ['10', 'seed:11', '17']);
    assert.deepEqual(shape(before, 2), ['20', '21', '23']);
    assert.equal(run(before, '/?q=attack').intervention, undefined);
    assert.equal(run(before, '/?x=skip&q=attack').intervention?.ruleId, 21);
    // Where a folded rule always skips it, or after the gate, it cannot run before the gate.
    const skipped = compile(
      SETUP +
        `SecRule &TX:exclusions "@eq 0" "id:16,phase:1,pass,nolog,skipAfter:END-EXCLUSIONS"\n` +
        removes +
        'SecMarker END-EXCLUSIONS\n' +
        GATED +
        removes.replace('id:17,phase:1', 'id:24,phase:2'),
    );
    assert.deepEqual(shape(skipped, 1), ['10', 'seed:11', 'jump:16']);
    assert.deepEqual(shape(skipped, 2), ['jump:20', '23', '24']);
    assert.equal(run(skipped, '/?x=skip&q=attack').intervention, undefined);
  });

  test('a rule before the setup that writes TX, or a backward skipAfter, leaves the phase as it is', () => {
    const writes = compile(
      `SecAction "id:1,phase:1,pass,nolog,setvar:tx.level=4,skip:1"\n` + SETUP + GATED,
    );
    assert.ok(shape(writes, 1).every((s) => !s.startsWith('seed')));
    assert.ok(shape(writes, 2).every((s) => !s.startsWith('jump')));
    const backward = compile(
      SETUP + GATED + `SecRule ARGS:again "@rx y" "id:40,phase:2,pass,nolog,skipAfter:END-2"\n`,
    );
    assert.deepEqual(shape(backward, 2), ['20', '21', '22', '23', '40']);
    assert.deepEqual(shape(backward, 1), ['10', 'seed:11']);
  });

  test('plain programs keep every rule and resolve skips past markers', () => {
    const rs = compile(SETUP + GATED);
    const plain = WafTransaction.programsOf(rs).plain[2]!;
    assert.deepEqual(
      plain.map((s) => [s.rule.id, s.kind, s.next]),
      [
        [20, EVALUATE, 2],
        [21, EVALUATE, 2],
        [22, EVALUATE, 3],
        [23, EVALUATE, 4],
      ],
    );
  });
});

const CRS_INSTALLED = fs.existsSync('/usr/share/modsecurity-crs/rules');

describe(
  'CRS 3.3.4 programs',
  { skip: !CRS_INSTALLED && 'modsecurity-crs is not installed' },
  () => {
    test('the setup is one seed and the paranoia-level gates are jumps', () => {
      const rs = compile('Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf\n');
      const programs = WafTransaction.programsOf(rs);
      const first = programs.folded[1]!;
      const seed = first.find((s) => s.kind === SEED);
      assert.equal(seed?.rule.id, 900990);
      assert.equal(seed.tx.get('executing_paranoia_level')?.value, '1');
      const kinds = (phase: number, id: number): number | undefined =>
        programs.folded[phase]!.find((s) => s.rule.id === id)?.kind;
      // PL1: the gates before the PL2 rules of each file jump; those after the PL1 rules go.
      assert.equal(kinds(1, 920013), JUMP);
      assert.equal(kinds(2, 942014), JUMP);
      assert.equal(kinds(2, 942011), undefined);
      assert.equal(kinds(1, 901318), EVALUATE);
      let folded = 0;
      let plain = 0;
      for (let p = 1; p <= 5; p++) {
        folded += programs.folded[p]!.filter((s) => s.kind === EVALUATE).length;
        plain += programs.plain[p]!.length;
      }
      assert.ok(folded < plain - 100, `${folded} rules to evaluate of ${plain}`);
    });
  },
);
