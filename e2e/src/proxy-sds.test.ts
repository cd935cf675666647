/**
 * SDS and downstream TLS with real processes: a control plane, a ferry-proxy (one worker, so
 * "after the update" is one point in time) and a backend. Secrets are applied with ferryctl and
 * reach the proxy over ADS; a static secret in the bootstrap reads its files from a directory
 * rotated Kubernetes-style (symlink swap). Checked:
 * - a listener whose secret has not arrived is not served; it is once the secret is applied;
 * - a new Secret version applied while a client keeps opening new connections: new handshakes
 *   present the new certificate (by serial), an open connection keeps the old one, and not one
 *   request fails;
 * - a client without SNI is served by the chain without server_names;
 * - require_client_certificate holds for its filter chain only;
 * - watched_directory: a symlink swap rotates the certificate without any xDS update;
 * - /config_dump shows no key material; /certs and the expiry gauge show the certificate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { selfSigned, type TestCert } from '@ferry/shared/testing/test-pki';
import {
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  tempDir,
  waitForPublished,
  type Backend,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.';
const SDS = `${TLS}Secret`;
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };
/** A liveness bound per request (a hung request is a failure, not a hung test). */
const REQUEST_TIMEOUT_MS = 5000;

let serials = 0x5000;
/** A self-signed P-256 certificate for `name`, valid 30 days, with a serial (and files) of its own. */
function makeCert(dir: string, name: string): TestCert {
  serials += 1;
  return selfSigned(dir, name, {
    days: 30,
    serial: serials,
    file: `${name}-${serials.toString(16)}`,
  });
}

function certSecret(name: string, pair: TestCert): Json {
  return {
    '@type': SDS,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: pair.cert },
      private_key: { inline_string: pair.key },
    },
  };
}

function downstreamTls(common: Json, extra: Json = {}): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `${TLS}DownstreamTlsContext`,
      common_tls_context: common,
      ...extra,
    },
  };
}

const sdsCert = (name: string): Json => ({
  tls_certificate_sds_secret_configs: [{ name, sds_config: ADS_SOURCE }],
});

const inlineCert = (pair: TestCert): Json => ({
  tls_certificates: [
    {
      certificate_chain: { inline_string: pair.cert },
      private_key: { inline_string: pair.key },
    },
  ],
});

/**
 * An HCM chain routing everything to cluster `web` (which a bootstrap listener gets over CDS,
 * hence validate_clusters off).
 */
function webChain(transportSocket: Json, match?: Json): Json {
  return {
    ...(match ? { filter_chain_match: match } : {}),
    transport_socket: transportSocket,
    filters: [
      hcmFilter({
        routeConfig: {
          name: 'web-routes',
          validate_clusters: false,
          virtual_hosts: [
            {
              name: 'all',
              domains: ['*'],
              routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
            },
          ],
        },
      }),
    ],
  };
}

/** tls_inspector reads the SNI that filter_chain_match.server_names needs. */
function withTlsInspector(listener: Json): Json {
  return {
    ...listener,
    listener_filters: [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: {
          '@type':
            'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
        },
      },
    ],
  };
}

async function apply(cp: ControlPlane, resources: Json[], group = 'default'): Promise<void> {
  const yaml = resources.map((r) => JSON.stringify(r)).join('\n---\n');
  const result = await ferryctl(cp.apiUrl, ['apply', '--group', group, '-f', '-'], yaml);
  assert.equal(result.code, 0, `ferryctl apply failed: ${result.stderr}${result.stdout}`);
}

interface TlsReply {
  readonly status: number;
  readonly serial: string;
  readonly cn: string;
  readonly socket: TLSSocket;
}

/** One HTTPS GET; `servername` undefined sends no SNI (the host is an IP address). */
function tlsGet(
  port: number,
  opts: {
    servername?: string;
    ca: string[];
    clientCert?: TestCert;
    agent?: https.Agent;
  },
): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: opts.ca,
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
        // The certificates are trusted by `ca`; their names are not the IP connected to.
        checkServerIdentity: () => undefined,
        ...(opts.clientCert ? { cert: opts.clientCert.cert, key: opts.clientCert.key } : {}),
        agent: opts.agent ?? false,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            serial: String(peer.serialNumber),
            cn: String(peer.subject?.CN),
            socket,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function configDump(proxy: Proxy): Promise<string> {
  const res = await httpRequest(`${proxy.adminUrl}/config_dump`);
  assert.equal(res.status, 200);
  return res.body;
}

