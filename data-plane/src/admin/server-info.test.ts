import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProxyConfig } from '../config/model.js';
import type { AppliedConfig, XdsCounters } from '../xds/config-source.js';
import { ServerInfo, type ServerInfoInput } from './server-info.js';

const counters: XdsCounters = {
  updates: new Map(),
  rejections: new Map(),
  lastRejection: undefined,
  rejectedResources: new Map(),
  connected: true,
  connects: 1,
};

function input(overrides: Partial<ServerInfoInput> = {}): ServerInfoInput {
  return {
    version: '1.2.3',
    commandLineOptions: { config: 'b.yaml' },
    node: { id: 'n1', cluster: 'edge' },
    startedAtMs: Date.now() - 5_500,
    state: () => 'LIVE',
    workers: () => ({ configured: 2, live: 1 }),
    applied: () => undefined,
    xds: () => undefined,
    ...overrides,
  };
}

test('server_info: Envoy fields, workers, and null config and xds before any', () => {
  const info = new ServerInfo(input()).info();
  assert.equal(info.version, 'ferry-proxy/1.2.3');
  assert.equal(info.state, 'LIVE');
  assert.deepEqual(info.command_line_options, { config: 'b.yaml' });
  assert.deepEqual(info.node, {
    id: 'n1',
    cluster: 'edge',
    user_agent_name: 'ferry-proxy',
    user_agent_version: '1.2.3',
  });
  const uptime = String(info.uptime_current_epoch);
  assert.match(uptime, /^\d+s$/);
  assert.ok(Number.parseInt(uptime, 10) >= 5, uptime);
  assert.equal(info.uptime_all_epochs, uptime);
  assert.deepEqual(info.workers, { configured: 2, live: 1 });
  assert.equal(info.config, null);
  assert.equal(info.xds, null);
});

test('server_info: the config in force, its origin, node metadata and the xDS connection', () => {
  const applied = {
    config: { version: 'v7' } as ProxyConfig,
    origin: 'xds',
  } as AppliedConfig;
  const lastRejection = { typeUrl: 't', version: 'v8', errors: ['bad'], at: 'now' };
  const source = new ServerInfo(
    input({
      node: { id: 'n1', cluster: 'edge', metadata: { zone: 'a' } },
      state: () => 'DRAINING',
      applied: () => applied,
      xds: () => ({
        target: '127.0.0.1:18000',
        targets: ['127.0.0.1:18000', '127.0.0.1:18001'],
        counters: {
          ...counters,
          lastRejection,
          rejectedResources: new Map([
            [
              'lds',
              new Map([
                ['api', { name: 'api', version: 'v8', errors: ['bad'], at: 'now', json: {} }],
              ]),
            ],
          ]),
        },
        stateDir: '/var/lib/ferry',
      }),
    }),
  );
  assert.equal(source.state(), 'DRAINING');
  const info = source.info();
  assert.deepEqual((info.node as Record<string, unknown>).metadata, { zone: 'a' });
  assert.deepEqual(info.config, { version: 'v7', origin: 'xds' });
  assert.deepEqual(info.xds, {
    target: '127.0.0.1:18000',
    targets: ['127.0.0.1:18000', '127.0.0.1:18001'],
    connected: true,
    state_dir: '/var/lib/ferry',
    last_rejection: lastRejection,
    rejected_resources: [
      { type_url: 'lds', name: 'api', version: 'v8', errors: ['bad'], at: 'now' },
    ],
  });
});
