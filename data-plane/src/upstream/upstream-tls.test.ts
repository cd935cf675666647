/**
 * Upstream TLS verification over real handshakes on loopback: Envoy's default validator rules
 * (no validation context = no checks; trusted_ca; SAN matchers with or without a CA; hash and
 * SPKI pins; the auto_san_validation name), the SNI sent, and the default cipher list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { UpstreamTlsModel } from '../config/model.js';
import { createCa, type TestCa, type TestCert } from '@ferry/shared/testing/test-pki';
import { plainTlsModel } from './upstream-tls-fixtures.js';
import { CERT_VERIFY_FAILED, UpstreamTlsPolicy, connectUpstreamTls } from './upstream-tls.js';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let leaf: TestCert;
let server: tls.Server;
let port: number;
const seenSni: (string | false | null)[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-upstream-tls-'));
  ca = createCa(dir, 'ca');
  otherCa = createCa(dir, 'other-ca');
  leaf = ca.issue('backend', {
    sans: [
      'DNS:*.backend.test',
      'URI:spiffe://td/ns/web/sa/api',
      'IP:127.0.0.1',
      'email:ops@backend.test',
    ],
  });
  server = tls.createServer({ cert: leaf.cert, key: leaf.key }, (socket) => {
    seenSni.push(socket.servername);
    socket.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Connects with `model`; resolves 'ok' once verified or the error's code and message. */
function attempt(
  model: UpstreamTlsModel,
  servername?: string,
  sanName?: string,
  to = port,
): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectUpstreamTls(
      { policy: new UpstreamTlsPolicy(model), servername, sanName },
      { host: '127.0.0.1', port: to },
      (verified) => {
        verified.destroy();
        resolve('ok');
      },
    );
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`${err.code}: ${err.message}`));
  });
}

const dnsExact = (value: string) =>
  ({ sanType: 'DNS', matcher: { kind: 'exact', value, ignoreCase: false } }) as const;

describe('upstream TLS verification', () => {
  test('no validation context: the peer is not verified (Envoy’s rule)', async () => {
    assert.equal(await attempt(plainTlsModel()), 'ok');
  });

  test('trusted_ca: the chain must verify against it', async () => {
    assert.equal(await attempt(plainTlsModel({ trustedCaPem: ca.cert })), 'ok');
    const failed = await attempt(plainTlsModel({ trustedCaPem: otherCa.cert }));
    assert.match(failed, new RegExp(`^${CERT_VERIFY_FAILED}: .*not signed by trusted_ca`));
  });

  test('trusted_ca + SAN matcher: right name passes, wrong name fails', async () => {
    const right = plainTlsModel({
      trustedCaPem: ca.cert,
      sanMatchers: [dnsExact('api.backend.test')],
    });
    assert.equal(await attempt(right), 'ok');
    const wrong = plainTlsModel({
      trustedCaPem: ca.cert,
      sanMatchers: [dnsExact('api.other.test')],
    });
    const failed = await attempt(wrong);
    assert.match(failed, new RegExp(`^${CERT_VERIFY_FAILED}: .*no subject alt name matches`));
    assert.match(failed, /DNS:\*\.backend\.test/);
  });

  test('SAN matchers without trusted_ca still have to match', async () => {
    const uri = plainTlsModel({
      sanMatchers: [
        { sanType: 'URI', matcher: { kind: 'prefix', value: 'spiffe://td/', ignoreCase: false } },
      ],
    });
    assert.equal(await attempt(uri), 'ok');
    const ip = plainTlsModel({
      sanMatchers: [
        {
          sanType: 'IP_ADDRESS',
          matcher: { kind: 'exact', value: '127.0.0.2', ignoreCase: false },
        },
      ],
    });
    assert.match(await attempt(ip), new RegExp(`^${CERT_VERIFY_FAILED}:`));
  });

  test('auto_san_validation name replaces the SAN matchers', async () => {
    const model = plainTlsModel({ trustedCaPem: ca.cert, sanMatchers: [dnsExact('x.other')] });
    assert.equal(await attempt(model, 'one.backend.test', 'one.backend.test'), 'ok');
    assert.match(
      await attempt(model, 'one.elsewhere.test', 'one.elsewhere.test'),
      /no subject alt name matches "one\.elsewhere\.test"/,
    );
  });

  test('certificate hash and SPKI pins', async () => {
    const cert = new X509Certificate(leaf.cert);
    const spki = createHash('sha256')
      .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64');
    const hash = cert.fingerprint256.replaceAll(':', '').toLowerCase();
    assert.equal(await attempt(plainTlsModel({ spkiHashes: [spki] })), 'ok');
    assert.equal(await attempt(plainTlsModel({ certificateHashes: [hash] })), 'ok');
    const other = new X509Certificate(ca.cert).fingerprint256.replaceAll(':', '').toLowerCase();
    assert.match(
      await attempt(plainTlsModel({ certificateHashes: [other] })),
      /neither verify_certificate_hash nor verify_certificate_spki/,
    );
  });

  test('SNI: the servername given is sent', async () => {
    seenSni.length = 0;
    assert.equal(await attempt(plainTlsModel(), 'sni.backend.test'), 'ok');
    assert.deepEqual(seenSni, ['sni.backend.test']);
  });
});

describe('upstream TLS defaults', () => {
  /** A server that offers TLS 1.2 with `ciphers` only. */
  async function tls12Server(ciphers: string): Promise<tls.Server> {
    const s = tls.createServer({
      cert: leaf.cert,
      key: leaf.key,
      ciphers,
      maxVersion: 'TLSv1.2',
    });
    s.on('secureConnection', (socket) => socket.end());
    s.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return s;
  }

  test('a CBC-only upstream is refused by default, accepted when cipher_suites lists it', async () => {
    const cbc = await tls12Server('ECDHE-ECDSA-AES128-SHA');
    const cbcPort = (cbc.address() as AddressInfo).port;
    try {
      assert.notEqual(await attempt(plainTlsModel(), undefined, undefined, cbcPort), 'ok');
      assert.equal(
        await attempt(
          plainTlsModel({ cipherSuites: ['ECDHE-ECDSA-AES128-SHA'] }),
          undefined,
          undefined,
          cbcPort,
        ),
        'ok',
      );
    } finally {
      await new Promise((resolve) => cbc.close(resolve));
    }
  });

  test('an ECDHE-GCM upstream is accepted by default', async () => {
    const gcm = await tls12Server('ECDHE-ECDSA-AES128-GCM-SHA256');
    try {
      assert.equal(
        await attempt(plainTlsModel(), undefined, undefined, (gcm.address() as AddressInfo).port),
        'ok',
      );
    } finally {
      await new Promise((resolve) => gcm.close(resolve));
    }
  });
});
