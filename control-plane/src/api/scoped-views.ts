/**
 * The fleet's health and load views as one caller may see them, for both transports: a request
 * for one group needs the viewer role there (FERRY_FORBIDDEN otherwise); a request for every
 * group shows only the groups the caller may read.
 */
import { healthJson, type HealthFilter, type HealthJson } from '../health/health-json.js';
import type { HealthStatusSource } from '../health/health-aggregate.js';
import { loadJson, type LoadJson, type LoadSource } from '../load/load-aggregate.js';
import {
  mergeLoadHistory,
  type LoadHistory,
  type LoadHistoryFilter,
  type LoadHistoryJson,
} from '../load/load-history.js';
import type { ForwardedCaller, PeerStatus } from '../replicas/peer-status.js';
import { ALL_GROUPS, canRead, requireRole, type Caller } from './access.js';

export function scopedHealthJson(
  source: HealthStatusSource,
  filter: HealthFilter,
  caller: Caller,
): HealthJson {
  if (filter.group)
    requireRole(caller, 'viewer', filter.group, `health of group "${filter.group}"`);
  const view = healthJson(source, filter);
  if (caller.groups.includes(ALL_GROUPS)) return view;
  return {
    clusters: view.clusters.filter((c) => canRead(caller, c.group)),
    nodes: view.nodes.filter((n) => canRead(caller, n.group)),
  };
}

export function scopedLoadJson(
  source: LoadSource,
  filter: { group?: string | undefined; cluster?: string | undefined },
  caller: Caller,
): LoadJson {
  if (filter.group) requireRole(caller, 'viewer', filter.group, `load of group "${filter.group}"`);
  const view = loadJson(source, filter);
  if (caller.groups.includes(ALL_GROUPS)) return view;
  return { clusters: view.clusters.filter((c) => canRead(caller, c.group)) };
}

/**
 * The last hour of load as `caller` may see it. With `fanOut`, every other live replica's own
 * view (`local=true`, with the caller's credentials) is summed in: each replica holds the load
 * streams of its own proxies. A replica that did not answer, or answered what cannot be merged,
 * is listed in `unanswered_replicas`, never silently left out.
 */
export async function scopedLoadHistoryJson(
  source: LoadHistory,
  filter: LoadHistoryFilter,
  caller: Caller,
  fanOut?: { readonly peers: PeerStatus; readonly caller: ForwardedCaller },
): Promise<LoadHistoryJson> {
  if (filter.group) requireRole(caller, 'viewer', filter.group, `load of group "${filter.group}"`);
  let view = source.view(filter);
  if (fanOut) {
    const query = new URLSearchParams({ local: 'true' });
    if (filter.group !== undefined) query.set('group', filter.group);
    if (filter.cluster !== undefined) query.set('cluster', filter.cluster);
    if (filter.localities === true) query.set('localities', 'true');
    const { answers, unanswered } = await fanOut.peers.collectJson(
      fanOut.caller,
      '/v1/load/history',
      query,
    );
    const { merged, refused } = mergeLoadHistory(
      view,
      answers.map((a) => ({ replica: a.replica, view: a.body })),
    );
    const byId = new Map(answers.map((a) => [a.replica, a.apiUrl]));
    view = {
      ...merged,
      unanswered_replicas: [
        ...unanswered.map((u) => ({ replica: u.replica, api_url: u.apiUrl, error: u.error })),
        ...refused.map((r) => ({
          replica: r.replica,
          api_url: byId.get(r.replica) ?? '',
          error: r.error,
        })),
      ],
    };
  }
  if (caller.groups.includes(ALL_GROUPS)) return view;
  return { ...view, clusters: view.clusters.filter((c) => canRead(caller, c.group)) };
}
