/** Runs wrk (`--latency`) and reads its text report into numbers. */
import { spawn } from 'node:child_process';

export interface WrkResult {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  readonly errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `"1.23ms"` → 1.23; `"850.00us"` → 0.85. NaN when the text is not a wrk duration. */
export function parseWrkDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (match === null) return Number.NaN;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Reads wrk's report; throws with the text when the mandatory lines are missing. */
export function parseWrkOutput(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const total = /(\d+) requests in /.exec(text);
  if (rps === null || total === null) throw new Error(`unexpected wrk output:\n${text}`);
  const percentile = (p: number): number => {
    const line = new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+(\\S+)`, 'm').exec(text);
    return line === null ? Number.NaN : parseWrkDuration(line[1]!);
  };
  let errors = 0;
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  if (non2xx !== null) errors += Number(non2xx[1]);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (socket !== null) errors += socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: percentile(50),
    p90Ms: percentile(90),
    p99Ms: percentile(99),
    requests: Number(total[1]),
    errors,
  };
}

export interface WrkRun {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationS: number;
  /** CPU list for `taskset -c` (undefined: not pinned). */
  readonly cpus?: string;
  /** A wrk Lua script (`-s`), e.g. one that sets the method and body. */
  readonly script?: string;
  /** Request headers (`-H`), e.g. `Connection: close` for a new connection per request. */
  readonly headers?: readonly string[];
}

/** Runs wrk to completion (bounded by durationS + 30 s) and parses its report. */
export function runWrk(run: WrkRun): Promise<WrkResult> {
  const wrkArgs = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.durationS}s`,
    '--latency',
    ...(run.script !== undefined ? ['-s', run.script] : []),
    ...(run.headers ?? []).flatMap((header) => ['-H', header]),
    run.url,
  ];
  const [command, args] =
    run.cpus === undefined ? ['wrk', wrkArgs] : ['taskset', ['-c', run.cpus, 'wrk', ...wrkArgs]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (run.durationS + 30) * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`wrk exited with ${code}:\n${out}`));
      else {
        try {
          resolve(parseWrkOutput(out));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
    });
  });
}
