/**
 * Local rate limits end to end, with real processes on loopback: control plane ← ferryctl apply
 * → ADS → ferry-proxy (two workers) → a backend. The HTTP filter envoy.filters.http.local_ratelimit
 * sits in the HCM without a bucket; routes enable it with typed_per_filter_config (Envoy's common
 * pattern). A second listener runs envoy.filters.network.local_ratelimit before tcp_proxy.
 *
 * Buckets are proxy-wide: the workers lease tokens from the primary, so the configured number
 * of requests passes whatever worker serves them. node:cluster deals connections to the workers
 * round-robin; with one connection per request both workers serve the traffic, and a bucket per
 * worker would let twice the limit through.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import {
  eventually,
  ferryctl,
  freePort,
  httpRequest,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

const T = 'type.googleapis.com/';
const LOCAL_RATE_LIMIT = `${T}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`;
const ALWAYS = { default_value: { numerator: 100 } };
/** One token an hour: over a test the refill is a small fraction of a token. */
const HOUR = '3600s';
/** The proxy-wide limit of /global. */
const GLOBAL_MAX = 60;
/** /refill: a burst of REFILL_MAX, then REFILL_PER_S tokens a second. */
const REFILL_MAX = 50;
const REFILL_PER_S = 50;

function perRoute(fields: Json): Json {
  return { 'envoy.filters.http.local_ratelimit': { '@type': LOCAL_RATE_LIMIT, ...fields } };
}

function resources(httpPort: number, tcpPort: number, backendPort: number): Json[] {
  const cluster = {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    name: 'backend',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: 'backend',
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: {
                address: { socket_address: { address: '127.0.0.1', port_value: backendPort } },
              },
            },
          ],
        },
      ],
    },
  };
  const hcm = {
    '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    stat_prefix: 'rl',
    rds: { route_config_name: 'rl', config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [
      {
        name: 'envoy.filters.http.local_ratelimit',
        typed_config: { '@type': LOCAL_RATE_LIMIT, stat_prefix: 'http_local' },
      },
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
      },
    ],
  };
  const routes: Json[] = [
    {
      match: { prefix: '/global' },
      route: { cluster: 'backend' },
      typed_per_filter_config: perRoute({
        stat_prefix: 'global',
        token_bucket: { max_tokens: GLOBAL_MAX, tokens_per_fill: 1, fill_interval: HOUR },
        filter_enabled: ALWAYS,
        filter_enforced: ALWAYS,
        enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      }),
    },
    {
      match: { prefix: '/refill' },
      route: { cluster: 'backend' },
      typed_per_filter_config: perRoute({
        stat_prefix: 'refill',
        token_bucket: {
          max_tokens: REFILL_MAX,
          tokens_per_fill: REFILL_PER_S / 10,
          fill_interval: '0.1s',
        },
        filter_enabled: ALWAYS,
        filter_enforced: ALWAYS,
      }),
    },
    {
      // Per client address (the trusted address after XFF): 2 for each listed client, a shared
      // bucket of 100 for everyone else.
      match: { prefix: '/login' },
      route: {
        cluster: 'backend',
        rate_limits: [{ actions: [{ remote_address: {} }] }],
      },
      typed_per_filter_config: perRoute({
        stat_prefix: 'login',
        token_bucket: { max_tokens: 100, fill_interval: HOUR },
        filter_enabled: ALWAYS,
        filter_enforced: ALWAYS,
        always_consume_default_token_bucket: false,
        descriptors: ['203.0.113.1', '203.0.113.2'].map((ip) => ({
          entries: [{ key: 'remote_address', value: ip }],
          token_bucket: { max_tokens: 2, fill_interval: HOUR },
        })),
        response_headers_to_add: [
          {
            header: { key: 'x-limited-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' },
          },
        ],
      }),
    },
    {
      match: { prefix: '/shadow' },
      route: { cluster: 'backend' },
      typed_per_filter_config: perRoute({
        stat_prefix: 'shadow',
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
        filter_enabled: ALWAYS,
        request_headers_to_add_when_not_enforced: [
          { header: { key: 'x-rate-limited', value: 'shadow' } },
        ],
      }),
    },
    { match: { prefix: '/' }, route: { cluster: 'backend' } },
  ];
  return [
    {
      '@type': `${T}envoy.config.listener.v3.Listener`,
      name: 'rl-http',
      address: { socket_address: { address: '127.0.0.1', port_value: httpPort } },
      filter_chains: [
        { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] },
      ],
    },
    {
      '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
      name: 'rl',
      virtual_hosts: [{ name: 'all', domains: ['*'], routes }],
    },
    {
      '@type': `${T}envoy.config.listener.v3.Listener`,
      name: 'rl-tcp',
      address: { socket_address: { address: '127.0.0.1', port_value: tcpPort } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.local_ratelimit',
              typed_config: {
                '@type': `${T}envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit`,
                stat_prefix: 'tcp_local',
                token_bucket: { max_tokens: 3, fill_interval: HOUR },
              },
            },
            {
              name: 'envoy.filters.network.tcp_proxy',
              typed_config: {
                '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
                stat_prefix: 'tcp',
                cluster: 'backend',
              },
            },
          ],
        },
      ],
    },
    cluster,
  ];
}

