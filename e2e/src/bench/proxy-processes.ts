/**
 * Process plumbing for the proxy benchmark: installing the Debian tools, starting servers in
 * their own process groups (so nginx/HAProxy workers and ferry-proxy's cluster workers go with
 * them), waiting for a port, and killing every group on exit, error or Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { sleep } from './run-control.js';
import { freePort } from '@ferry/shared/testing/free-port';

const TOOLS: Record<string, string> = {
  nginx: 'nginx',
  haproxy: 'haproxy',
  wrk: 'wrk',
  h2load: 'nghttp2-client',
  taskset: 'util-linux',
};

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Installs the missing tools with apt-get (root only). Returns the tools still missing, which
 * the caller reports; h2load is optional.
 */
export function ensureTools(log: (line: string) => void): string[] {
  const missing = Object.keys(TOOLS).filter((tool) => !onPath(tool));
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0) return missing;
  const packages = [...new Set(missing.map((tool) => TOOLS[tool]!))];
  log(`installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
  return Object.keys(TOOLS).filter((tool) => !onPath(tool));
}

/** A free TCP port on 127.0.0.1, outside the ephemeral range. */
export { freePort };

/** Resolves once something accepts connections on the port; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await sleep(50);
  }
}

export interface ServerSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** CPU list for `taskset -c` (undefined: not pinned). Children inherit the affinity. */
  readonly cpus?: string;
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Every server group started here, killed by stopAll(). */
const running = new Set<ChildProcess>();

export function startServer(spec: ServerSpec): ChildProcess {
  const [command, args] =
    spec.cpus === undefined
      ? [spec.command, [...spec.args]]
      : ['taskset', ['-c', spec.cpus, spec.command, ...spec.args]];
  const log = fs.openSync(spec.logFile, 'a');
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: spec.env ?? process.env,
  });
  fs.closeSync(log);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** SIGTERM to the group, SIGKILL after graceMs; resolves when the leader has exited. */
export async function stopServer(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    signalGroup(child, 'SIGKILL');
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Workers that outlived their leader.
  signalGroup(child, 'SIGKILL');
}

/** Synchronous last resort for process exit paths: SIGKILL every group still running. */
export function killAllNow(): void {
  for (const child of running) signalGroup(child, 'SIGKILL');
  running.clear();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stopServer(child)));
}
