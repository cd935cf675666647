/**
 * Fleet-wide rate limits end to end, real processes on loopback: the control plane serves
 * Envoy's RateLimitService on its xDS port and counts for every proxy of a group; ferry-proxy's
 * envoy.filters.http.ratelimit asks it about the descriptors of the route's rate_limits.
 * Everything is configured with ferryctl: a cluster pointing at the control plane's xDS address
 * (HTTP/2), the ratelimit filter, a route with rate_limits actions, and a RateLimitPolicy.
 *
 * Determinism: counters are fixed windows aligned to the unit (HOUR here); each scenario uses a
 * fresh descriptor (the x-scenario header) and starts only when the current hour has more than
 * WINDOW_ROOM_MS left, so a whole scenario is counted in one window and the fleet lets through
 * exactly LIMIT requests whatever the split between the proxies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { GrpcClient } from '@ferry/proto/grpc';
import { createCa, type TestCert } from '@ferry/shared/testing/test-pki';
import {
  eventually,
  ferryctl,
  freePort,
  freePortPair,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startBackend,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  tempDir,
  type Backend,
  type ControlPlane,
  type HttpResult,
  type Json,
  type Proxy,
  xdsTransportSocket,
} from './harness.js';

const T = 'type.googleapis.com/';
const LIMIT = 20;
const HOUR_MS = 3_600_000;
const WINDOW_ROOM_MS = 60_000;
const H2 = {
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

/** Waits, when the current hour ends within WINDOW_ROOM_MS, until the next one has begun. */
async function roomInWindow(): Promise<void> {
  const left = HOUR_MS - (Date.now() % HOUR_MS);
  if (left < WINDOW_ROOM_MS) await sleep(left + 50);
}

function port(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

function ratelimitFilter(fields: Json = {}, metadata: Json[] = []): Json {
  return {
    name: 'envoy.filters.http.ratelimit',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.http.ratelimit.v3.RateLimit`,
      domain: 'edge',
      // Generous: a loaded machine must not turn slow answers into failure_mode allowances.
      timeout: '5s',
      enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      rate_limit_service: {
        grpc_service: {
          envoy_grpc: { cluster_name: 'rls' },
          ...(metadata.length > 0 ? { initial_metadata: metadata } : {}),
        },
        transport_api_version: 'V3',
      },
      ...fields,
    },
  };
}

const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
};

/** The group's listener, route (rate_limits on /login) and clusters (web, rls). */
function siteResources(opts: {
  listenerPort: number;
  backendPort: number;
  rlsPorts: number[];
  filters: Json[];
}): Json[] {
  return [
    staticClusterResource('web', [opts.backendPort]),
    staticClusterResource('rls', opts.rlsPorts, H2),
    listenerResource('edge', opts.listenerPort, [
      { filters: [hcmFilter({ rds: 'edge' }, { http_filters: [...opts.filters, ROUTER] })] },
    ]),
    routeConfigResource('edge', [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/login' },
            route: {
              cluster: 'web',
              rate_limits: [
                {
                  actions: [
                    { request_headers: { header_name: 'x-scenario', descriptor_key: 'scenario' } },
                    { remote_address: {} },
                  ],
                },
              ],
            },
          },
          { match: { prefix: '/' }, route: { cluster: 'web' } },
        ],
      },
    ]),
  ];
}

/** LIMIT per hour per scenario and client address, across the group. */
function policy(): Json {
  return {
    '@type': `${T}ferry.v1.RateLimitPolicy`,
    name: 'login',
    domain: 'edge',
    descriptors: [
      {
        key: 'scenario',
        descriptors: [
          {
            key: 'remote_address',
            rate_limit: { unit: 'HOUR', requests_per_unit: LIMIT, name: 'login-per-ip' },
          },
        ],
      },
    ],
  };
}

/** A RateLimitService client presenting `cert` over TLS to a control plane signed by `ca`. */
function rlsClient(address: string, ca: TestCert, cert: TestCert): GrpcClient {
  return new GrpcClient(
    'envoy.service.ratelimit.v3.RateLimitService',
    address,
    credentials.createSsl(
      fs.readFileSync(ca.certFile),
      fs.readFileSync(cert.keyFile),
      fs.readFileSync(cert.certFile),
    ),
    { 'grpc.ssl_target_name_override': 'control-plane.ferry.test' },
  );
}

/** One ShouldRateLimit call for the policy's descriptor (`scenario`, a fixed client address). */
function shouldRateLimit(client: GrpcClient, scenario: string, metadata: Metadata): Promise<Json> {
  return client.unary<Json, Json>(
    'ShouldRateLimit',
    {
      domain: 'edge',
      descriptors: [
        {
          entries: [
            { key: 'scenario', value: scenario },
            { key: 'remote_address', value: '192.0.2.1' },
          ],
        },
      ],
    },
    metadata,
  );
}

async function apply(cp: ControlPlane, docs: Json[], group: string): Promise<void> {
  const yaml = docs.map((d) => JSON.stringify(d)).join('\n---\n');
  const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-', '--group', group], yaml);
  assert.equal(applied.code, 0, applied.stderr);
}

function login(listenerPort: number, scenario: string): Promise<HttpResult> {
  return httpRequest(`http://127.0.0.1:${listenerPort}/login`, {
    headers: { 'x-scenario': scenario },
  });
}

