/** Runs wrk (`--latency`) and reads its text report into numbers. */
import { spawn } from 'node:child_process';

export interface WrkResult {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** How long wrk actually ran (its "N requests in T"), which a loaded machine stretches. */
  readonly elapsedMs: number;
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
  const total = /(\d+) requests in (\S+),/.exec(text);
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
    elapsedMs: parseWrkDuration(total[2]!),
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

/**
 * wrk Lua that paces each wrk thread at `perThreadRate` requests per second: every request
 * takes the thread's next send slot, one interval after the previous slot, and waits for it in
 * wrk's `delay()` hook (to the millisecond; a late slot sends at once, so a proxy that falls
 * behind is offered the same total and the achieved rate shows it could not keep up). Several
 * proxies offered the same rate do the same work per second, so their CPU per request compares
 * without the difference a saturated run adds: a slower proxy's peers sit idle and waking them
 * costs it more, and more of its requests are in flight at once. LuaJIT's FFI reads the
 * monotonic clock (wrk's Lua has no sub-second clock of its own).
 */
export function pacingLua(perThreadRate: number): string {
  if (!(perThreadRate > 0)) throw new Error(`pacing rate must be above 0, got ${perThreadRate}`);
  return `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } ferry_bench_timespec;
int clock_gettime(int clock, ferry_bench_timespec *ts);
]]
local ts = ffi.new("ferry_bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval_ms = ${1000 / perThreadRate}
local next_slot = nil
function delay()
  local now = now_ms()
  if next_slot == nil then next_slot = now end
  local slot = next_slot
  next_slot = slot + interval_ms
  if slot <= now then return 0 end
  return math.floor(slot - now)
end
`;
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
