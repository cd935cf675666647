/**
 * RBAC end to end: a real ferry-proxy configured by `ferryctl apply` on a real control plane.
 * - "Allow only the office network to /admin": an ALLOW list admits 127.0.0.1/32 to /admin
 *   (the office, for this test) and a DENY list rejects it; the denial's
 *   %RESPONSE_CODE_DETAILS% (rbac_access_denied_matched_policy[...]) and the shadow result
 *   (%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%) are in the access log;
 *   shadow rules are counted in /stats/prometheus; an empty RBACPerRoute turns RBAC off on
 *   one route.
 * - X-Forwarded-For: with use_remote_address the client's own XFF does not change remote_ip;
 *   without it, xff_num_trusted_hops decides which XFF entry is the client, as Envoy documents.
 * - envoy.filters.network.rbac closes denied connections before tcp_proxy (the backend never
 *   sees them), lets allowed ones reach the HTTP connection manager, and writes its shadow
 *   result where tcp_proxy's access log reads it.
 * - authenticated: client certificates (downstream mTLS) name who may use /admin.
 * - filter_chain_match.source_prefix_ranges as an allow list: a listener whose only chain is
 *   for another range closes loopback connections.
 * - an RBAC field ferry-proxy cannot honour is NACKed with its field path (ferryctl status).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { createCa, type TestCert } from '@ferry/shared/testing/test-pki';
import {
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  tempDir,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

const T = 'type.googleapis.com/';
const HTTP_RBAC = `${T}envoy.extensions.filters.http.rbac.v3.RBAC`;
const RBAC_PER_ROUTE = `${T}envoy.extensions.filters.http.rbac.v3.RBACPerRoute`;
const NETWORK_RBAC = `${T}envoy.extensions.filters.network.rbac.v3.RBAC`;
const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
};

const cidr = (address_prefix: string, prefix_len: number): Json => ({ address_prefix, prefix_len });
const adminPath: Json = { url_path: { path: { prefix: '/admin' } } };

/** An ALLOW list: /admin only for `office`, everything else for anyone. */
function officeOnlyAdmin(office: Json): Json {
  return {
    action: 'ALLOW',
    policies: {
      'office-admin': { permissions: [adminPath], principals: [{ remote_ip: office }] },
      public: { permissions: [{ not_rule: adminPath }], principals: [{ any: true }] },
    },
  };
}

function routeConfig(name: string, extraRoutes: Json[] = []): Json {
  return {
    name,
    virtual_hosts: [
      {
        name,
        domains: ['*'],
        routes: [
          ...extraRoutes,
          {
            match: { prefix: '/' },
            direct_response: { status: 200, body: { inline_string: `${name} served` } },
          },
        ],
      },
    ],
  };
}

function httpListener(
  name: string,
  port: number,
  rbac: Json,
  options: { hcm?: Json; routes?: Json[]; logPath?: string } = {},
): Json {
  const accessLog = options.logPath
    ? {
        access_log: [
          {
            name: 'envoy.access_loggers.file',
            typed_config: {
              '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
              path: options.logPath,
              log_format: {
                text_format:
                  '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%\n',
              },
            },
          },
        ],
      }
    : {};
  return listenerResource(name, port, [
    {
      filters: [
        hcmFilter(
          { routeConfig: routeConfig(name, options.routes) },
          {
            stat_prefix: name,
            http_filters: [
              { name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC, ...rbac } },
              ROUTER,
            ],
            ...accessLog,
            ...options.hcm,
          },
        ),
      ],
    },
  ]);
}

function networkRbac(statPrefix: string, rules: Json): Json {
  return {
    name: 'envoy.filters.network.rbac',
    typed_config: { '@type': NETWORK_RBAC, stat_prefix: statPrefix, rules },
  };
}

function tcpProxy(cluster: string, extra: Json = {}): Json {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
      stat_prefix: cluster,
      cluster,
      ...extra,
    },
  };
}

/** Connects, writes, and resolves with what came back once the proxy closed the connection. */
function closedBy(port: number): Promise<{ data: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
      reject(err);
    });
    socket.on('close', () => resolve({ data }));
    socket.write('hello\n');
  });
}

