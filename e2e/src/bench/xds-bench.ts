/**
 * `make bench-xds` entry: `node e2e/dist/bench/xds-bench.js --clients 1000,10000 [options]`.
 * Runs the fan-out measurement once per client count, prints a table and writes
 * bench-results/xds-<N>.json. A report, not a test: it exits 0 whenever it could report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../harness.js';
import { formatTable } from './report-table.js';
import { runFanout, type FanoutReport } from './xds-fanout.js';
import { nonNegativeInt } from './bench-options.js';

const USAGE = `usage: xds-bench [--clients 1000,10000] [--batch 500] [--clusters 4] [--endpoints 3]
                 [--debounce-ms 100] [--settle-ms 2000] [--update-timeout-s 60] [--budget-s N]
                 [--replicas 1] [--store sqlite|etcd] [--etcd HOST:PORT[,HOST:PORT...]]
                 [--updates 3] [--h2 raw|node] [--cpu-prof] [--out-dir bench-results]
  --replicas N   control-plane replicas sharing the store; clients are split round-robin and the
                 apply goes through the first (N > 1 needs --store etcd)
  --store etcd   an etcd store: a member started by the bench (etcd-server), or --etcd's cluster
  --updates N    endpoint changes, one after another (the first is the one counted in bytes;
                 --cpu-prof profiles each); the table shows the first and each update's p99 and
                 CPU
  --h2 raw       the simulated proxies' HTTP/2 client: a minimal one on plain sockets (default),
                 or node for node:http2's client sessions`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1000,10000' },
      batch: { type: 'string' },
      clusters: { type: 'string' },
      endpoints: { type: 'string' },
      'debounce-ms': { type: 'string' },
      'settle-ms': { type: 'string' },
      'update-timeout-s': { type: 'string' },
      'budget-s': { type: 'string' },
      replicas: { type: 'string' },
      store: { type: 'string' },
      etcd: { type: 'string' },
      h2: { type: 'string', default: 'raw' },
      updates: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'out-dir': { type: 'string', default: path.join(ROOT, 'bench-results') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const counts = values.clients.split(',').map((c) => nonNegativeInt('clients', c.trim(), 0));
  if (counts.some((c) => c < 1)) throw new Error('--clients: every count must be at least 1');
  const replicas = nonNegativeInt('replicas', values.replicas, 1);
  if (replicas < 1) throw new Error('--replicas: expected at least 1');
  const etcdEndpoints = values.etcd
    ?.split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const store = values.store ?? (etcdEndpoints || replicas > 1 ? 'etcd' : 'sqlite');
  if (store !== 'sqlite' && store !== 'etcd')
    throw new Error(`--store: expected sqlite or etcd, got "${store}"`);
  if (store === 'sqlite' && (replicas > 1 || etcdEndpoints))
    throw new Error('--store sqlite: one replica only and no --etcd (use --store etcd)');
  const h2 = values.h2;
  if (h2 !== 'raw' && h2 !== 'node') throw new Error(`--h2: expected raw or node, got "${h2}"`);
  // Single-replica SQLite runs keep their historical file names.
  const variant = store === 'sqlite' ? '' : `-r${replicas}-etcd`;
  const outDir = path.resolve(values['out-dir']);
  fs.mkdirSync(outDir, { recursive: true });

  const reports: FanoutReport[] = [];
  for (const clients of counts) {
    const log = (line: string): void => console.error(`[xds-bench ${clients}] ${line}`);
    const cpuProfDir = values['cpu-prof']
      ? path.join(outDir, `cpu-prof-xds-${clients}${variant}`)
      : undefined;
    if (cpuProfDir) fs.mkdirSync(cpuProfDir, { recursive: true });
    const report = await runFanout({
      clients,
      h2,
      updates: Math.max(1, nonNegativeInt('updates', values.updates, 3)),
      replicas,
      store,
      etcdEndpoints,
      batchSize: nonNegativeInt('batch', values.batch, 500),
      batchTimeoutMs: 120_000,
      clusters: nonNegativeInt('clusters', values.clusters, 4),
      endpointsPerCluster: nonNegativeInt('endpoints', values.endpoints, 3),
      debounceMs: nonNegativeInt('debounce-ms', values['debounce-ms'], 100),
      settleMs: nonNegativeInt('settle-ms', values['settle-ms'], 2000),
      updateTimeoutMs: nonNegativeInt('update-timeout-s', values['update-timeout-s'], 60) * 1000,
      // Default budget: generous for connecting in batches, bounded so a stuck run still reports.
      budgetMs:
        nonNegativeInt('budget-s', values['budget-s'], 120 + Math.ceil(clients / 20)) * 1000,
      cpuProfDir,
      log,
    });
    reports.push(report);
    const file = path.join(outDir, `xds-${clients}${variant}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    if (report.aborted) log(`run aborted: ${report.aborted}`);
    const failureKinds = Object.entries(report.failures);
    if (failureKinds.length > 0) log(`client failures: ${JSON.stringify(report.failures)}`);
    for (const [phase, summary] of Object.entries(report.profiles ?? {})) {
      if (!summary) continue;
      log(
        `control-plane CPU profile, ${phase} (${summary.durationMs} ms, idle ${summary.idleMs} ms): ${summary.file}`,
      );
      for (const e of summary.bySource.slice(0, 10))
        log(`  ${String(e.percent).padStart(5)}%  ${e.name}`);
      for (const e of summary.topFunctions.slice(0, 12))
        log(`  ${String(e.percent).padStart(5)}%  ${e.name}`);
    }
    log(`report written to ${path.relative(process.cwd(), file)}`);
  }
  console.log(formatTable(reports));
  return reports.every((r) => !r.aborted) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`xds-bench: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  },
);
