/**
 * ACME end to end, with real processes on loopback: Pebble (an ACME CA) validates HTTP-01 by
 * connecting to the domain's port 80 stand-in, which is the HTTP listener of two ferry-proxies of
 * one group (the second with --listener-port-offset 1); the control plane answers the challenge
 * through them (a route it derives into their RouteConfiguration), stores the certificate as a
 * Secret, and renews it when it is due (Pebble issues certificates valid for 45 s here, and
 * renew_before 35s starts renewal 10 s into that, leaving 35 s for an order to finish before
 * the certificate served expires). `ferryctl certs` shows the state.
 *
 * The HTTPS rotation is checked across both proxies while a client keeps making requests: the
 * HTTPS listener names the Secret over SDS, so each renewal reaches the proxies as a new Secret
 * version, and no request fails while the certificate changes under it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import {
  apiApply,
  eventually,
  ferryctl,
  freePortPair,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  type Backend,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';
import { FAST_ACME_ARGS, acmeSiteResources, startPebble, type Pebble } from './pebble.js';

const DOMAIN = 'web.ferry.test';
const GROUP = 'edge';

interface CertificatesJson {
  acme_certificates: Array<{
    name: string;
    status: string;
    serial: string;
    not_after: string;
    renew_at: string;
    last_error: string;
  }>;
  secrets: Array<{
    group: string;
    name: string;
    serial: string;
    dns_names: string[];
    days_left: number;
  }>;
}

async function certificates(cp: ControlPlane): Promise<CertificatesJson> {
  const res = await httpRequest(`${cp.apiUrl}/v1/certificates`);
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body) as CertificatesJson;
}

async function secretPem(cp: ControlPlane): Promise<{ cert: string; key: string }> {
  const res = await httpRequest(
    `${cp.apiUrl}/v1/resources/secret/web-tls?group=${GROUP}&show_secrets=true`,
  );
  assert.equal(res.status, 200, res.body);
  const body = JSON.parse(res.body) as {
    resource: {
      tls_certificate: {
        certificate_chain: { inline_string: string };
        private_key: { inline_string: string };
      };
    };
  };
  const tls = body.resource.tls_certificate;
  return { cert: tls.certificate_chain.inline_string, key: tls.private_key.inline_string };
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

/** One HTTPS request (new connection) for DOMAIN to 127.0.0.1:port; the served leaf's serial. */
function httpsGet(port: number, ca: string): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        servername: DOMAIN,
        headers: { host: DOMAIN },
        ca,
        agent: false,
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('HTTPS request timed out')));
  });
}

/** An HTTPS listener whose certificate is the Secret `web-tls`, received over SDS (ADS). */
function httpsListener(port: number): Json {
  return listenerResource('https', port, [
    {
      filters: [hcmFilter({ rds: 'web' })],
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type':
            'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
          common_tls_context: {
            tls_certificate_sds_secret_configs: [
              { name: 'web-tls', sds_config: { ads: {}, resource_api_version: 'V3' } },
            ],
          },
        },
      },
    },
  ]);
}