/** GET `path` over TLS with a client certificate; the proxy's certificate is trusted by `ca`. */
function mtlsGet(port: number, urlPath: string, ca: string, client: TestCert): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        ca,
        cert: client.cert,
        key: client.key,
        // The proxy's certificate is trusted by `ca`; its name is not the IP connected to.
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function counter(adminUrl: string, name: string, statPrefix: string): Promise<number> {
  const metrics = await httpRequest(`${adminUrl}/stats/prometheus`);
  const re = new RegExp(`^ferry_${name}\\{[^}]*stat_prefix="${statPrefix}"[^}]*\\} (\\d+)$`, 'm');
  return Number(re.exec(metrics.body)?.[1] ?? 0);
}

describe('ferry-proxy RBAC', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let tcpBackend: net.Server;
  let tcpBackendConnections = 0;
  let shadowBackend: net.Server;
  let tcpLog: string;
  let officeLog: string;
  let denyLog: string;
  let caCert: string;
  let officeClient: TestCert;
  let visitorClient: TestCert;
  const ports: Record<string, number> = {};

  before(async () => {
    cp = await startControlPlane();
    for (const name of [
      'office',
      'deny',
      'edge',
      'behind',
      'tcpGate',
      'httpGate',
      'srcOnly',
      'mtls',
      'tcpShadow',
    ])
      ports[name] = await freePort();
    const dir = tempDir('rbac-e2e');
    officeLog = path.join(dir, 'office.log');
    denyLog = path.join(dir, 'deny.log');
    const ca = createCa(dir, 'rbac-ca');
    caCert = ca.cert;
    const server = ca.issue('proxy.test', { sans: ['DNS:proxy.test'] });
    officeClient = ca.issue('office-laptop', { sans: ['URI:spiffe://ferry/office'] });
    visitorClient = ca.issue('visitor-laptop', { sans: ['URI:spiffe://ferry/visitor'] });
    tcpBackend = net.createServer((socket) => {
      tcpBackendConnections++;
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => tcpBackend.listen(0, '127.0.0.1', resolve));
    const tcpBackendPort = (tcpBackend.address() as net.AddressInfo).port;
    shadowBackend = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => shadowBackend.listen(0, '127.0.0.1', resolve));
    const shadowBackendPort = (shadowBackend.address() as net.AddressInfo).port;
    tcpLog = path.join(dir, 'tcp.log');

    const resources: Json[] = [
      // The office is 127.0.0.1/32; shadow rules try a stricter list (10.0.0.0/8 only).
      httpListener(
        'office',
        ports.office!,
        {
          rules: officeOnlyAdmin(cidr('127.0.0.1', 32)),
          shadow_rules: {
            policies: {
              'ten-net': {
                permissions: [{ any: true }],
                principals: [{ remote_ip: cidr('10.0.0.0', 8) }],
              },
            },
          },
        },
        { hcm: { use_remote_address: true }, logPath: officeLog },
      ),
      // A DENY list that rejects the office on /admin, except on /admin/health (RBAC off there).
      httpListener(
        'deny',
        ports.deny!,
        {
          rules: {
            action: 'DENY',
            policies: {
              'block-office-admin': {
                permissions: [adminPath],
                principals: [{ remote_ip: cidr('127.0.0.1', 32) }],
              },
            },
          },
        },
        {
          hcm: { use_remote_address: true },
          logPath: denyLog,
          routes: [
            {
              match: { prefix: '/admin/health' },
              direct_response: { status: 200, body: { inline_string: 'healthy' } },
              typed_per_filter_config: {
                'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE },
              },
            },
          ],
        },
      ),
      // The office is 192.0.2.10 here: loopback clients are outsiders.
      httpListener(
        'edge',
        ports.edge!,
        { rules: officeOnlyAdmin(cidr('192.0.2.10', 32)) },
        {
          hcm: { use_remote_address: true },
        },
      ),
      httpListener(
        'behind',
        ports.behind!,
        { rules: officeOnlyAdmin(cidr('192.0.2.10', 32)) },
        {
          hcm: { use_remote_address: false, xff_num_trusted_hops: 1 },
        },
      ),
      listenerResource('tcp-gate', ports.tcpGate!, [
        {
          filters: [
            networkRbac('tcp_gate', {
              policies: {
                lan: {
                  permissions: [{ any: true }],
                  principals: [{ direct_remote_ip: cidr('192.0.2.0', 24) }],
                },
              },
            }),
            tcpProxy('tcp-echo'),
          ],
        },
      ]),
      listenerResource('http-gate', ports.httpGate!, [
        {
          filters: [
            networkRbac('http_gate', {
              policies: {
                loopback: {
                  permissions: [{ any: true }],
                  principals: [{ direct_remote_ip: cidr('127.0.0.1', 32) }],
                },
              },
            }),
            hcmFilter({ routeConfig: routeConfig('http-gate') }),
          ],
        },
      ]),
      listenerResource('src-only', ports.srcOnly!, [
        {
          filter_chain_match: { source_prefix_ranges: [cidr('192.0.2.0', 24)] },
          filters: [tcpProxy('tcp-echo')],
        },
      ]),
      // Client certificates name the office: a SPIFFE URI SAN.
      listenerResource('mtls', ports.mtls!, [
        {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
              require_client_certificate: true,
              common_tls_context: {
                tls_certificates: [
                  {
                    certificate_chain: { inline_string: server.cert },
                    private_key: { inline_string: server.key },
                  },
                ],
                validation_context: { trusted_ca: { inline_string: ca.cert } },
              },
            },
          },
          filters: [
            hcmFilter(
              { routeConfig: routeConfig('mtls') },
              {
                stat_prefix: 'mtls',
                http_filters: [
                  {
                    name: 'envoy.filters.http.rbac',
                    typed_config: {
                      '@type': HTTP_RBAC,
                      rules: {
                        policies: {
                          'office-admin': {
                            permissions: [adminPath],
                            principals: [
                              {
                                authenticated: {
                                  principal_name: { exact: 'spiffe://ferry/office' },
                                },
                              },
                            ],
                          },
                          public: {
                            permissions: [{ not_rule: adminPath }],
                            principals: [{ any: true }],
                          },
                        },
                      },
                    },
                  },
                  ROUTER,
                ],
              },
            ),
          ],
        },
      ]),
      // Shadow rules only: every connection passes; the result is in tcp_proxy's access log.
      listenerResource('tcp-shadow', ports.tcpShadow!, [
        {
          filters: [
            {
              name: 'envoy.filters.network.rbac',
              typed_config: {
                '@type': NETWORK_RBAC,
                stat_prefix: 'tcp_shadow',
                shadow_rules: {
                  policies: {
                    lan: {
                      permissions: [{ any: true }],
                      principals: [{ direct_remote_ip: cidr('192.0.2.0', 24) }],
                    },
                  },
                },
              },
            },
            tcpProxy('shadow-echo', {
              access_log: [
                {
                  name: 'envoy.access_loggers.file',
                  typed_config: {
                    '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
                    path: tcpLog,
                    log_format: {
                      text_format:
                        'tcp %DYNAMIC_METADATA(envoy.filters.network.rbac:shadow_engine_result)%\n',
                    },
                  },
                },
              ],
            }),
          ],
        },
      ]),
      staticClusterResource('shadow-echo', [shadowBackendPort]),
      staticClusterResource('tcp-echo', [tcpBackendPort]),
    ];
    const applied = await ferryctl(
      cp.apiUrl,
      ['apply', '-f', '-'],
      resources.map((r) => JSON.stringify(r)).join('\n---\n'),
    );
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'rbac-e2e', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    await eventually(async () => {
      for (const name of ['office', 'deny', 'edge', 'behind', 'httpGate']) {
        const served = await httpRequest(`http://127.0.0.1:${ports[name]}/`).catch(() => undefined);
        if (served?.status !== 200) return undefined;
      }
      return true;
    }, 'every listener to serve');
  });

  after(async () => {
    await stopAll();
    await new Promise<void>((resolve) => tcpBackend?.close(() => resolve()));
    await new Promise<void>((resolve) => shadowBackend?.close(() => resolve()));
  });

  test('an ALLOW list admits the office (127.0.0.1/32) to /admin; a DENY list rejects it', async () => {
    const allowed = await httpRequest(`http://127.0.0.1:${ports.office}/admin/users`);
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body, 'office served');
    const denied = await httpRequest(`http://127.0.0.1:${ports.deny}/admin/users`);
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'RBAC: access denied');
    const elsewhere = await httpRequest(`http://127.0.0.1:${ports.deny}/public`);
    assert.equal(elsewhere.status, 200);
  });

  test('an empty RBACPerRoute turns RBAC off for its route', async () => {
    const health = await httpRequest(`http://127.0.0.1:${ports.deny}/admin/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body, 'healthy');
  });

  test('the access log has the denial details and the shadow result', async () => {
    await httpRequest(`http://127.0.0.1:${ports.deny}/admin/logged`);
    await httpRequest(`http://127.0.0.1:${ports.office}/admin/shadowed`);
    const denyLine = await eventually(
      () =>
        fs.existsSync(denyLog)
          ? fs
              .readFileSync(denyLog, 'utf8')
              .split('\n')
              .find((l) => l.startsWith('/admin/logged '))
          : undefined,
      'the denied request in the access log',
    );
    assert.equal(
      denyLine,
      '/admin/logged 403 rbac_access_denied_matched_policy[block-office-admin] -',
    );
    const officeLine = await eventually(
      () =>
        fs.existsSync(officeLog)
          ? fs
              .readFileSync(officeLog, 'utf8')
              .split('\n')
              .find((l) => l.startsWith('/admin/shadowed '))
          : undefined,
      'the shadowed request in the access log',
    );
    // The shadow rules (10.0.0.0/8 only) deny loopback; the enforced ones let it through.
    assert.match(officeLine, /^\/admin\/shadowed 200 \S+ denied$/);
  });

  test('shadow rules and enforced decisions are counted in /stats/prometheus', async () => {
    const before = await counter(proxy.adminUrl, 'rbac_shadow_denied', 'office');
    await httpRequest(`http://127.0.0.1:${ports.office}/counted`);
    await eventually(
      async () =>
        (await counter(proxy.adminUrl, 'rbac_shadow_denied', 'office')) > before ? true : undefined,
      'rbac_shadow_denied to count the request',
    );
    // Each worker reports its counters on its own schedule: wait for both to be in.
    await eventually(
      async () =>
        (await counter(proxy.adminUrl, 'rbac_allowed', 'office')) >= 1 ? true : undefined,
      'rbac_allowed to count the office',
    );
    await eventually(
      async () => ((await counter(proxy.adminUrl, 'rbac_denied', 'deny')) >= 1 ? true : undefined),
      'rbac_denied to count the denials',
    );
    assert.equal(await counter(proxy.adminUrl, 'rbac_shadow_allowed', 'office'), 0);
  });

  test('use_remote_address: a client’s own X-Forwarded-For does not get it past the allow list', async () => {
    const url = `http://127.0.0.1:${ports.edge}/admin`;
    assert.equal((await httpRequest(url)).status, 403);
    for (const xff of ['192.0.2.10', '192.0.2.10, 192.0.2.10', '10.0.0.1, 192.0.2.10'])
      assert.equal(
        (await httpRequest(url, { headers: { 'x-forwarded-for': xff } })).status,
        403,
        xff,
      );
  });

  test('use_remote_address false, xff_num_trusted_hops 1: the client is the entry left of the trusted hop', async () => {
    const url = `http://127.0.0.1:${ports.behind}/admin`;
    const status = async (xff?: string) =>
      (await httpRequest(url, xff === undefined ? {} : { headers: { 'x-forwarded-for': xff } }))
        .status;
    // One entry: nothing left of the trusted hop, so the peer (127.0.0.1) is the client.
    assert.equal(await status('192.0.2.10'), 403);
    assert.equal(await status(), 403);
    // The trusted hop appended 198.51.100.1 and saw 192.0.2.10 connect to it: the office.
    assert.equal(await status('192.0.2.10, 198.51.100.1'), 200);
    // A client-written 192.0.2.10 further left is not what the trusted hop saw.
    assert.equal(await status('192.0.2.10, 203.0.113.7, 198.51.100.1'), 403);
  });

  test('network RBAC closes a denied connection before tcp_proxy', async () => {
    const before = await counter(proxy.adminUrl, 'network_rbac_denied', 'tcp_gate');
    const result = await closedBy(ports.tcpGate!);
    assert.equal(result.data, '', 'nothing echoed');
    assert.equal(tcpBackendConnections, 0, 'the backend never saw the connection');
    await eventually(
      async () =>
        (await counter(proxy.adminUrl, 'network_rbac_denied', 'tcp_gate')) > before
          ? true
          : undefined,
      'network_rbac_denied to count the connection',
    );
  });

  test('network RBAC lets allowed connections reach the HTTP connection manager', async () => {
    const served = await httpRequest(`http://127.0.0.1:${ports.httpGate}/x`);
    assert.equal(served.status, 200);
    assert.equal(served.body, 'http-gate served');
    await eventually(
      async () =>
        (await counter(proxy.adminUrl, 'network_rbac_allowed', 'http_gate')) >= 1
          ? true
          : undefined,
      'network_rbac_allowed to count the connection',
    );
  });

  test('network shadow rules never close a connection; their result is in the tcp_proxy access log', async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: ports.tcpShadow! });
      let data = '';
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString();
        if (data === 'ping') socket.end();
      });
      socket.on('close', () => resolve(data));
      socket.write('ping');
    });
    assert.equal(echoed, 'ping');
    const line = await eventually(
      () =>
        fs.existsSync(tcpLog)
          ? fs.readFileSync(tcpLog, 'utf8').split('\n')[0] || undefined
          : undefined,
      'the TCP session in the access log',
    );
    assert.equal(line, 'tcp denied');
    await eventually(
      async () =>
        (await counter(proxy.adminUrl, 'network_rbac_shadow_denied', 'tcp_shadow')) >= 1
          ? true
          : undefined,
      'network_rbac_shadow_denied to count the connection',
    );
  });

  test('source_prefix_ranges as an allow list: no chain for loopback, the connection is closed', async () => {
    const result = await closedBy(ports.srcOnly!);
    assert.equal(result.data, '');
    assert.equal(tcpBackendConnections, 0);
  });

  test('authenticated: the client certificate’s URI SAN names the office', async () => {
    assert.equal(await mtlsGet(ports.mtls!, '/admin', caCert, officeClient), 200);
    assert.equal(await mtlsGet(ports.mtls!, '/admin', caCert, visitorClient), 403);
    assert.equal(await mtlsGet(ports.mtls!, '/public', caCert, visitorClient), 200);
  });

  test('RBAC the proxy cannot honour is NACKed with its field path; the served config stays', async () => {
    const bad = httpListener('bad', await freePort(), {
      rules: {
        policies: {
          cel: {
            permissions: [{ any: true }],
            principals: [{ any: true }],
            condition: { const_expr: { bool_value: true } },
          },
        },
      },
    });
    // The control plane checks the protos; what ferry-proxy honours is decided by the proxy
    // (the pre-flight would refuse this push: forced, to see the proxy's own NACK).
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-', '--force'], JSON.stringify(bad));
    assert.equal(applied.code, 0, applied.stderr);
    const nack = await eventually(async () => {
      const status = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
      const parsed = JSON.parse(status.stdout) as {
        nodes: { node_id: string; types: { type_url: string; last_nack?: { error: string } }[] }[];
      };
      const lds = parsed.nodes
        .find((n) => n.node_id === 'rbac-e2e')
        ?.types.find((t) => t.type_url.endsWith('envoy.config.listener.v3.Listener'));
      return lds?.last_nack;
    }, 'the proxy to NACK the listener');
    assert.match(
      nack.error,
      /filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.typed_config\.rules\.policies\["cel"\]\.condition: CEL conditions are not supported by ferry-proxy/,
    );
    const still = await httpRequest(`http://127.0.0.1:${ports.deny}/admin/users`);
    assert.equal(still.status, 403, 'the RBAC in force is unchanged');
  });
});
