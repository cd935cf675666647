/**
 * Downstream TLS defaults probed with `openssl s_client` against a running ferry-proxy: TLS 1.0
 * and 1.1, CBC, RSA key exchange, 3DES, NULL and RC4 suites and curves other than X25519/P-256
 * are refused; ECDHE with AES-GCM / CHACHA20-POLY1305 and TLS 1.3 are accepted; tls_params
 * overrides (minimum TLS 1.3, a cipher_suites list) are honoured.
 *
 * The client runs without the system OpenSSL config and at @SECLEVEL=0 so that any refusal is
 * the proxy's. Each refused probe is first shown to succeed against an `openssl s_server` that
 * allows everything (same certificate): a probe the client itself cannot make (e.g. RC4 in an
 * OpenSSL build without it) is skipped, never counted as a refusal.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import {
  freePort,
  hcmFilter,
  listenerResource,
  startProxy,
  staticBootstrap,
  stopAll,
  tempDir,
  type Json,
} from './harness.js';

const T = 'type.googleapis.com/';
/** The client and control server ignore the machine's OpenSSL config (minimum versions etc.). */
const OPENSSL_ENV = { ...process.env, OPENSSL_CONF: '/dev/null' };

interface ProbeResult {
  readonly ok: boolean;
  readonly protocol?: string;
  readonly cipher?: string;
  readonly output: string;
}

/** One handshake with `openssl s_client -brief` (stdin closed: it ends after the handshake). */
function probe(port: number, args: readonly string[]): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', ...args],
      { env: OPENSSL_ENV, timeout: 10_000 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        resolve({
          ok: err === null && output.includes('CONNECTION ESTABLISHED'),
          ...matchGroup('protocol', /Protocol version: (\S+)/.exec(output)),
          ...matchGroup('cipher', /Ciphersuite: (\S+)/.exec(output)),
          output,
        });
      },
    );
    child.stdin?.end();
  });
}

function matchGroup(key: string, m: RegExpExecArray | null): Record<string, string> {
  return m ? { [key]: m[1]! } : {};
}

/** `openssl s_server` allowing every protocol, suite and group, with the proxy's certificate. */
async function permissiveServer(
  certPath: string,
  keyPath: string,
): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(
    'openssl',
    [
      's_server',
      '-accept',
      String(port),
      '-cert',
      certPath,
      '-key',
      keyPath,
      '-cipher',
      'ALL:eNULL:@SECLEVEL=0',
    ],
    // stdin stays open: s_server exits when it reads EOF.
    { env: OPENSSL_ENV, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    const lines = readline.createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      if (line.includes('ACCEPT')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`openssl s_server exited (${code})`)));
  });
  return { port, proc };
}

/** The TLS 1.3 suites ferry-proxy enables (all AEAD; the CCM ones are not offered). */
const TLS13_AEAD = /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/;

