/**
 * Real etcd for tests (Debian package `etcd-server`, /usr/bin/etcd): one member or a cluster of
 * several, on loopback with random free ports and a temporary data directory each. Members can be
 * killed (SIGKILL) and started again on the same data. Every process started here is killed when
 * the test process exits, so a failing test leaks nothing. `scripts/install-test-packages.sh`
 * (run by `make test`) installs the package; without it the tests fail here with what to install.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';

export interface EtcdMember {
  readonly name: string;
  /** host:port clients connect to. */
  readonly endpoint: string;
  readonly dataDir: string;
  /** True while its process runs. */
  readonly running: boolean;
  /** SIGKILL and wait for exit (no clean shutdown: what a crash or power loss leaves). */
  kill(): Promise<void>;
  /** Starts it again on the same data and ports; resolves when it serves (bounded). */
  start(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** host:port of every member. */
  readonly endpoints: readonly string[];
  /** The members' output so far, for failure messages. */
  readonly logs: string[];
  /** Kills every member and removes the data directories. */
  stop(): Promise<void>;
}

/** Client TLS for the members (peers talk plaintext on loopback). */
export interface EtcdTls {
  /** The members' certificate and key (PEM files); it must name IP:127.0.0.1. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that client certificates must chain to, and that signed the members' certificate. */
  readonly caFile: string;
  /** Require client certificates (etcd's --client-cert-auth); then `probe` is used for /health. */
  readonly clientCertAuth?: boolean;
  /** A client certificate and key (PEM files) the harness presents to probe health. */
  readonly probe?: { readonly certFile: string; readonly keyFile: string };
}

export interface EtcdOptions {
  /** Serve clients over TLS (https://) with these files. */
  readonly tls?: EtcdTls;
  /** Number of members (default 1). */
  readonly members?: number;
  /** Extra flags for every member (e.g. '--max-txn-ops', '1000'). */
  readonly args?: readonly string[];
  /** Bound on waiting for the cluster to serve (default 30000): a liveness bound, not a speed check. */
  readonly readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function etcdBinary(): string {
  const found = [
    '/usr/bin/etcd',
    ...(process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'etcd')),
  ].find((file) => fs.existsSync(file));
  if (!found) {
    throw new Error(
      'etcd is not installed: it comes with the Debian package "etcd-server" (apt-get install etcd-server, or run scripts/install-test-packages.sh as root)',
    );
  }
  return found;
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** GET /health on a member: true when it has a leader and serves. */
function healthy(endpoint: string, tls: EtcdTls | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const options = tls
      ? {
          timeout: 2000,
          ca: fs.readFileSync(tls.caFile),
          ...(tls.probe
            ? { cert: fs.readFileSync(tls.probe.certFile), key: fs.readFileSync(tls.probe.keyFile) }
            : {}),
        }
      : { timeout: 2000 };
    const get = tls ? https.get : http.get;
    const req = get(`${tls ? 'https' : 'http'}://${endpoint}/health`, options, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function waitHealthy(
  endpoints: readonly string[],
  tls: EtcdTls | undefined,
  timeoutMs: number,
  logs: string[],
  procs: () => ChildProcess[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = procs().find((p) => p.exitCode !== null || p.signalCode !== null);
    if (dead)
      throw new Error(`etcd exited (${dead.exitCode ?? dead.signalCode}):\n${logs.join('')}`);
    const states = await Promise.all(endpoints.map((e) => healthy(e, tls)));
    if (states.every(Boolean)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `etcd at ${endpoints.join(',')} not healthy within ${timeoutMs} ms:\n${logs.slice(-40).join('')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdCluster> {
  const binary = etcdBinary();
  const count = options.members ?? 1;
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-etcd-'));
  const logs: string[] = [];
  const specs: Array<{ name: string; client: number; peer: number; dataDir: string }> = [];
  for (let i = 0; i < count; i++) {
    specs.push({
      name: `m${i}`,
      client: await freePort(),
      peer: await freePort(),
      dataDir: path.join(root, `m${i}`),
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const token = path.basename(root);
  const procs = new Map<string, ChildProcess>();

  const clientScheme = options.tls ? 'https' : 'http';
  const tlsArgs = options.tls
    ? [
        '--cert-file',
        options.tls.certFile,
        '--key-file',
        options.tls.keyFile,
        '--trusted-ca-file',
        options.tls.caFile,
        ...(options.tls.clientCertAuth ? ['--client-cert-auth'] : []),
      ]
    : [];
  const launch = (spec: (typeof specs)[number]): ChildProcess => {
    const proc = spawn(
      binary,
      [
        '--name',
        spec.name,
        '--data-dir',
        spec.dataDir,
        '--listen-client-urls',
        `${clientScheme}://127.0.0.1:${spec.client}`,
        '--advertise-client-urls',
        `${clientScheme}://127.0.0.1:${spec.client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${spec.peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${spec.peer}`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        token,
        '--initial-cluster-state',
        'new',
        '--logger',
        'zap',
        '--log-level',
        'warn',
        ...tlsArgs,
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    const keep = (d: Buffer): void => {
      logs.push(`[${spec.name}] ${d.toString()}`);
      if (logs.length > 500) logs.splice(0, logs.length - 500);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    procs.set(spec.name, proc);
    return proc;
  };

  const members: EtcdMember[] = specs.map((spec) => ({
    name: spec.name,
    endpoint: `127.0.0.1:${spec.client}`,
    dataDir: spec.dataDir,
    get running() {
      const p = procs.get(spec.name);
      return p !== undefined && p.exitCode === null && p.signalCode === null;
    },
    async kill() {
      const p = procs.get(spec.name);
      if (!p) return;
      p.kill('SIGKILL');
      await exited(p);
    },
    async start() {
      if (this.running) return;
      const proc = launch(spec);
      // A lone restarted member of a cluster is healthy only once it rejoined a quorum.
      await waitHealthy([`127.0.0.1:${spec.client}`], options.tls, timeoutMs, logs, () => [proc]);
    },
  }));

  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.kill()));
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    for (const spec of specs) launch(spec);
    await waitHealthy(
      members.map((m) => m.endpoint),
      options.tls,
      timeoutMs,
      logs,
      () => [...procs.values()],
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { members, endpoints: members.map((m) => m.endpoint), logs, stop };
}

/**
 * Runs etcdctl (v3 API, Debian package `etcd-client`) against `cluster`'s members, e.g. to enable
 * auth or compact; rejects with its output when it fails. `args` come first, so they may carry --user and TLS flags.
 */
export function etcdctl(cluster: EtcdCluster, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(path.dirname(etcdBinary()), 'etcdctl'),
      [...args, '--endpoints', cluster.endpoints.join(',')],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT')
          reject(
            new Error(
              'etcdctl is not installed: it comes with the Debian package "etcd-client" (apt-get install etcd-client, or run scripts/install-test-packages.sh as root)',
            ),
          );
        else if (err) reject(new Error(`etcdctl ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
