/**
 * The log destination never holds a process up (log-destination.ts), with a real child process
 * whose stdout is a pipe: a healthy reader gets every line, in order; a reader that went away
 * (EPIPE) or stalls (a full pipe) costs lines, never the graceful exit. Waits are liveness
 * bounds: a child still running after its bound is killed and fails the test.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./log-destination-child.js', import.meta.url));
/** Far above a healthy exit (milliseconds) and above the child's own 1 s flush bound. */
const EXIT_BOUND_MS = 10_000;

type Child = ChildProcessByStdio<Writable, Readable, null>;

function start(args: string[]): Child {
  return spawn(process.execPath, [CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
  });
}

/** The child's exit code, or a failure once `EXIT_BOUND_MS` passed (the child is then killed). */
function exitCode(child: Child, what: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const bound = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: the child did not exit within ${EXIT_BOUND_MS} ms`));
    }, EXIT_BOUND_MS);
    child.once('exit', (code) => {
      clearTimeout(bound);
      resolve(code);
    });
  });
}

describe('stdout log destination', () => {
  test('a reader that keeps up gets every line, in order, before the process exits', async () => {
    const child = start(['lines', '5000']);
    const seen: number[] = [];
    readline
      .createInterface({ input: child.stdout })
      .on('line', (line) => seen.push((JSON.parse(line) as { i: number }).i));
    const closed = new Promise((resolve) => child.stdout.once('close', resolve));
    assert.equal(await exitCode(child, 'healthy reader'), 0);
    await closed;
    assert.deepEqual(
      seen,
      Array.from({ length: 5000 }, (_, i) => i),
    );
  });

  test('a reader that went away (EPIPE) does not stop a SIGTERM shutdown', async () => {
    const child = start(['sigterm']);
    await new Promise<void>((resolve) => {
      const lines = readline.createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if ((JSON.parse(line) as { msg: string }).msg !== 'ready') return;
        lines.close();
        resolve();
      });
    });
    child.stdout.destroy();
    child.kill('SIGTERM');
    assert.equal(await exitCode(child, 'reader gone'), 0);
  });

  test('a reader that stalls (a full pipe) does not stop the exit', async () => {
    // 20000 lines of ~450 bytes: far more than the pipe and the pending-bytes limit hold.
    const child = start(['lines', '20000']);
    child.stdout.pause();
    assert.equal(await exitCode(child, 'stalled reader'), 0);
    child.stdout.destroy();
  });
});
