/**
 * `make bench-proxy`: ferry-proxy, nginx and HAProxy with the same number of workers in front of
 * one nginx backend on loopback, loaded by wrk with keep-alive; small (100 B) and 64 KiB
 * responses; runs interleaved (ferry, nginx, haproxy, repeat; each round starting one proxy later)
 * so drift and position in the round hit every proxy alike.
 * It reports requests/s and p50/p99 and the ratios to nginx. It asserts nothing: benchmarks
 * measure, tests assert.
 *
 * ferry-proxy also runs in variants that measure a cost against plain ferry in the same run:
 * `ferry-trace-1` and `ferry-trace-100` (OpenTelemetry tracing at 1% and 100% random sampling,
 * client spans per attempt, exported over OTLP/HTTP to a collector in this process that reads and
 * discards the bodies), `ferry-log` (an access log file in Envoy's default format),
 * `ferry-filters` (compressor, buffer and CORS filters configured before the router but idle for
 * these requests), `ferry-rbac` (an RBAC filter whose ALLOW policy is a 1,000-CIDR remote_ip allow
 * list) and `ferry-local-rl` (a local rate limiter with a proxy-wide bucket that never empties) and
 * `ferry-fleet-rl` (envoy.filters.http.ratelimit calling a control plane's RateLimitService
 * for every request, under a limit never reached; the control plane is not pinned) and
 * `ferry-waf` (the WAF filter running the OWASP CRS installed on the host at paranoia level 1).
 * Their `× ferry req/s` column is the ratio to plain ferry. `nginx-modsec` is nginx with
 * ModSecurity v3 running the same CRS directives; ferry-waf's `× modsec CPU` is its CPU per
 * request over nginx-modsec's.
 *
 * Cases: GETs of a 100 B and a 64 KiB response, and `form`, a 4 KiB urlencoded form POST (the
 * request body a WAF inspects) answered with 100 B.
 *
 * Two reference points run beside them, not products: `splice` (a Node TCP relay that parses no
 * HTTP, splice-proxy.ts: about the most a Node process can relay) and `undici-proxy` (node:http
 * plus an undici Pool, undici-proxy.ts: the plain Node proxy).
 *
 * At 1 worker every proxy (all its processes) is pinned to core 0 and wrk plus the backend to
 * core 1; at 2 workers nothing is pinned. Usage: node e2e/dist/bench/proxy-bench.js --help.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarizeCpuProfile } from './cpu-profile-summary.js';
import {
  BENCH_CASES,
  BROWSER_HEADERS,
  casePath,
  DEFAULT_BENCH_CASES,
  BODIES,
  BENCH_GROUP,
  FORM_BODY,
  RESPONSE_BYTES,
  type BenchCase,
  FLEET_RATE_LIMIT_POLICY,
  backendNginxConf,
  ferryBootstrap,
  haproxyConf,
  type FerryExtras,
  proxyNginxConf,
  type ProxyConfigInput,
} from './proxy-configs.js';
import {
  ensureTools,
  freePort,
  killAllNow,
  startServer,
  stopAll,
  stopServer,
  waitForPort,
} from './proxy-processes.js';
import { pacingLua, runWrk, type WrkResult } from './proxy-wrk.js';
import { nonNegativeInt } from './bench-options.js';
import { groupCpuSeconds } from './proc-stats.js';
import { applyResources } from './management-client.js';
import { startControlPlane, type ControlPlane } from '../harness.js';
import {
  CRS_CONFIG_DIR,
  CRS_PL1_DIRECTIVES,
  CRS_RULES_DIR,
  MODSECURITY_NGINX_MODULE,
  resolveCrsPaths,
} from '../waf-reference.js';

const PROXIES = [
  'ferry',
  'ferry-filters',
  'ferry-trace-1',
  'ferry-trace-100',
  'ferry-log',
  'ferry-rbac',
  'ferry-local-rl',
  'ferry-fleet-rl',
  'ferry-waf',
  'nginx',
  'nginx-modsec',
  'haproxy',
  'undici-proxy',
  'splice',
] as const;
type ProxyName = (typeof PROXIES)[number];

/** Reference points, not products: Node processes started from these compiled scripts. */
const REFERENCES: Partial<Record<ProxyName, string>> = {
  splice: 'splice-proxy.js',
  'undici-proxy': 'undici-proxy.js',
};

