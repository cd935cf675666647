/**
 * The Fleet view's filters in the URL, after the view's own hash (`#/fleet?q=edge&group=web&
 * state=NACKED`), so that a filtered view can be shared and survives a reload. Empty filters are
 * left out; an unknown state is ignored.
 */
import type { NodeSyncState } from './wire.js';

export interface FleetFilters {
  readonly q: string;
  readonly group: string;
  readonly state: NodeSyncState | '';
}

const STATES: ReadonlySet<string> = new Set(['SYNCED', 'STALE', 'NACKED']);

/** Whether `hash` shows the Fleet view (the shell's default: no hash at all does too). */
export function isFleetHash(hash: string): boolean {
  return /^(#\/?)?(fleet)?(\?|$)/.test(hash);
}

/** The filters of a hash such as `#/fleet?group=web`; none when it has no query. */
export function filtersFromHash(hash: string): FleetFilters {
  const i = hash.indexOf('?');
  const params = new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
  const state = params.get('state') ?? '';
  return {
    q: params.get('q') ?? '',
    group: params.get('group') ?? '',
    state: STATES.has(state) ? (state as NodeSyncState) : '',
  };
}

/** `view`'s hash with `filters` (`#/fleet` alone when none is set). */
export function hashWithFilters(view: string, filters: FleetFilters): string {
  const params = new URLSearchParams();
  if (filters.q !== '') params.set('q', filters.q);
  if (filters.group !== '') params.set('group', filters.group);
  if (filters.state !== '') params.set('state', filters.state);
  const query = params.toString();
  return query === '' ? `#/${view}` : `#/${view}?${query}`;
}
