/**
 * A loopback TCP port nothing listens on, for tests that need connections refused.
 *
 * A port taken with `listen(0)` and released lies in the kernel's ephemeral range, where a later
 * outgoing connection may get it as its source port; a connect to 127.0.0.1 on that port can
 * then meet itself (TCP simultaneous open) and succeed instead of being refused. This picks a
 * port below the ephemeral range (Linux's default starts at 32768) that no test server takes
 * (free-port.ts picks below this range), and checks that it is free right now.
 */
import { bindablePortBetween } from './free-port.js';

const LOW = 20_000;
const HIGH = 32_000;

export function refusedPort(): Promise<number> {
  return bindablePortBetween(LOW, HIGH, 50);
}