function isReference(name: ProxyName): boolean {
  return REFERENCES[name] !== undefined;
}

/** What each ferry variant adds (proxy-configs.ts FerryExtras), given the collector and a dir. */
function ferryExtras(
  name: ProxyName,
  collectorPort: number,
  dir: string,
  rlsAddress: string | undefined,
): FerryExtras {
  switch (name) {
    case 'ferry-trace-1':
      return { tracing: { percent: 1, collectorPort } };
    case 'ferry-trace-100':
      return { tracing: { percent: 100, collectorPort } };
    case 'ferry-log':
      return { accessLogPath: path.join(dir, 'ferry-access.log') };
    case 'ferry-filters':
      return { idleFilters: true };
    case 'ferry-rbac':
      return { rbacAllowListSize: 1000 };
    case 'ferry-local-rl':
      return { localRateLimit: true };
    case 'ferry-fleet-rl':
      if (rlsAddress === undefined) throw new Error('ferry-fleet-rl needs the control plane');
      return { fleetRateLimitAddress: rlsAddress };
    case 'ferry-waf':
      return { wafDirectives: CRS_PL1_DIRECTIVES };
    default:
      return {};
  }
}

/**
 * The OTLP/HTTP collector of the tracing variants: reads each export and answers 200 without
 * decoding it (the proxy's cost is measured, not a collector's); counts requests and bytes.
 */
async function startDiscardCollector(): Promise<{
  port: number;
  stats: { requests: number; bytes: number };
  close(): Promise<void>;
}> {
  const stats = { requests: 0, bytes: 0 };
  const server = http.createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (stats.bytes += chunk.length));
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The fleet variant's rate limit service: a control plane (in-memory store) holding
 * FLEET_RATE_LIMIT_POLICY in the proxy's group. It is not pinned: on wrk's saturated core it
 * would starve and measure wrk, not the proxy; unpinned it takes CPU where it finds it (the
 * variant's CPU per request counts the proxy's processes only).
 */
async function startRateLimitService(): Promise<ControlPlane> {
  const cp = await startControlPlane({ store: 'memory:' });
  await applyResources(cp.apiUrl, BENCH_GROUP, [FLEET_RATE_LIMIT_POLICY]);
  return cp;
}

const USAGE = `node e2e/dist/bench/proxy-bench.js [options]
  --quick              1 round of 5 s per case (default: 3 rounds of 10 s)
  --rounds N           interleaved rounds per case
  --duration S         seconds per measured wrk run
  --warmup S           seconds of unmeasured load before each run [2, quick: 1]
  --workers 1,2        worker counts to measure; every proxy runs with each (ferry-proxy
                       --concurrency, nginx worker_processes, HAProxy nbthread, the
                       references' node:cluster workers) [1,2]
  --sizes small,large,form,browser
                       cases: GET of a 100 B or 64 KiB response; a 4 KiB urlencoded
                       form POST answered with 100 B; browser: a GET of the 100 B
                       response with a query string and a browser's headers (User-Agent,
                       Accept, Accept-Language, Accept-Encoding, a session cookie)
                       [small,large,form]
  --proxies LIST       of ferry, ferry-filters, ferry-trace-1, ferry-trace-100, ferry-log,
                       ferry-rbac, ferry-local-rl, ferry-fleet-rl, ferry-waf,
                       nginx, nginx-modsec, haproxy, undici-proxy, splice [all]
                       ferry-filters: compressor, buffer and CORS filters configured before
                         the router, idle for these requests (no Accept-Encoding, body, Origin)
                       ferry-rbac: an RBAC filter allowing a 1,000-CIDR remote_ip list
                         (the client matches the last entry)
                       ferry-local-rl: a local rate limiter taking a token per request
                         from a proxy-wide bucket that never empties
                       ferry-fleet-rl: the ratelimit filter asking a control plane's rate
                         limit service about every request (a limit never reached); the
                         control plane is not pinned
                       ferry-waf, nginx-modsec: the WAF filter, and nginx with ModSecurity
                         v3, running the host's OWASP CRS at paranoia level 1 (anomaly
                         mode, request bodies inspected)
                       undici-proxy, splice: references, not products (node:http + undici
                         Pool; a TCP splice with no HTTP parsing, the ceiling for Node)
  --connections N      wrk connections [64]
  --rate N             offer every proxy the same N requests/s (split over wrk's threads)
                       instead of as many as it answers: CPU per request at equal load,
                       where a slower proxy pays no more for its idle peers' wake-ups or
                       for more requests in flight; a run below 95% of N is flagged
  --new-connections    every request on a connection of its own (Connection: close):
                       what accepting and closing connections costs
  --label NAME         report file bench-results/proxy-NAME.json [latest]
  --cpu-prof           run ferry-proxy (primary and workers) under --cpu-prof and summarise
  --isolate            start each proxy for its own run only (nothing else running beside it)
`;