void describe('ACME certificates through the fleet (Pebble)', { timeout: 240_000 }, () => {
  let pebble: Pebble;
  let cp: ControlPlane;
  let backend: Backend;
  const proxies: Proxy[] = [];
  let httpPort: number;
  let httpsPort: number;

  before(async () => {
    httpPort = await freePortPair();
    httpsPort = await freePortPair();
    // Independent start-ups side by side: they are mostly CPU (a machine's cores share them).
    [pebble, backend, cp] = await Promise.all([
      startPebble({ httpPort, certificateValiditySeconds: 45 }),
      startBackend('web'),
      startControlPlane({ args: [...FAST_ACME_ARGS] }),
    ]);
    proxies.push(
      ...(await Promise.all(
        [0, 1].map((offset) =>
          startProxy({
            bootstrap: proxyBootstrap({
              nodeId: `edge-${offset}`,
              nodeCluster: GROUP,
              xdsAddress: cp.xdsAddress,
            }),
            args: ['--listener-port-offset', String(offset)],
          }),
        ),
      )),
    );
  });

  after(async () => {
    await pebble?.stop();
    await backend?.close();
    await stopAll();
  });

  test('the certificate is issued through both proxies, stored as a Secret and shown by ferryctl certs', async () => {
    await apiApply(cp.apiUrl, acmeSiteResources(DOMAIN, httpPort, backend.port), GROUP);
    // Both proxies serve the group's HTTP listener before the certificate is asked for.
    for (const port of [httpPort, httpPort + 1]) {
      await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${port}/hello`, { host: DOMAIN });
        return res.status === 200 ? true : undefined;
      }, `proxy on ${port} serving ${DOMAIN}`);
    }
    const yaml = `
'@type': type.googleapis.com/ferry.v1.AcmeCertificate
name: web
domains: [${DOMAIN}]
directory_url: ${pebble.directoryUrl}
directory_ca_pem: |
${pebble.apiCaPem.trimEnd().replace(/^/gm, '  ')}
email: ops@ferry.test
secret_name: web-tls
renew_before: 35s
`;
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-', '-g', GROUP], yaml);
    assert.equal(applied.code, 0, applied.stderr);

    const issued = await eventually(
      async () => {
        const c = (await certificates(cp)).acme_certificates.find((x) => x.name === 'web');
        if (c?.status === 'FAILED') throw new Error(`order failed: ${c.last_error}`);
        return c?.status === 'VALID' ? c : undefined;
      },
      'the AcmeCertificate to become VALID',
      90_000,
    );
    const pem = await secretPem(cp);
    const leaf = new X509Certificate(pem.cert);
    assert.equal(leaf.serialNumber, issued.serial);
    assert.match(leaf.subjectAltName ?? '', new RegExp(`DNS:${DOMAIN.replace(/\./g, '\\.')}`));
    assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(pem.key)));

    // The user's RouteConfiguration was never written: the challenge route was served, not stored.
    const route = await ferryctl(cp.apiUrl, ['get', 'route', 'web', '-g', GROUP, '-o', 'json']);
    assert.equal(route.code, 0, route.stderr);
    assert.doesNotMatch(route.stdout, /acme-challenge/);
    // And it is gone from what the proxies serve once the order is done.
    for (const port of [httpPort, httpPort + 1]) {
      await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${port}/.well-known/acme-challenge/x`, {
          host: DOMAIN,
        });
        return res.body.startsWith('web ') ? true : undefined;
      }, `challenge routes removed from the proxy on ${port}`);
    }

    const certs = await ferryctl(cp.apiUrl, ['certs', '-g', GROUP]);
    assert.equal(certs.code, 0, certs.stderr);
    assert.match(certs.stdout, /ACME certificates:/);
    assert.match(
      certs.stdout,
      new RegExp(`${GROUP}\\s+web\\s+${DOMAIN.replace(/\./g, '\\.')}\\s+\\S+\\s+VALID`),
    );
    assert.match(
      certs.stdout,
      new RegExp(`${GROUP}\\s+web-tls\\s+CN=${DOMAIN.replace(/\./g, '\\.')}`),
    );
    // 45-second certificates are under any day threshold.
    assert.match(certs.stdout, /WARNING: secret edge\/web-tls .* \(under 21\)/);
  });

  test('renewal rotates the certificate on both proxies while HTTPS requests keep succeeding', async () => {
    const ca = await pebble.issuerRootPem();
    await apiApply(cp.apiUrl, [httpsListener(httpsPort)], GROUP);
    // Both proxies serve the Secret's certificate, received over SDS (the same one: renewals
    // every 10 s and more may move it while this waits).
    const first = await eventually(
      async () => {
        const served = await Promise.all([httpsGet(httpsPort, ca), httpsGet(httpsPort + 1, ca)]);
        return served[0].serial !== '' && served[0].serial === served[1].serial
          ? served[0].serial
          : undefined;
      },
      'both proxies serving the Secret over SDS',
      60_000,
    );

    // A client keeps making requests to both proxies for the whole rotation.
    let stop = false;
    const failures: string[] = [];
    const seen = [new Set<string>(), new Set<string>()];
    const client = (async () => {
      while (!stop) {
        for (const [i, port] of [httpsPort, httpsPort + 1].entries()) {
          try {
            const res = await httpsGet(port, ca);
            if (res.status !== 200) failures.push(`${port}: HTTP ${res.status}`);
            seen[i]!.add(res.serial);
          } catch (err) {
            failures.push(`${port}: ${(err as Error).message}`);
          }
        }
      }
    })();
    try {
      // Renewal 35 s before the end of 45 s: a new Secret with a new serial, pushed over SDS.
      const renewed = await eventually(
        async () => {
          const now = serialOf((await secretPem(cp)).cert);
          return now !== first ? now : undefined;
        },
        'a renewed certificate in the Secret',
        90_000,
      );
      await eventually(
        () => (seen.every((s) => s.has(renewed)) ? true : undefined),
        `both proxies serving serial ${renewed}`,
        30_000,
      );
    } finally {
      stop = true;
      await client;
    }
    assert.deepEqual(failures, [], 'no HTTPS request failed during the rotation');
    const state = (await certificates(cp)).acme_certificates.find((c) => c.name === 'web');
    assert.equal(state?.status, 'VALID');
  });
});
