/**
 * Starts real Ferry processes on loopback with random free ports and stops them. Every process
 * started here is tracked and killed by `stopAll()` (call it in `after`), so a failing test leaks
 * nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CONTROL_PLANE_BIN = path.join(ROOT, 'control-plane', 'bin', 'ferry-control-plane');
export const FERRYCTL_BIN = path.join(ROOT, 'control-plane', 'bin', 'ferryctl');

const running = new Set<ChildProcess>();

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ferry-${prefix}-`));
}

export interface ControlPlane {
  readonly proc: ChildProcess;
  readonly xdsAddress: string;
  readonly apiUrl: string;
  readonly grpcApiAddress: string;
  readonly logs: string[];
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface ControlPlaneOptions {
  store?: string;
  args?: string[];
  env?: Record<string, string>;
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const store = options.store ?? `sqlite:${path.join(tempDir('cp'), 'ferry.db')}`;
  const proc = spawn(
    process.execPath,
    [
      CONTROL_PLANE_BIN,
      '--xds-address',
      '127.0.0.1:0',
      '--api-address',
      '127.0.0.1:0',
      '--api-grpc-address',
      '127.0.0.1:0',
      '--store',
      store,
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FERRY_LOG_LEVEL: 'info', ...options.env },
    },
  );
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const logs: string[] = [];
  proc.stderr.on('data', (d: Buffer) => logs.push(d.toString()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout });
    const onExit = (code: number | null): void =>
      reject(new Error(`control plane exited (${code}) before it was ready:\n${logs.join('')}`));
    proc.once('exit', onExit);
    rl.on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'control plane ready') {
          proc.off('exit', onExit);
          resolve(entry);
        }
      } catch {
        // not JSON: keep it in logs only
      }
    });
  });
  return {
    proc,
    xdsAddress: String(ready.xds_address),
    apiUrl: String(ready.api_url),
    grpcApiAddress: String(ready.api_grpc_address),
    logs,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function ferryctl(server: string, args: string[], input?: string): Promise<CommandResult> {
  return run(process.execPath, [FERRYCTL_BIN, '--server', server, ...args], input);
}

export function run(command: string, args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => {
      running.delete(proc);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    proc.stdin.end(input ?? '');
  });
}

export async function stopAll(): Promise<void> {
  const procs = [...running];
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map(exited));
}

/** Polls `check` until it returns a value or `timeoutMs` passes (a liveness bound, not a timing assertion). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 15000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