interface Options {
  rounds: number;
  durationS: number;
  warmupS: number;
  workers: number[];
  sizes: BenchCase[];
  proxies: ProxyName[];
  connections: number;
  /** Requests/s offered to every proxy (0: as many as it answers). */
  rate: number;
  label: string;
  cpuProf: boolean;
  isolate: boolean;
  newConnections: boolean;
}

/** A run achieving less than this share of --rate did not get the offered load. */
const RATE_SHORTFALL = 0.95;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      workers: { type: 'string', default: '1,2' },
      sizes: { type: 'string', default: DEFAULT_BENCH_CASES.join(',') },
      proxies: { type: 'string', default: PROXIES.join(',') },
      connections: { type: 'string', default: '64' },
      rate: { type: 'string' },
      label: { type: 'string', default: 'latest' },
      'cpu-prof': { type: 'boolean' },
      isolate: { type: 'boolean' },
      'new-connections': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const list = (text: string): string[] =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const sizes = list(values.sizes);
  for (const size of sizes)
    if (!(BENCH_CASES as readonly string[]).includes(size))
      throw new Error(`--sizes: unknown case ${JSON.stringify(size)}`);
  const proxies = list(values.proxies);
  for (const proxy of proxies)
    if (!(PROXIES as readonly string[]).includes(proxy))
      throw new Error(`--proxies: unknown proxy ${JSON.stringify(proxy)}`);
  return {
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    durationS: Number(values.duration ?? (quick ? 5 : 10)),
    warmupS: Number(values.warmup ?? (quick ? 1 : 2)),
    workers: list(values.workers).map(Number),
    sizes: sizes as BenchCase[],
    proxies: proxies as ProxyName[],
    connections: Number(values.connections),
    rate: nonNegativeInt('rate', values.rate, 0),
    label: values.label,
    cpuProf: values['cpu-prof'] === true,
    isolate: values.isolate === true,
    newConnections: values['new-connections'] === true,
  };
}

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..', '..', '..');
const ferryBin = path.join(repoRoot, 'data-plane', 'bin', 'ferry-proxy');
const resultsDir = path.join(repoRoot, 'bench-results');

function log(line: string): void {
  process.stderr.write(`[bench-proxy] ${line}\n`);
}

function firstLine(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

function machineInfo(): Record<string, string | number> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    nginx: firstLine('nginx', ['-v']),
    haproxy: firstLine('haproxy', ['-v']),
    wrk: firstLine('wrk', ['-v']),
  };
}

/**
 * Sends a case's request through a proxy once and checks the answer (a misconfigured proxy,
 * or a WAF that blocks the form, fails here).
 */
