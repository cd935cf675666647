import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResourceJson } from '@ferry/proto';
import { AccessPolicy, compilePolicy } from './access-policy.js';
import { compileIdentityPattern, matchesIdentity } from './identity-pattern.js';
import { resourceLabel, validateBatch } from '../validation/validation.js';

function pattern(source: string) {
  const compiled = compileIdentityPattern(source);
  if (!compiled.ok) assert.fail(compiled.error);
  return compiled.value;
}

describe('identity patterns', () => {
  const cases: Array<
    [pattern: string, subject: string, group: string, node: string, matches: boolean]
  > = [
    [
      'spiffe://ferry/group/{group}/node/{node}',
      'spiffe://ferry/group/web/node/web-1',
      'web',
      'web-1',
      true,
    ],
    [
      'spiffe://ferry/group/{group}/node/{node}',
      'spiffe://ferry/group/web/node/web-1',
      'db',
      'web-1',
      false,
    ],
    [
      'spiffe://ferry/group/{group}/node/{node}',
      'spiffe://ferry/group/web/node/web-1',
      'web',
      'web-2',
      false,
    ],
    ['spiffe://ferry/group/{group}/*', 'spiffe://ferry/group/web/node', 'web', 'x', true],
    // * stays within one segment; ** crosses them.
    ['spiffe://ferry/group/{group}/*', 'spiffe://ferry/group/web/node/web-1', 'web', 'x', false],
    ['spiffe://ferry/group/{group}/**', 'spiffe://ferry/group/web/node/web-1', 'web', 'x', true],
    // A claimed group is literal text: "." or "*" in it match only themselves.
    ['spiffe://ferry/group/{group}/*', 'spiffe://ferry/group/wXb/n', 'w.b', 'x', false],
    ['spiffe://ferry/group/{group}/*', 'spiffe://ferry/group/web/n', '*', 'x', false],
    // A group with a slash cannot escape its segment of the pattern.
    [
      'spiffe://ferry/group/{group}/node/*',
      'spiffe://ferry/group/a/node/b/node/c',
      'a/node/b',
      'x',
      true,
    ],
    ['*.proxies.example', 'web-1.proxies.example', 'g', 'n', true],
    ['*.proxies.example', 'a.b.proxies.example', 'g', 'n', true],
    ['{node}.{group}.proxies.example', 'web-1.web.proxies.example', 'web', 'web-1', true],
    // An unnamed node never stands for {node}.
    [
      'spiffe://ferry/group/{group}/node/{node}',
      'spiffe://ferry/group/web/node/',
      'web',
      '',
      false,
    ],
    ['spiffe://Ferry/x', 'spiffe://ferry/x', 'g', 'n', false],
  ];
  for (const [source, subject, group, node, expected] of cases) {
    test(`${source} ${expected ? 'matches' : 'does not match'} ${subject} as ${group}/${node || '""'}`, () => {
      assert.equal(matchesIdentity(pattern(source), subject, group, node), expected);
    });
  }

  test('rejects what it cannot mean', () => {
    assert.deepEqual(compileIdentityPattern(''), { ok: false, error: 'empty pattern' });
    assert.match(
      String((compileIdentityPattern('a/{grp}') as { error: string }).error),
      /unknown placeholder \{grp\} at offset 2/,
    );
    assert.match(
      String((compileIdentityPattern('a/{group') as { error: string }).error),
      /without "}"/,
    );
    assert.match(
      String((compileIdentityPattern('a}') as { error: string }).error),
      /"}" without "\{"/,
    );
    assert.match(String((compileIdentityPattern('a/***') as { error: string }).error), /ambiguous/);
  });
});