const TLS12 = (cipher: string): string[] => ['-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`];

describe('downstream TLS defaults and tls_params, probed with openssl s_client', () => {
  let dir: string;
  let control: { port: number; proc: ChildProcess };
  const ports = { defaults: 0, tls13Only: 0, aes256Only: 0 };

  before(async () => {
    dir = tempDir('tls-defaults');
    // RSA: the probes for RSA key exchange need an RSA certificate to be meaningful.
    const { certFile: certPath, keyFile: keyPath } = selfSigned(dir, 'tls.test', {
      keyType: 'rsa',
      file: 'rsa',
    });
    control = await permissiveServer(certPath, keyPath);
    const chain = (tlsParams?: Json): Json => ({
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
          common_tls_context: {
            tls_certificates: [
              {
                certificate_chain: { filename: certPath },
                private_key: { filename: keyPath },
              },
            ],
            ...(tlsParams ? { tls_params: tlsParams } : {}),
          },
        },
      },
      filters: [
        hcmFilter({
          routeConfig: {
            name: 'r',
            virtual_hosts: [
              {
                name: 'all',
                domains: ['*'],
                routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }],
              },
            ],
          },
        }),
      ],
    });
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'tls-defaults',
        listeners: [
          listenerResource('defaults', ports.defaults, [chain()]),
          listenerResource('tls13-only', ports.tls13Only, [
            chain({ tls_minimum_protocol_version: 'TLSv1_3' }),
          ]),
          listenerResource('aes256-only', ports.aes256Only, [
            chain({ cipher_suites: ['ECDHE-RSA-AES256-GCM-SHA384'] }),
          ]),
        ],
        clusters: [],
      }),
    });
  });

  after(async () => {
    control.proc.kill('SIGKILL');
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The proxy on `port` refuses `args`, which the permissive control server accepts. */
  async function refused(t: TestContext, port: number, args: string[]): Promise<void> {
    const allowed = await probe(control.port, args);
    if (!allowed.ok) {
      t.skip(
        `this openssl cannot make the probe ${args.join(' ')}: ${allowed.output.trim().split('\n')[0]}`,
      );
      return;
    }
    const result = await probe(port, args);
    assert.equal(
      result.ok,
      false,
      `accepted ${args.join(' ')}: ${result.protocol} ${result.cipher}`,
    );
  }

  const refusedByDefault: Array<[string, string[]]> = [
    ['TLS 1.0', ['-tls1', '-cipher', 'ALL:@SECLEVEL=0']],
    ['TLS 1.1', ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0']],
    ['TLS 1.2 ECDHE with CBC', TLS12('ECDHE-RSA-AES128-SHA')],
    ['TLS 1.2 ECDHE with CBC-SHA384', TLS12('ECDHE-RSA-AES256-SHA384')],
    ['TLS 1.2 RSA key exchange with GCM', TLS12('AES128-GCM-SHA256')],
    ['TLS 1.2 RSA key exchange with CBC', TLS12('AES256-SHA')],
    ['TLS 1.2 DHE', TLS12('DHE-RSA-AES128-GCM-SHA256')],
    ['TLS 1.2 3DES', TLS12('DES-CBC3-SHA')],
    ['TLS 1.2 NULL cipher', TLS12('NULL-SHA256')],
    ['TLS 1.2 RC4', TLS12('RC4-SHA')],
    ['TLS 1.3 with only X448', ['-tls1_3', '-groups', 'X448']],
    ['TLS 1.3 with only P-384', ['-tls1_3', '-groups', 'P-384']],
  ];
  for (const [name, args] of refusedByDefault)
    test(`refused by default: ${name}`, (t) => refused(t, ports.defaults, args));

  const acceptedByDefault: Array<[string, string[], string, string | RegExp]> = [
    [
      'ECDHE-RSA-AES128-GCM-SHA256',
      TLS12('ECDHE-RSA-AES128-GCM-SHA256'),
      'TLSv1.2',
      'ECDHE-RSA-AES128-GCM-SHA256',
    ],
    [
      'ECDHE-RSA-AES256-GCM-SHA384',
      TLS12('ECDHE-RSA-AES256-GCM-SHA384'),
      'TLSv1.2',
      'ECDHE-RSA-AES256-GCM-SHA384',
    ],
    [
      'ECDHE-RSA-CHACHA20-POLY1305',
      TLS12('ECDHE-RSA-CHACHA20-POLY1305'),
      'TLSv1.2',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ],
    ['TLS 1.3 over X25519', ['-tls1_3', '-groups', 'X25519'], 'TLSv1.3', TLS13_AEAD],
    ['TLS 1.3 over P-256', ['-tls1_3', '-groups', 'P-256'], 'TLSv1.3', TLS13_AEAD],
  ];
  for (const [name, args, protocol, cipher] of acceptedByDefault)
    test(`accepted by default: ${name}`, async () => {
      const result = await probe(ports.defaults, args);
      assert.equal(result.ok, true, result.output);
      assert.equal(result.protocol, protocol);
      if (typeof cipher === 'string') assert.equal(result.cipher, cipher);
      else assert.match(result.cipher ?? '', cipher);
    });

  test('tls_minimum_protocol_version TLSv1_3: TLS 1.2 refused, TLS 1.3 accepted', async (t) => {
    await refused(t, ports.tls13Only, TLS12('ECDHE-RSA-AES128-GCM-SHA256'));
    const result = await probe(ports.tls13Only, ['-tls1_3']);
    assert.equal(result.ok, true, result.output);
    assert.equal(result.protocol, 'TLSv1.3');
  });

  test('cipher_suites: only the listed TLS 1.2 suite is negotiated; TLS 1.3 unaffected', async (t) => {
    await refused(t, ports.aes256Only, TLS12('ECDHE-RSA-AES128-GCM-SHA256'));
    const aes256 = await probe(ports.aes256Only, TLS12('ECDHE-RSA-AES256-GCM-SHA384'));
    assert.equal(aes256.ok, true, aes256.output);
    assert.equal(aes256.cipher, 'ECDHE-RSA-AES256-GCM-SHA384');
    const tls13 = await probe(ports.aes256Only, ['-tls1_3']);
    assert.equal(tls13.ok, true, tls13.output);
  });
});
