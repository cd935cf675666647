import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@ferry/shared';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { FakeFilterCallbacks, requestHeaders, responseHeaders } from '../filter-test-fixtures.js';
import { httpFilterByPerRouteTypeUrl, httpFilterByTypeUrl } from '../registry.js';
import { WAF_FILTER_TYPE_URL, WAF_PER_ROUTE_TYPE_URL, wafFilter } from './config.js';
import type { WafConfigModel, WafPerRouteModel } from './model.js';
import { WafFilter } from './waf-filter.js';

const CRS = ['Include @crs/crs-setup.conf', 'Include @crs/rules/*.conf'];
const CRS_INSTALLED = fs.existsSync('/usr/share/modsecurity-crs/rules');

function validate(
  config: JsonObject,
  hostAccess: 'read' | 'skip' = 'read',
): { value: WafConfigModel; errors: string[] } {
  const issues = new Issues('', hostAccess);
  return { value: wafFilter.validate(config, 'typed_config', issues), errors: issues.errors };
}

function filterFor(config: JsonObject): { filter: WafFilter; stats: MemoryStatsSink } {
  const { value, errors } = validate(config);
  assert.deepEqual(errors, []);
  const stats = new MemoryStatsSink();
  const filter = wafFilter.createFilterFactory(value, {
    stats,
    logger: createLogger('test', 'silent'),
    statPrefix: 'ingress',
    listenerName: 'l',
    serverHealth: { failing: false },
  }) as WafFilter;
  return { filter, stats };
}

const RULES = [
  'SecRule ARGS "@contains attack" "id:100,phase:1,deny,msg:\'attack in %{MATCHED_VAR_NAME}\'"',
  'SecRule ARGS_POST:q "@contains evil" "id:101,phase:2,deny,status:406"',
  'SecRule RESPONSE_BODY "@contains secret" "id:102,phase:4,deny"',
  'SecRule ARGS "@contains watch" "id:103,phase:1,pass,log,msg:watched"',
];

describe('waf config', () => {
  test('registered by type URL and per-route type URL', () => {
    assert.equal(httpFilterByTypeUrl(WAF_FILTER_TYPE_URL), wafFilter);
    assert.equal(httpFilterByPerRouteTypeUrl(WAF_PER_ROUTE_TYPE_URL), wafFilter);
  });

  test('a bad directive is a NACK naming the field, line and rule id', () => {
    const { errors } = validate({
      directives: ['SecRuleEngine On', 'SecRule ARGS "@rx a" "id:7,deny,t:nope"'],
    });
    assert.deepEqual(errors, [
      'typed_config.directives: directives:2: rule 7: the transformation t:nope is not supported',
    ]);
    assert.deepEqual(validate({}).errors, [
      'typed_config.directives: is required (SecLang directives)',
    ]);
    assert.deepEqual(validate({ directives: ['Include /nonexistent/*.conf'] }).errors, [
      'typed_config.directives: directives:1: Include /nonexistent/*.conf matches no file',
    ]);
  });

  test('without host access only the inline directives are checked', () => {
    const issues = new Issues('', 'skip');
    wafFilter.validate(
      { directives: ['Include /elsewhere/crs.conf', 'SecRule ARGS "@rx a" "id:1,deny"'] },
      'tc',
      issues,
    );
    assert.deepEqual(issues.errors, []);
    assert.deepEqual(issues.unchecked, ['tc.directives']);
  });

  test('regex_inspection_bytes and time_budget: defaults, values, refused values', () => {
    const directives = ['SecRuleEngine On'];
    assert.deepEqual(validate({ directives }).value.limits, {
      regexInspectionBytes: 4096,
      timeBudgetMs: 1000,
    });
    const set = validate({ directives, regex_inspection_bytes: 65536, time_budget: '0.25s' });
    assert.deepEqual(set.errors, []);
    assert.deepEqual(set.value.limits, { regexInspectionBytes: 65536, timeBudgetMs: 250 });
    assert.deepEqual(
      validate({ directives, regex_inspection_bytes: 0, time_budget: '0s' }).errors,
      [
        'typed_config.regex_inspection_bytes: must be an integer from 1 to 4294967295 (bytes of each value @rx inspects), got 0',
        'typed_config.time_budget: must be a duration above 0s and at most 60s (e.g. "0.5s"), got "0s"',
      ],
    );
    assert.deepEqual(
      validate({ directives, regex_inspection_bytes: -1, time_budget: '-2s' }).errors,
      [
        'typed_config.regex_inspection_bytes: must be an integer from 1 to 4294967295 (bytes of each value @rx inspects), got -1',
        'typed_config.time_budget: must be a duration above 0s and at most 60s (e.g. "0.5s"), got "-2s"',
      ],
    );
    assert.deepEqual(
      validate({ directives, regex_inspection_bytes: 'x', time_budget: '61s' }).errors,
      [
        'typed_config.regex_inspection_bytes: must be an integer from 1 to 4294967295 (bytes of each value @rx inspects), got "x"',
        'typed_config.time_budget: must be a duration above 0s and at most 60s (e.g. "0.5s"), got "61s"',
      ],
    );
    assert.deepEqual(validate({ directives, time_budget: 'soon' }).errors, [
      'typed_config.time_budget: must be a duration above 0s and at most 60s (e.g. "0.5s"), got "soon"',
    ]);
  });

  test(
    'CRS loads through the filter config',
    { skip: !CRS_INSTALLED && 'CRS not installed' },
    () => {
      const { value, errors } = validate({ directives: CRS, mode: 'DETECTION_ONLY' });
      assert.deepEqual(errors, []);
      assert.equal(value.mode, 'DETECTION_ONLY');
      assert.ok(value.ruleCount > 500);
      assert.deepEqual(value.components, ['OWASP_CRS/3.3.4']);
    },
  );
});

