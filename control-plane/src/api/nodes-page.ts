/**
 * GET /v1/nodes: the fleet's nodes filtered by group, sync state and a search string, counted by
 * state and paged, on the server, so that a dashboard of 10,000 proxies moves one page at a time.
 * Works on node summaries (fleet-status.ts), which a fleet tracker lists without building rows,
 * and which any list of rows (this replica's or every replica's) yields through summaryOf; only
 * the page's rows are built in full.
 */
import type { NodeSyncState } from '@ferry/shared/api-wire';
import type { NodeStatus, NodeSummary, TypeStatus } from '../xds/fleet-status.js';

export const NODE_SYNC_STATES: readonly NodeSyncState[] = ['SYNCED', 'STALE', 'NACKED'];
export const DEFAULT_NODES_LIMIT = 100;
export const MAX_NODES_LIMIT = 1000;

export interface NodesQuery {
  readonly group?: string;
  readonly state?: NodeSyncState;
  /** Case-insensitive substring of the node id, group, address or user agent. */
  readonly q?: string;
  readonly offset: number;
  readonly limit: number;
}

export interface NodesPage<T> {
  /** Items matching group, state and q. */
  readonly total: number;
  /** Items matching group and q, by state. */
  readonly counts: Record<NodeSyncState, number>;
  /** The page of the matching items, in their order. */
  readonly items: readonly T[];
  /** Every item's group, whatever the filters, sorted: what a group filter can pick from. */
  readonly groups: readonly string[];
}

/**
 * One type of a node: NACKED when its last response was rejected (whole or in part) and no later
 * ACK cleared it — a newer version sent since does not clear it, the proxy still runs what it ran
 * before the rejection —; else STALE when it was sent a version it has not applied yet; else
 * SYNCED. The rows carry it per type (`state`), so the dashboard shows the server's rule.
 */
export function typeSyncState(t: TypeStatus): NodeSyncState {
  if (t.lastNack !== undefined || (t.rejectedResources?.length ?? 0) > 0) return 'NACKED';
  return t.versionSent !== (t.versionApplied ?? t.versionAcked) ? 'STALE' : 'SYNCED';
}

/**
 * A node: NACKED when a type is, else STALE when the node is disconnected or a type is, else
 * SYNCED. (FleetTracker.summaries applies the same rule to its records.)
 */
export function nodeSyncState(n: NodeStatus): NodeSyncState {
  let stale = !n.connected;
  for (const t of n.types) {
    const state = typeSyncState(t);
    if (state === 'NACKED') return state;
    if (state === 'STALE') stale = true;
  }
  return stale ? 'STALE' : 'SYNCED';
}

export function summaryOf(n: NodeStatus): NodeSummary {
  return {
    nodeId: n.nodeId,
    group: n.group,
    address: n.address,
    userAgent: n.userAgent,
    state: nodeSyncState(n),
  };
}

/** `items` in their order, filtered, counted and sliced. */
export function nodesPage<T extends NodeSummary>(
  items: readonly T[],
  query: NodesQuery,
): NodesPage<T> {
  const q = query.q?.toLowerCase() ?? '';
  const counts: Record<NodeSyncState, number> = { SYNCED: 0, STALE: 0, NACKED: 0 };
  const matching: T[] = [];
  const groups = new Set<string>();
  for (const item of items) {
    groups.add(item.group);
    if (query.group !== undefined && item.group !== query.group) continue;
    if (q !== '' && !matches(item, q)) continue;
    counts[item.state] += 1;
    if (query.state === undefined || query.state === item.state) matching.push(item);
  }
  return {
    total: matching.length,
    counts,
    items: matching.slice(query.offset, query.offset + query.limit),
    groups: [...groups].sort(),
  };
}

function matches(n: NodeSummary, q: string): boolean {
  return (
    n.nodeId.toLowerCase().includes(q) ||
    n.group.toLowerCase().includes(q) ||
    n.address.toLowerCase().includes(q) ||
    n.userAgent.toLowerCase().includes(q)
  );
}
