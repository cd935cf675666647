import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { FakeFilterCallbacks, requestHeaders } from '../filter-test-fixtures.js';
import { httpFilterByPerRouteTypeUrl, httpFilterByTypeUrl } from '../registry.js';
import { RBAC_FILTER_TYPE_URL, RBAC_PER_ROUTE_TYPE_URL, rbacFilter } from './config.js';
import type { HttpRbacConfig, HttpRbacPerRoute } from './model.js';
import { RbacFilter } from './rbac-filter.js';

const cidr = (address_prefix: string, prefix_len: number) => ({ address_prefix, prefix_len });

/** "Only the office network may use /admin", as an ALLOW list. */
const OFFICE_ONLY_ADMIN: JsonObject = {
  action: 'ALLOW',
  policies: {
    'not-admin': {
      permissions: [{ not_rule: { url_path: { path: { prefix: '/admin' } } } }],
      principals: [{ any: true }],
    },
    office: {
      permissions: [{ url_path: { path: { prefix: '/admin' } } }],
      principals: [{ remote_ip: cidr('10.0.0.0', 8) }],
    },
  },
};

function config(json: JsonObject): HttpRbacConfig {
  const issues = new Issues('');
  const value = rbacFilter.validate(json, 'typed_config', issues);
  assert.deepEqual(issues.errors, []);
  return value;
}

function perRoute(json: JsonObject): HttpRbacPerRoute {
  const issues = new Issues('');
  const value = rbacFilter.validatePerRoute!(RBAC_PER_ROUTE_TYPE_URL, json, 'p', issues);
  assert.deepEqual(issues.errors, []);
  return value;
}

const labels = { listener: 'l', stat_prefix: 'ingress' };

function setup(json: JsonObject) {
  const stats = new MemoryStatsSink();
  const filter = new RbacFilter(config(json), { stats, statPrefix: 'ingress', listenerName: 'l' });
  const run = (path: string, client: string, route?: HttpRbacPerRoute) => {
    const callbacks = new FakeFilterCallbacks({
      remoteAddress: '127.0.0.1',
      downstreamRemoteIp: client,
      ...(route ? { route: { perFilter: [{ config: route, disabled: false }] } } : {}),
    });
    const status = filter.create(callbacks).decodeHeaders!(requestHeaders('GET', path), true);
    return { status, callbacks, metadata: callbacks.streamInfo.dynamicMetadata };
  };
  const counter = (name: string, extra: Record<string, string>) =>
    stats.counterValue(name, { ...labels, ...extra });
  return { run, counter, filter };
}

