import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import type { NetworkConnection } from '../filter.js';
import { networkFilterByTypeUrl } from '../registry.js';
import { NETWORK_RBAC_TYPE_URL, networkRbacFilter } from './config.js';
import { NetworkRbacFilter } from './network-rbac-filter.js';

function connection(remoteAddress: string, localPort = 9000): NetworkConnection {
  const socket = { remoteAddress, localAddress: '127.0.0.1', localPort } as unknown as Socket;
  return { socket, encrypted: false, serverName: undefined } as unknown as NetworkConnection;
}

function setup(json: JsonObject) {
  const issues = new Issues('');
  const config = networkRbacFilter.validate(json, 'tc', issues, {});
  assert.deepEqual(issues.errors, []);
  const stats = new MemoryStatsSink();
  const filter = new NetworkRbacFilter(config, { stats, listenerName: 'l' });
  const run = (remote: string, port?: number) => {
    let closed = 0;
    const conn = connection(remote, port);
    const status = filter.onNewConnection(conn, {
      continueReading: () => assert.fail('never held'),
      close: () => closed++,
    });
    return { status, closed, metadata: conn.dynamicMetadata };
  };
  const counter = (name: string, extra: Record<string, string> = {}) =>
    stats.counterValue(name, { listener: 'l', stat_prefix: 'tcp_in', ...extra });
  return { run, counter };
}

const OFFICE = {
  policies: {
    office: {
      permissions: [{ any: true }],
      principals: [{ direct_remote_ip: { address_prefix: '127.0.0.1', prefix_len: 32 } }],
    },
  },
};

describe('envoy.filters.network.rbac', () => {
  test('registered as a non-terminal network filter', () => {
    assert.equal(networkFilterByTypeUrl(NETWORK_RBAC_TYPE_URL), networkRbacFilter);
    assert.equal(networkRbacFilter.terminal, false);
  });

  test('allowed connections continue; denied ones are closed and counted', () => {
    const { run, counter } = setup({ stat_prefix: 'tcp_in', rules: OFFICE });
    const ok = { status: 'continue', closed: 0, metadata: undefined };
    assert.deepEqual(run('127.0.0.1'), ok);
    assert.deepEqual(run('::ffff:127.0.0.1'), ok);
    assert.deepEqual(run('10.0.0.1'), { status: 'stop', closed: 1, metadata: undefined });
    assert.equal(counter('network_rbac_allowed'), 2);
    assert.equal(counter('network_rbac_denied'), 1);
  });

  test('shadow rules are counted and written to connection metadata only; url_path never matches a connection', () => {
    const { run, counter } = setup({
      stat_prefix: 'tcp_in',
      shadow_rules_stat_prefix: 's_',
      shadow_rules: {
        policies: {
          p: {
            permissions: [{ url_path: { path: { prefix: '/' } } }],
            principals: [{ any: true }],
          },
        },
      },
    });
    const { status, metadata } = run('10.0.0.1');
    assert.equal(status, 'continue');
    assert.deepEqual(metadata?.get('envoy.filters.network.rbac'), {
      s_shadow_engine_result: 'denied',
    });
    assert.equal(counter('network_rbac_shadow_denied', { shadow_rules_stat_prefix: 's_' }), 1);
    assert.equal(counter('network_rbac_allowed'), 0);
  });

  test('NACKs: CONTINUOUS, delay_deny, matcher, missing stat_prefix', () => {
    const issues = new Issues('');
    networkRbacFilter.validate(
      { enforcement_type: 'CONTINUOUS', delay_deny: '1s', matcher: {} },
      'f',
      issues,
      {},
    );
    assert.deepEqual(issues.errors, [
      'f.delay_deny: delay_deny is not supported by ferry-proxy (denied connections close at once)',
      'f.matcher: the matcher form of RBAC is not supported by ferry-proxy; use rules',
      'f.stat_prefix: required',
      'f.enforcement_type: CONTINUOUS is not supported by ferry-proxy (supported: ONE_TIME_ON_FIRST_BYTE)',
    ]);
  });
});
