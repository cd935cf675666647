// Allocation and GC per proxied request at one worker, figures that do not depend on how loaded
// the machine is (BENCHMARKS.md, "HTTP proxy", "Allocation per request"). Starts the bench's
// nginx backend and ferry-proxy (--concurrency 1, bench-proxy's bootstrap) under
// `--trace-gc-nvp`, warms up, then runs wrk and sums the worker's GC events of the measured run:
// bytes allocated (V8's `allocated`, bytes since the previous GC), scavenges and their pauses,
// mark-compacts; the worker's CPU time (user + system, from /proc) per request. With `--strace`
// the measured run is traced by `strace -c -f` instead and the worker's system calls per request
// are reported (tracing slows the worker: its CPU figure is then left out).
// Usage: node scripts/bench-alloc.mjs [small|large] [--duration S] [--warmup S]
// With `--cpu-prof FILE` the worker's measured run is CPU-profiled (written to FILE, summarised on
// stderr). Usage: node scripts/bench-alloc.mjs [small|large] [--duration S] [--warmup S]
// [--node-flag F]... [--trace-out FILE] [--strace] [--cpu-prof FILE] [--idle-filters] (build first; needs nginx
// and wrk).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const configs = path.join(root, 'e2e', 'dist', 'bench', 'proxy-configs.js');
if (!fs.existsSync(configs)) {
  console.error('bench-alloc: e2e/dist/bench/proxy-configs.js is missing; run `npx tsc -b` first');
  process.exit(1);
}
const { backendNginxConf, ferryBootstrap, BODIES } = await import(configs);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'node-flag': { type: 'string', multiple: true, default: [] },
    /** Also write the proxy's GC trace of the measured run to this file. */
    'trace-out': { type: 'string' },
    strace: { type: 'boolean', default: false },
    /** bench-proxy's ferry-filters: compressor, buffer and CORS configured, idle for these requests. */
    'idle-filters': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const size = positionals[0] ?? 'small';
if (!(size in BODIES)) {
  console.error(`bench-alloc: size must be one of ${Object.keys(BODIES).join(', ')}, got ${size}`);
  process.exit(1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, name) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not listen on ${port} within 20 s`);
}

const CLOCK_TICKS = Number(
  spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || '100',
);

/** The proxy's only worker: the primary's child process. */
function workerOf(primaryPid) {
  const children = fs
    .readFileSync(`/proc/${primaryPid}/task/${primaryPid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  if (children.length !== 1)
    throw new Error(`expected one worker under pid ${primaryPid}, found ${children.length}`);
  return Number(children[0]);
}

/**
 * User and system CPU time of `pid` so far, in clock ticks, and its minor page faults
 * (/proc/<pid>/stat fields 14, 15 and 10).
 */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]), minorFaults: Number(fields[7]) };
}

