/**
 * /certs and the expiry gauges from the TLS contexts of a config: Envoy's CertificateDetails
 * (path or "<inline>", serial, SANs, days until expiration as a uint64 string, validity
 * times), plus the subject, per listener chain and cluster.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import type { ProxyConfig } from '../config/model.js';
import { certificateGauges, certificatesDump } from './certs.js';

let dir: string;
let leaf: string;
let ca: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-certs-'));
  const make = (name: string, days: number, serial: number, sans: string[]): string =>
    selfSigned(dir, name, { days, serial, subject: `/O=Ferry/CN=${name}`, sans }).cert;
  leaf = make('web.test', 30, 0x1a2b, ['DNS:web.test', 'IP:127.0.0.1', 'URI:spiffe://ferry/web']);
  ca = make('ca.test', 400, 0x07, ['DNS:ca.test']);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function config(): ProxyConfig {
  return {
    version: 'v',
    routeConfigs: {},
    listeners: [
      {
        name: 'https',
        filterChains: [
          {
            tls: {
              certificates: [{ certificateChainPem: leaf, privateKeyPem: '', secretName: 'web' }],
              trustedCaPem: ca,
              trustedCaPath: '/etc/ferry/ca.crt',
            },
          },
        ],
      },
    ],
    clusters: {},
  } as unknown as ProxyConfig;
}

test('/certs lists each context’s CA and certificates with Envoy’s details', () => {
  const validFrom = Date.parse(new crypto.X509Certificate(leaf).validFrom);
  // Half a day after issue: 29 whole days remain of the 30.
  const now = validFrom + 12 * 3_600_000;
  const dump = certificatesDump(config(), now) as {
    certificates: Array<{ ca_cert: unknown[]; cert_chain: Array<Record<string, unknown>> }>;
  };
  assert.equal(dump.certificates.length, 1);
  const [entry] = dump.certificates;
  assert.deepEqual(entry!.cert_chain[0], {
    path: '<inline>',
    serial_number: '1a2b',
    subject_alt_names: [
      { dns: 'web.test' },
      { ip_address: '127.0.0.1' },
      { uri: 'spiffe://ferry/web' },
    ],
    days_until_expiration: '29',
    valid_from: new Date(validFrom).toISOString(),
    expiration_time: new Date(validFrom + 30 * 86_400_000).toISOString(),
    subject: 'O=Ferry, CN=web.test',
  });
  const caEntry = entry!.ca_cert[0] as Record<string, unknown>;
  assert.deepEqual(
    [caEntry.path, caEntry.serial_number, caEntry.days_until_expiration],
    ['/etc/ferry/ca.crt', '07', '399'],
  );
});

test('expiry gauges: the first certificate to expire, and each certificate’s expiry time', () => {
  const validFrom = Date.parse(new crypto.X509Certificate(leaf).validFrom);
  // Each certificate from its own openssl run: the CA's may start a second after the leaf's.
  const caFrom = Date.parse(new crypto.X509Certificate(ca).validFrom);
  const gauges = certificateGauges(config(), validFrom + 12 * 3_600_000);
  assert.deepEqual(
    gauges.map((g) => [g.name, g.labels, g.value]),
    [
      [
        'ssl_certificate_expiration_unix_time_seconds',
        { listener: 'https', certificate: '/etc/ferry/ca.crt' },
        Math.floor(caFrom / 1000) + 400 * 86_400,
      ],
      [
        'ssl_certificate_expiration_unix_time_seconds',
        { listener: 'https', certificate: 'web' },
        Math.floor(validFrom / 1000) + 30 * 86_400,
      ],
      ['server_days_until_first_cert_expiring', {}, 29],
    ],
  );
  assert.deepEqual(certificateGauges(undefined, Date.now()), []);
});
