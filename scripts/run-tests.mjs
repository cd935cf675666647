// Runs every compiled test file (*.test.js under each package's dist/) with node's test runner,
// prints the spec report, then one summary line "tests: N passed, N failed, N skipped".
// A hang fails its file instead of the whole run: node 20 applies --test-timeout to each test
// and to each file as a whole (the runner then SIGTERMs the file's process, whose e2e harness
// takes its servers along), so the bound is several times the slowest file (~35 s).
// FERRY_TEST_TIMEOUT_MS overrides it. Before the summary it prints the slowest files (the time of
// their top-level tests and suites, see test-summary-reporter.mjs), to show where the time goes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const packages = ['proto', 'shared', 'control-plane', 'data-plane', 'ui', 'e2e'];
const filter = process.argv.slice(2);
const TEST_TIMEOUT_MS = Number(process.env.FERRY_TEST_TIMEOUT_MS ?? 180_000);

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...find(full));
    else if (e.name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = packages
  .flatMap((p) => find(path.join(root, p, 'dist')))
  .filter((f) => filter.length === 0 || filter.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no compiled test files found; run `make build` first');
  process.exit(1);
}
const summary = path.join(os.tmpdir(), `ferry-tests-${process.pid}.json`);
const SLOWEST = 15;
const child = spawn(
  process.execPath,
  [
    '--test',
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(root, 'scripts', 'test-summary-reporter.mjs')}`,
    `--test-reporter-destination=${summary}`,
    ...files,
  ],
  {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, FERRY_LOG_LEVEL: process.env.FERRY_LOG_LEVEL ?? 'warn' },
  },
);
child.on('exit', (code, signal) => {
  const text = fs.existsSync(summary) ? fs.readFileSync(summary, 'utf8').trim() : '';
  fs.rmSync(summary, { force: true });
  const { counts = {}, files = {} } = text === '' ? {} : JSON.parse(text);
  printSlowest(files);
  // A cancelled test (e.g. its file's process ended with promises pending) did not pass.
  const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0);
  console.log(
    `tests: ${counts.pass ?? 0} passed, ${failed} failed, ${counts.skipped ?? 0} skipped`,
  );
  process.exit(code ?? (signal ? 1 : 0));
});

/** The SLOWEST files of `files` ({ file: milliseconds }), slowest first, and the total. */
function printSlowest(files) {
  const byFile = Object.entries(files).sort((a, b) => b[1] - a[1]);
  if (byFile.length === 0) return;
  const total = byFile.reduce((sum, [, ms]) => sum + ms, 0);
  console.log(`slowest test files (of ${byFile.length}, ${(total / 1000).toFixed(1)} s in all):`);
  for (const [file, ms] of byFile.slice(0, SLOWEST))
    console.log(`${(ms / 1000).toFixed(1).padStart(8)} s  ${path.relative(root, file)}`);
}
