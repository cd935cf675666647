/**
 * The management API's requests and results, shared by the service (management-service.ts),
 * its transports (http-api.ts, grpc-api.ts, wire-json.ts) and the write observer. Types only.
 */
import type { JsonValue } from '@ferry/proto';
import type { NodeStatus } from '../xds/fleet-status.js';
import type { PreflightReport } from '../preflight/preflight-types.js';
import type { ReplicaSetStatus } from '../replicas/replica-set.js';
import type { UnansweredReplica } from '../replicas/peer-status.js';

export interface AnyResource {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

export interface ApplyRequest {
  /** Default "default". */
  readonly group?: string;
  /** proto3 JSON documents with "@type" (HTTP, ferryctl). */
  readonly documents?: readonly unknown[];
  /** Packed resources (gRPC). Both lists may be given; documents come first in error paths. */
  readonly anys?: readonly AnyResource[];
  readonly dryRun?: boolean;
  readonly expectedRevision?: number;
  /** Recorded in history. */
  readonly message?: string;
  /** Write even when the pre-flight refuses (docs/architecture.md, "Pre-flight"). */
  readonly force?: boolean;
}

export type ChangeAction = 'created' | 'updated' | 'unchanged' | 'deleted';

export interface ResourceChange {
  readonly typeUrl: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly action: ChangeAction;
  /** The content version after the change ('' for deleted). */
  readonly version: string;
}

export interface ApplyResponse {
  /** The new revision; for a dry run or a no-op, the revision validated against. */
  readonly revision: number;
  readonly dryRun: boolean;
  readonly changes: readonly ResourceChange[];
  /**
   * The pre-flight of each group the write changes (absent when the control plane runs none).
   * On a forced write, a report with `refuse` set says what was overridden.
   */
  readonly preflight?: readonly PreflightReport[];
}

export interface ListRequest {
  readonly typeUrl?: string;
  readonly name?: string;
  readonly group?: string;
  readonly showSecrets?: boolean;
  /** The resources as they were at this revision (the dashboard's diff); default: now. */
  readonly atRevision?: number;
}

export interface ResourceView {
  readonly typeUrl: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly version: string;
  readonly revision: number;
  /** The document with "@type" first, key material redacted unless showSecrets. */
  readonly resource: Record<string, JsonValue>;
  /** Binary encoding of `resource` (the stored bytes when nothing was redacted). */
  readonly value: Uint8Array;
}

export interface ListResponse {
  readonly revision: number;
  readonly resources: readonly ResourceView[];
}

export interface DeleteRequest {
  readonly group?: string;
  readonly resources: ReadonlyArray<{ readonly typeUrl: string; readonly name: string }>;
  readonly dryRun?: boolean;
  readonly expectedRevision?: number;
  readonly message?: string;
  /** As ApplyRequest's. */
  readonly force?: boolean;
}

export interface RollbackRequest {
  readonly revision: number;
  /** Only this group; every group when absent. */
  readonly group?: string;
  readonly dryRun?: boolean;
  readonly message?: string;
  /** As ApplyRequest's. */
  readonly force?: boolean;
}

export interface HistoryView {
  readonly revision: number;
  readonly time: string;
  readonly message: string;
  /** Who made the revision: a token's name, FERRY_API_TOKEN, loopback, or '' (the control plane). */
  readonly actor: string;
  /** The trace of the write that made the revision; undefined when it was not traced (and sampled). */
  readonly traceId: string | undefined;
  readonly changes: ReadonlyArray<{
    readonly typeUrl: string;
    readonly kind: string;
    readonly group: string;
    readonly name: string;
    readonly action: 'put' | 'delete';
    readonly version: string;
  }>;
}

export interface StatusResponse {
  readonly revision: number;
  readonly nodes: readonly NodeStatus[];
  /** The replicas of the store (absent when the service runs without them, e.g. embedded). */
  readonly replicaSet?: ReplicaSetStatus;
  /** Live replicas asked for their proxies that did not answer, each with why. */
  readonly unansweredReplicas?: readonly UnansweredReplica[];
}