describe('waf filter', () => {
  test('phase 1 deny: 403 with details, metadata, stats', () => {
    const { filter, stats } = filterFor({ directives: RULES });
    const cb = new FakeFilterCallbacks();
    const f = filter.create(cb);
    assert.equal(f.decodeHeaders!(requestHeaders('GET', '/?a=attack'), true), 'stop');
    assert.equal(cb.localReplies[0]?.status, 403);
    assert.equal(cb.localReplies[0]?.options?.details, 'waf_blocked{rule_100}');
    assert.deepEqual(cb.streamInfo.dynamicMetadata.get('ferry.waf'), {
      matched_rule_ids: [100],
      anomaly_score: 0,
      mode: 'ON',
    });
    f.onDestroy!();
    assert.equal(
      stats.counterValue('waf_requests_blocked', { listener: 'l', stat_prefix: 'ingress' }),
      1,
    );
    assert.equal(
      stats.counterValue('waf_rule_matched', {
        listener: 'l',
        stat_prefix: 'ingress',
        rule_id: '100',
        action: 'blocked',
      }),
      1,
    );
  });

  test('REQUEST_HEADERS are the client’s headers when the connection manager kept them', () => {
    const { filter } = filterFor({
      directives: ['SecRule REQUEST_HEADERS:x-request-id "@rx ." "id:1,phase:1,deny"'],
    });
    assert.equal(filter.inspectsClientHeaders, true);
    const verdict = (clientRequestHeaders: readonly string[] | undefined): number | undefined => {
      const cb = new FakeFilterCallbacks({ clientRequestHeaders });
      // The headers after the connection manager's changes: it added x-request-id.
      filter.create(cb).decodeHeaders!(requestHeaders('GET', '/', { 'x-request-id': 'r1' }), true);
      return cb.localReplies[0]?.status;
    };
    assert.equal(verdict(['accept', '*/*']), undefined);
    assert.equal(verdict(['accept', '*/*', 'x-request-id', 'mine']), 403);
    // None kept (a chain built without asking): the headers as they are now.
    assert.equal(verdict(undefined), 403);
  });

  test('regex_inspection_bytes bounds what @rx sees of a value', () => {
    const directives = ['SecRule ARGS "@rx b$" "id:1,phase:1,deny"'];
    const verdict = (config: JsonObject): string => {
      const { filter } = filterFor(config);
      const f = filter.create(new FakeFilterCallbacks());
      const out = f.decodeHeaders!(requestHeaders('GET', '/?q=aaaaaaab'), true);
      f.onDestroy!();
      return out;
    };
    assert.equal(verdict({ directives }), 'stop');
    assert.equal(verdict({ directives, regex_inspection_bytes: 8 }), 'stop');
    assert.equal(verdict({ directives, regex_inspection_bytes: 7 }), 'continue');
  });

  test('benign requests pass; log-only matches are counted as logged', () => {
    const { filter, stats } = filterFor({ directives: RULES });
    const cb = new FakeFilterCallbacks();
    const f = filter.create(cb);
    assert.equal(f.decodeHeaders!(requestHeaders('GET', '/?a=watch'), true), 'continue');
    f.onDestroy!();
    assert.deepEqual(cb.localReplies, []);
    assert.equal(
      stats.counterValue('waf_rule_matched', {
        listener: 'l',
        stat_prefix: 'ingress',
        rule_id: '103',
        action: 'logged',
      }),
      1,
    );
    assert.equal(
      stats.counterValue('waf_requests_detected', { listener: 'l', stat_prefix: 'ingress' }),
      1,
    );
  });

  test('a request without a body has an empty one: an XML processor fails on it (400)', () => {
    const directives = [
      'SecRule REQUEST_HEADERS:Content-Type "^application/xml" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=XML"',
      'SecRule REQBODY_ERROR "!@eq 0" "id:2,phase:2,deny,status:400"',
    ];
    const xml = { 'content-type': 'application/xml' };
    const outcome = (config: JsonObject, endStream: boolean): number | undefined => {
      const { filter } = filterFor(config);
      const cb = new FakeFilterCallbacks();
      const f = filter.create(cb);
      const status = f.decodeHeaders!(requestHeaders('POST', '/', xml), endStream);
      if (status === 'stop' && cb.localReplies.length === 0) f.decodeData!(Buffer.alloc(0), true);
      f.onDestroy!();
      return cb.localReplies[0]?.status;
    };
    assert.equal(outcome({ directives }, true), 400, 'no body at all');
    assert.equal(outcome({ directives }, false), 400, 'an empty last data frame');
    assert.equal(
      outcome({ directives, skip_request_body: true }, true),
      undefined,
      'a body that is not inspected is not parsed',
    );
  });

  test('the request body is held, inspected in phase 2, and released', () => {
    const { filter } = filterFor({ directives: RULES });
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    let cb = new FakeFilterCallbacks();
    let f = filter.create(cb);
    assert.equal(f.decodeHeaders!(requestHeaders('POST', '/', headers), false), 'stop');
    assert.equal(cb.decoderBufferLimit, 131072);
    cb.decodeBuffer.push(Buffer.from('q=ev'));
    assert.equal(f.decodeData!(Buffer.from('il'), true), 'stop-no-buffer');
    assert.equal(cb.localReplies[0]?.status, 406);

    cb = new FakeFilterCallbacks();
    f = filter.create(cb);
    f.decodeHeaders!(requestHeaders('POST', '/', headers), false);
    assert.equal(f.decodeData!(Buffer.from('q=fine'), false), 'stop-and-buffer');
    cb.decodeBuffer.push(Buffer.from('q=fine'));
    assert.equal(f.decodeData!(Buffer.from('&r=1'), true), 'continue');
    assert.deepEqual(cb.localReplies, []);
  });

  test('a body above request_body_limit: 413 when ON, inspected prefix in DETECTION_ONLY', () => {
    const on = filterFor({ directives: RULES, request_body_limit: 8 }).filter;
    let cb = new FakeFilterCallbacks();
    let f = on.create(cb);
    f.decodeHeaders!(requestHeaders('POST', '/', { 'content-type': 'text/plain' }), false);
    assert.equal(f.decodeData!(Buffer.alloc(9, 'a'), false), 'stop-no-buffer');
    assert.equal(cb.localReplies[0]?.status, 413);
    assert.equal(cb.localReplies[0]?.options?.details, 'waf_request_body_too_large');

    const detect = filterFor({
      directives: RULES,
      request_body_limit: 8,
      mode: 'DETECTION_ONLY',
    }).filter;
    cb = new FakeFilterCallbacks();
    f = detect.create(cb);
    f.decodeHeaders!(requestHeaders('POST', '/', { 'content-type': 'text/plain' }), false);
    assert.equal(f.decodeData!(Buffer.alloc(9, 'a'), false), 'continue');
    assert.deepEqual(cb.localReplies, []);
  });

  test('response body inspection is opt-in (phase 4)', () => {
    const { filter } = filterFor({ directives: RULES, inspect_response_body: true });
    const cb = new FakeFilterCallbacks();
    const f = filter.create(cb);
    f.decodeHeaders!(requestHeaders('GET', '/'), true);
    assert.equal(
      f.encodeHeaders!(responseHeaders(200, { 'content-type': 'text/html' }), false),
      'stop',
    );
    assert.equal(f.encodeData!(Buffer.from('top secret'), true), 'stop-no-buffer');
    assert.equal(cb.localReplies[0]?.status, 403);
    assert.equal(cb.localReplies[0]?.options?.details, 'waf_blocked{rule_102}');

    const off = filterFor({ directives: RULES }).filter;
    const cb2 = new FakeFilterCallbacks();
    const f2 = off.create(cb2);
    f2.decodeHeaders!(requestHeaders('GET', '/'), true);
    assert.equal(
      f2.encodeHeaders!(responseHeaders(200, { 'content-type': 'text/html' }), false),
      'continue',
    );
    assert.equal(f2.encodeData!(Buffer.from('top secret'), true), 'continue');
  });

  test('per route: disabled, mode override, extra directives', () => {
    const { filter } = filterFor({ directives: RULES });
    const perRoute = (json: JsonObject): WafPerRouteModel => {
      const issues = new Issues('');
      const v = wafFilter.validatePerRoute!(WAF_PER_ROUTE_TYPE_URL, json, 'p', issues);
      assert.deepEqual(issues.errors, []);
      return v;
    };
    const run = (json: JsonObject, uri: string): number | undefined => {
      const cb = new FakeFilterCallbacks({
        name: 'filter-under-test',
        route: { perFilter: [{ config: perRoute(json), disabled: false }] },
      });
      filter.create(cb).decodeHeaders!(requestHeaders('GET', uri), true);
      return cb.localReplies[0]?.status;
    };
    assert.equal(run({}, '/?a=attack'), 403);
    assert.equal(run({ disabled: true }, '/?a=attack'), undefined);
    assert.equal(run({ mode: 'DETECTION_ONLY' }, '/?a=attack'), undefined);
    assert.equal(run({ directives: ['SecRuleRemoveById 100'] }, '/?a=attack'), undefined);
    assert.equal(
      run({ directives: ['SecRuleUpdateTargetById 100 "!ARGS:a"'] }, '/?a=attack'),
      undefined,
    );
    assert.equal(run({ directives: ['SecRuleUpdateTargetById 100 "!ARGS:a"'] }, '/?b=attack'), 403);
  });

  test('the audit log gets one JSON line per request with matches', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'waf-audit-'));
    const file = path.join(dir, 'audit.log');
    const { filter } = filterFor({ directives: RULES, audit_log: { path: file } });
    for (const uri of ['/?a=attack', '/?a=fine']) {
      const cb = new FakeFilterCallbacks();
      const f = filter.create(cb);
      f.decodeHeaders!(requestHeaders('GET', uri, { 'x-request-id': 'r1' }), true);
      f.onDestroy!();
    }
    const deadline = Date.now() + 10_000;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      lines = fs.existsSync(file)
        ? fs
            .readFileSync(file, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [];
      if (lines.length > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(lines.length, 1);
    const rec = JSON.parse(lines[0]!) as {
      outcome: string;
      path: string;
      matched_rules: Array<{ id: number; msg: string }>;
    };
    assert.equal(rec.outcome, 'blocked');
    assert.equal(rec.path, '/?a=attack');
    assert.deepEqual(
      rec.matched_rules.map((m) => m.id),
      [100],
    );
    assert.equal(rec.matched_rules[0]?.msg, 'attack in ARGS:a');
  });
});
