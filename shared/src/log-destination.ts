/**
 * Where every logger of the process writes: stdout, through Node's own stdout stream. A log
 * destination must never hold the process up: pino's default destination writes on a libuv
 * thread and, at exit, flushes synchronously, retrying forever while stdout is a closed pipe
 * (EPIPE) or a full one (EAGAIN), so a process whose log reader went away could not exit, not
 * even past its own shutdown deadline. Here:
 * - a pipe or socket stdout is non-blocking (Node's stream on Linux), so writes never block;
 * - a write error (the reader went away) turns the destination off: later lines are dropped;
 * - while the reader stalls, at most `MAX_PENDING_BYTES` wait in memory: later lines are
 *   dropped until it catches up;
 * - nothing runs at exit: a graceful shutdown calls `flushLogs()` (bounded) before it exits.
 * A file stdout is written synchronously by Node and a terminal blocks as terminals do.
 */

/** Bytes of log lines allowed to wait for a stalled stdout reader before lines are dropped. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** pino's view of a destination: one JSON line per call. */
export interface LogDestination {
  write(line: string): void;
}

class StdoutDestination implements LogDestination {
  readonly #out: NodeJS.WriteStream;
  #broken = false;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    out.on('error', () => {
      this.#broken = true;
    });
  }

  write(line: string): void {
    const out = this.#out;
    if (this.#broken || out.destroyed || out.writableLength > MAX_PENDING_BYTES) return;
    try {
      out.write(line);
    } catch {
      // A file stdout writes synchronously and throws (ENOSPC, EBADF): logging is off from here.
      this.#broken = true;
    }
  }

  /** Resolves once every written line has left the process, stdout broke, or `timeoutMs` passed. */
  flush(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      const check = (): void => {
        const out = this.#out;
        if (this.#broken || out.destroyed || out.writableLength === 0 || Date.now() >= deadline) {
          resolve();
          return;
        }
        setTimeout(check, 10);
      };
      check();
    });
  }
}

let stdout: StdoutDestination | undefined;

/** The process's one stdout destination (one error listener, however many loggers). */
export function stdoutDestination(): StdoutDestination {
  stdout ??= new StdoutDestination(process.stdout);
  return stdout;
}

/**
 * Gives log lines still waiting for stdout up to `timeoutMs` to leave the process; call it last
 * in a graceful shutdown, before `process.exit`. Never waits longer, whatever stdout is.
 */
export function flushLogs(timeoutMs = 1000): Promise<void> {
  return stdout?.flush(timeoutMs) ?? Promise.resolve();
}
