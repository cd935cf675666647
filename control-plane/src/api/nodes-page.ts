/**
 * GET /v1/nodes: the fleet's rows filtered by group, sync state and a search string, counted by
 * state and paged, on the server, so that a dashboard of 10,000 proxies moves one page at a time.
 * Works on any list of node rows (this replica's, or every replica's).
 */
import type { NodeSyncState } from '@ferry/shared/api-wire';
import type { NodeStatus } from '../xds/fleet-status.js';

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

export interface NodesPage {
  readonly total: number;
  readonly counts: Record<NodeSyncState, number>;
  readonly nodes: ReadonlyArray<{ readonly node: NodeStatus; readonly state: NodeSyncState }>;
}

/**
 * NACKED when a type's last response was rejected (whole or in part) and no later ACK cleared it;
 * else STALE when the node is disconnected or a type was sent a version it has not applied yet;
 * else SYNCED.
 */
export function nodeSyncState(n: NodeStatus): NodeSyncState {
  let stale = !n.connected;
  for (const t of n.types) {
    if (t.lastNack !== undefined || (t.rejectedResources?.length ?? 0) > 0) return 'NACKED';
    if (t.versionSent !== (t.versionApplied ?? t.versionAcked)) stale = true;
  }
  return stale ? 'STALE' : 'SYNCED';
}

/** `nodes` in their order, filtered, counted and sliced. */
export function nodesPage(nodes: readonly NodeStatus[], query: NodesQuery): NodesPage {
  const q = query.q?.toLowerCase() ?? '';
  const counts: Record<NodeSyncState, number> = { SYNCED: 0, STALE: 0, NACKED: 0 };
  const matching: Array<{ node: NodeStatus; state: NodeSyncState }> = [];
  for (const node of nodes) {
    if (query.group !== undefined && node.group !== query.group) continue;
    if (q !== '' && !matches(node, q)) continue;
    const state = nodeSyncState(node);
    counts[state] += 1;
    if (query.state === undefined || query.state === state) matching.push({ node, state });
  }
  return {
    total: matching.length,
    counts,
    nodes: matching.slice(query.offset, query.offset + query.limit),
  };
}

function matches(n: NodeStatus, q: string): boolean {
  return (
    n.nodeId.toLowerCase().includes(q) ||
    n.group.toLowerCase().includes(q) ||
    n.address.toLowerCase().includes(q) ||
    n.userAgent.toLowerCase().includes(q)
  );
}
