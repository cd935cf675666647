/**
 * Checks that a `RegexMatcher.regex` is RE2 syntax that ferry-proxy runs on its linear-time
 * engine (see @ferry/proto's re2-linear.ts): the control plane refuses at commit time what every
 * proxy would NACK.
 */
import { checkLinearRe2 } from '@ferry/proto';

/** Returns undefined when the pattern is acceptable, else a message saying why not. */
export function checkRe2(pattern: string): string | undefined {
  const problem = checkLinearRe2(pattern);
  return problem === undefined ? undefined : `regex ${JSON.stringify(pattern)}: ${problem}`;
}
