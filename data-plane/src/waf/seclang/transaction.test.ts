import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  compileWafSync,
  hostLoader,
  bundleLoader,
  PersistentCollections,
  WafTransaction,
  type CompiledRuleSet,
  type RequestLine,
} from './index.js';

const detectors = {
  detectSqli: (s: string) => ({ match: /' or '1'='1/i.test(s), fingerprint: 's&sos' }),
  detectXss: (s: string) => /<script/i.test(s),
};

function request(uri: string, headers: Array<[string, string]> = [], method = 'GET'): RequestLine {
  return {
    method,
    uri,
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', 'example.com'],
      ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64)'],
      ['Accept', 'text/html'],
      ...headers,
    ],
    remoteAddr: '127.0.0.1',
    remotePort: 40000,
    uniqueId: 'u1',
  };
}

function run(rs: CompiledRuleSet, req: RequestLine, body?: string): WafTransaction {
  const tx = new WafTransaction(rs, new PersistentCollections(), rs.engineMode);
  tx.processRequestHeaders(req);
  if (tx.intervention === undefined)
    tx.processRequestBody(body === undefined ? undefined : Buffer.from(body, 'latin1'));
  return tx;
}

describe('rules', () => {
  const compile = (d: string): CompiledRuleSet =>
    compileWafSync(d, { loader: hostLoader, detectors });

  test('deny, status, chain, capture, macros, skipAfter, setvar arithmetic', () => {
    const rs = compile(`
SecAction "id:1,phase:1,pass,nolog,setvar:tx.limit=3"
SecRule ARGS:a "@rx ^(\\d+)$" "id:2,phase:1,pass,capture,chain,setvar:tx.n=+%{TX.1}"
  SecRule TX:n "@ge %{tx.limit}" "setvar:tx.big=1"
SecRule TX:big "@eq 1" "id:3,phase:1,deny,status:418,msg:'big %{tx.n}'"
`);
    assert.equal(run(rs, request('/?a=2')).intervention, undefined);
    const tx = run(rs, request('/?a=7'));
    assert.deepEqual(tx.intervention, { status: 418, ruleId: 3, msg: 'big 7', drop: false });
  });

  test('IP:name reads one persistent variable: case, exclusions, counts, expiry', () => {
    const rs = compile(`
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr},setvar:ip.hits=+1"
SecRule IP:HITS|!IP:hits "@ge 1" "id:2,phase:1,deny,status:500"
SecRule &IP:missing "!@eq 0" "id:3,phase:1,deny,status:501"
SecRule IP:gone "@eq 1" "id:4,phase:1,deny,status:410"
SecRule IP:hits "@ge 3" "id:5,phase:1,deny,status:429,msg:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}'"
SecAction "id:6,phase:1,pass,nolog,setvar:ip.gone=1,expirevar:ip.gone=0"
`);
    const persistent = new PersistentCollections();
    const once = (): WafTransaction => {
      const tx = new WafTransaction(rs, persistent, rs.engineMode);
      tx.processRequestHeaders(request('/'));
      return tx;
    };
    assert.equal(once().intervention, undefined);
    assert.equal(once().intervention, undefined, 'ip.gone expired');
    assert.deepEqual(once().intervention, {
      status: 429,
      ruleId: 5,
      msg: 'IP:hits=3',
      drop: false,
    });
  });

  test("an argument's value and name, transformed, through every ARGS list and phase", () => {
    const rs = compile(`
SecRequestBodyAccess On
SecRule ARGS "@rx ^qval$" "id:1,phase:1,pass,nolog,t:lowercase,setvar:tx.p1=%{MATCHED_VAR_NAME}"
SecRule ARGS_POST "@rx ^bval$" "id:2,phase:2,pass,nolog,t:lowercase,setvar:tx.post=%{MATCHED_VAR_NAME}"
SecRule ARGS_NAMES "@rx ^qname$" "id:3,phase:2,pass,nolog,t:lowercase,setvar:tx.names=%{MATCHED_VAR}"
SecRule ARGS "@rx ^qval$" "id:4,phase:2,pass,nolog,t:lowercase,setvar:tx.args=%{MATCHED_VAR_NAME}"
SecRule ARGS_POST_NAMES "@rx ^bname$" "id:5,phase:2,pass,nolog,t:lowercase,setvar:tx.pn=%{MATCHED_VAR}"
SecRule ARGS_GET_NAMES "@rx ^bval$" "id:6,phase:2,pass,nolog,t:lowercase,setvar:tx.wrong=1"
SecRule ARGS_GET "@rx ^qname$" "id:7,phase:2,pass,nolog,t:lowercase,setvar:tx.wrong=1"
SecRule ARGS_NAMES "@rx ^bname$" "id:9,phase:2,pass,nolog,t:lowercase,setvar:tx.an=1"
SecRule TX:p1 "@streq ARGS:QName" "id:8,phase:2,deny,status:418,chain"
  SecRule TX:post "@streq ARGS_POST:BName" "chain"
    SecRule TX:names "@streq QName" "chain"
      SecRule TX:args "@streq ARGS:QName" "chain"
        SecRule TX:pn "@streq BName" "chain"
          SecRule &TX:wrong "@eq 0" "chain"
            SecRule TX:an "@eq 1"
`);
    const tx = run(
      rs,
      request('/?QName=QVal', [['Content-Type', 'application/x-www-form-urlencoded']], 'POST'),
      'BName=BVal',
    );
    assert.equal(tx.intervention?.ruleId, 8);
  });

  test('exclusions, counts, ctl:ruleRemoveTargetById, removal by id', () => {
    const rs = compile(`
SecRule ARGS|!ARGS:safe "@contains evil" "id:10,phase:1,deny"
SecRule &ARGS "@gt 3" "id:11,phase:1,deny,status:400"
SecRule ARGS:skip "@streq 1" "id:12,phase:1,pass,nolog,ctl:ruleRemoveTargetById=13;ARGS:q"
SecRule ARGS "@contains bad" "id:13,phase:1,deny,status:401"
SecRule ARGS "@contains gone" "id:14,phase:1,deny"
SecRuleRemoveById 14
`);
    assert.equal(run(rs, request('/?safe=evil')).intervention, undefined);
    assert.equal(run(rs, request('/?x=evil')).intervention?.ruleId, 10);
    assert.equal(run(rs, request('/?a=1&b=2&c=3&d=4')).intervention?.status, 400);
    assert.equal(run(rs, request('/?q=bad')).intervention?.status, 401);
    assert.equal(run(rs, request('/?skip=1&q=bad')).intervention, undefined);
    assert.equal(run(rs, request('/?x=gone')).intervention, undefined);
  });

  test('rules with the same targets but other exclusions or ctl removals see their own values', () => {
    const rs = compile(`
SecRule ARGS "@contains evil" "id:40,phase:1,pass,nolog,setvar:tx.a=+1"
SecRule ARGS|!ARGS:safe "@contains evil" "id:41,phase:1,pass,nolog,setvar:tx.b=+1"
SecRule ARGS:skip "@streq 1" "id:42,phase:1,pass,nolog,ctl:ruleRemoveTargetById=43;ARGS:q"
SecRule ARGS "@contains evil" "id:43,phase:1,pass,nolog,setvar:tx.c=+1"
SecRule ARGS "@contains evil" "id:44,phase:1,pass,nolog,setvar:tx.d=+1"
SecRule ARGS|!ARGS:safe "@contains evil" "id:45,phase:1,pass,nolog,setvar:tx.e=+1"
`);
    const tx = run(rs, request('/?safe=evil&q=evil&skip=1'));
    const counts = ['a', 'b', 'c', 'd', 'e'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(counts, ['2', '1', '1', '2', '1']);
  });

  test('transformation chains sharing a prefix each get their own result', () => {
    const rs = compile(`
SecRule ARGS "@rx ^a b<x>$" "id:50,phase:1,pass,nolog,t:urlDecode,setvar:tx.a=1"
SecRule ARGS "@rx ^a b<x>$" "id:51,phase:1,pass,nolog,t:urlDecode,t:htmlEntityDecode,setvar:tx.b=1"
SecRule ARGS "@rx ^ab<x>$" "id:52,phase:1,pass,nolog,t:urlDecode,t:htmlEntityDecode,t:removeWhitespace,setvar:tx.c=1"
SecRule ARGS "@rx ^a%20b&lt;x&gt;$" "id:53,phase:1,pass,nolog,setvar:tx.d=1"
SecRule ARGS "@rx ^A B<X>$" "id:54,phase:1,pass,nolog,t:urlDecode,t:htmlEntityDecode,t:uppercase,setvar:tx.e=1"
`);
    const tx = run(rs, request('/?v=a%2520b%26lt;x%26gt;'));
    const set = ['a', 'b', 'c', 'd', 'e'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(set, ['', '1', '1', '1', '1']);
  });

  test('chains meeting on the same text each get the right result for it', () => {
    // urlDecode then lowercase gives "ab"; lowercase then urlDecode gives "Ab"; each function
    // runs once per text, whichever chain reaches it.
    const rs = compile(`
SecRule REQUEST_HEADERS:X-T "@rx ^ab$" "id:60,phase:1,pass,nolog,t:urlDecode,t:lowercase,setvar:tx.a=1"
SecRule REQUEST_HEADERS:X-T "@rx ^%41b$" "id:61,phase:1,pass,nolog,t:lowercase,setvar:tx.b=1"
SecRule REQUEST_HEADERS:X-T "@rx ^Ab$" "id:62,phase:1,pass,nolog,t:lowercase,t:urlDecode,setvar:tx.c=1"
SecRule REQUEST_HEADERS:X-T "@rx ^AB$" "id:63,phase:1,pass,nolog,t:urlDecode,setvar:tx.d=1"
SecRule REQUEST_HEADERS:X-T "@rx ^ab$" "id:64,phase:1,pass,nolog,t:urlDecode,t:lowercase,t:lowercase,setvar:tx.e=1"
SecRule REQUEST_HEADERS:X-U "@rx ^ab$" "id:65,phase:1,pass,nolog,t:urlDecode,t:lowercase,setvar:tx.f=1"
`);
    const tx = run(
      rs,
      request('/', [
        ['X-T', '%41B'],
        ['X-U', 'AB'],
      ]),
    );
    const set = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(set, ['1', '1', '1', '1', '1', '1']);
  });

  test('a regex is tried on every value of a target that may hold its literals, in each phase', () => {
    // The rules share their targets and chains, whose values' prefilter candidates a
    // transaction unites per phase: a literal in any one value, or only after the chain, or
    // only in the body's arguments (phase 2), still reaches the regex.
    const rs = compile(`
SecRule ARGS "@rx needle[0-9]" "id:70,phase:1,pass,nolog,setvar:tx.p1=+1"
SecRule ARGS "@rx needle[0-9]" "id:71,phase:1,pass,nolog,t:lowercase,setvar:tx.p1lower=+1"
SecRule ARGS "@rx needle[0-9]" "id:72,phase:2,pass,nolog,setvar:tx.p2=+1"
SecRule ARGS "@rx needle[0-9]" "id:73,phase:2,pass,nolog,t:lowercase,setvar:tx.p2lower=+1"
SecRule ARGS "@rx haystack" "id:74,phase:2,pass,nolog,setvar:tx.hay=+1"
`);
    const post = request(
      '/?a=hay&b=NEEDLE1&c=needle2&d=needle',
      [['Content-Type', 'application/x-www-form-urlencoded']],
      'POST',
    );
    const tx = run(rs, post, 'e=needle3&f=NEEDLE4');
    const counts = ['p1', 'p1lower', 'p2', 'p2lower', 'hay'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(counts, ['1', '2', '2', '4', '']);
  });

  test("a collection resolved before its phase's data arrived is resolved again", () => {
    const rs = compile(`
SecRule RESPONSE_HEADERS:X-R "@rx secret" "id:90,phase:1,pass,nolog,setvar:tx.p1=1"
SecRule RESPONSE_HEADERS:X-R "@rx secret" "id:91,phase:3,pass,nolog,setvar:tx.p3=1"
SecRule ARGS_POST "@rx ^b$" "id:92,phase:1,pass,nolog,setvar:tx.a1=1"
SecRule ARGS_POST "@rx ^b$" "id:93,phase:2,pass,nolog,setvar:tx.a2=1"
`);
    const post = request('/', [['Content-Type', 'application/x-www-form-urlencoded']], 'POST');
    const tx = run(rs, post, 'a=b');
    tx.processResponseHeaders(200, 'HTTP/1.1', [['X-R', 'a secret']]);
    const set = ['p1', 'p3', 'a1', 'a2'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(set, ['', '1', '', '1']);
  });

  test('single-valued variables: read by slot, set anew by each phase, excluded as named', () => {
    const rs = compile(`
SecRule REQUEST_FILENAME "@streq /a" "id:110,phase:1,pass,nolog,setvar:tx.f=1"
SecRule REQUEST_BODY "@rx ^x=1$" "id:111,phase:1,pass,nolog,setvar:tx.b1=1"
SecRule REQUEST_BODY "@rx ^x=1$" "id:112,phase:2,pass,nolog,setvar:tx.b2=1"
SecRule &REQUEST_BODY "@eq 1" "id:113,phase:2,pass,nolog,setvar:tx.n=1"
SecRule REQUEST_METHOD|!REQUEST_METHOD "@streq POST" "id:114,phase:1,pass,nolog,setvar:tx.m1=1"
SecRule REQUEST_METHOD "@streq POST" "id:115,phase:1,pass,nolog,setvar:tx.m2=1"
SecRule ARGS:off "@streq 1" "id:116,phase:1,pass,nolog,ctl:ruleRemoveTargetById=117;REQUEST_METHOD"
SecRule REQUEST_METHOD "@streq POST" "id:117,phase:1,pass,nolog,setvar:tx.m3=1"
SecRule MATCHED_VAR "@streq POST" "id:118,phase:1,pass,nolog,setvar:tx.mv=1"
SecRule RESPONSE_STATUS "@eq 404" "id:119,phase:3,pass,nolog,setvar:tx.s=1"
`);
    const read = (tx: WafTransaction): string[] =>
      ['f', 'b1', 'b2', 'n', 'm1', 'm2', 'm3', 'mv', 's'].map((k) => tx.macroValue('TX', k));
    const post = request('/a', [['Content-Type', 'application/x-www-form-urlencoded']], 'POST');
    const tx = run(rs, post, 'x=1');
    tx.processResponseHeaders(404, 'HTTP/1.1', []);
    assert.deepEqual(read(tx), ['1', '', '1', '1', '', '1', '1', '1', '1']);
    const off = run(rs, { ...post, uri: '/b?off=1' }, 'x=2');
    assert.deepEqual(read(off), ['', '', '', '1', '', '1', '', '', '']);
  });

  test('@pm and @pmFromFile skip the values that lack their phrases, case-insensitively', () => {
    const rs = compile(`
SecRule REQUEST_HEADERS:X-A|ARGS "@pm nikto wget" "id:120,phase:2,pass,nolog,capture,t:none,setvar:tx.a=+1,setvar:tx.p=%{tx.0}"
SecRule REQUEST_HEADERS:X-A|ARGS "@pm nikto wget" "id:121,phase:2,pass,nolog,t:none,t:lowercase,setvar:tx.b=+1"
SecRule ARGS "@pm caf\xe9" "id:122,phase:2,pass,nolog,setvar:tx.c=+1"
`);
    const read = (tx: WafTransaction): string[] =>
      ['a', 'p', 'b', 'c'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(read(run(rs, request('/?q=hello', [['X-A', 'curl']]))), ['', '', '', '']);
    assert.deepEqual(read(run(rs, request('/?q=WGET', [['X-A', 'NiKtO/2']]))), [
      '2',
      'wget',
      '2',
      '',
    ]);
    // U+212A KELVIN SIGN lower-cases to 'k'; \xc9 to \xe9 (a phrase beyond ASCII: no slot).
    const wide = run(rs, request('/?q=CAF%C9', [['X-A', 'ni\u212Ato']]));
    assert.deepEqual(read(wide), ['1', 'nikto', '1', '1']);
  });

  test('TX:/regex/ targets: the names it picks, in TX order, counted and excluded', () => {
    const rs = compile(`
SecAction "id:130,phase:1,pass,nolog,setvar:tx.h_b=2,setvar:tx.other=9,setvar:tx.h_a=1,setvar:tx.H_c=3"
SecRule TX:/^h_/ "@rx ^(\\d)$" "id:131,phase:1,pass,nolog,capture,setvar:tx.seen=%{tx.seen}%{tx.1}"
SecRule &TX:/^h_/ "@eq 3" "id:132,phase:1,pass,nolog,setvar:tx.three=1"
SecRule &TX:/^none_/ "@eq 0" "id:133,phase:1,pass,nolog,setvar:tx.zero=1"
SecRule TX:/^h_/|!TX:h_a "@rx ^1$" "id:134,phase:1,pass,nolog,setvar:tx.a=1"
SecRule TX:/^h_/ "@rx ^1$" "id:135,phase:1,pass,nolog,setvar:tx.name=%{matched_var_name}"
`);
    const tx = run(rs, request('/'));
    const read = ['seen', 'three', 'zero', 'a', 'name'].map((k) => tx.macroValue('TX', k));
    assert.deepEqual(read, ['213', '1', '1', '', 'TX:h_a']);
  });

  test('@ipMatch answers each address on its own', () => {
    const rs = compile(`
SecRule REMOTE_ADDR "@ipMatch 10.0.0.0/8,::1" "id:80,phase:1,deny,status:403"
`);
    const from = (remoteAddr: string): number | undefined =>
      run(rs, { ...request('/'), remoteAddr }).intervention?.status;
    assert.deepEqual(
      ['10.1.2.3', '192.168.1.1', '10.1.2.3', '::1', '::2', 'not an address', '192.168.1.1'].map(
        from,
      ),
      [403, undefined, 403, 403, undefined, undefined, undefined],
    );
  });

  test('DetectionOnly records matches but never intervenes', () => {
    const rs = compile(
      'SecRuleEngine DetectionOnly\nSecRule ARGS "@contains x" "id:20,phase:1,deny,msg:hit"',
    );
    const tx = run(rs, request('/?a=x'));
    assert.equal(tx.intervention, undefined);
    assert.equal(tx.matched[0]?.id, 20);
  });

  test('body processors: urlencoded, JSON names, multipart', () => {
    const rs = compile(`
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:1,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule ARGS:json.a.b "@streq 1" "id:30,phase:2,deny,status:431"
SecRule ARGS:json.list.array_1 "@streq y" "id:31,phase:2,deny,status:432"
SecRule ARGS_POST:f "@streq v" "id:32,phase:2,deny,status:433"
SecRule FILES "@endsWith .php" "id:33,phase:2,deny,status:434"
SecRule REQBODY_ERROR "!@eq 0" "id:34,phase:2,deny,status:435"
`);
    const json = [['Content-Type', 'application/json']] as Array<[string, string]>;
    assert.equal(run(rs, request('/', json, 'POST'), '{"a":{"b":1}}').intervention?.status, 431);
    assert.equal(
      run(rs, request('/', json, 'POST'), '{"list":["x","y"]}').intervention?.status,
      432,
    );
    assert.equal(run(rs, request('/', json, 'POST'), '{"list":').intervention?.status, 435);
    const form = [['Content-Type', 'application/x-www-form-urlencoded']] as Array<[string, string]>;
    assert.equal(run(rs, request('/', form, 'POST'), 'f=v').intervention?.status, 433);
    const mp = [['Content-Type', 'multipart/form-data; boundary=XX']] as Array<[string, string]>;
    const body =
      '--XX\r\nContent-Disposition: form-data; name="f"\r\n\r\nw\r\n' +
      '--XX\r\nContent-Disposition: form-data; name="up"; filename="x.php"\r\n\r\n<?php\r\n--XX--\r\n';
    assert.equal(run(rs, request('/', mp, 'POST'), body).intervention?.status, 434);
  });

  test('JSON is parsed only when a rule selects it, into ARGS but not ARGS_POST', () => {
    const rules = `
SecRule REQBODY_ERROR "!@eq 0" "id:40,phase:2,deny,status:440"
SecRule ARGS_POST "@contains needle" "id:41,phase:2,deny,status:441"
SecRule ARGS "@contains needle" "id:42,phase:2,deny,status:442"
SecRule REQUEST_BODY "@contains needle" "id:43,phase:2,deny,status:443"
`;
    const select = `SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:1,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"`;
    const json = [['Content-Type', 'application/json']] as Array<[string, string]>;
    const status = (rs: CompiledRuleSet, body: string): number | undefined =>
      run(rs, request('/', json, 'POST'), body).intervention?.status;
    const withRule = compile(select + rules);
    assert.equal(status(withRule, '{"a":"needle"}'), 442);
    assert.equal(status(withRule, '{"a":"needle"'), 440);
    assert.equal(status(withRule, '  '), 440, 'white space is no JSON');
    assert.equal(status(withRule, ''), undefined, 'an empty body is no JSON error');
    // Without the rule a JSON body is no processor's: only REQUEST_BODY sees it.
    const withoutRule = compile(rules);
    assert.equal(status(withoutRule, '{"a":"needle"}'), 443);
    assert.equal(status(withoutRule, '{"a":"needle"'), 443);
    const problem = [['Content-Type', 'application/problem+json']] as Array<[string, string]>;
    assert.equal(
      run(withRule, request('/', problem, 'POST'), '{"a":"needle"}').intervention?.status,
      443,
      'a +json type the rule does not name is not parsed',
    );
  });

  test('REQUEST_BODY holds every non-empty body, whatever its processor', () => {
    const rs = compile(`
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:1,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/xml" \\
  "id:2,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_BODY "@contains needle" "id:50,phase:2,deny,status:450"
SecRule REQUEST_BODY_LENGTH "@ge 0" "id:51,phase:2,deny,status:451"
`);
    const status = (type: string, body: string): number | undefined =>
      run(rs, request('/', [['Content-Type', type]], 'POST'), body).intervention?.status;
    assert.equal(status('application/json', '{"needle":1}'), 450);
    assert.equal(status('application/xml', '<a>x</a><!-- needle -->'), 450);
    assert.equal(status('application/x-www-form-urlencoded', 'needle=1'), 450);
    assert.equal(status('text/plain', 'needle'), 450);
    assert.equal(
      status(
        'multipart/form-data; boundary=XX',
        '--XX\r\nContent-Disposition: form-data; name="f"\r\nX-Note: needle\r\n\r\nw\r\n--XX--\r\n',
      ),
      450,
    );
    assert.equal(status('application/json', '{"a":1}'), 451);
    // An empty body leaves both unset, as in ModSecurity.
    assert.equal(status('text/plain', ''), undefined);
  });

  test('an empty body goes through its processor: XML fails, the others do not', () => {
    const rs = compile(`
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:1,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" \\
  "id:2,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQBODY_ERROR "!@eq 0" "id:60,phase:2,deny,status:400"
`);
    const status = (type: string, body: string | undefined): number | undefined =>
      run(rs, request('/', [['Content-Type', type]], 'POST'), body).intervention?.status;
    assert.equal(status('text/xml', ''), 400);
    assert.equal(status('application/xml', ' \r\n'), 400);
    assert.equal(status('application/xml', undefined), undefined, 'a body not inspected');
    assert.equal(status('application/json', ''), undefined);
    assert.equal(status('application/x-www-form-urlencoded', ''), undefined);
    assert.equal(status('multipart/form-data; boundary=XX', ''), undefined);
  });

  test("transactions in flight together and one after another never see each other's values", () => {
    // Each transaction's caches live in arrays the next transaction of the rule set reuses once
    // it ends; what one cached must never answer for another.
    const rs = compile(`
SecRule ARGS|REQUEST_HEADERS "@rx evil" "id:10,phase:2,deny,status:403,t:none,t:lowercase"
SecRule REQUEST_HEADERS:X-Mark "@rx ^(\\w+)$" "id:11,phase:2,pass,nolog,capture,setvar:tx.mark=%{TX.1}"
`);
    const start = (uri: string, headers: Array<[string, string]> = []): WafTransaction => {
      const tx = new WafTransaction(rs, new PersistentCollections(), 'On');
      tx.processRequestHeaders(request(uri, headers));
      return tx;
    };
    const a = start('/?q=EVIL', [['X-Mark', 'alpha']]);
    const b = start('/?q=fine', [['X-Mark', 'beta']]);
    assert.equal(a.processRequestBody(undefined)?.ruleId, 10);
    a.processLogging();
    // Ending twice hands nothing on twice.
    a.processLogging();
    const c = start('/?q=also-fine', [['X-Mark', 'gamma']]);
    const d = start('/?q=quite-fine', [['X-Mark', 'delta']]);
    assert.equal(b.processRequestBody(undefined), undefined);
    assert.equal(c.processRequestBody(undefined), undefined);
    assert.equal(d.processRequestBody(undefined), undefined);
    assert.equal(b.macroValue('TX', 'mark'), 'beta');
    assert.equal(c.macroValue('TX', 'mark'), 'gamma');
    assert.equal(d.macroValue('TX', 'mark'), 'delta');
    for (const tx of [b, c, d]) tx.processLogging();
    // A reused scratch after several ends: same verdicts as a fresh rule set's first request.
    for (let i = 0; i < 5; i++) {
      const bad = start(`/?q=${i}-Evil-${i}`);
      assert.equal(bad.processRequestBody(undefined)?.ruleId, 10, `request ${i}`);
      bad.processLogging();
      const good = start(`/?q=${i}-good-${i}`, [['X-Mark', `m${i}`]]);
      assert.equal(good.processRequestBody(undefined), undefined, `request ${i}`);
      assert.equal(good.macroValue('TX', 'mark'), `m${i}`);
      good.processLogging();
    }
  });

  test('rules on named request headers run only when a header they name was sent', () => {
    // 40 header names: the first 32 get a bit of the screen, the rest read as REQUEST_HEADERS.
    const names = Array.from({ length: 40 }, (_, i) => `x-h${i}`);
    const rs = compile(
      [
        ...names.map(
          (n, i) =>
            `SecRule REQUEST_HEADERS:${n.toUpperCase()} "@rx ^hit$" "id:${100 + i},phase:1,pass,log"`,
        ),
        'SecRule REQUEST_HEADERS:x-h0|ARGS "@rx ^hit$" "id:200,phase:2,pass,log"',
        'SecRule REQUEST_HEADERS:x-h39|REQUEST_COOKIES "@rx ^hit$" "id:201,phase:2,pass,log"',
        'SecRule REQUEST_HEADERS:x-h1 "!@rx ^hit$" "id:202,phase:2,pass,log"',
        'SecRule &REQUEST_HEADERS:x-h2 "@eq 0" "id:203,phase:2,pass,log"',
      ].join('\n'),
    );
    const ids = (tx: WafTransaction): number[] => tx.matched.map((m) => m.id);
    assert.deepEqual(ids(run(rs, request('/'), '')), [203]);
    assert.deepEqual(ids(run(rs, request('/', [['X-H5', 'hit']]), '')), [105, 203]);
    assert.deepEqual(ids(run(rs, request('/', [['x-h39', 'hit']]), '')), [139, 201, 203]);
    assert.deepEqual(ids(run(rs, request('/?a=hit'), '')), [200, 203]);
    assert.deepEqual(ids(run(rs, request('/', [['Cookie', 'c=hit']]), '')), [201, 203]);
    assert.deepEqual(ids(run(rs, request('/', [['x-h1', 'miss']]), '')), [202, 203]);
    assert.deepEqual(ids(run(rs, request('/', [['x-h2', 'x']]), '')), []);
  });

  test('rule sets sharing a worker each transform a count with their own chains', () => {
    // Both count ARGS:x (0 here) and have one transformation chain, with the same id in each.
    const a = compile('SecRule &ARGS:x "@rx ^1$" "id:1,phase:1,deny,t:length"');
    const b = compile('SecRule &ARGS:x "@rx ^0$" "id:1,phase:1,deny,t:lowercase"');
    for (let i = 0; i < 3; i++) {
      assert.equal(run(a, request('/')).intervention?.ruleId, 1);
      assert.equal(run(b, request('/')).intervention?.ruleId, 1);
    }
  });

  test('refusals name file, line and rule id', () => {
    const refuse = (d: string, re: RegExp): void =>
      assert.throws(
        () => compile(d),
        (err: Error) => re.test(err.message),
      );
    refuse(
      'SecRule ARGS "@rsub x" "id:1,deny"',
      /<directives>:1: rule 1: the operator @rsub is not supported/,
    );
    refuse(
      '\n\nSecRule ARGS "@rx x" "id:2,deny,t:foo"',
      /<directives>:3: rule 2: the transformation t:foo is not supported/,
    );
    refuse('SecRule NOPE "@rx x" "id:3,deny"', /rule 3: the variable NOPE is not supported/);
    refuse('SecRule ARGS "@rx (?R)" "id:4,deny"', /rule 4: @rx: .* is not supported/);
    refuse(
      'SecRule ARGS "@rx x" "id:5,deny,exec:/bin/sh"',
      /rule 5: the action exec is not supported/,
    );
    refuse('SecGeoLookupDb /x', /the directive SecGeoLookupDb is not supported/);
  });
});

const CRS_INSTALLED = fs.existsSync('/usr/share/modsecurity-crs/rules');

describe('CRS at PL1', { skip: !CRS_INSTALLED && 'modsecurity-crs is not installed' }, () => {
  const rs = compileWafSync('Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf', {
    loader: hostLoader,
    detectors,
  });

  test('benign requests pass with score 0', () => {
    for (const uri of ['/', '/index.html?page=2&sort=name', '/search?q=hello+world']) {
      const tx = run(rs, request(uri));
      assert.equal(tx.intervention, undefined, uri);
      assert.equal(tx.anomalyScore, 0, `${uri}: ${JSON.stringify(tx.matched)}`);
    }
  });

  test('attacks are blocked by 949110 with the rules that scored', () => {
    for (const uri of [
      "/?id=1'%20OR%20'1'='1",
      '/?q=%3Cscript%3Ealert(1)%3C/script%3E',
      '/?file=../../../../etc/passwd',
      '/?cmd=;cat%20/etc/passwd',
    ]) {
      const tx = run(rs, request(uri));
      assert.equal(tx.intervention?.ruleId, 949110, `${uri}: ${JSON.stringify(tx.matched)}`);
      assert.equal(tx.intervention?.status, 403);
      assert.ok(tx.anomalyScore >= 5);
      assert.ok(tx.matched.some((m) => m.id !== 949110));
    }
  });

  test('a worker compiles the same rule set from the bundle alone', () => {
    const again = compileWafSync('Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf', {
      loader: bundleLoader(rs.files),
      detectors,
    });
    assert.equal(again.hash, rs.hash);
  });
});
