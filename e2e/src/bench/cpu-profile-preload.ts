/**
 * Preloaded into the control plane (`NODE_OPTIONS=--import=<this file>`) when the benchmark runs
 * with `--cpu-prof`: Node 20 refuses `--cpu-prof` in NODE_OPTIONS, and a whole-process profile
 * would bury the update under the connect phase anyway. Each SIGUSR2 toggles the V8 CPU profiler
 * through an in-process inspector session; stopping writes
 * `$FERRY_BENCH_CPU_PROF_DIR/profile-<n>.cpuprofile` (n = 1, 2, ...). Loaded only by the
 * benchmark, never by product code.
 */
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const dir = process.env.FERRY_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let running = false;
  let written = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      if (err) {
        process.stderr.write(`cpu-profile-preload: ${err.message}\n`);
        return;
      }
      const file = path.join(dir, `profile-${++written}.cpuprofile`);
      // Write to a temporary name and rename, so a reader never sees a partial file.
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(result.profile));
      fs.renameSync(`${file}.tmp`, file);
    });
  });
}