interface HeaderBackend {
  readonly port: number;
  /** Requests seen: path and headers. */
  readonly seen: { url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** A backend answering 200 "ok" and recording every request's headers. */
async function startHeaderBackend(): Promise<HeaderBackend> {
  const seen: HeaderBackend['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A counter of /stats/prometheus (`ferry_` + name; 0 when absent). */
async function counter(proxy: Proxy, name: string, statPrefix: string): Promise<number> {
  const text = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`ferry_${name}{`) || !line.includes(`stat_prefix="${statPrefix}"`))
      continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** An HTTP/1.1 GET over a raw TCP connection: the response text, or "" when closed without one. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`),
    );
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

describe('ferry-proxy local rate limits', () => {
  let cp: ControlPlane;
  let backend: HeaderBackend;
  let proxy: Proxy;
  let httpPort: number;
  let tcpPort: number;
  const url = (path: string): string => `http://127.0.0.1:${httpPort}${path}`;

  before(async () => {
    cp = await startControlPlane();
    backend = await startHeaderBackend();
    httpPort = await freePort();
    tcpPort = await freePort();
    const yaml = resources(httpPort, tcpPort, backend.port)
      .map((doc) => JSON.stringify(doc))
      .join('\n---\n');
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], yaml);
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'local-rl-e2e', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    await eventually(
      async () => ((await httpRequest(url('/ready'))).status === 200 ? true : undefined),
      'the proxy to serve the rate limited listener',
    );
  });

  after(async () => {
    await backend?.close();
    await stopAll();
  });

  test('the configured tokens pass proxy-wide, across both workers', async (t) => {
    const started = performance.now();
    const total = GLOBAL_MAX * 4;
    const concurrency = 16;
    const statuses: number[] = [];
    let next = 0;
    // One connection per request: node:cluster deals them to the workers in turn.
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          statuses.push((await httpRequest(url('/global'))).status);
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const admitted = statuses.filter((s) => s === 200).length;
    assert.deepEqual(
      [...new Set(statuses)].sort(),
      [200, 429],
      'every request is either admitted or limited',
    );
    // Envoy's bucket: max_tokens at the start plus what refilled during the window.
    const expected = GLOBAL_MAX + Math.floor((elapsedMs / 3_600_000) * 1);
    t.diagnostic(
      `admitted ${admitted} of ${total} in ${Math.round(elapsedMs)} ms (expected ${expected})`,
    );
    assert.ok(admitted <= expected, `admitted ${admitted}, more than the ${expected} configured`);
    assert.ok(
      admitted >= Math.floor(expected * 0.95),
      `admitted ${admitted}, under 95% of the ${expected} configured`,
    );
    assert.equal(await counter(proxy, 'http_local_rate_limit_ok', 'global'), admitted);
    assert.equal(
      await counter(proxy, 'http_local_rate_limit_enforced', 'global'),
      total - admitted,
    );
  });

