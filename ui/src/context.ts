/** What every view gets from the shell: the API as the signed-in caller, who that is, the feed. */
import type { Api } from './api.js';
import type { FeedHub } from './feed-hub.js';
import type { UiSettingsJson, WhoamiJson } from './wire.js';

export interface ViewContext {
  readonly api: Api;
  readonly who: WhoamiJson;
  readonly hub: FeedHub;
  readonly settings: UiSettingsJson;
}

/**
 * Whether the caller may act on `group`: operators and admins of it (or of every group, "*").
 * The API checks again; this only hides what it would refuse.
 */
export function canOperate(who: WhoamiJson, group: string): boolean {
  if (who.role !== 'operator' && who.role !== 'admin') return false;
  return who.groups.includes('*') || who.groups.includes(group);
}
