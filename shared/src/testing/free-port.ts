/**
 * Loopback TCP ports for tests that must name a listener's port before it binds (a listener in
 * config, a server started by another process).
 *
 * A port taken with `listen(0)` and released lies in the kernel's ephemeral range, which every
 * outgoing connection and every other `listen(0)` of the machine draws from: between the release
 * and the bind, another test's connection can take it as its source port, and the bind fails
 * with EADDRINUSE. These ports come from below the ephemeral range (Linux's default starts at
 * 32768), where only tests that pick ports this way look, and below refused-port.ts's range,
 * whose ports must stay unbound.
 */
import * as net from 'node:net';

const LOW = 10_000;
// Room above for the consecutive ports of e2e proxies started with a listener port offset.
const HIGH = 19_900;

/** Whether `port` can be bound on 127.0.0.1 right now (it is released again at once). */
export function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A random port in [low, high) that can be bound now; fails after `attempts` taken ones. */
export async function bindablePortBetween(
  low: number,
  high: number,
  attempts: number,
): Promise<number> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${high} on 127.0.0.1`);
}

/** A port of 127.0.0.1 that was free a moment ago and that no outgoing connection takes. */
export function freePort(): Promise<number> {
  return bindablePortBetween(LOW, HIGH, 100);
}