function checkResponse(port: number, size: BenchCase): Promise<void> {
  const form = size === 'form';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: casePath(size),
        method: form ? 'POST' : 'GET',
        agent: false,
        headers: form
          ? { 'content-type': 'application/x-www-form-urlencoded' }
          : size === 'browser'
            ? BROWSER_HEADERS
            : {},
      },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => {
          if (res.statusCode === 200 && bytes === RESPONSE_BYTES[size]) resolve();
          else
            reject(
              new Error(`port ${port} ${casePath(size)}: status ${res.statusCode}, ${bytes} bytes`),
            );
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(form ? FORM_BODY : undefined);
  });
}

/**
 * The wrk script of a run, if it needs one: the form case's (every request a POST of
 * FORM_BODY) and, with --rate, the pacing of each of `threads` threads at its share.
 */
function wrkScript(
  dir: string,
  size: BenchCase,
  rate: number,
  threads: number,
): string | undefined {
  const parts: string[] = [];
  // FORM_BODY is urlencoded: no quote or backslash to escape in a Lua string.
  if (size === 'form')
    parts.push(
      `wrk.method = "POST"\nwrk.body = "${FORM_BODY}"\n` +
        `wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n`,
    );
  if (rate > 0) parts.push(pacingLua(rate / threads));
  if (parts.length === 0) return undefined;
  const file = path.join(dir, `${size}-${rate}-${threads}.lua`);
  fs.writeFileSync(file, parts.join('\n'));
  return file;
}

/**
 * Resolves once the proxy accepts connections on `port`. A proxy that exits first (ferry-proxy
 * rejecting its bootstrap) or never listens fails the run with the start of its log (where the
 * reason is; the log goes with the temp dir).
 */
async function listening(
  name: ProxyName,
  child: ChildProcess,
  port: number,
  logFile: string,
): Promise<void> {
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`exited (${child.exitCode ?? child.signalCode})`));
    child.once('exit', onExit);
  });
  try {
    // A liveness bound: ferry-waf compiles the CRS before it listens, slow on a busy machine.
    await Promise.race([waitForPort(port, 60_000), exited]);
  } catch (err) {
    const head = fs.readFileSync(logFile, 'utf8').split('\n').slice(0, 12).join('\n');
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${name} did not start: ${reason}; the start of its log:\n${head}`);
  } finally {
    child.off('exit', onExit!);
  }
}

interface RunningProxy {
  readonly name: ProxyName;
  readonly port: number;
  readonly child: ChildProcess;
}

async function startProxy(
  name: ProxyName,
  input: ProxyConfigInput,
  cpus: string | undefined,
  cpuProfDir: string | undefined,
  extras: FerryExtras,
): Promise<RunningProxy> {
  const logFile = path.join(input.dir, `${name}.log`);
  let child: ChildProcess;
  if (name === 'nginx' || name === 'nginx-modsec') {
    const conf = path.join(input.dir, `proxy-${name}.conf`);
    let modsecurity: { module: string; rulesFile: string } | undefined;
    if (name === 'nginx-modsec') {
      modsecurity = {
        module: MODSECURITY_NGINX_MODULE,
        rulesFile: path.join(input.dir, 'crs.conf'),
      };
      fs.writeFileSync(modsecurity.rulesFile, resolveCrsPaths(CRS_PL1_DIRECTIVES));
    }
    fs.writeFileSync(conf, proxyNginxConf(input, modsecurity));
    child = startServer({
      name,
      command: 'nginx',
      args: [
        '-p',
        input.dir,
        '-e',
        `${input.dir}/proxy-${name}-stderr.log`,
        '-c',
        conf,
        '-g',
        'daemon off;',
      ],
      cpus,
      logFile,
    });
  } else if (name === 'haproxy') {
    const conf = path.join(input.dir, 'haproxy.cfg');
    fs.writeFileSync(conf, haproxyConf(input));
    child = startServer({ name, command: 'haproxy', args: ['-db', '-f', conf], cpus, logFile });
  } else if (isReference(name)) {
    child = startServer({
      name,
      command: process.execPath,
      args: [
        path.join(benchDir, REFERENCES[name]!),
        String(input.listenPort),
        String(input.backendPort),
        String(input.workers),
      ],
      cpus,
      logFile,
    });
  } else {
    const adminPort = await freePort();
    const conf = path.join(input.dir, `${name}-bootstrap.yaml`);
    fs.writeFileSync(
      conf,
      JSON.stringify(ferryBootstrap({ ...input, adminPort }, extras), null, 2),
    );
    // node:cluster workers inherit the primary's execArgv, so --cpu-prof profiles them too.
    const nodeFlags =
      cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`];
    child = startServer({
      name,
      command: process.execPath,
      args: [
        ...nodeFlags,
        ferryBin,
        '--config',
        conf,
        '--concurrency',
        String(input.workers),
        '--state-dir',
        path.join(input.dir, `${name}-state`),
        '--log-level',
        'warn',
      ],
      cpus,
      logFile,
    });
  }
  await listening(name, child, input.listenPort, logFile);
  return { name, port: input.listenPort, child };
}

