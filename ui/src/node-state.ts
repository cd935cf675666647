/** A proxy's xDS state per type and overall, from its status row. */
import type { NodeStatusJson, NodeSyncState, TypeStatusJson } from './wire.js';

type NodeState = NodeSyncState;

/**
 * A type's state as the server decides it (its rows carry it per type): NACKED when the proxy
 * rejected a response of it (or some of its resources) and no later ACK cleared that, even once a
 * newer version was sent; else STALE when it does not run the version it was sent yet; else
 * SYNCED. A row without `state` (a control plane that predates it) gets the same rule here.
 */
export function typeState(t: TypeStatusJson): NodeState {
  if (t.state !== undefined) return t.state;
  if (t.last_nack !== undefined || (t.rejected_resources?.length ?? 0) > 0) return 'NACKED';
  return t.version_sent === (t.version_applied ?? t.version_acked) ? 'SYNCED' : 'STALE';
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
