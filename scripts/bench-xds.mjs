// `make bench-xds`: the control plane under N simulated ADS clients (e2e/src/bench/xds-bench.ts).
// Runs the compiled benchmark once per client count, each in a fresh process so one run's
// sockets and heap do not distort the next. Usage: node scripts/bench-xds.mjs [--clients 1000,10000]
// [other xds-bench options, see --help]. Reports land in bench-results/xds-<N>.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bench = path.join(root, 'e2e', 'dist', 'bench', 'xds-bench.js');
if (!fs.existsSync(bench)) {
  console.error('bench-xds: e2e/dist/bench/xds-bench.js is missing; run `make build` first');
  process.exit(1);
}

const args = process.argv.slice(2);
let counts = ['1000', '10000'];
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--clients') counts = String(args[++i] ?? '').split(',');
  else if (args[i].startsWith('--clients=')) counts = args[i].slice('--clients='.length).split(',');
  else rest.push(args[i]);
}

// 10,000 HTTP/2 sessions with their parsers and buffers need more than the default heap.
const nodeFlags = ['--max-old-space-size=4096'];
let status = 0;
for (const clients of counts) {
  const run = spawnSync(
    process.execPath,
    [...nodeFlags, bench, '--clients', clients.trim(), ...rest],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  if (run.status !== 0) status = run.status ?? 1;
}
process.exit(status);
