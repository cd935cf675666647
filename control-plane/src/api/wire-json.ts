/**
 * The HTTP API's JSON shapes (snake_case, like proto3 JSON and ferry/v1/management.proto), built
 * from the service's results. Resource bodies pass through untouched: their map keys are data.
 * The types are the API's contract (@ferry/shared/api-wire): ferryctl and the dashboard read
 * responses through them.
 */
import type { ApiTokenRecord } from './api-tokens.js';
import type {
  ApplyResponseJson,
  HistoryJson,
  ListResponseJson,
  NodeStatusJson,
  PreflightJson,
  ReplicaSetJson,
  ResourceJson,
  ResourceStatusJson,
  StatusJson,
  TokenJson,
  UnansweredReplicaJson,
} from '@ferry/shared/api-wire';
import type { NodeStatus, ResourceStatus } from '../xds/fleet-status.js';
import { typeSyncState } from './nodes-page.js';
import type { PreflightReport } from '../preflight/preflight-types.js';
import type { ReplicaSetStatus } from '../replicas/replica-set.js';
import type { UnansweredReplica } from '../replicas/peer-status.js';
import type {
  ApplyResponse,
  HistoryView,
  ListResponse,
  ResourceView,
  StatusResponse,
} from './management-types.js';

export type {
  ApplyResponseJson,
  CreatedTokenJson,
  HistoryEntryJson,
  HistoryJson,
  ListResponseJson,
  NodeStatusJson,
  PreflightJson,
  ReplicaJson,
  ReplicaSetJson,
  ResourceChangeJson,
  ResourceJson,
  ResourceStatusJson,
  StatusJson,
  TokenJson,
  TypeStatusJson,
  UnansweredReplicaJson,
} from '@ferry/shared/api-wire';

export function applyResponseJson(r: ApplyResponse): ApplyResponseJson {
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
    ...(r.preflight ? { preflight: r.preflight.map(preflightJson) } : {}),
  };
}

export function preflightJson(p: PreflightReport): PreflightJson {
  return {
    group: p.group,
    translator_version: p.translatorVersion,
    checked_resources: p.checkedResources,
    resources: p.resources.map((r) => ({
      type_url: r.typeUrl,
      kind: r.kind,
      name: r.name,
      changed: r.changed,
      errors: r.errors,
      unchecked: r.unchecked,
      rejected_by: r.rejectedBy,
      blocking: r.blocking,
    })),
    proxies: p.proxies.map((n) => ({
      node_id: n.nodeId,
      user_agent: n.userAgent,
      pre_checked: n.preChecked,
      would_ack: n.wouldAck,
      rejects: n.rejects,
      note: n.note,
    })),
    pre_checked_proxies: p.preCheckedProxies,
    other_proxies: p.otherProxies,
    warnings: p.warnings,
    refuse: p.refuse,
  };
}

export function resourceJson(r: ResourceView): ResourceJson {
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

export function listResponseJson(r: ListResponse): ListResponseJson {
  return { revision: r.revision, resources: r.resources.map(resourceJson) };
}

export function historyJson(entries: readonly HistoryView[], base: number): HistoryJson {
  return {
    history_base: base,
    entries: entries.map((e) => ({
      revision: e.revision,
      time: e.time,
      message: e.message,
      actor: e.actor,
      ...(e.traceId !== undefined ? { trace_id: e.traceId } : {}),
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

export function tokenJson(r: ApiTokenRecord): TokenJson {
  return {
    name: r.name,
    role: r.role,
    groups: r.groups,
    client_identity: r.clientIdentity,
    created_at: r.createdAt,
    ...(r.expiresAt === undefined ? {} : { expires_at: r.expiresAt }),
    created_by: r.createdBy,
  };
}

export function nodeStatusJson(n: NodeStatus): NodeStatusJson {
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
    ...(n.replica !== undefined ? { replica: n.replica } : {}),
    types: n.types.map((t) => ({
      type_url: t.typeUrl,
      version_sent: t.versionSent,
      version_acked: t.versionAcked,
      state: typeSyncState(t),
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
      ...(t.versionApplied !== undefined ? { version_applied: t.versionApplied } : {}),
      ...(t.rejectedResources
        ? { rejected_resources: t.rejectedResources.map(resourceStatusJson) }
        : {}),
      ...(t.resourceStatuses
        ? { resource_statuses: t.resourceStatuses.map(resourceStatusJson) }
        : {}),
      ...(t.pushTraceId !== undefined ? { push_trace_id: t.pushTraceId } : {}),
    })),
    ...(n.rollout !== undefined ? { rollout: n.rollout } : {}),
  };
}

function resourceStatusJson(r: ResourceStatus): ResourceStatusJson {
  return {
    name: r.name,
    state: r.state,
    version_running: r.versionRunning,
    version_sent: r.versionSent,
    ...(r.nack ? { nack: { ...r.nack } } : {}),
  };
}

export function unansweredReplicaJson(u: UnansweredReplica): UnansweredReplicaJson {
  return { replica: u.replica, api_url: u.apiUrl, error: u.error };
}

export function statusJson(r: StatusResponse): StatusJson {
  return {
    revision: r.revision,
    nodes: r.nodes.map(nodeStatusJson),
    ...(r.replicaSet ? { replica_set: replicaSetJson(r.replicaSet) } : {}),
    ...(r.unansweredReplicas
      ? {
          unanswered_replicas: r.unansweredReplicas.map(unansweredReplicaJson),
        }
      : {}),
  };
}

export function replicaSetJson(r: ReplicaSetStatus): ReplicaSetJson {
  return {
    self: r.self,
    ...(r.leader !== undefined ? { leader: r.leader } : {}),
    ...(r.leaderExpiresAt !== undefined ? { leader_expires_at: r.leaderExpiresAt } : {}),
    replicas: r.replicas.map((x) => ({
      id: x.id,
      address: x.address,
      api_url: x.apiUrl,
      leader: x.leader,
      self: x.self,
    })),
  };
}
