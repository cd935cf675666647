/**
 * Who may get config and secrets from the xDS server (docs/architecture.md, "Who may connect"),
 * with real processes: a control plane serving xDS over TLS with client certificates, two groups
 * (a and b) each with a listener and a Secret, ferry-proxy with the xDS cluster's
 * transport_socket, and raw grpc-js clients for what a proxy would never send. Certificates are
 * made with openssl at test time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { parseResourceBinary } from '@ferry/proto';
import { GrpcClient } from '@ferry/proto/grpc';
import { createCa, selfSigned, type TestCa, type TestCert } from '@ferry/shared/testing/test-pki';
import {
  apiApply,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type ControlPlane,
  type Json,
  type KeyPair,
  type Proxy,
} from './harness.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const SDS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

function listener(name: string, port: number, body: string, tls?: KeyPair): Json {
  const chain: Json = {
    filters: [
      hcmFilter({
        routeConfig: {
          name: `${name}-routes`,
          virtual_hosts: [
            {
              name: 'all',
              domains: ['*'],
              routes: [
                {
                  match: { prefix: '/' },
                  direct_response: { status: 200, body: { inline_string: body } },
                },
              ],
            },
          ],
        },
      }),
    ],
    ...(tls
      ? {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
              common_tls_context: {
                tls_certificates: [
                  {
                    certificate_chain: { inline_string: tls.cert },
                    private_key: { inline_string: tls.key },
                  },
                ],
              },
            },
          },
        }
      : {}),
  };
  return listenerResource(name, port, [chain]);
}

function secret(name: string, pair: KeyPair): Json {
  return {
    '@type': SDS,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: pair.cert },
      private_key: { inline_string: pair.key },
    },
  };
}

/** The control plane's certificate names it control-plane.ferry.test, not 127.0.0.1. */
function xdsClient(cp: ControlPlane, service: string, creds: ChannelCredentials): GrpcClient {
  return new GrpcClient(service, cp.xdsAddress, creds, {
    'grpc.ssl_target_name_override': 'control-plane.ferry.test',
  });
}

function channelCredentials(ca: string, client?: TestCert): ChannelCredentials {
  return credentials.createSsl(
    fs.readFileSync(ca),
    client ? fs.readFileSync(client.keyFile) : null,
    client ? fs.readFileSync(client.certFile) : null,
  );
}

/** `ferry_xds_access_refused_total{reason="..."}` from the control plane's /metrics. */
async function refusals(cp: ControlPlane, reason: string): Promise<number> {
  const text = (await httpRequest(`${cp.apiUrl}/metrics`)).body;
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`ferry_xds_access_refused_total{reason="${reason}"}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** The control plane's refusal log entries (`event: "xds_access_refused"`). */
function refusalLogs(cp: ControlPlane): Array<Record<string, unknown>> {
  return cp.logs
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"xds_access_refused"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The proxy holds nothing from the control plane: no listener, secret or body of either group. */
async function assertNoXdsConfig(proxy: Proxy): Promise<void> {
  const dump = (await httpRequest(`${proxy.adminUrl}/config_dump`)).body;
  assert.match(dump, /xds_cluster/, 'config_dump answered');
  assert.doesNotMatch(dump, /listener-[ab]|[ab]-secret|group-[ab]/);
}

interface StreamOutcome {
  /** Names of the resources received, by type URL. */
  readonly received: Map<string, string[]>;
  readonly error: ServiceError | undefined;
}

function addReceived(into: Map<string, string[]>, typeUrl: string, names: string[]): void {
  into.set(typeUrl, [...(into.get(typeUrl) ?? []), ...names]);
}

function namesOf(resources: ReadonlyArray<{ type_url: string; value: Buffer }>): string[] {
  return resources.map((r) => {
    const parsed = parseResourceBinary(r.type_url, r.value);
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    return parsed.value.name;
  });
}

/**
 * Opens a delta ADS stream as `node`/`group` with `creds`, subscribes to `subscribe` (type URL →
 * names) and collects what arrives until `done` says so or the stream fails (bounded).
 */
async function deltaSubscribe(
  cp: ControlPlane,
  creds: ChannelCredentials,
  node: { id: string; cluster: string },
  subscribe: ReadonlyArray<[string, string[]]>,
  done: (outcome: StreamOutcome) => boolean,
  timeoutMs = 15000,
): Promise<StreamOutcome> {
  const client = xdsClient(cp, 'envoy.service.discovery.v3.AggregatedDiscoveryService', creds);
  const received = new Map<string, string[]>();
  const call = client.stream<Json, Json>('DeltaAggregatedResources');
  try {
    return await new Promise<StreamOutcome>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no outcome within ${timeoutMs} ms: ${JSON.stringify([...received])}`)),
        timeoutMs,
      );
      const check = (error?: ServiceError): void => {
        const outcome = { received, error };
        if (error || done(outcome)) {
          clearTimeout(timer);
          resolve(outcome);
        }
      };
      call.on('data', (response: Json) => {
        const typeUrl = String(response.type_url);
        const resources = (response.resources ?? []) as Array<{
          resource?: { type_url: string; value: Buffer };
        }>;
        addReceived(
          received,
          typeUrl,
          namesOf(resources.flatMap((r) => (r.resource ? [r.resource] : []))),
        );
        call.write({ type_url: typeUrl, response_nonce: response.nonce });
        check();
      });
      call.on('error', (err: ServiceError) => check(err));
      subscribe.forEach(([typeUrl, names], i) =>
        call.write({
          ...(i === 0 ? { node } : {}),
          type_url: typeUrl,
          resource_names_subscribe: names,
        }),
      );
    });
  } finally {
    call.cancel();
    client.close();
  }
}

