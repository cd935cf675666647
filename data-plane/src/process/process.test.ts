import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ListenerModel, ProxyConfig } from '../config/model.js';
import { parseOptions } from './options.js';
import { adsTarget, offsetListeners } from './primary.js';

test('options: defaults, overrides and usage errors', () => {
  const parsed = parseOptions([
    '--config',
    'b.yaml',
    '--concurrency',
    '3',
    '--admin-address',
    '127.0.0.1:9901',
    '--drain-timeout-s',
    '4',
  ]);
  assert.ok(parsed.ok);
  assert.equal(parsed.options.concurrency, 3);
  assert.deepEqual(parsed.options.adminAddress, { host: '127.0.0.1', port: 9901 });
  assert.equal(parsed.options.drainTimeoutMs, 4000);
  assert.equal(parsed.options.listenerPortOffset, 0);
  for (const [argv, message] of [
    [[], /--config: required/],
    [['--config', 'b', '--concurrency', '0'], /--concurrency: expected an integer 1\.\.1024/],
    [['--config', 'b', '--admin-address', 'x'], /--admin-address: expected HOST:PORT/],
    [['--config', 'b', '--log-level', 'loud'], /--log-level/],
    [['--config', 'b', '--bogus'], /bogus/],
  ] as const) {
    const r = parseOptions(argv);
    assert.ok(!r.ok && !r.help, JSON.stringify(argv));
    assert.match(r.error, message);
  }
  const help = parseOptions(['-h']);
  assert.ok(!help.ok && help.help);
});

test('the ADS target comes from the static cluster the ads_config names', () => {
  const clusters = [
    {
      name: 'xds_cluster',
      load_assignment: {
        endpoints: [
          {
            lb_endpoints: [
              {
                endpoint: {
                  address: { socket_address: { address: '127.0.0.1', port_value: 18000 } },
                },
              },
            ],
          },
        ],
      },
    },
  ];
  assert.deepEqual(adsTarget(clusters, 'xds_cluster'), { ok: true, target: '127.0.0.1:18000' });
  const missing = adsTarget(clusters, 'other');
  assert.ok(!missing.ok && /not in static_resources\.clusters/.test(missing.error));
  const empty = adsTarget([{ name: 'x' }], 'x');
  assert.ok(!empty.ok && /no socket_address/.test(empty.error));
});

test('--listener-port-offset shifts listener ports but not port 0', () => {
  const listener = (port: number): ListenerModel =>
    ({ name: `l${port}`, address: { host: '127.0.0.1', port } }) as unknown as ListenerModel;
  const config: ProxyConfig = {
    version: 'v',
    listeners: [listener(10000), listener(0)],
    routeConfigs: {},
    clusters: {},
  };
  assert.equal(offsetListeners(config, 0), config);
  assert.deepEqual(
    offsetListeners(config, 1).listeners.map((l) => l.address.port),
    [10001, 0],
  );
  assert.equal(config.listeners[0]?.address.port, 10000, 'the input is not changed');
});
