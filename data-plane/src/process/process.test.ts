import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ListenerModel, ProxyConfig } from '../config/model.js';
import { parseOptions } from './options.js';
import { adsEndpoints, offsetListeners } from './primary-inputs.js';
import {
  WORKER_MAX_SEMI_SPACE_MB,
  WORKER_MIN_SEMI_SPACE_MB,
  acceptPolicy,
  workerEnv,
  workerExecArgv,
} from './worker-pool.js';

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

test('the control planes are every endpoint of the static cluster the ads_config names, with priorities', () => {
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
              {
                endpoint: {
                  address: { socket_address: { address: '::1', port_value: 18001 } },
                },
              },
            ],
          },
          {
            priority: 1,
            lb_endpoints: [
              {
                endpoint: {
                  address: { socket_address: { address: 'cp-backup', port_value: 18002 } },
                },
              },
            ],
          },
        ],
      },
    },
  ];
  assert.deepEqual(adsEndpoints(clusters, 'xds_cluster'), {
    ok: true,
    endpoints: [
      { target: '127.0.0.1:18000', priority: 0 },
      { target: '[::1]:18001', priority: 0 },
      { target: 'cp-backup:18002', priority: 1 },
    ],
  });
  const missing = adsEndpoints(clusters, 'other');
  assert.ok(!missing.ok && /not in static_resources\.clusters/.test(missing.error));
  const empty = adsEndpoints([{ name: 'x' }], 'x');
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

test('--access-log: one JSON line per request with Envoy operator names, flushed on close', async () => {
  const { openAccessLog } = await import('./access-log.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const parsed = parseOptions(['--config', 'b.yaml', '--access-log', '/tmp/x.log']);
  assert.ok(parsed.ok);
  assert.equal(parsed.options.accessLogPath, '/tmp/x.log');
  assert.ok(parsed.ok && parseOptions(['--config', 'b.yaml']).ok);

  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-access-')), 'access.log');
  const { createLogger } = await import('@ferry/shared');
  const writer = openAccessLog(file, createLogger('test', 'silent'));
  const entry = {
    listener: 'http',
    method: 'GET',
    authority: 'app.test',
    path: '/x',
    protocol: 'HTTP/1.1',
    status: 503,
    responseFlags: 'UF',
    durationMs: 1.4,
    route: 'r',
    cluster: 'web',
    upstreamHost: '127.0.0.1:1',
    requestId: 'id-1',
    attempts: 1,
  };
  writer.write(entry);
  writer.write({ ...entry, path: '/y', status: 200, responseFlags: '-' });
  await Promise.all([writer.close(), writer.close()]);
  writer.write(entry); // after close: dropped, no throw
  assert.equal(writer.dropped, 1);
  const lines = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.deepEqual(
    lines.map((l) => [l.path, l.response_code, l.response_flags, l.upstream_host, l.duration]),
    [
      ['/x', 503, 'UF', '127.0.0.1:1', 1],
      ['/y', 200, '-', '127.0.0.1:1', 1],
    ],
  );
});

test('workers get a larger young generation unless the operator set one', () => {
  const max = `--max-semi-space-size=${WORKER_MAX_SEMI_SPACE_MB}`;
  const min = `--min-semi-space-size=${WORKER_MIN_SEMI_SPACE_MB}`;
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], ''), [
    '--enable-source-maps',
    max,
    min,
  ]);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=8'], ''), [
    '--max-semi-space-size=8',
    min,
  ]);
  assert.deepEqual(workerExecArgv(['--min-semi-space-size=2'], ''), [
    '--min-semi-space-size=2',
    max,
  ]);
  assert.deepEqual(workerExecArgv([], '--max-semi-space-size=4 --trace-gc'), [min]);
  assert.deepEqual(workerExecArgv([], '--min-semi-space-size=4 --max-semi-space-size=4'), []);
});

test('workers accept connections themselves, several workers one per wake-up, unless the operator chose otherwise', () => {
  assert.equal(acceptPolicy({}), 'none');
  assert.equal(acceptPolicy({ NODE_CLUSTER_SCHED_POLICY: 'rr' }), 'rr');
  assert.equal(acceptPolicy({ NODE_CLUSTER_SCHED_POLICY: 'none' }), 'none');
  assert.deepEqual(workerEnv(3, 4, {}), { FERRY_WORKER_INDEX: '3', UV_TCP_SINGLE_ACCEPT: '1' });
  assert.deepEqual(workerEnv(0, 1, {}), { FERRY_WORKER_INDEX: '0' });
  assert.deepEqual(workerEnv(0, 2, { UV_TCP_SINGLE_ACCEPT: '0' }), { FERRY_WORKER_INDEX: '0' });
});
