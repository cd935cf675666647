/**
 * The HTTP API's JSON shapes (snake_case, like proto3 JSON and ferry/v1/management.proto), built
 * from the service's results. Resource bodies pass through untouched: their map keys are data.
 * The interfaces are the API's contract: ferryctl reads responses through them.
 */
import type { ApiTokenRecord } from './api-tokens.js';
import type { JsonValue } from '@ferry/proto';
import type { NodeStatus } from '../xds/fleet-status.js';
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
  /** See NodeStatus.rollout. */
  readonly rollout?: string;
}

export interface StatusJson {
  readonly revision: number;
  readonly nodes: readonly NodeStatusJson[];
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

export function historyJson(entries: readonly HistoryView[]): HistoryJson {
  return {
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
    ...(n.rollout !== undefined ? { rollout: n.rollout } : {}),
  };
}

export function statusJson(r: StatusResponse): StatusJson {
  return { revision: r.revision, nodes: r.nodes.map(nodeStatusJson) };
}
