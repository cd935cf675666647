/**
 * How the Config view reaches older revisions: GET /v1/history has only `limit` (the newest N),
 * so the view asks for the newest HISTORY_PAGE and doubles the limit on "Load older revisions"
 * until the list reaches the first revision the store keeps.
 */
import type { HistoryJson } from './wire.js';

export const HISTORY_PAGE = 50;

/** What the last answer listed: the limit asked, the entries it had, whether asking more may help. */
export interface HistoryListing {
  readonly limit: number;
  readonly count: number;
  readonly more: boolean;
}

export const NOTHING_LISTED: HistoryListing = { limit: 0, count: 0, more: true };

/**
 * The listing after `history` answered a request with `limit`. Older revisions may exist while
 * the oldest entry is above the log's base + 1 (the first revision kept). A caller who reads only
 * some groups gets no entry for revisions that changed none of them, so its oldest entry can stay
 * above that forever: a longer list that brought no new entry ends the paging too (a refetch with
 * the same limit keeps what the last longer list found).
 */
export function nextListing(
  before: HistoryListing,
  limit: number,
  history: HistoryJson,
): HistoryListing {
  const count = history.entries.length;
  const grew = limit > before.limit ? count > before.count : before.more;
  const oldest = history.entries[count - 1];
  const more = grew && oldest !== undefined && oldest.revision > history.history_base + 1;
  return { limit, count, more };
}
