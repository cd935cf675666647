/**
 * The HTTP API's JSON shapes (snake_case, like proto3 JSON and ferry/v1/management.proto), built
 * from the service's results. Resource bodies pass through untouched: their map keys are data.
 * The interfaces are the API's contract: ferryctl reads responses through them.
 */
import type { ApiTokenRecord } from './api-tokens.js';
import type { JsonValue } from '@ferry/proto';
import type { NodeStatus, ResourceStatus } from '../xds/fleet-status.js';
import type { PreflightReport } from '../preflight/preflight-types.js';
import type { ReplicaSetStatus } from '../replicas/replica-set.js';
import type {
  ApplyResponse,
  HistoryView,
  ListResponse,
  ResourceView,
  StatusResponse,
} from './management-types.js';

export interface ResourceChangeJson {
  readonly type_url: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly action: string;
  readonly version: string;
}

export interface ApplyResponseJson {
  readonly revision: number;
  readonly dry_run: boolean;
  readonly changes: readonly ResourceChangeJson[];
  /** Present when the control plane runs pre-flights (docs/architecture.md, "Pre-flight"). */
  readonly preflight?: readonly PreflightJson[];
}

/** The Preflight message of proto/ferry/v1/management.proto, in proto field names. */
export interface PreflightJson {
  readonly group: string;
  readonly translator_version: string;
  readonly checked_resources: number;
  readonly resources: ReadonlyArray<{
    readonly type_url: string;
    readonly kind: string;
    readonly name: string;
    readonly changed: boolean;
    readonly errors: readonly string[];
    readonly unchecked: readonly string[];
    readonly rejected_by: readonly string[];
    readonly blocking: boolean;
  }>;
  readonly proxies: ReadonlyArray<{
    readonly node_id: string;
    readonly user_agent: string;
    readonly pre_checked: boolean;
    readonly would_ack: boolean;
    readonly rejects: readonly string[];
    readonly note: string;
  }>;
  readonly pre_checked_proxies: number;
  readonly other_proxies: number;
  readonly warnings: readonly string[];
  readonly refuse: boolean;
}

export interface ResourceJson {
  readonly type_url: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly version: string;
  readonly revision: number;
  /** The resource as proto3 JSON with "@type" (key material redacted unless asked for). */
  readonly resource: Record<string, JsonValue>;
}

export interface ListResponseJson {
  readonly revision: number;
  readonly resources: readonly ResourceJson[];
}

export interface HistoryEntryJson {
  readonly revision: number;
  /** ISO-8601. */
  readonly time: string;
  readonly message: string;
  /** Who made it: a token's name, FERRY_API_TOKEN, loopback, or "" (the control plane). */
  readonly actor: string;
  /** `action` is "put" or "delete". */
  readonly changes: readonly ResourceChangeJson[];
}

export interface HistoryJson {
  readonly entries: readonly HistoryEntryJson[];
  /**
   * The log's base: the revisions up to it were trimmed (their entries are gone), the state at
   * it is kept (rollback to it works). 0 while nothing was trimmed.
   */
  readonly history_base: number;
}

export interface TypeStatusJson {
  readonly type_url: string;
  readonly version_sent: string;
  readonly version_acked: string;
  readonly resources: number;
  readonly last_nack?: {
    readonly version: string;
    readonly error: string;
    readonly time: string;
    readonly resources?: readonly string[];
  };
  /** What the type's resources run, but the rejected ones (docs/architecture.md). */
  readonly version_applied?: string;
  /** The resources the proxy rejected alone (each runs an earlier version, or none). */
  readonly rejected_resources?: readonly ResourceStatusJson[];
  /** Every resource, with `?resources=true`. */
  readonly resource_statuses?: readonly ResourceStatusJson[];
}

export interface ResourceStatusJson {
  readonly name: string;
  /** ACKED, NACKED, REQUESTED or DOES_NOT_EXIST. */
  readonly state: string;
  readonly version_running: string;
  readonly version_sent: string;
  readonly nack?: { readonly version: string; readonly error: string; readonly time: string };
}

export interface NodeStatusJson {
  readonly node_id: string;
  readonly cluster: string;
  readonly group: string;
  readonly user_agent: string;
  readonly address: string;
  readonly streams: readonly string[];
  readonly connected: boolean;
  readonly connected_since: string;
  readonly last_seen: string;
  readonly types: readonly TypeStatusJson[];
  /** The control-plane replica holding the proxy's streams. */
  readonly replica?: string;
  /** See NodeStatus.rollout. */
  readonly rollout?: string;
}

export interface ReplicaJson {
  readonly id: string;
  readonly address: string;
  readonly api_url: string;
  readonly leader: boolean;
  readonly self: boolean;
}

export interface ReplicaSetJson {
  readonly self: string;
  /** Absent: no leader seen. */
  readonly leader?: string;
  readonly leader_expires_at?: string;
  readonly replicas: readonly ReplicaJson[];
}

export interface StatusJson {
  readonly revision: number;
  readonly nodes: readonly NodeStatusJson[];
  readonly replica_set?: ReplicaSetJson;
  /** Live replicas asked for their proxies that did not answer (their proxies are missing). */
  readonly unanswered_replicas?: ReadonlyArray<{
    readonly replica: string;
    readonly api_url: string;
    readonly error: string;
  }>;
}

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

/** A token as `GET /v1/tokens` shows it: never its secret nor the secret's digest. */
export interface TokenJson {
  readonly name: string;
  readonly role: string;
  readonly groups: readonly string[];
  /** "" for a bearer token. */
  readonly client_identity: string;
  readonly created_at: string;
  /** Absent: never expires. */
  readonly expires_at?: string;
  readonly created_by: string;
}

export interface CreatedTokenJson extends TokenJson {
  /** The bearer token, shown this once; absent for a client-certificate binding. */
  readonly token?: string;
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

export function statusJson(r: StatusResponse): StatusJson {
  return {
    revision: r.revision,
    nodes: r.nodes.map(nodeStatusJson),
    ...(r.replicaSet ? { replica_set: replicaSetJson(r.replicaSet) } : {}),
    ...(r.unansweredReplicas
      ? {
          unanswered_replicas: r.unansweredReplicas.map((u) => ({
            replica: u.replica,
            api_url: u.apiUrl,
            error: u.error,
          })),
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
