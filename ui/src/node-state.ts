/** A proxy's xDS state per type and overall, from its status row. */
import type { NodeStatusJson, NodeSyncState, TypeStatusJson } from './wire.js';

type NodeState = NodeSyncState;

/**
 * As GET /v1/nodes decides it (its rows carry it; node events do not): NACKED when the proxy
 * rejected the version it was last sent (or some of its resources), else STALE when it does not
 * run the version it was sent yet, else SYNCED.
 */
export function typeState(t: TypeStatusJson): NodeState {
  if (t.last_nack !== undefined && t.last_nack.version === t.version_sent) return 'NACKED';
  if ((t.rejected_resources?.length ?? 0) > 0) return 'NACKED';
  return t.version_acked === t.version_sent ? 'SYNCED' : 'STALE';
}

/** A disconnected proxy is STALE unless it NACKed. */
export function nodeState(n: NodeStatusJson & { readonly state?: NodeState }): NodeState {
  if (n.state !== undefined) return n.state;
  let state: NodeState = n.connected ? 'SYNCED' : 'STALE';
  for (const t of n.types) {
    const s = typeState(t);
    if (s === 'NACKED') return s;
    if (s === 'STALE') state = s;
  }
  return state;
}

/** "type.googleapis.com/envoy.config.cluster.v3.Cluster" → "CDS". */
export function typeShortName(typeUrl: string): string {
  const name = typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
  const short: Record<string, string> = {
    Listener: 'LDS',
    RouteConfiguration: 'RDS',
    Cluster: 'CDS',
    ClusterLoadAssignment: 'EDS',
    Secret: 'SDS',
    ScopedRouteConfiguration: 'SRDS',
    VirtualHost: 'VHDS',
  };
  return short[name] ?? name;
}

/** The error a proxy gave for a type, its rejected resources' errors when the type has none. */
export function nackDetail(t: TypeStatusJson): string {
  if (t.last_nack) return t.last_nack.error;
  return (t.rejected_resources ?? [])
    .map((r) => `${r.name}: ${r.nack?.error ?? r.state}`)
    .join('\n');
}