let cp: ControlPlane;
let backend: Backend;
let proxy: Proxy;
let dir: string;
let ports: { https: number; mtls: number; late: number; disk: number };
let webV1: TestCert;
let diskV1: TestCert;
let chainCerts: { a: TestCert; b: TestCert; c: TestCert; client: TestCert; stranger: TestCert };

/** The Kubernetes secret-volume layout: `..data` → a timestamped dir; files → `..data/<file>`. */
function writeVolume(volume: string, pair: TestCert, generation: string): void {
  const target = path.join(volume, `..${generation}`);
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'tls.crt'), pair.cert);
  fs.writeFileSync(path.join(target, 'tls.key'), pair.key);
  // The atomic swap: a new symlink renamed over ..data.
  fs.symlinkSync(`..${generation}`, path.join(volume, '..data_tmp'));
  fs.renameSync(path.join(volume, '..data_tmp'), path.join(volume, '..data'));
  for (const file of ['tls.crt', 'tls.key'])
    if (!fs.existsSync(path.join(volume, file)))
      fs.symlinkSync(path.join('..data', file), path.join(volume, file));
}

before(async () => {
  dir = tempDir('sds');
  webV1 = makeCert(dir, 'web.test');
  diskV1 = makeCert(dir, 'disk.test');
  chainCerts = {
    a: makeCert(dir, 'a.test'),
    b: makeCert(dir, 'b.test'),
    c: makeCert(dir, 'c.test'),
    client: makeCert(dir, 'client.test'),
    stranger: makeCert(dir, 'stranger.test'),
  };
  const { a, b, c, client } = chainCerts;
  const volume = path.join(dir, 'volume');
  fs.mkdirSync(volume);
  writeVolume(volume, diskV1, 'gen1');

  cp = await startControlPlane();
  backend = await startBackend('web');
  ports = {
    https: await freePort(),
    mtls: await freePort(),
    late: await freePort(),
    disk: await freePort(),
  };
  const strip = ({ '@type': _type, ...rest }: Json): Json => rest;
  const bootstrap = proxyBootstrap({ nodeId: 'sds-proxy', xdsAddress: cp.xdsAddress });
  const statics = bootstrap.static_resources as Json;
  bootstrap.static_resources = {
    ...statics,
    clusters: statics.clusters,
    // Waits for "late-cert" over SDS; reads "disk-cert" from the watched volume.
    listeners: [
      strip(listenerResource('late', ports.late, [webChain(downstreamTls(sdsCert('late-cert')))])),
      strip(
        listenerResource('disk', ports.disk, [
          webChain(downstreamTls({ tls_certificate_sds_secret_configs: [{ name: 'disk-cert' }] })),
        ]),
      ),
    ],
    secrets: [
      {
        name: 'disk-cert',
        tls_certificate: {
          certificate_chain: { filename: path.join(volume, 'tls.crt') },
          private_key: { filename: path.join(volume, 'tls.key') },
          watched_directory: { path: volume },
        },
      },
    ],
  };

  await apply(cp, [
    staticClusterResource('web', [backend.port]),
    certSecret('web-cert', webV1),
    {
      '@type': SDS,
      name: 'client-ca',
      validation_context: { trusted_ca: { inline_string: client.cert } },
    },
    listenerResource('https', ports.https, [webChain(downstreamTls(sdsCert('web-cert')))]),
    withTlsInspector(
      listenerResource('mtls', ports.mtls, [
        webChain(
          downstreamTls(
            {
              ...inlineCert(a),
              validation_context_sds_secret_config: { name: 'client-ca', sds_config: ADS_SOURCE },
            },
            { require_client_certificate: true },
          ),
          { server_names: ['a.test'] },
        ),
        webChain(downstreamTls(inlineCert(b)), { server_names: ['b.test'] }),
        webChain(downstreamTls(inlineCert(c))),
      ]),
    ),
  ]);
  await waitForPublished(cp, LDS, ['https', 'mtls']);
  proxy = await startProxy({ bootstrap, args: ['--initial-fetch-timeout-s', '3'] });
});