/** Stops the worker's profiler, moves its profile to `out` and prints a summary on stderr. */
async function collectProfile(pid, profileDir, out) {
  process.kill(pid, 'SIGUSR2');
  const file = path.join(profileDir, 'profile-1.cpuprofile');
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error('the worker wrote no CPU profile within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  fs.copyFileSync(file, out);
  const { summarizeCpuProfile } = await import(
    path.join(root, 'e2e', 'dist', 'bench', 'cpu-profile-summary.js')
  );
  console.error(JSON.stringify(summarizeCpuProfile(out, 40), null, 1));
}

async function startStrace(pid, out) {
  const child = spawn('strace', ['-c', '-f', '-o', out, '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (chunk) => (err += chunk));
  // strace says "Process N attached" once it traces the process.
  const deadline = Date.now() + 10_000;
  while (!err.includes('attached')) {
    if (child.exitCode !== null) throw new Error(`strace exited: ${err}`);
    if (Date.now() > deadline) throw new Error(`strace did not attach within 10 s: ${err}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return child;
}

/** Detaches strace and returns its call counts by system call. */
async function stopStrace(child, out) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
  const counts = {};
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
    if (m && m[2] !== 'total') counts[m[2]] = Number(m[1]);
  }
  return counts;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-alloc-'));
const docroot = path.join(dir, 'www');
fs.mkdirSync(docroot);
for (const [name, bytes] of Object.entries(BODIES))
  fs.writeFileSync(path.join(docroot, name), Buffer.alloc(bytes, 'x'));
const [backendPort, listenPort, adminPort] = [await freePort(), await freePort(), await freePort()];
fs.writeFileSync(path.join(dir, 'backend.conf'), backendNginxConf(backendPort, docroot, dir));
fs.writeFileSync(
  path.join(dir, 'bootstrap.json'),
  JSON.stringify(
    ferryBootstrap(
      { listenPort, backendPort, adminPort, dir, workers: 1 },
      { idleFilters: values['idle-filters'] },
    ),
  ),
);

const children = [];
function start(command, args, env = process.env) {
  const child = spawn(command, args, {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}
function stopAll() {
  for (const child of children)
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  fs.rmSync(dir, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  stopAll();
  process.exit(130);
});

try {
  const backend = start('taskset', [
    '-c',
    '1',
    'nginx',
    '-c',
    path.join(dir, 'backend.conf'),
    '-g',
    'daemon off;',
  ]);
  await waitForPort(backendPort, backend, 'nginx backend');

  let trace = '';
  // The bench's profiler preload: SIGUSR2 starts the CPU profiler, the next one writes the profile.
  const profileDir = path.join(dir, 'cpu-prof');
  const profilePreload = path.join(root, 'e2e', 'dist', 'bench', 'cpu-profile-preload.js');
  const profileEnv =
    values['cpu-prof'] === undefined
      ? process.env
      : {
          ...process.env,
          NODE_OPTIONS: `--import=${profilePreload}`,
          FERRY_BENCH_CPU_PROF_DIR: profileDir,
        };
  if (values['cpu-prof'] !== undefined) fs.mkdirSync(profileDir);
  const proxy = start(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      '--trace-gc-nvp',
      ...values['node-flag'],
      path.join(root, 'data-plane', 'bin', 'ferry-proxy'),
      '--config',
      path.join(dir, 'bootstrap.json'),
      '--concurrency',
      '1',
      '--log-level',
      'warn',
    ],
    profileEnv,
  );
  proxy.stdout.setEncoding('utf8');
  proxy.stdout.on('data', (chunk) => (trace += chunk));
  proxy.stderr.pipe(process.stderr);
  await waitForPort(listenPort, proxy, 'ferry-proxy');

  const url = `http://127.0.0.1:${listenPort}/${size}`;
  const wrk = (seconds) => {
    const run = spawnSync(
      'taskset',
      ['-c', '1', 'wrk', '-t1', `-c${values.connections}`, `-d${seconds}s`, url],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr}`);
    const requests = /(\d+) requests in/.exec(run.stdout);
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(run.stdout);
    if (!requests) throw new Error(`wrk printed no request count:\n${run.stdout}`);
    if (non2xx) throw new Error(`wrk saw ${non2xx[1]} non-2xx responses`);
    return Number(requests[1]);
  };
  wrk(values.warmup);
  const workerPid = workerOf(proxy.pid);
  const straceOut = path.join(dir, 'strace.txt');
  const strace = values.strace ? await startStrace(workerPid, straceOut) : undefined;
  const before = trace.length;
  if (values['cpu-prof'] !== undefined) process.kill(workerPid, 'SIGUSR2');
  const cpuBefore = cpuTicks(workerPid);
  const requests = wrk(values.duration);
  const cpuAfter = cpuTicks(workerPid);
  if (values['cpu-prof'] !== undefined)
    await collectProfile(workerPid, profileDir, values['cpu-prof']);
  const syscalls = strace === undefined ? undefined : await stopStrace(strace, straceOut);
  // The trace of the last GC of the run may still be in the pipe.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const lines = trace.slice(before).split('\n');
  if (values['trace-out'] !== undefined) fs.writeFileSync(values['trace-out'], lines.join('\n'));

  const byPid = new Map();
  for (const line of lines) {
    const m = /^\[(\d+):0x[0-9a-f]+\]\s+\d+ ms: (.*)$/.exec(line);
    if (!m) continue;
    const fields = Object.fromEntries(
      m[2]
        .split(' ')
        .map((kv) => kv.split('='))
        .filter((kv) => kv.length === 2),
    );
    const list = byPid.get(m[1]) ?? [];
    list.push(fields);
    byPid.set(m[1], list);
  }
  const events = byPid.get(String(workerPid)) ?? [];
  const scavenges = events.filter((e) => e.gc === 's');
  const marks = events.filter((e) => e.gc === 'mc' || e.gc === 'ms');
  const sum = (list, key) => list.reduce((acc, e) => acc + Number(e[key] ?? 0), 0);
  const allocated = sum(events, 'allocated');
  const pauses = scavenges.map((e) => Number(e.pause)).sort((a, b) => a - b);
  const usPerRequest = (ticks) => Number((((ticks / CLOCK_TICKS) * 1e6) / requests).toFixed(1));
  const per100k = (n) => ((n * 100_000) / requests).toFixed(1);
  const result = {
    size,
    requests,
    nodeFlags: values['node-flag'],
    idleFilters: values['idle-filters'],
    bytesPerRequest: Math.round(allocated / requests),
    scavengesPer100k: Number(per100k(scavenges.length)),
    scavengePauseMsPer100k: Number(per100k(sum(scavenges, 'pause'))),
    scavengePauseMaxMs: pauses.at(-1) ?? 0,
    // What a scavenge costs grows with what survives it, not with the garbage.
    survivedKiBPerScavenge: Math.round(
      sum(scavenges, 'new_space_survived') / 1024 / Math.max(1, scavenges.length),
    ),
    promotedKiBPerScavenge: Math.round(
      sum(scavenges, 'promoted') / 1024 / Math.max(1, scavenges.length),
    ),
    markCompacts: marks.length,
    markCompactPauseMs: Number(sum(marks, 'pause').toFixed(1)),
    ...(strace === undefined
      ? {
          cpuUsPerRequest: usPerRequest(
            cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system,
          ),
          userUsPerRequest: usPerRequest(cpuAfter.user - cpuBefore.user),
          systemUsPerRequest: usPerRequest(cpuAfter.system - cpuBefore.system),
          minorFaultsPer100k: Number(per100k(cpuAfter.minorFaults - cpuBefore.minorFaults)),
        }
      : {}),
    syscallsPerRequest:
      syscalls === undefined
        ? undefined
        : Object.fromEntries(
            Object.entries(syscalls).map(([name, n]) => [name, Number((n / requests).toFixed(2))]),
          ),
  };
  console.log(JSON.stringify(result));
} finally {
  stopAll();
}
