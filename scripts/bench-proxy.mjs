// `make bench-proxy`: ferry-proxy vs nginx vs HAProxy in front of one backend on loopback
// (e2e/src/bench/proxy-bench.ts). Usage: node scripts/bench-proxy.mjs [--quick] [other options,
// see --help]. Reports land in bench-results/proxy-<label>.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bench = path.join(root, 'e2e', 'dist', 'bench', 'proxy-bench.js');
if (!fs.existsSync(bench)) {
  console.error('bench-proxy: e2e/dist/bench/proxy-bench.js is missing; run `make build` first');
  process.exit(1);
}
const run = spawnSync(process.execPath, [bench, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