type RunSample = WrkResult & { readonly cpuUsPerRequest: number };

interface CaseSamples {
  readonly workers: number;
  readonly size: BenchCase;
  readonly proxy: ProxyName;
  readonly runs: RunSample[];
}

interface CaseSummary {
  readonly workers: number;
  readonly size: BenchCase;
  readonly proxy: ProxyName;
  /** A reference point (splice, undici-proxy), not a product. */
  readonly reference: boolean;
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly rpsRatioToNginx: number;
  readonly p99RatioToNginx: number;
  /** Variants of ferry: req/s relative to plain ferry in the same run. */
  readonly rpsRatioToFerry: number;
  /** CPU µs the proxy's processes spent per request (median over rounds). */
  readonly cpuUsPerRequest: number;
  /** Variants of ferry: CPU per request relative to plain ferry. */
  readonly cpuRatioToFerry: number;
  /** ferry-waf: CPU per request relative to nginx-modsec (the same rules). */
  readonly cpuRatioToModsec: number;
  /**
   * Variants of ferry: the median over rounds of (this run / plain ferry's run in the same
   * round). Runs of one round are adjacent in time, so the machine's slow drift (other tenants of
   * a VM) cancels out of each pair, which the ratio of the two medians does not do.
   */
  readonly rpsPairedRatioToFerry: number;
  readonly cpuPairedRatioToFerry: number;
  readonly rpsPerRound: number[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median of a/b over the rounds both have. */
function pairedRatio(
  runs: readonly RunSample[],
  baseRuns: readonly RunSample[],
  metric: (run: RunSample) => number,
): number {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(runs.length, baseRuns.length); i++)
    ratios.push(metric(runs[i]!) / metric(baseRuns[i]!));
  return round2(median(ratios));
}

function summarise(samples: readonly CaseSamples[]): CaseSummary[] {
  const base = samples.map((s) => ({
    runs: s.runs,
    workers: s.workers,
    size: s.size,
    proxy: s.proxy,
    requestsPerSec: Math.round(median(s.runs.map((r) => r.requestsPerSec))),
    p50Ms: median(s.runs.map((r) => r.p50Ms)),
    p99Ms: median(s.runs.map((r) => r.p99Ms)),
    errors: s.runs.reduce((sum, r) => sum + r.errors, 0),
    rpsPerRound: s.runs.map((r) => Math.round(r.requestsPerSec)),
    cpuUsPerRequest: median(s.runs.map((r) => r.cpuUsPerRequest)),
  }));
  return base.map((row) => {
    const nginx = base.find(
      (b) => b.workers === row.workers && b.size === row.size && b.proxy === 'nginx',
    );
    const ferry = base.find(
      (b) => b.workers === row.workers && b.size === row.size && b.proxy === 'ferry',
    );
    const modsec = base.find(
      (b) => b.workers === row.workers && b.size === row.size && b.proxy === 'nginx-modsec',
    );
    const { runs, ...summary } = row;
    const variant = ferry !== undefined && row.proxy.startsWith('ferry');
    return {
      ...summary,
      reference: isReference(row.proxy),
      rpsPairedRatioToFerry: variant
        ? pairedRatio(runs, ferry.runs, (r) => r.requestsPerSec)
        : Number.NaN,
      cpuPairedRatioToFerry: variant
        ? pairedRatio(runs, ferry.runs, (r) => r.cpuUsPerRequest)
        : Number.NaN,
      rpsRatioToFerry: variant ? round2(row.requestsPerSec / ferry.requestsPerSec) : Number.NaN,
      cpuRatioToFerry: variant ? round2(row.cpuUsPerRequest / ferry.cpuUsPerRequest) : Number.NaN,
      cpuRatioToModsec:
        row.proxy === 'ferry-waf' && modsec
          ? round2(row.cpuUsPerRequest / modsec.cpuUsPerRequest)
          : Number.NaN,
      rpsRatioToNginx: nginx ? round2(row.requestsPerSec / nginx.requestsPerSec) : Number.NaN,
      p99RatioToNginx: nginx ? round2(row.p99Ms / nginx.p99Ms) : Number.NaN,
    };
  });
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

const REFERENCE_NOTE =
  '(reference): a yardstick, not a product. splice relays TCP bytes without parsing HTTP, about ' +
  'the most Node relays on this path; undici-proxy is node:http plus an undici Pool.';

const CASE_LABELS: Readonly<Record<BenchCase, string>> = {
  small: '100 B',
  large: '64 KiB',
  form: 'POST 4 KiB',
  browser: 'GET browser',
};

function formatTable(rows: readonly CaseSummary[]): string {
  const header = [
    'workers',
    'size',
    'proxy',
    'req/s',
    'p50 ms',
    'p99 ms',
    '× nginx req/s',
    '× nginx p99',
    '× ferry req/s',
    'CPU µs/req',
    '× ferry CPU',
    '× modsec CPU',
    'paired × req/s',
    'paired × CPU',
    'errors',
    'req/s per round',
  ];
  const lines = rows.map((r) => [
    String(r.workers),
    CASE_LABELS[r.size],
    r.reference ? `${r.proxy} (reference)` : r.proxy,
    r.requestsPerSec.toLocaleString('en-US'),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    Number.isNaN(r.rpsRatioToNginx) ? '' : r.rpsRatioToNginx.toFixed(2),
    Number.isNaN(r.p99RatioToNginx) ? '' : r.p99RatioToNginx.toFixed(2),
    Number.isNaN(r.rpsRatioToFerry) ? '' : r.rpsRatioToFerry.toFixed(2),
    String(r.cpuUsPerRequest),
    Number.isNaN(r.cpuRatioToFerry) ? '' : r.cpuRatioToFerry.toFixed(2),
    Number.isNaN(r.cpuRatioToModsec) ? '' : r.cpuRatioToModsec.toFixed(2),
    Number.isNaN(r.rpsPairedRatioToFerry) ? '' : r.rpsPairedRatioToFerry.toFixed(2),
    Number.isNaN(r.cpuPairedRatioToFerry) ? '' : r.cpuPairedRatioToFerry.toFixed(2),
    String(r.errors),
    r.rpsPerRound.join(' / '),
  ]);
  const table = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const text = table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
  if (rows.some((r) => r.reference)) text.push('', REFERENCE_NOTE);
  return text.join('\n');
}

async function measureWorkers(
  options: Options,
  workers: number,
  dir: string,
  docroot: string,
  samples: CaseSamples[],
  cpuProfDir: string | undefined,
): Promise<void> {
  const pinned = workers === 1;
  const proxyCpus = pinned ? '0' : undefined;
  const clientCpus = pinned ? '1' : undefined;
  // This process hosts the tracing variants' OTLP collector: keep it off the proxy's core too.
  spawnSync(
    'taskset',
    ['-a', '-p', '-c', clientCpus ?? `0-${os.availableParallelism() - 1}`, String(process.pid)],
    {
      stdio: 'ignore',
    },
  );
  const backendPort = await freePort();
  fs.writeFileSync(path.join(dir, 'backend.conf'), backendNginxConf(backendPort, docroot, dir));
  const backend = startServer({
    name: 'backend',
    command: 'nginx',
    args: [
      '-p',
      dir,
      '-e',
      `${dir}/backend-stderr.log`,
      '-c',
      path.join(dir, 'backend.conf'),
      '-g',
      'daemon off;',
    ],
    cpus: clientCpus,
    logFile: path.join(dir, 'backend.log'),
  });
  await waitForPort(backendPort, 10_000);
  const running: RunningProxy[] = [];
  const collector = await startDiscardCollector();
  const rls = options.proxies.includes('ferry-fleet-rl')
    ? await startRateLimitService()
    : undefined;
  const launch = async (name: ProxyName): Promise<RunningProxy> => {
    const listenPort = await freePort();
    const proxy = await startProxy(
      name,
      { listenPort, backendPort, workers, dir },
      proxyCpus,
      // One directory per ferry variant, so their profiles are summarised apart.
      cpuProfDir !== undefined && name.startsWith('ferry')
        ? path.join(cpuProfDir, name)
        : undefined,
      ferryExtras(name, collector.port, dir, rls?.xdsAddress),
    );
    running.push(proxy);
    for (const size of options.sizes) await checkResponse(proxy.port, size);
    return proxy;
  };
  try {
    // --isolate: each run gets a fresh proxy and nothing else is running beside it.
    const proxies: Array<{ readonly name: ProxyName; readonly port: number }> = [];
    for (const name of options.proxies)
      proxies.push(options.isolate ? { name, port: 0 } : await launch(name));
    if (!options.isolate)
      log(
        `workers=${workers}: backend :${backendPort}, ${running.map((p) => `${p.name} :${p.port}`).join(', ')}`,
      );
    for (let round = 1; round <= options.rounds; round++) {
      for (const size of options.sizes) {
        // Each round starts with the next proxy: a run's position in the round biases it (the
        // first of a round measured up to 30% faster than the same proxy placed last), so every
        // proxy takes every position equally often over `rounds` = a multiple of the count.
        const start = (round - 1) % proxies.length;
        for (const slot of [...proxies.slice(start), ...proxies.slice(0, start)]) {
          const proxy = options.isolate ? await launch(slot.name) : slot;
          const run = {
            url: `http://127.0.0.1:${proxy.port}${casePath(size)}`,
            threads: workers,
            connections: options.connections,
            cpus: clientCpus,
            script: wrkScript(dir, size, options.rate, workers),
            headers: [
              ...(size === 'browser'
                ? Object.entries(BROWSER_HEADERS).map(([name, value]) => `${name}: ${value}`)
                : []),
              ...(options.newConnections ? ['Connection: close'] : []),
            ],
          };
          if (options.warmupS > 0) await runWrk({ ...run, durationS: options.warmupS });
          const pgid = (proxy as RunningProxy).child.pid!;
          const cpuBefore = groupCpuSeconds(pgid);
          const measured = await runWrk({ ...run, durationS: options.durationS });
          // CPU per request: what the proxy's processes spent, whatever else ran on the box.
          const result = {
            ...measured,
            cpuUsPerRequest:
              measured.requests > 0
                ? Math.round(((groupCpuSeconds(pgid) - cpuBefore) * 1e6) / measured.requests)
                : Number.NaN,
          };
          let entry = samples.find(
            (s) => s.workers === workers && s.size === size && s.proxy === proxy.name,
          );
          if (entry === undefined) {
            entry = { workers, size, proxy: proxy.name, runs: [] };
            samples.push(entry);
          }
          entry.runs.push(result);
          const short =
            options.rate > 0 && result.requestsPerSec < RATE_SHORTFALL * options.rate
              ? `, BELOW the offered ${options.rate} req/s: its CPU per request is not at equal load`
              : '';
          log(
            `workers=${workers} round ${round} ${size} ${proxy.name}: ${Math.round(result.requestsPerSec)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms${result.errors > 0 ? `, ${result.errors} errors` : ''}${short}`,
          );
          if (options.isolate) {
            running.splice(running.indexOf(proxy as RunningProxy), 1);
            await stopServer((proxy as RunningProxy).child, 12_000);
          }
        }
      }
    }
  } finally {
    await Promise.all(running.map((p) => stopServer(p.child, 12_000)));
    await stopServer(backend);
    await collector.close();
    await rls?.stop();
    if (options.proxies.some((p) => p.startsWith('ferry-trace')))
      log(
        `workers=${workers}: OTLP collector received ${collector.stats.requests} exports, ${collector.stats.bytes} bytes`,
      );
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const missing = ensureTools(log);
  const required = [
    'nginx',
    'wrk',
    'taskset',
    ...(options.proxies.includes('haproxy') ? ['haproxy'] : []),
  ];
  const blocking = missing.filter((tool) => required.includes(tool));
  if (blocking.length > 0)
    throw new Error(`missing tools: ${blocking.join(', ')} (install them or run as root)`);
  if (options.proxies.includes('nginx-modsec') || options.proxies.includes('ferry-waf')) {
    for (const file of [
      MODSECURITY_NGINX_MODULE,
      `${CRS_CONFIG_DIR}/crs-setup.conf`,
      CRS_RULES_DIR,
    ])
      if (!fs.existsSync(file))
        throw new Error(
          `${file} is missing: nginx-modsec and ferry-waf need the Debian packages ` +
            'libnginx-mod-http-modsecurity and modsecurity-crs (scripts/install-test-packages.sh)',
        );
  }
  if (!fs.existsSync(path.join(repoRoot, 'data-plane', 'dist', 'main.js')))
    throw new Error('data-plane/dist/main.js is missing: run `make build` first');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-proxy-'));
  fs.chmodSync(dir, 0o755);
  const docroot = path.join(dir, 'www');
  fs.mkdirSync(docroot);
  for (const [size, bytes] of Object.entries(BODIES))
    fs.writeFileSync(path.join(docroot, size), Buffer.alloc(bytes, 'x'));
  fs.mkdirSync(resultsDir, { recursive: true });
  const cpuProfDir = options.cpuProf
    ? path.join(resultsDir, `cpu-prof-proxy-${options.label}`)
    : undefined;
  if (cpuProfDir !== undefined) {
    fs.rmSync(cpuProfDir, { recursive: true, force: true });
    fs.mkdirSync(cpuProfDir, { recursive: true });
  }

  const startedAt = Date.now();
  const samples: CaseSamples[] = [];
  try {
    for (const workers of options.workers)
      await measureWorkers(options, workers, dir, docroot, samples, cpuProfDir);
  } finally {
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rows = summarise(samples);
  const report: Record<string, unknown> = {
    benchmark: 'proxy',
    label: options.label,
    date: new Date().toISOString(),
    durationS: Math.round((Date.now() - startedAt) / 1000),
    machine: machineInfo(),
    options: {
      ...options,
      pinning: 'workers=1: proxy on core 0, wrk and backend on core 1; otherwise unpinned',
    },
    results: rows,
    samples,
  };
  if (cpuProfDir !== undefined) {
    const profiles: Record<string, unknown[]> = {};
    for (const variant of fs.readdirSync(cpuProfDir)) {
      profiles[variant] = fs
        .readdirSync(path.join(cpuProfDir, variant))
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => summarizeCpuProfile(path.join(cpuProfDir, variant, f), 25));
    }
    report.cpuProfiles = profiles;
  }
  const out = path.join(resultsDir, `proxy-${options.label}.json`);
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const offered =
    options.rate > 0 ? `every proxy offered ${options.rate} requests/s (--rate)\n` : '';
  process.stdout.write(
    `\n${offered}${formatTable(rows)}\n\nreport: ${path.relative(repoRoot, out)}\n`,
  );
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-proxy: ${err instanceof Error ? err.message : String(err)}\n`);
  killAllNow();
  process.exit(1);
});