/** The status a call of `method` on `service` ends with, sending `first` as its first message. */
async function firstStatus(
  cp: ControlPlane,
  creds: ChannelCredentials,
  service: string,
  method: string,
  first: Json,
): Promise<ServiceError> {
  const client = xdsClient(cp, service, creds);
  const call = client.stream<Json, Json>(method);
  try {
    return await new Promise<ServiceError>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no status within 15 s`)), 15000);
      call.on('data', () => reject(new Error(`${method}: got a response; expected a refusal`)));
      call.on('error', (err: ServiceError) => {
        clearTimeout(timer);
        resolve(err);
      });
      call.write(first);
    });
  } finally {
    call.cancel();
    client.close();
  }
}

describe('xDS over mTLS: who may get config and secrets', () => {
  let dir: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let server: TestCert;
  let proxyA: TestCert;
  let opsCert: TestCert;
  let admin: TestCert;
  let untrusted: TestCert;
  let cp: ControlPlane;
  let portA: number;
  let portATls: number;
  let portB: number;
  let listenerCert: KeyPair;
  const proxies: Proxy[] = [];

  before(async () => {
    dir = tempDir('mtls');
    ca = createCa(dir, 'ferry-ca');
    otherCa = createCa(dir, 'other-ca');
    server = ca.issue('control-plane', {
      sans: ['DNS:control-plane.ferry.test', 'URI:spiffe://ferry/control-plane'],
    });
    proxyA = ca.issue('proxy-a', { sans: ['URI:spiffe://ferry/group/a/node/proxy-a'] });
    opsCert = ca.issue('ops-tool', { sans: ['URI:spiffe://ferry/ops/tool'] });
    admin = ca.issue('admin', { sans: ['URI:spiffe://ferry/admin/alice'] });
    untrusted = otherCa.issue('proxy-a-other-ca', {
      sans: ['URI:spiffe://ferry/group/a/node/proxy-a'],
    });
    listenerCert = selfSigned(dir, 'a.ferry.test');
    cp = await startControlPlane({
      args: [
        '--xds-tls-cert',
        server.certFile,
        '--xds-tls-key',
        server.keyFile,
        '--xds-client-ca',
        ca.certFile,
        '--xds-group-from-san',
        'spiffe://ferry/group/{group}/node/{node}',
        '--xds-admin-san',
        'spiffe://ferry/admin/*',
      ],
    });
    [portA, portATls, portB] = [await freePort(), await freePort(), await freePort()];
    await apiApply(
      cp.apiUrl,
      [
        listener('listener-a', portA, 'group-a'),
        listener('listener-a-tls', portATls, 'group-a-tls', listenerCert),
        secret('a-secret', listenerCert),
      ],
      'a',
    );
    await apiApply(
      cp.apiUrl,
      [listener('listener-b', portB, 'group-b'), secret('b-secret', listenerCert)],
      'b',
    );
  });

  after(async () => {
    for (const p of proxies) await p.stop();
    await stopAll();
  });

  test('a proxy with a certificate for group a serves a’s config, inline certificate included', async () => {
    const proxy = await startProxy({
      bootstrap: proxyBootstrap({
        nodeId: 'proxy-a',
        nodeCluster: 'a',
        xdsAddress: cp.xdsAddress,
        xdsTls: {
          certFile: proxyA.certFile,
          keyFile: proxyA.keyFile,
          caFile: ca.certFile,
          sni: 'control-plane.ferry.test',
          matchSans: [{ san_type: 'URI', matcher: { exact: 'spiffe://ferry/control-plane' } }],
        },
      }),
    });
    proxies.push(proxy);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${portA}/`);
      assert.equal(res.body, 'group-a');
      return true;
    }, 'group a served');
    const https = await import('node:https');
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(
          `https://127.0.0.1:${portATls}/`,
          { ca: listenerCert.cert, servername: 'a.ferry.test', agent: false },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve(text));
          },
        )
        .on('error', reject);
    });
    assert.equal(body, 'group-a-tls');
    // Group b's listener is not there.
    await assert.rejects(httpRequest(`http://127.0.0.1:${portB}/`), /ECONNREFUSED/);
  });

  test('a proxy whose xDS cluster takes its certificate and CA from static secrets connects', async () => {
    const bootstrap = proxyBootstrap({
      nodeId: 'proxy-a',
      nodeCluster: 'a',
      xdsAddress: cp.xdsAddress,
    });
    const resources = bootstrap.static_resources as { clusters: Json[]; secrets?: Json[] };
    resources.secrets = [
      {
        name: 'xds-client',
        tls_certificate: {
          certificate_chain: { filename: proxyA.certFile },
          private_key: { filename: proxyA.keyFile },
        },
      },
      {
        name: 'xds-ca',
        validation_context: {
          trusted_ca: { filename: ca.certFile },
          match_typed_subject_alt_names: [
            { san_type: 'URI', matcher: { exact: 'spiffe://ferry/control-plane' } },
          ],
        },
      },
    ];
    resources.clusters[0]!.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'xds-client' }],
          validation_context_sds_secret_config: { name: 'xds-ca' },
        },
      },
    };
    const proxy = await startProxy({ bootstrap, args: ['--listener-port-offset', '2'] });
    proxies.push(proxy);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${portA + 2}/`);
      assert.equal(res.body, 'group-a');
      return true;
    }, 'group a served over the static secrets');
    await proxy.stop();
  });

  test('a proxy whose SAN matchers do not match the control plane’s certificate does not connect', async () => {
    const proxy = await startProxy({
      bootstrap: proxyBootstrap({
        nodeId: 'proxy-a',
        nodeCluster: 'a',
        xdsAddress: cp.xdsAddress,
        xdsTls: {
          certFile: proxyA.certFile,
          keyFile: proxyA.keyFile,
          caFile: ca.certFile,
          matchSans: [{ san_type: 'URI', matcher: { exact: 'spiffe://elsewhere/cp' } }],
        },
      }),
      // Refused proxies report ready after the initial fetch timeout.
      args: ['--listener-port-offset', '1', '--initial-fetch-timeout-s', '1'],
    });
    proxies.push(proxy);
    await eventually(() => {
      assert.match(
        proxy.logs.join('\n'),
        /the control plane's certificate fails the xDS cluster's validation_context: no subject alt name matches/,
      );
      return true;
    }, 'SAN mismatch logged');
    await assertNoXdsConfig(proxy);
    await proxy.stop();
  });

  for (const [what, client] of [
    ['without a client certificate', () => undefined],
    ['with a certificate from another CA', () => untrusted],
  ] as const) {
    test(`a proxy ${what} cannot connect; the refusal is counted and logged`, async () => {
      const before = await refusals(cp, 'handshake');
      const logsBefore = refusalLogs(cp).filter((e) => e.reason === 'handshake').length;
      const cert = client();
      const proxy = await startProxy({
        bootstrap: proxyBootstrap({
          nodeId: 'intruder',
          nodeCluster: 'b',
          xdsAddress: cp.xdsAddress,
          xdsTls: {
            ...(cert ? { certFile: cert.certFile, keyFile: cert.keyFile } : {}),
            caFile: ca.certFile,
          },
        }),
        // Refused proxies report ready after the initial fetch timeout.
        args: ['--listener-port-offset', '2', '--initial-fetch-timeout-s', '1'],
      });
      proxies.push(proxy);
      await eventually(async () => {
        assert.ok((await refusals(cp, 'handshake')) > before, 'handshake refusal counted');
        assert.ok(
          refusalLogs(cp).filter((e) => e.reason === 'handshake').length > logsBefore,
          'handshake refusal logged',
        );
        return true;
      }, 'handshake refusal counted and logged');
      const status = await ferryctl(cp.apiUrl, ['status']);
      assert.doesNotMatch(status.stdout, /intruder/);
      await assertNoXdsConfig(proxy);
      await proxy.stop();
    });
  }

  test('a group-a certificate claiming group b is refused with PERMISSION_DENIED and gets nothing of b', async () => {
    const before = await refusals(cp, 'group');
    const proxy = await startProxy({
      bootstrap: proxyBootstrap({
        nodeId: 'proxy-a',
        nodeCluster: 'b',
        xdsAddress: cp.xdsAddress,
        xdsTls: { certFile: proxyA.certFile, keyFile: proxyA.keyFile, caFile: ca.certFile },
      }),
      // Refused proxies report ready after the initial fetch timeout.
      args: ['--listener-port-offset', '3', '--initial-fetch-timeout-s', '1'],
    });
    proxies.push(proxy);
    await eventually(() => {
      assert.match(
        proxy.logs.join('\n'),
        /xDS access denied: identity spiffe:\/\/ferry\/group\/a\/node\/proxy-a may not join group \\?"b\\?"/,
      );
      return true;
    }, 'refusal logged by the proxy');
    assert.ok((await refusals(cp, 'group')) > before, 'group refusal counted');
    const entry = refusalLogs(cp).find((e) => e.reason === 'group' && e.group === 'b');
    assert.ok(entry, 'group refusal logged');
    assert.deepEqual(entry.identity, ['spiffe://ferry/group/a/node/proxy-a']);
    assert.equal(entry.node, 'proxy-a');
    await assertNoXdsConfig(proxy);
    await proxy.stop();
  });

  test('a raw client with the group-a certificate cannot subscribe to b’s resources', async () => {
    const creds = channelCredentials(ca.certFile, proxyA);
    // Its own group: names of b's resources are simply not there (reported removed, never sent).
    const own = await deltaSubscribe(
      cp,
      creds,
      { id: 'proxy-a', cluster: 'a' },
      [
        [SDS, ['b-secret', 'a-secret']],
        [LDS, ['listener-b', 'listener-a']],
      ],
      (o) =>
        (o.received.get(SDS) ?? []).includes('a-secret') &&
        (o.received.get(LDS) ?? []).includes('listener-a'),
    );
    assert.equal(own.error, undefined);
    assert.deepEqual(own.received.get(SDS), ['a-secret']);
    assert.deepEqual(own.received.get(LDS), ['listener-a']);
    // Claiming group b: refused before anything is sent.
    const claimed = await deltaSubscribe(
      cp,
      creds,
      { id: 'proxy-a', cluster: 'b' },
      [[SDS, ['b-secret']]],
      () => false,
    );
    assert.equal(claimed.error?.code, status.PERMISSION_DENIED);
    assert.equal(claimed.received.size, 0);
    // Every other stream type checks the same way.
    const node = { id: 'proxy-a', cluster: 'b' };
    for (const [service, method, first] of [
      [
        'envoy.service.discovery.v3.AggregatedDiscoveryService',
        'StreamAggregatedResources',
        { node, type_url: SDS },
      ],
      [
        'envoy.service.secret.v3.SecretDiscoveryService',
        'StreamSecrets',
        { node, resource_names: ['b-secret'] },
      ],
      [
        'envoy.service.secret.v3.SecretDiscoveryService',
        'DeltaSecrets',
        { node, resource_names_subscribe: ['b-secret'] },
      ],
      [
        'envoy.service.health.v3.HealthDiscoveryService',
        'StreamHealthCheck',
        { health_check_request: { node, capability: {} } },
      ],
      ['envoy.service.load_stats.v3.LoadReportingService', 'StreamLoadStats', { node }],
    ] as const) {
      const err = await firstStatus(cp, creds, service, method, first);
      assert.equal(err.code, status.PERMISSION_DENIED, `${service}/${method}: ${err.message}`);
      assert.match(err.details, /may not join group "b"/);
    }
    const fetch = xdsClient(cp, 'envoy.service.secret.v3.SecretDiscoveryService', creds);
    await assert.rejects(
      fetch.unary('FetchSecrets', { node, resource_names: ['b-secret'] }),
      (err: ServiceError) => err.code === status.PERMISSION_DENIED,
    );
    fetch.close();
  });

  test('CSDS is for admin identities only', async () => {
    const request = { node_matchers: [] };
    const asProxy = xdsClient(
      cp,
      'envoy.service.status.v3.ClientStatusDiscoveryService',
      channelCredentials(ca.certFile, proxyA),
    );
    await assert.rejects(
      asProxy.unary('FetchClientStatus', request),
      (err: ServiceError) =>
        err.code === status.PERMISSION_DENIED && /--xds-admin-san/.test(err.details),
    );
    asProxy.close();
    const asAdmin = xdsClient(
      cp,
      'envoy.service.status.v3.ClientStatusDiscoveryService',
      channelCredentials(ca.certFile, admin),
    );
    const response = await asAdmin.unary<Json, { config?: unknown[] }>(
      'FetchClientStatus',
      request,
    );
    assert.ok(Array.isArray(response.config));
    asAdmin.close();
  });

  test('an XdsAccessPolicy applied to group b admits its identities to b only, and revokes when deleted', async () => {
    const creds = channelCredentials(ca.certFile, opsCert);
    const refused = await deltaSubscribe(
      cp,
      creds,
      { id: 'ops-1', cluster: 'b' },
      [[LDS, ['listener-b']]],
      () => false,
    );
    assert.equal(refused.error?.code, status.PERMISSION_DENIED);

    const policy = path.join(dir, 'policy.yaml');
    fs.writeFileSync(
      policy,
      [
        "'@type': type.googleapis.com/ferry.v1.XdsAccessPolicy",
        'name: ops',
        'rules:',
        "  - identities: ['spiffe://ferry/ops/*']",
        "    node_ids: ['ops-*']",
        '',
      ].join('\n'),
    );
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', policy, '--group', 'b']);
    assert.equal(applied.code, 0, applied.stderr);

    // The policy reaches the xDS server through the store's watch, right after the apply.
    const admitted = await eventually(async () => {
      const outcome = await deltaSubscribe(
        cp,
        creds,
        { id: 'ops-1', cluster: 'b' },
        [[LDS, ['listener-b']]],
        (o) => (o.received.get(LDS) ?? []).includes('listener-b'),
      );
      return outcome.error ? undefined : outcome;
    }, 'the ops identity admitted to group b');
    assert.equal(admitted.error, undefined);
    // Only the node ids the rule names, and only group b.
    const wrongNode = await deltaSubscribe(
      cp,
      creds,
      { id: 'x', cluster: 'b' },
      [[LDS, []]],
      () => false,
    );
    assert.equal(wrongNode.error?.code, status.PERMISSION_DENIED);
    const wrongGroup = await deltaSubscribe(
      cp,
      creds,
      { id: 'ops-1', cluster: 'a' },
      [[LDS, []]],
      () => false,
    );
    assert.equal(wrongGroup.error?.code, status.PERMISSION_DENIED);

    // The policy is never served over xDS, even to a proxy of its group.
    const ldsAndPolicy = await deltaSubscribe(
      cp,
      creds,
      { id: 'ops-1', cluster: 'b' },
      [
        [LDS, ['listener-b']],
        ['type.googleapis.com/ferry.v1.XdsAccessPolicy', ['ops']],
      ],
      (o) => (o.received.get(LDS) ?? []).includes('listener-b'),
    );
    assert.equal(
      ldsAndPolicy.received.get('type.googleapis.com/ferry.v1.XdsAccessPolicy'),
      undefined,
    );

    // An open stream ends when the policy that admitted it is deleted.
    const open = deltaSubscribe(
      cp,
      creds,
      { id: 'ops-2', cluster: 'b' },
      [[LDS, ['listener-b']]],
      () => false,
      30000,
    );
    await eventually(async () => {
      const status = await ferryctl(cp.apiUrl, ['status']);
      assert.match(status.stdout, /ops-2/);
      return true;
    }, 'ops-2 connected');
    const deleted = await ferryctl(cp.apiUrl, ['delete', 'xdsaccesspolicy', 'ops', '--group', 'b']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const revoked = await open;
    assert.equal(revoked.error?.code, status.PERMISSION_DENIED);
    assert.match(revoked.error?.details ?? '', /access policy changed/);
    assert.ok(refusalLogs(cp).some((e) => e.reason === 'revoked' && e.node === 'ops-2'));
  });
});
