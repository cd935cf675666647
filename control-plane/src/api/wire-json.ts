/**
 * The HTTP API's JSON shapes (snake_case, like proto3 JSON and ferry/v1/management.proto), built
 * from the service's results. Resource bodies pass through untouched: their map keys are data.
 */
import type { NodeStatus } from '../xds/fleet-status.js';
import type {
  ApplyResponse,
  HistoryView,
  ListResponse,
  ResourceView,
  StatusResponse,
} from './management-types.js';

export function applyResponseJson(r: ApplyResponse): unknown {
  return {
    revision: r.revision,
    dry_run: r.dryRun,
    changes: r.changes.map((c) => ({
      type_url: c.typeUrl,
      kind: c.kind,
      group: c.group,
      name: c.name,
      action: c.action,
      version: c.version,
    })),
  };
}

export function resourceJson(r: ResourceView): unknown {
  return {
    type_url: r.typeUrl,
    kind: r.kind,
    group: r.group,
    name: r.name,
    version: r.version,
    revision: r.revision,
    resource: r.resource,
  };
}

export function listResponseJson(r: ListResponse): unknown {
  return { revision: r.revision, resources: r.resources.map(resourceJson) };
}

export function historyJson(entries: readonly HistoryView[]): unknown {
  return {
    entries: entries.map((e) => ({
      revision: e.revision,
      time: e.time,
      message: e.message,
      changes: e.changes.map((c) => ({
        type_url: c.typeUrl,
        kind: c.kind,
        group: c.group,
        name: c.name,
        action: c.action,
        version: c.version,
      })),
    })),
  };
}

export function nodeStatusJson(n: NodeStatus): unknown {
  return {
    node_id: n.nodeId,
    cluster: n.cluster,
    group: n.group,
    user_agent: n.userAgent,
    address: n.address,
    streams: n.streams,
    connected: n.connected,
    connected_since: n.connectedSince,
    last_seen: n.lastSeen,
    types: n.types.map((t) => ({
      type_url: t.typeUrl,
      version_sent: t.versionSent,
      version_acked: t.versionAcked,
      resources: t.resources,
      ...(t.lastNack
        ? {
            last_nack: {
              version: t.lastNack.version,
              error: t.lastNack.error,
              time: t.lastNack.time,
              ...(t.lastNack.resources ? { resources: [...t.lastNack.resources] } : {}),
            },
          }
        : {}),
    })),
  };
}

export function statusJson(r: StatusResponse): unknown {
  return { revision: r.revision, nodes: r.nodes.map(nodeStatusJson) };
}
