import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  compileWafSync,
  hostLoader,
  PersistentCollections,
  WafCompileError,
  WafTransaction,
  type CompiledRuleSet,
} from './index.js';

const detectors = {
  detectSqli: () => ({ match: false, fingerprint: '' }),
  detectXss: () => false,
};

/** ModSecurity's recommended rules: XML processor for XML content types, refuse bad bodies. */
const RECOMMENDED = `SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" \\
  "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
`;

const compile = (d: string): CompiledRuleSet =>
  compileWafSync(d, { loader: hostLoader, detectors });

function post(rs: CompiledRuleSet, contentType: string, body: string): WafTransaction {
  const tx = new WafTransaction(rs, new PersistentCollections(), 'On');
  tx.processRequestHeaders({
    method: 'POST',
    uri: '/soap',
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', 'example.com'],
      ['Content-Type', contentType],
    ],
    remoteAddr: '127.0.0.1',
    remotePort: 40000,
    uniqueId: 'u1',
  });
  if (tx.intervention === undefined) tx.processRequestBody(Buffer.from(body, 'utf8'));
  return tx;
}

function compileErrors(d: string): readonly string[] {
  try {
    compile(d);
  } catch (err) {
    if (err instanceof WafCompileError) return err.errors;
    throw err;
  }
  assert.fail('the directives compiled');
}

describe('XML body processor in rules', () => {
  const rs = compile(`${RECOMMENDED}
SecRule XML:/* "@contains ../etc" "id:10,phase:2,deny,status:403,msg:'text %{MATCHED_VAR_NAME}'"
SecRule XML://@* "@streq evil" "id:11,phase:2,deny,status:403,msg:'attr %{MATCHED_VAR_NAME}'"
SecRule &XML:/* "@eq 1" "id:12,phase:2,pass,log,msg:'one root'"
SecRule REQBODY_PROCESSOR "@streq XML" "id:13,phase:2,pass,log,msg:'xml'"
SecRule REQUEST_BODY "@contains <!--" "id:14,phase:2,pass,log,msg:'raw body'"
`);

  test("ctl:requestBodyProcessor=XML: XML:/* is the root's text, XML://@* the attribute values", () => {
    const text = post(rs, 'text/xml; charset=utf-8', '<a><b>../</b><c>etc</c></a>');
    assert.equal(text.intervention?.ruleId, 10);
    assert.equal(text.intervention?.msg, 'text XML:/*');
    const attr = post(rs, 'application/soap+xml', '<a x="fine"><b y="evil"/></a>');
    assert.equal(attr.intervention?.ruleId, 11);
    assert.equal(attr.intervention?.msg, 'attr XML://@*');
  });

  test('a well-formed body: one XML:/* value, REQBODY_PROCESSOR, the raw body in REQUEST_BODY', () => {
    const tx = post(rs, 'application/xml', '<a><!-- note -->fine</a>');
    assert.equal(tx.intervention, undefined);
    assert.deepEqual(
      tx.matched.map((m) => m.id),
      [12, 13, 14],
    );
  });

  test('a malformed body sets REQBODY_ERROR (rule 200002 refuses it with 400)', () => {
    for (const body of ['<a><b></a>', '', '<a>&undeclared;</a>']) {
      const tx = post(rs, 'text/xml', body);
      assert.equal(tx.intervention?.ruleId, 200002, body);
      assert.equal(tx.intervention?.status, 400);
    }
  });

  test('an entity bomb is refused as malformed, and cheaply', () => {
    let dtd = '<!ENTITY l0 "lol">';
    for (let i = 1; i <= 9; i++) dtd += `<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`;
    const tx = post(rs, 'text/xml', `<!DOCTYPE b [${dtd}]><b>&l9;</b>`);
    assert.equal(tx.intervention?.ruleId, 200002);
  });

  test('other content types are not parsed as XML (no implicit processor, as ModSecurity)', () => {
    const tx = post(rs, 'text/plain', '<a>../etc</a>');
    assert.equal(tx.intervention, undefined);
    assert.ok(!tx.matched.some((m) => m.id === 12));
  });
});