  test('a refilling bucket admits max_tokens plus the fills of the window, proxy-wide', async (t) => {
    // Saturating traffic over fresh connections (both workers) for a few seconds: every token
    // the bucket refills is asked for at once, so the proxy admits what Envoy's bucket would.
    const concurrency = 16;
    const windowMs = 3000;
    const started = performance.now();
    let admitted = 0;
    let sent = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() - started < windowMs) {
          sent++;
          if ((await httpRequest(url('/refill'))).status === 200) admitted++;
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const expected = REFILL_MAX + Math.floor((elapsedMs / 1000) * REFILL_PER_S);
    t.diagnostic(
      `admitted ${admitted} of ${sent} in ${Math.round(elapsedMs)} ms (expected ${expected})`,
    );
    assert.ok(sent > 2 * expected, `only ${sent} requests: the bucket was not saturated`);
    assert.ok(
      Math.abs(admitted - expected) <= expected * 0.05,
      `admitted ${admitted}, expected ${expected} ± 5%`,
    );
  });

  test('429 local_rate_limited with x-ratelimit headers', async () => {
    // /global is spent by the previous test (or is within its last few tokens).
    const limited = await eventually(async () => {
      const res = await httpRequest(url('/global'));
      return res.status === 429 ? res : undefined;
    }, 'a limited /global request');
    assert.equal(limited.body, 'local_rate_limited');
    assert.equal(limited.headers['x-ratelimit-limit'], String(GLOBAL_MAX));
    assert.equal(limited.headers['x-ratelimit-remaining'], '0');
    const reset = Number(limited.headers['x-ratelimit-reset']);
    assert.ok(reset > 0 && reset <= 3600, `x-ratelimit-reset ${reset}`);
    assert.equal(limited.headers['x-envoy-ratelimited'], 'true');
  });

  test('per client address: descriptors from the route rate_limits (remote_address)', async () => {
    const from = (ip: string) => httpRequest(url('/login'), { headers: { 'x-forwarded-for': ip } });
    const first = [];
    for (let i = 0; i < 3; i++) first.push((await from('203.0.113.1')).status);
    assert.deepEqual(first, [200, 200, 429]);
    const limited = await from('203.0.113.1');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['x-limited-client'], '203.0.113.1');
    // Another listed client has its own bucket; unlisted ones share the default bucket.
    assert.equal((await from('203.0.113.2')).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await from('198.51.100.9')).status, 200);
  });

  test('filter_enforced 0%: limited requests are counted and pass with a header', async () => {
    const first = await httpRequest(url('/shadow/1'));
    const second = await httpRequest(url('/shadow/2'));
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    const headers = (path: string) => backend.seen.find((r) => r.url === path)?.headers;
    assert.equal(headers('/shadow/1')?.['x-rate-limited'], undefined);
    assert.equal(headers('/shadow/2')?.['x-rate-limited'], 'shadow');
    assert.equal(await counter(proxy, 'http_local_rate_limit_rate_limited', 'shadow'), 1);
    assert.equal(await counter(proxy, 'http_local_rate_limit_enforced', 'shadow'), 0);
  });

  test('network local_ratelimit closes connections over the bucket', async () => {
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await rawGet(tcpPort, '/tcp'));
    assert.deepEqual(
      answers.map((a) => a.startsWith('HTTP/1.1 200')),
      [true, true, true, false, false],
    );
    assert.deepEqual(answers.slice(3), ['', '']);
    assert.equal(await counter(proxy, 'network_local_rate_limit_rate_limited', 'tcp_local'), 2);
  });
});
