/**
 * Waiting in unit tests without timing assertions: `until` polls a condition with a liveness
 * bound, so a condition that never holds fails its test with what it waited for instead of
 * hanging the suite. Not used by product code.
 */

/** Resolves once `condition()` holds, checking every 5 ms; fails after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what = condition.toString(),
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
