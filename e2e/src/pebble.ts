/**
 * Pebble, Let's Encrypt's ACME test CA (Debian package `pebble`), for end-to-end tests: its own
 * TLS from a localhost CA made here with openssl, every port random, its DNS lookups sent to
 * pebble-challtestsrv (which answers 127.0.0.1 for every name), validation without the random
 * sleeps, no nonce rejections and no authorization reuse (every order validates anew).
 * `scripts/install-test-packages.sh` (run by `make test`) installs the package; without it the
 * tests fail here with what to install.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import {
  eventually,
  freePort,
  hcmFilter,
  listenerResource,
  routeConfigResource,
  run,
  staticClusterResource,
  tempDir,
  type Json,
} from './harness.js';

export interface Pebble {
  readonly directoryUrl: string;
  /** The CA certificate Pebble's own HTTPS (directory, API) is signed by. */
  readonly apiCaPem: string;
  /** The root that issued certificates chain to (Pebble makes a new one per start). */
  issuerRootPem(): Promise<string>;
  readonly logs: string[];
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** The port HTTP-01 validation connects to (the proxies' HTTP listener). */
  readonly httpPort: number;
  /** Lifetime of issued certificates, seconds (Pebble's default is 5 years). */
  readonly certificateValiditySeconds?: number;
}

function requireBinary(name: string): string {
  const found = (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((dir) => path.join(dir, name))
    .find((file) => fs.existsSync(file));
  if (!found) {
    throw new Error(
      `${name} is not installed: it comes with the Debian package "pebble" (apt-get install pebble, or run scripts/install-test-packages.sh as root)`,
    );
  }
  return found;
}

async function openssl(args: string[]): Promise<void> {
  const made = await run('openssl', args);
  if (made.code !== 0) throw new Error(`openssl ${args[0]} failed: ${made.stderr}`);
}

/** A CA and a certificate for localhost / 127.0.0.1 signed by it. */
async function localhostTls(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  const key = path.join(dir, 'localhost.key');
  const csr = path.join(dir, 'localhost.csr');
  const cert = path.join(dir, 'localhost.crt');
  const ext = path.join(dir, 'localhost.ext');
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Ferry test Pebble API CA',
    '-keyout',
    caKey,
    '-out',
    ca,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  await openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    key,
    '-out',
    csr,
  ]);
  fs.writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { ca, cert, key };
}

function spawnLogged(
  bin: string,
  args: string[],
  env: Record<string, string>,
  logs: string[],
): ChildProcess {
  const proc = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  proc.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return proc;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/**
 * Control-plane flags for ACME against Pebble in a test: look for work every 200 ms, retry a
 * failed order after 500 ms, poll the CA from 100 ms on (the defaults are 10 s, 60 s and 5 s).
 */
export const FAST_ACME_ARGS: readonly string[] = [
  '--acme-check-interval-ms',
  '200',
  '--acme-retry-base-ms',
  '500',
  '--acme-poll-min-ms',
  '100',
];

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const pebbleBin = requireBinary('pebble');
  const challtestsrvBin = requireBinary('pebble-challtestsrv');
  const dir = tempDir('pebble');
  const tls = await localhostTls(dir);
  const [listenPort, managementPort, tlsPort, dnsPort, challManagementPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const logs: string[] = [];
  const procs: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
  };
  process.once('exit', () => procs.forEach((p) => p.kill('SIGKILL')));
  try {
    // Every name resolves to 127.0.0.1 (no AAAA answers, so validation never tries ::1).
    procs.push(
      spawnLogged(
        challtestsrvBin,
        [
          '-defaultIPv4',
          '127.0.0.1',
          '-defaultIPv6',
          '',
          '-dns01',
          `127.0.0.1:${dnsPort}`,
          '-http01',
          '',
          '-https01',
          '',
          '-tlsalpn01',
          '',
          '-management',
          `127.0.0.1:${challManagementPort}`,
        ],
        {},
        logs,
      ),
    );
    const config = path.join(dir, 'pebble-config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${listenPort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: tls.cert,
          privateKey: tls.key,
          httpPort: options.httpPort,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
          ...(options.certificateValiditySeconds
            ? { certificateValidityPeriod: options.certificateValiditySeconds }
            : {}),
        },
      }),
    );
    procs.push(
      spawnLogged(
        pebbleBin,
        ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`],
        { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
        logs,
      ),
    );
    const apiCaPem = fs.readFileSync(tls.ca, 'utf8');
    const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
    await eventually(
      async () => ((await get(directoryUrl, apiCaPem)).status === 200 ? true : undefined),
      `Pebble's directory at ${directoryUrl} (logs: ${logs.join('')})`,
      20_000,
    );
    return {
      directoryUrl,
      apiCaPem,
      logs,
      stop,
      issuerRootPem: async () => {
        const res = await get(`https://127.0.0.1:${managementPort}/roots/0`, apiCaPem);
        if (res.status !== 200) throw new Error(`Pebble roots/0: HTTP ${res.status}`);
        return res.body;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A group's plain HTTP site for `domain` on `listenPort`, proxied to `backendPort`: what the
 * proxies that answer HTTP-01 serve before a certificate is ordered. Pebble's validation request
 * says `Host: DOMAIN:PORT` (the listener is not on port 80 here), hence
 * ignore_port_in_host_matching.
 */
export function acmeSiteResources(domain: string, listenPort: number, backendPort: number): Json[] {
  return [
    staticClusterResource('web', [backendPort]),
    {
      ...routeConfigResource('web', [
        {
          name: 'web',
          domains: [domain],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
        },
      ]),
      ignore_port_in_host_matching: true,
    },
    listenerResource('http', listenPort, [{ filters: [hcmFilter({ rds: 'web' })] }]),
  ];
}
