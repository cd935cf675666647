/**
 * Waiting on an API event stream in tests: the next event a predicate accepts, within a bound that
 * is a liveness limit on a possibly loaded machine, never a timing claim.
 */
import type { StreamEvent } from '../event-stream.js';

/** The first event of `events` that `match` accepts; earlier ones are passed over. */
export async function nextEvent(
  events: AsyncGenerator<StreamEvent>,
  what: string,
  match: (e: StreamEvent) => boolean,
  boundMs: number,
): Promise<StreamEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no event in time: ${what}`)), boundMs);
  });
  const find = (async () => {
    for (;;) {
      const r = await events.next();
      if (r.done) throw new Error(`stream ended before: ${what}`);
      if (match(r.value)) return r.value;
    }
  })();
  try {
    return await Promise.race([find, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