after(async () => {
  await stopAll();
  await backend?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SDS over ADS', () => {
  test('a listener whose secret has not arrived is not served until the secret is applied', async () => {
    // The proxy has seen the listener and subscribed to its secret: it is warming.
    await eventually(async () => {
      const dump = JSON.parse(await configDump(proxy)) as { configs: Json[] };
      const secrets = dump.configs.find((c) => String(c['@type']).endsWith('SecretsConfigDump'));
      const warming = (secrets?.dynamic_warming_secrets as Json[] | undefined) ?? [];
      return warming.some((s) => s.name === 'late-cert') ? true : undefined;
    }, 'late-cert listed as a warming secret');
    assert.equal(
      await refused(ports.late),
      true,
      'the warming listener must not accept connections',
    );

    const late = makeCert(dir, 'late.test');
    await apply(cp, [certSecret('late-cert', late)]);
    const reply = await eventually(
      () => tlsGet(ports.late, { ca: [late.cert] }),
      'the listener served once its secret arrived',
    );
    assert.deepEqual([reply.status, reply.serial], [200, late.serial]);
  });

  test('a new Secret version rotates new handshakes under load, with zero failed requests', async () => {
    const first = await tlsGet(ports.https, { ca: [webV1.cert] });
    assert.deepEqual([first.status, first.serial], [200, webV1.serial]);
    // A connection opened before the rotation keeps its certificate.
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const held = await tlsGet(ports.https, { ca: [webV1.cert], agent: keepAlive });
    assert.equal(held.serial, webV1.serial);

    const webV2 = makeCert(dir, 'web.test');
    const trust = [webV1.cert, webV2.cert];
    let stop = false;
    const failures: string[] = [];
    let total = 0;
    let afterRotation = 0;
    const loop = async (): Promise<string[]> => {
      const seen: string[] = [];
      while (!stop) {
        total += 1;
        try {
          // A new connection (and handshake) per request.
          const reply = await tlsGet(ports.https, { ca: trust });
          if (reply.status !== 200) failures.push(`status ${reply.status}`);
          seen.push(reply.serial);
          if (reply.serial === webV2.serial) afterRotation += 1;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      return seen;
    };
    const loops = [loop(), loop(), loop(), loop()];
    try {
      await eventually(() => (total >= 20 ? true : undefined), 'load running before the rotation');
      await apply(cp, [certSecret('web-cert', webV2)]);
      await eventually(
        () => (afterRotation >= 40 ? true : undefined),
        'new handshakes presenting the new certificate',
        30000,
      );
    } finally {
      stop = true;
    }
    const sequences = await Promise.all(loops);
    assert.deepEqual(failures, [], `${failures.length} of ${total} requests failed`);
    for (const seen of sequences) {
      // Per client, sequentially: once the new certificate is seen, the old one never returns.
      const firstNew = seen.indexOf(webV2.serial);
      assert.ok(firstNew >= 0, 'every client saw the new certificate');
      assert.deepEqual(
        seen.slice(firstNew).filter((s) => s !== webV2.serial),
        [],
        'the old certificate after the new one',
      );
      assert.deepEqual(
        seen.slice(0, firstNew).filter((s) => s !== webV1.serial),
        [],
        'only the old certificate before the rotation',
      );
    }
    const again = await tlsGet(ports.https, { ca: [webV1.cert], agent: keepAlive });
    assert.equal(again.socket, held.socket, 'the open connection was reused');
    assert.deepEqual([again.status, again.serial], [200, webV1.serial]);
    keepAlive.destroy();

    // /certs: the new certificate with its days left (30-day certificate issued just now).
    const certs = JSON.parse((await httpRequest(`${proxy.adminUrl}/certs`)).body) as {
      certificates: Array<{ cert_chain: Array<Record<string, unknown>> }>;
    };
    const entry = certs.certificates
      .flatMap((c) => c.cert_chain)
      .find((c) => c.serial_number === webV2.serial.toLowerCase());
    assert.ok(entry, `the rotated certificate in /certs: ${JSON.stringify(certs)}`);
    assert.equal(entry.path, '<inline>');
    assert.equal(entry.days_until_expiration, '29');
    assert.deepEqual(entry.subject_alt_names, [{ dns: 'web.test' }]);
    assert.equal(entry.subject, 'CN=web.test');
    assert.ok(
      !certs.certificates.some((c) =>
        c.cert_chain.some((d) => d.serial_number === webV1.serial.toLowerCase()),
      ),
      'the replaced certificate is gone from /certs',
    );
    const metrics = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    assert.match(metrics, /^ferry_server_days_until_first_cert_expiring 29$/m);
    assert.match(
      metrics,
      /^ferry_ssl_certificate_expiration_unix_time_seconds\{certificate="web-cert",listener="https"\} \d+$/m,
    );
  });

  test('/config_dump shows the secrets without their private keys', async () => {
    const body = await configDump(proxy);
    assert.ok(!body.includes('PRIVATE KEY'), 'no PEM private key in /config_dump');
    for (const pair of [webV1, chainCerts.a])
      assert.ok(!body.includes(pair.key.split('\n')[1]!), 'no key material in /config_dump');
    const dump = JSON.parse(body) as { configs: Json[] };
    const secrets = dump.configs.find((c) => String(c['@type']).endsWith('SecretsConfigDump'))!;
    const web = (secrets.dynamic_active_secrets as Json[]).find((s) => s.name === 'web-cert');
    assert.deepEqual(((web?.secret as Json).tls_certificate as Json).private_key, {
      inline_string: '[redacted]',
    });
    const disk = (secrets.static_secrets as Json[]).find((s) => s.name === 'disk-cert');
    assert.deepEqual(((disk?.secret as Json).tls_certificate as Json).private_key, {
      filename: '[redacted]',
    });
  });
});

describe('SDS over delta ADS', () => {
  test('the delta client subscribes to the secret by name and follows its versions', async () => {
    const port = await freePort();
    const [v1, v2] = [makeCert(dir, 'delta.test'), makeCert(dir, 'delta.test')];
    await apply(
      cp,
      [
        staticClusterResource('web', [backend.port]),
        certSecret('delta-cert', v1),
        listenerResource('https-delta', port, [webChain(downstreamTls(sdsCert('delta-cert')))]),
      ],
      'delta',
    );
    await waitForPublished(cp, LDS, ['https-delta'], { group: 'delta' });
    const bootstrap = proxyBootstrap({
      nodeId: 'sds-delta',
      nodeCluster: 'delta',
      xdsAddress: cp.xdsAddress,
    });
    ((bootstrap.dynamic_resources as Json).ads_config as Json).api_type = 'DELTA_GRPC';
    await startProxy({ bootstrap });
    const first = await eventually(
      () => tlsGet(port, { ca: [v1.cert] }),
      'the listener served with its SDS certificate',
    );
    assert.deepEqual([first.status, first.serial], [200, v1.serial]);
    await apply(cp, [certSecret('delta-cert', v2)], 'delta');
    await eventually(async () => {
      const reply = await tlsGet(port, { ca: [v1.cert, v2.cert] });
      return reply.serial === v2.serial ? reply : undefined;
    }, 'the new secret version over delta xDS');
  });
});

describe('downstream TLS', () => {
  test('a client without SNI is served by the chain without server_names', async () => {
    const reply = await tlsGet(ports.mtls, { ca: [chainCerts.c.cert] });
    assert.deepEqual([reply.status, reply.cn], [200, 'c.test']);
  });

  test('require_client_certificate applies to its filter chain only', async () => {
    const { a, b, client, stranger } = chainCerts;
    // a.test requires a certificate the SDS validation context trusts.
    await assert.rejects(tlsGet(ports.mtls, { servername: 'a.test', ca: [a.cert] }));
    await assert.rejects(
      tlsGet(ports.mtls, { servername: 'a.test', ca: [a.cert], clientCert: stranger }),
    );
    const withCert = await tlsGet(ports.mtls, {
      servername: 'a.test',
      ca: [a.cert],
      clientCert: client,
    });
    assert.deepEqual([withCert.status, withCert.cn], [200, 'a.test']);
    // b.test, on the same listener, asks for none.
    const without = await tlsGet(ports.mtls, { servername: 'b.test', ca: [b.cert] });
    assert.deepEqual([without.status, without.cn], [200, 'b.test']);
  });

  test('watched_directory: a symlink swap rotates a static secret’s certificate', async () => {
    const before = await tlsGet(ports.disk, { ca: [diskV1.cert] });
    assert.deepEqual([before.status, before.serial], [200, diskV1.serial]);
    const diskV2 = makeCert(dir, 'disk.test');
    writeVolume(path.join(dir, 'volume'), diskV2, 'gen2');
    const after = await eventually(async () => {
      const reply = await tlsGet(ports.disk, { ca: [diskV1.cert, diskV2.cert] });
      return reply.serial === diskV2.serial ? reply : undefined;
    }, 'the certificate from the swapped directory');
    assert.equal(after.status, 200);
  });
});