describe('AccessPolicy', () => {
  const web1 = ['spiffe://ferry/group/web/node/web-1'];

  test('a --xds-group-from-san pattern admits the group it names, and only that group', () => {
    const policy = new AccessPolicy({ groupFromSan: ['spiffe://ferry/group/{group}/node/{node}'] });
    assert.equal(policy.admit(web1, 'web', 'web-1').ok, true);
    const refused = policy.admit(web1, 'db', 'web-1');
    assert.equal(refused.ok, false);
    assert.equal(policy.admit(web1, 'web', 'web-2').ok, false);
    assert.equal(policy.admit([], 'web', 'web-1').ok, false);
  });

  test('flag patterns are checked at start, naming the flag', () => {
    assert.throws(
      () => new AccessPolicy({ groupFromSan: ['spiffe://ferry/*'] }),
      /--xds-group-from-san "spiffe:\/\/ferry\/\*": the pattern must contain \{group\}/,
    );
    assert.throws(
      () => new AccessPolicy({ groupFromSan: ['x/{grp}'] }),
      /--xds-group-from-san "x\/\{grp\}": unknown placeholder/,
    );
    assert.throws(
      () => new AccessPolicy({ adminSan: ['spiffe://ferry/admin/{group}'] }),
      /--xds-admin-san .*no meaning/,
    );
  });

  test('a stored policy admits to its own group only, by identity and node id', () => {
    const policy = new AccessPolicy();
    assert.match(
      (policy.admit(web1, 'web', 'web-1') as { reason: string }).reason,
      /no access rule exists for group "web"/,
    );
    const compiled = compilePolicy({
      name: 'ops',
      rules: [{ identities: ['spiffe://ferry/ops/*', 'ops.example'], node_ids: ['ops-*'] }],
    });
    if (!compiled.ok) assert.fail(compiled.errors.join('; '));
    policy.setPolicy('web', 'ops', compiled.value);
    assert.deepEqual(policy.admit(['spiffe://ferry/ops/tool'], 'web', 'ops-1'), {
      ok: true,
      via: 'XdsAccessPolicy "ops" rules[0]',
    });
    assert.equal(policy.admit(['ops.example'], 'web', 'ops-2').ok, true);
    assert.equal(policy.admit(['spiffe://ferry/ops/tool'], 'web', 'web-1').ok, false);
    assert.equal(policy.admit(['spiffe://ferry/ops/tool'], 'db', 'ops-1').ok, false);
    policy.setPolicy('web', 'ops', undefined);
    assert.equal(policy.admit(['spiffe://ferry/ops/tool'], 'web', 'ops-1').ok, false);
  });

  test('admin identities read CSDS', () => {
    const policy = new AccessPolicy({ adminSan: ['spiffe://ferry/admin/*'] });
    assert.equal(policy.isAdmin(['spiffe://ferry/admin/alice']), true);
    assert.equal(policy.isAdmin(['spiffe://ferry/group/admin/node/x']), false);
    assert.equal(new AccessPolicy().isAdmin(['spiffe://ferry/admin/alice']), false);
  });
});

describe('XdsAccessPolicy validation', () => {
  function validate(doc: Record<string, unknown>) {
    const parsed = parseResourceJson(doc, 'resources[0]');
    if (!parsed.ok) return { ok: false as const, errors: parsed.errors };
    return validateBatch('web', [], [{ index: 0, ...parsed.value }]);
  }

  test('a valid policy passes', () => {
    assert.deepEqual(
      validate({
        '@type': 'type.googleapis.com/ferry.v1.XdsAccessPolicy',
        name: 'ops',
        rules: [{ identities: ['spiffe://ferry/ops/*'] }],
      }),
      { ok: true },
    );
  });

  test('errors carry the resource and field path', () => {
    const verdict = validate({
      '@type': 'type.googleapis.com/ferry.v1.XdsAccessPolicy',
      name: 'ops',
      rules: [
        { identities: ['spiffe://ferry/ops/*'] },
        { identities: ['ok', 'spiffe://x/{grp}'], node_ids: [''] },
        { node_ids: ['a-*'] },
      ],
    });
    assert.equal(verdict.ok, false);
    const label = `resources[0](XdsAccessPolicy "ops")`;
    assert.deepEqual((verdict as { errors: string[] }).errors, [
      `${label}.rules[1].identities[1]: unknown placeholder {grp} at offset 11: only {group} and {node} exist`,
      `${label}.rules[1].node_ids[0]: empty pattern`,
      `${label}.rules[2].identities: at least one identity pattern is required`,
    ]);
    assert.equal(resourceLabel('XdsAccessPolicy', 'ops'), 'XdsAccessPolicy "ops"');
  });

  test('a policy without rules is refused', () => {
    const verdict = validate({
      '@type': 'type.googleapis.com/ferry.v1.XdsAccessPolicy',
      name: 'empty',
    });
    assert.deepEqual((verdict as { errors: string[] }).errors, [
      'resources[0](XdsAccessPolicy "empty").rules: at least one rule is required (a policy without rules admits no one)',
    ]);
  });

  test('unknown fields are refused by the decoder with their path', () => {
    const verdict = validate({
      '@type': 'type.googleapis.com/ferry.v1.XdsAccessPolicy',
      name: 'ops',
      rules: [{ identity: ['x'] }],
    });
    assert.equal(verdict.ok, false);
    assert.match((verdict as { errors: string[] }).errors.join('\n'), /rules\[0\]\.identity/);
  });
});
