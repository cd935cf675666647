/**
 * The fleet's health and load views as one caller may see them, for both transports: a request
 * for one group needs the viewer role there (FERRY_FORBIDDEN otherwise); a request for every
 * group shows only the groups the caller may read.
 */
import { healthJson, type HealthFilter, type HealthJson } from '../health/health-json.js';
import type { HealthStatusSource } from '../health/health-aggregate.js';
import { loadJson, type LoadJson, type LoadSource } from '../load/load-aggregate.js';
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