/** Waits until `listenerPort` answers /login with the policy applied (x-ratelimit-limit set). */
async function waitLimited(listenerPort: number, probe: string): Promise<void> {
  await eventually(
    async () => {
      const res = await login(listenerPort, probe).catch(() => undefined);
      return res?.headers['x-ratelimit-limit'] !== undefined ? res : undefined;
    },
    `port ${listenerPort} to apply the rate limit`,
    20_000,
  );
}

/** Sends `counts[i]` requests of `scenario` to `ports[i]`, interleaved; returns the 200s. */
async function traffic(ports: number[], counts: number[], scenario: string): Promise<HttpResult[]> {
  const left = [...counts];
  const results: HttpResult[] = [];
  while (left.some((n) => n > 0)) {
    for (let i = 0; i < ports.length; i++) {
      if (left[i]! <= 0) continue;
      left[i]! -= 1;
      results.push(await login(ports[i]!, scenario));
    }
  }
  for (const r of results)
    assert.ok(r.status === 200 || r.status === 429, `status ${r.status}: ${r.body}`);
  return results.filter((r) => r.status === 200);
}

describe('fleet-wide rate limits through the control plane', () => {
  let a: ControlPlane;
  let b: ControlPlane;
  let backend: Backend;
  let p1: number;
  let p2: number;
  let store: string;
  const proxies: Proxy[] = [];

  before(async () => {
    backend = await startBackend('web');
    store = `sqlite:${path.join(tempDir('fleetrl'), 'ferry.db')}`;
    a = await startControlPlane({ store, args: ['--replica-id', 'replica-a'] });
    const base = await freePortPair();
    p1 = base;
    p2 = base + 1;
    await apply(a, [policy()], 'default');
    await apply(
      a,
      siteResources({
        listenerPort: base,
        backendPort: backend.port,
        rlsPorts: [port(a.xdsAddress)],
        filters: [ratelimitFilter()],
      }),
      'default',
    );
    proxies.push(
      ...(await Promise.all([
        startProxy({
          bootstrap: proxyBootstrap({ nodeId: 'edge-1', xdsAddress: a.xdsAddress }),
        }),
        startProxy({
          bootstrap: proxyBootstrap({ nodeId: 'edge-2', xdsAddress: a.xdsAddress }),
          args: ['--listener-port-offset', '1'],
        }),
      ])),
    );
    await Promise.all([waitLimited(p1, 'probe-1'), waitLimited(p2, 'probe-2')]);
  });

  after(async () => {
    await stopAll();
    await backend.close();
  });

  for (const [name, counts] of [
    ['all on one proxy', [40, 0]],
    ['50/50', [20, 20]],
    ['90/10', [36, 4]],
  ] as const) {
    test(`the fleet lets through the limit per window: ${name}`, async () => {
      await roomInWindow();
      const ok = await traffic([p1, p2], [...counts], `split-${name}`);
      assert.equal(ok.length, LIMIT, `${ok.length} of ${counts[0] + counts[1]} let through`);
    });
  }

  test('ferryctl lists the policy and history shows it', async () => {
    const got = await ferryctl(a.apiUrl, ['get', 'ratelimits', '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /"domain": ?"edge"/);
    assert.match(got.stdout, /login-per-ip/);
    const history = await ferryctl(a.apiUrl, ['history', '-o', 'json']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /ferry\.v1\.RateLimitPolicy/);
  });

  test('limited replies: 429, x-envoy-ratelimited, x-ratelimit headers', async () => {
    await roomInWindow();
    const scenario = 'headers';
    const first = await login(p1, scenario);
    assert.equal(first.status, 200);
    assert.equal(
      first.headers['x-ratelimit-limit'],
      `${LIMIT}, ${LIMIT};w=3600;name="login-per-ip"`,
    );
    assert.equal(first.headers['x-ratelimit-remaining'], String(LIMIT - 1));
    const reset = Number(first.headers['x-ratelimit-reset']);
    assert.ok(reset > 0 && reset <= 3600, `x-ratelimit-reset ${reset}`);
    await traffic([p2], [LIMIT - 1], scenario);
    const limited = await login(p1, scenario);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['x-envoy-ratelimited'], 'true');
    assert.equal(limited.headers['x-ratelimit-remaining'], '0');
    // A route without rate_limits is never asked about.
    assert.equal((await httpRequest(`http://127.0.0.1:${p1}/other`)).status, 200);
    const stats = await httpRequest(`${proxies[0]!.adminUrl}/stats/prometheus`);
    assert.match(stats.body, /ferry_ratelimit_over_limit\{cluster="web"\} [1-9]/);
    assert.match(stats.body, /ferry_ratelimit_ok\{cluster="web"\} [1-9]/);
  });

  test('two control-plane replicas: proxies on different replicas share the limit', async () => {
    b = await startControlPlane({ store, args: ['--replica-id', 'replica-b'] });
    // Both replicas see both members (and so agree on every counter's owner).
    for (const cp of [a, b]) {
      await eventually(
        () =>
          cp.logs.some(
            (line) =>
              line.includes('rate limit replicas changed') &&
              line.includes('replica-a@') &&
              line.includes('replica-b@'),
          ) || undefined,
        'both replicas in the rate limit membership',
        20_000,
      );
    }
    const base = await freePortPair();
    // Each proxy's calls alternate between both replicas (round robin over the rls cluster), and
    // the proxies take their configuration from different replicas.
    await apply(a, [policy()], 'replicas');
    await apply(
      a,
      siteResources({
        listenerPort: base,
        backendPort: backend.port,
        rlsPorts: [port(a.xdsAddress), port(b.xdsAddress)],
        filters: [ratelimitFilter({}, [{ key: 'x-ferry-group', value: 'replicas' }])],
      }),
      'replicas',
    );
    proxies.push(
      ...(await Promise.all([
        startProxy({
          bootstrap: proxyBootstrap({
            nodeId: 'replicas-1',
            nodeCluster: 'replicas',
            xdsAddress: a.xdsAddress,
          }),
        }),
        startProxy({
          bootstrap: proxyBootstrap({
            nodeId: 'replicas-2',
            nodeCluster: 'replicas',
            xdsAddress: b.xdsAddress,
          }),
          args: ['--listener-port-offset', '1'],
        }),
      ])),
    );
    await Promise.all([waitLimited(base, 'probe-1'), waitLimited(base + 1, 'probe-2')]);
    for (const [name, counts] of [
      ['50/50', [20, 20]],
      ['90/10', [36, 4]],
    ] as const) {
      await roomInWindow();
      const ok = await traffic([base, base + 1], [...counts], `replicas-${name}`);
      assert.equal(ok.length, LIMIT, `${name}: ${ok.length} of 40 let through`);
    }
    // Each call lands on either replica: the one that does not own the key forwarded it.
    let forwarded = 0;
    for (const cp of [a, b]) {
      const metrics = (await httpRequest(`${cp.apiUrl}/metrics`)).body;
      assert.match(metrics, /^ferry_ratelimit_replicas 2$/m);
      const line = /^ferry_ratelimit_forwarded_descriptors_total\{outcome="ok"\} (\d+)$/m.exec(
        metrics,
      );
      forwarded += Number(line?.[1] ?? 0);
    }
    assert.ok(forwarded > 0, 'descriptors were forwarded to their owner');
  });

  test('the service unreachable: failure_mode_deny answers 500, otherwise requests pass', async () => {
    const closed = await freePort();
    const deny = await freePort();
    const allow = await freePort();
    const listener = (name: string, listenerPort: number, fields: Json): Json =>
      listenerResource(name, listenerPort, [
        {
          filters: [
            hcmFilter({ rds: 'edge' }, { http_filters: [ratelimitFilter(fields), ROUTER] }),
          ],
        },
      ]);
    const [web, rls, , route] = siteResources({
      listenerPort: deny,
      backendPort: backend.port,
      rlsPorts: [closed],
      filters: [],
    });
    await apply(
      a,
      [
        web!,
        rls!,
        route!,
        listener('deny', deny, { failure_mode_deny: true }),
        listener('allow', allow, {}),
      ],
      'failmode',
    );
    const proxy = await startProxy({
      bootstrap: proxyBootstrap({
        nodeId: 'failmode',
        nodeCluster: 'failmode',
        xdsAddress: a.xdsAddress,
      }),
    });
    const denied = await eventually(
      async () => {
        const res = await login(deny, 'down').catch(() => undefined);
        return res?.status === 500 ? res : undefined;
      },
      'the deny listener to answer 500',
      20_000,
    );
    assert.equal(denied.headers['x-envoy-ratelimited'], undefined);
    const allowed = await eventually(
      () => login(allow, 'down').catch(() => undefined),
      'the allow listener to answer',
      20_000,
    );
    assert.equal(allowed.status, 200, allowed.body);
    const stats = await httpRequest(`${proxy.adminUrl}/stats/prometheus`);
    assert.match(stats.body, /ferry_ratelimit_error\{cluster="web"\} [2-9]/);
    assert.match(stats.body, /ferry_ratelimit_failure_mode_allowed\{cluster="web"\} 1\b/);
  });
});

describe('fleet-wide rate limits under client certificates', () => {
  after(async () => {
    await stopAll();
  });

  test("calls are admitted like the node's xDS stream: the group and node its certificate grants", async () => {
    const dir = tempDir('fleetrl-mtls');
    const ca = createCa(dir, 'ferry-ca');
    const server = ca.issue('control-plane', { sans: ['DNS:control-plane.ferry.test'] });
    const proxyCert = ca.issue('secure-1', {
      sans: ['URI:spiffe://ferry/group/secure/node/secure-1'],
    });
    const cp = await startControlPlane({
      args: [
        '--xds-tls-cert',
        server.certFile,
        '--xds-tls-key',
        server.keyFile,
        '--xds-client-ca',
        ca.certFile,
        '--xds-group-from-san',
        'spiffe://ferry/group/{group}/node/{node}',
      ],
    });
    const backend = await startBackend('web');
    try {
      const tls = {
        certFile: proxyCert.certFile,
        keyFile: proxyCert.keyFile,
        caFile: ca.certFile,
        sni: 'control-plane.ferry.test',
      };
      const listenerPort = await freePort();
      const [web, rls, listener, route] = siteResources({
        listenerPort,
        backendPort: backend.port,
        rlsPorts: [port(cp.xdsAddress)],
        filters: [ratelimitFilter()],
      });
      await apply(cp, [policy()], 'secure');
      await apply(
        cp,
        [web!, { ...rls!, transport_socket: xdsTransportSocket(tls) }, listener!, route!],
        'secure',
      );
      await startProxy({
        bootstrap: proxyBootstrap({
          nodeId: 'secure-1',
          nodeCluster: 'secure',
          xdsAddress: cp.xdsAddress,
          xdsTls: tls,
        }),
      });
      await waitLimited(listenerPort, 'probe');
      await roomInWindow();
      const ok = await traffic([listenerPort], [LIMIT + 10], 'mtls');
      assert.equal(ok.length, LIMIT);

      // The same certificate may not spend another group's quota.
      const client = rlsClient(cp.xdsAddress, ca, proxyCert);
      try {
        const ask = (group: string) => {
          const md = new Metadata();
          md.set('x-ferry-group', group);
          md.set('x-ferry-node', 'secure-1');
          return shouldRateLimit(client, 'raw', md);
        };
        const answered = await ask('secure');
        assert.equal(answered.overall_code, 'OK');
        await assert.rejects(
          ask('other'),
          (err: ServiceError) =>
            err.code === status.PERMISSION_DENIED && /may not join group "other"/.test(err.details),
        );
      } finally {
        client.close();
      }
    } finally {
      await backend.close();
    }
  });

  test('two replicas serving xDS over TLS share the limit; a proxy cannot pose as a replica', async () => {
    const dir = tempDir('fleetrl-tls-replicas');
    const ca = createCa(dir, 'ferry-ca');
    // Each replica's xDS certificate is also its client certificate when it forwards a check:
    // its DNS SAN matches --xds-admin-san, its IP SAN the host it advertises (127.0.0.1).
    const replicaCert = (name: string) =>
      ca.issue(name, { sans: ['DNS:control-plane.ferry.test', 'IP:127.0.0.1'] });
    const proxyCert = ca.issue('tlsfleet-edge', {
      sans: ['URI:spiffe://ferry/group/tlsfleet/edge'],
    });
    const store = `sqlite:${path.join(dir, 'ferry.db')}`;
    const replicaArgs = (id: string) => {
      const cert = replicaCert(id);
      return [
        '--replica-id',
        id,
        '--xds-tls-cert',
        cert.certFile,
        '--xds-tls-key',
        cert.keyFile,
        '--xds-client-ca',
        ca.certFile,
        '--xds-group-from-san',
        'spiffe://ferry/group/{group}/*',
        '--xds-admin-san',
        'control-plane.ferry.test',
      ];
    };
    const a = await startControlPlane({ store, args: replicaArgs('tls-a') });
    const [b, backend] = await Promise.all([
      startControlPlane({ store, args: replicaArgs('tls-b') }),
      startBackend('web'),
    ]);
    try {
      for (const cp of [a, b]) {
        await eventually(
          () =>
            cp.logs.some(
              (line) =>
                line.includes('rate limit replicas changed') &&
                line.includes('tls-a@') &&
                line.includes('tls-b@'),
            ) || undefined,
          'both TLS replicas in the rate limit membership',
          20_000,
        );
      }
      const tls = {
        certFile: proxyCert.certFile,
        keyFile: proxyCert.keyFile,
        caFile: ca.certFile,
        sni: 'control-plane.ferry.test',
      };
      const base = await freePortPair();
      const [web, rls, listener, route] = siteResources({
        listenerPort: base,
        backendPort: backend.port,
        rlsPorts: [port(a.xdsAddress), port(b.xdsAddress)],
        filters: [ratelimitFilter()],
      });
      await apply(a, [policy()], 'tlsfleet');
      await apply(
        a,
        [web!, { ...rls!, transport_socket: xdsTransportSocket(tls) }, listener!, route!],
        'tlsfleet',
      );
      // Each proxy's checks alternate between both replicas; the proxies take their
      // configuration from different replicas.
      await Promise.all([
        startProxy({
          bootstrap: proxyBootstrap({
            nodeId: 'tls-1',
            nodeCluster: 'tlsfleet',
            xdsAddress: a.xdsAddress,
            xdsTls: tls,
          }),
        }),
        startProxy({
          bootstrap: proxyBootstrap({
            nodeId: 'tls-2',
            nodeCluster: 'tlsfleet',
            xdsAddress: b.xdsAddress,
            xdsTls: tls,
          }),
          args: ['--listener-port-offset', '1'],
        }),
      ]);
      await Promise.all([waitLimited(base, 'probe-1'), waitLimited(base + 1, 'probe-2')]);
      await roomInWindow();
      // Each replica counting alone would let through up to twice the limit.
      const ok = await traffic([base, base + 1], [LIMIT, LIMIT], 'tls-replicas');
      assert.equal(ok.length, LIMIT, `${ok.length} of ${2 * LIMIT} let through`);
      let forwarded = 0;
      for (const cp of [a, b]) {
        const metrics = (await httpRequest(`${cp.apiUrl}/metrics`)).body;
        assert.match(metrics, /^ferry_ratelimit_replicas 2$/m);
        const line = /^ferry_ratelimit_forwarded_descriptors_total\{outcome="ok"\} (\d+)$/m.exec(
          metrics,
        );
        forwarded += Number(line?.[1] ?? 0);
      }
      assert.ok(forwarded > 0, 'descriptors were forwarded to their owner over TLS');

      // A proxy's certificate setting the forwarded metadata is refused: otherwise it could
      // skip the check of its group and spend any group's quota.
      const client = rlsClient(a.xdsAddress, ca, proxyCert);
      try {
        const md = new Metadata();
        md.set('x-ferry-group', 'tlsfleet');
        md.set('x-ferry-rls-forwarded', '1');
        await assert.rejects(
          shouldRateLimit(client, 'posing', md),
          (err: ServiceError) =>
            err.code === status.PERMISSION_DENIED &&
            /forwarded by a control-plane replica/.test(err.details),
        );
      } finally {
        client.close();
      }
      const refused = (await httpRequest(`${a.apiUrl}/metrics`)).body;
      assert.match(refused, /^ferry_xds_access_refused_total\{reason="forwarded"\} 1$/m);
    } finally {
      await backend.close();
    }
  });
});
