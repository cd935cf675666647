/**
 * Regression: a control plane whose stdout reader went away ignored SIGTERM, past its own 10 s
 * shutdown deadline (its logger retried the shutdown line forever on the closed pipe, blocking
 * the main thread at exit). Shutdown must never depend on the log destination: with the reading
 * end of stdout destroyed, SIGTERM still ends the process gracefully (exit code 0, not the
 * deadline's 1), within the deadline. ferry-proxy's primary logs the same way and is held to
 * the same. Waits are liveness bounds; a process still running after its bound fails the test.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import {
  apiApply,
  freePort,
  hcmFilter,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startControlPlane,
  startProxy,
  stopAll,
  staticClusterResource,
} from './harness.js';

/** The control plane's graceful-shutdown deadline (control-plane/src/main.ts). */
const CONTROL_PLANE_DEADLINE_MS = 10_000;

/** The exit code, or a failure once `boundMs` passed (the process is then killed). */
function exitCode(proc: ChildProcess, boundMs: number, what: string): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const bound = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${what} still running ${boundMs} ms after SIGTERM`));
    }, boundMs);
    proc.once('exit', (code) => {
      clearTimeout(bound);
      resolve(code);
    });
  });
}

after(stopAll);

describe('SIGTERM with the stdout reader gone', () => {
  test('the control plane exits gracefully within its deadline', async () => {
    const cp = await startControlPlane({ store: 'memory:' });
    // Something to log and to close on the way out.
    await apiApply(cp.apiUrl, [staticClusterResource('web', [8080])]);
    cp.proc.stdout!.destroy();
    cp.proc.kill('SIGTERM');
    assert.equal(
      await exitCode(cp.proc, CONTROL_PLANE_DEADLINE_MS, 'the control plane'),
      0,
      'a graceful exit, not the deadline exit',
    );
  });

  test('ferry-proxy exits gracefully within its drain timeout', async () => {
    const cp = await startControlPlane({ store: 'memory:' });
    const port = await freePort();
    await apiApply(cp.apiUrl, [
      listenerResource('http', port, [{ filters: [hcmFilter({ rds: 'main' })] }]),
      routeConfigResource('main', [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }],
        },
      ]),
      staticClusterResource('web', [8080]),
    ]);
    const proxy = await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'shutdown', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    proxy.proc.stdout!.destroy();
    proxy.proc.kill('SIGTERM');
    // The harness starts proxies with --drain-timeout-s 2; 10 s leaves room for the workers.
    assert.equal(await exitCode(proxy.proc, 10_000, 'ferry-proxy'), 0);
  });
});