describe('envoy.filters.http.rbac', () => {
  test('registered under its type URLs', () => {
    assert.equal(httpFilterByTypeUrl(RBAC_FILTER_TYPE_URL), rbacFilter);
    assert.equal(httpFilterByPerRouteTypeUrl(RBAC_PER_ROUTE_TYPE_URL), rbacFilter);
  });

  test('allowed requests continue; denied ones get 403 with the details Envoy writes', () => {
    const { run, counter } = setup({ rules: OFFICE_ONLY_ADMIN });
    assert.equal(run('/admin/users', '10.1.1.1').status, 'continue');
    assert.equal(run('/public', '203.0.113.5').status, 'continue');
    const denied = run('/admin/users', '203.0.113.5');
    assert.equal(denied.status, 'stop');
    assert.deepEqual(
      denied.callbacks.localReplies.map((r) => [r.status, r.body, r.options?.details]),
      [[403, 'RBAC: access denied', 'rbac_access_denied_matched_policy[none]']],
    );
    assert.equal(denied.callbacks.streamInfo.responseFlags, undefined);
    assert.deepEqual(denied.metadata.get('envoy.filters.http.rbac'), {
      enforced_engine_result: 'denied',
    });
    assert.equal(counter('rbac_allowed', { rules_stat_prefix: '' }), 2);
    assert.equal(counter('rbac_denied', { rules_stat_prefix: '' }), 1);
  });

  test('a DENY names the matched policy in the details and the metadata', () => {
    const { run } = setup({
      rules_stat_prefix: 'edge_',
      rules: {
        action: 'DENY',
        policies: {
          'block-admin': {
            permissions: [{ url_path: { path: { prefix: '/admin' } } }],
            principals: [{ any: true }],
          },
        },
      },
    });
    const denied = run('/admin', '10.0.0.1');
    assert.equal(
      denied.callbacks.localReplies[0]?.options?.details,
      'rbac_access_denied_matched_policy[block-admin]',
    );
    assert.deepEqual(denied.metadata.get('envoy.filters.http.rbac'), {
      edge_enforced_effective_policy_id: 'block-admin',
      edge_enforced_engine_result: 'denied',
    });
  });

  test('shadow rules are counted and written to metadata, never enforced', () => {
    const { run, counter } = setup({
      shadow_rules: OFFICE_ONLY_ADMIN,
      shadow_rules_stat_prefix: 'try_',
    });
    const outsider = run('/admin', '203.0.113.5');
    assert.equal(outsider.status, 'continue');
    assert.deepEqual(outsider.metadata.get('envoy.filters.http.rbac'), {
      try_shadow_engine_result: 'denied',
    });
    const office = run('/admin', '10.0.0.1');
    assert.deepEqual(office.metadata.get('envoy.filters.http.rbac'), {
      try_shadow_effective_policy_id: 'office',
      try_shadow_engine_result: 'allowed',
    });
    assert.equal(counter('rbac_shadow_denied', { shadow_rules_stat_prefix: 'try_' }), 1);
    assert.equal(counter('rbac_shadow_allowed', { shadow_rules_stat_prefix: 'try_' }), 1);
    assert.equal(
      counter('rbac_allowed', { rules_stat_prefix: '' }),
      0,
      'no rules: nothing enforced or counted',
    );
  });

  test('LOG sets envoy.common access_log_hint and allows', () => {
    const { run, filter } = setup({
      rules: {
        action: 'LOG',
        policies: {
          admin: {
            permissions: [{ url_path: { path: { prefix: '/admin' } } }],
            principals: [{ any: true }],
          },
        },
      },
    });
    const logged = run('/admin', '1.1.1.1');
    assert.equal(logged.status, 'continue');
    assert.deepEqual(logged.metadata.get('envoy.common'), { access_log_hint: true });
    assert.deepEqual(run('/x', '1.1.1.1').metadata.get('envoy.common'), { access_log_hint: false });
    const callbacks = new FakeFilterCallbacks({ downstreamRemoteIp: '1.1.1.1' });
    callbacks.streamInfo.dynamicMetadata.set('envoy.common', { access_log_hint: true });
    filter.create(callbacks).decodeHeaders!(requestHeaders('GET', '/x'), true);
    assert.deepEqual(
      callbacks.streamInfo.dynamicMetadata.get('envoy.common'),
      { access_log_hint: true },
      'another filter’s true hint stays',
    );
  });

  test('RBACPerRoute replaces the rules; one without rules turns RBAC off for the route', () => {
    const { run, counter } = setup({ rules: OFFICE_ONLY_ADMIN });
    const open = perRoute({});
    assert.equal(run('/admin', '203.0.113.5', open).status, 'continue');
    assert.equal(run('/admin', '203.0.113.5', perRoute({ rbac: {} })).status, 'continue');
    assert.equal(counter('rbac_denied', { rules_stat_prefix: '' }), 0);
    const denyAll = perRoute({ rbac: { rules: { action: 'ALLOW' }, rules_stat_prefix: 'route_' } });
    const denied = run('/public', '10.0.0.1', denyAll);
    assert.equal(denied.status, 'stop');
    assert.deepEqual(denied.metadata.get('envoy.filters.http.rbac'), {
      route_enforced_engine_result: 'denied',
    });
    assert.equal(counter('rbac_denied', { rules_stat_prefix: '' }), 1, 'the filter’s counter');
  });

  test('NACKs: matcher forms, per-rule stats, unknown per-route fields', () => {
    const issues = new Issues('');
    rbacFilter.validate(
      { matcher: {}, shadow_matcher: {}, track_per_rule_stats: true },
      'tc',
      issues,
    );
    rbacFilter.validatePerRoute!(
      RBAC_PER_ROUTE_TYPE_URL,
      {
        rbac: {
          rules: {
            policies: { p: { permissions: [{ any: true }], principals: [{ metadata: {} }] } },
          },
        },
      },
      'pr',
      issues,
    );
    assert.deepEqual(issues.errors, [
      'tc.matcher: the matcher form of RBAC is not supported by ferry-proxy; use rules',
      'tc.shadow_matcher: the matcher form of RBAC is not supported by ferry-proxy; use shadow_rules',
      'tc.track_per_rule_stats: per-policy stats are not supported by ferry-proxy (use the allowed/denied counters and the effective policy in dynamic metadata)',
      'pr.rbac.rules.policies["p"].principals[0].metadata: metadata matchers are not supported by ferry-proxy',
    ]);
  });
});
