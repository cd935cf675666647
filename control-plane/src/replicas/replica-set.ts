/**
 * The control-plane replicas of one store as the management API shows them (`ferryctl replicas`,
 * GET /v1/status `replica_set`): which replicas are alive and which one leads. Liveness is the
 * replicas' membership leases (../ratelimit/rls-membership.ts: every replica holds one while it
 * runs, lapsing three renewals after it dies); leadership is leader.ts's lease.
 */
import type { LeaderStatus } from './leader.js';

export interface ReplicaInfo {
  readonly id: string;
  /** host:port of its xDS server, as other replicas reach it. */
  readonly address: string;
  /** Base URL of its management API ("" when it advertises none). */
  readonly apiUrl: string;
  readonly leader: boolean;
  /** The replica answering. */
  readonly self: boolean;
}

export interface ReplicaSetStatus {
  readonly self: string;
  /** The leader the answering replica last saw; undefined when none or unknown. */
  readonly leader: string | undefined;
  /** ISO 8601; undefined when unknown. */
  readonly leaderExpiresAt: string | undefined;
  /** Sorted by id; the leader is listed even if its membership lease is not seen. */
  readonly replicas: readonly ReplicaInfo[];
}

export function replicaSetStatus(
  leader: LeaderStatus,
  members: readonly { readonly id: string; readonly address: string; readonly apiUrl?: string }[],
): ReplicaSetStatus {
  const replicas = members.map((m) => ({
    id: m.id,
    address: m.address,
    apiUrl: m.apiUrl ?? '',
    leader: m.id === leader.leader,
    self: m.id === leader.self,
  }));
  if (leader.leader !== undefined && !replicas.some((r) => r.leader))
    replicas.push({
      id: leader.leader,
      address: '',
      apiUrl: '',
      leader: true,
      self: leader.leader === leader.self,
    });
  replicas.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    self: leader.self,
    leader: leader.leader,
    leaderExpiresAt:
      leader.leader !== undefined && leader.expiresAt > 0
        ? new Date(leader.expiresAt).toISOString()
        : undefined,
    replicas,
  };
}