describe('XML selectors at load time', () => {
  test('XML:/* and XML://@* (also together, also as exclusions and counts) load', () => {
    compile(`SecRule ARGS|XML:/*|XML://@*|!XML://@* "@rx x" "id:1,phase:2,pass"
SecRule &XML:'/*' "@eq 0" "id:2,phase:2,pass"`);
  });

  test('any other XPath, or none, is refused with file:line and the rule id', () => {
    const errors = compileErrors(`SecAction "id:1,phase:1,pass,nolog"
SecRule XML://book[1]/title "@rx x" "id:5,phase:2,pass"
SecRule XML "@rx x" "id:6,phase:2,pass"`);
    assert.deepEqual(errors, [
      '<directives>:2: rule 5: the XPath selector XML://book[1]/title is not supported (only XML:/* and XML://@*)',
      '<directives>:3: rule 6: XML without an XPath selector is not supported (use XML:/* or XML://@*)',
    ]);
  });
});

describe('@rbl', () => {
  const guarded = (extra: string): string => `${extra}
SecRule &TX:block_ip "@eq 0" "id:100,phase:2,pass,nolog,chain,skipAfter:END-RBL"
  SecRule &TX:block_other_ip "@eq 0"
SecRule REMOTE_ADDR "@rbl dnsbl.example" "id:101,phase:2,deny"
SecMarker END-RBL
`;

  test('loads where a guard always skips it, with no warning', () => {
    const rs = compile(guarded(''));
    assert.deepEqual(rs.warnings, []);
  });

  test('is refused where it can run: unguarded, guard variable set, guard removable', () => {
    assert.match(
      compileErrors('SecRule REMOTE_ADDR "@rbl dnsbl.example" "id:7,phase:1,deny"')[0]!,
      /^<directives>:1: rule 7: @rbl is not supported .* no rule right before it skips it/,
    );
    assert.match(
      compileErrors(guarded('SecAction "id:1,phase:1,pass,nolog,setvar:tx.block_other_ip=1"'))[0]!,
      /^<directives>:4: rule 101: @rbl is not supported .* a rule sets tx\.block_other_ip/,
    );
    assert.match(
      compileErrors(guarded('SecAction "id:1,phase:1,pass,nolog,setvar:tx.%{tx.which}_ip=1"'))[0]!,
      /a rule sets tx\.block_ip/,
    );
    assert.match(
      compileErrors(guarded('SecAction "id:1,phase:1,pass,nolog,ctl:ruleRemoveById=90-110"'))[0]!,
      /a ctl action can remove rule 100/,
    );
  });

  test('a setvar whose literal parts cannot spell the guard variable does not count', () => {
    compile(guarded('SecAction "id:1,phase:1,pass,nolog,setvar:tx.%{rule.id}-OWASP_CRS=1"'));
  });

  const CRS_INSTALLED = fs.existsSync('/usr/share/modsecurity-crs/rules');
  const CRS = 'Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf\n';
  test(
    'CRS 3.3.4: 910140 loads as shipped, and is refused once crs-setup enables the HTTP blacklist',
    { skip: !CRS_INSTALLED && 'modsecurity-crs is not installed' },
    () => {
      assert.deepEqual(compile(CRS).warnings, []);
      const errors = compileErrors(
        `SecAction "id:900500,phase:1,pass,nolog,setvar:tx.block_search_ip=1"\n${CRS}`,
      );
      assert.equal(errors.length, 1);
      assert.match(
        errors[0]!,
        /REQUEST-910-IP-REPUTATION\.conf:\d+: rule 910140: @rbl is not supported .* a rule sets tx\.block_search_ip/,
      );
    },
  );
});
