/**
 * Per resource, what a node runs and how its latest update went, derived from the node's type
 * record (fleet.ts) and the group's snapshot; read by CSDS and the management API's status. Nothing
 * here is stored per resource: only the resources a client rejected alone are recorded (as
 * deviations), everything else follows from the versions and snapshots the record points to
 * (docs/architecture.md, "Per-resource acceptance").
 */
import type { NackStatus } from './fleet-status.js';

/** What a stream currently asks for on one type (shared by reference, never copied). */
export interface SubscriptionView {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
  /** The trace id of the stream's last recorded push of the type (push-tracker.ts). */
  readonly pushTraceId?: string | undefined;
}

/** A resource the client rejected alone: it keeps running an earlier version (or nothing). */
export interface ResourceDeviation {
  /** The version it runs: of the last response that delivered it accepted; '' = it has none. */
  readonly running: string;
  /** The version whose response carried the rejected update. */
  readonly rejected: string;
  readonly error: string;
  /** Epoch ms. */
  readonly time: number;
}

/** A type's record as status readers see it (fleet.ts keeps the records). */
export interface TypeRecordView {
  readonly versionSent: string;
  readonly versionAcked: string;
  /**
   * The version that every resource of the type not in `rejected` runs: the last ACKed one, or
   * the last one NACKed in part (its other resources were applied).
   */
  readonly versionApplied: string;
  readonly resources: number;
  /** When versionSent was last sent, epoch ms (0 = never). */
  readonly lastSent: number;
  readonly lastNack: NackStatus | undefined;
  readonly subscription: SubscriptionView | undefined;
  /** The resources of the snapshot last sent and of the one applied (shared, not copied). */
  readonly snapshotSent: ReadonlyMap<string, unknown> | undefined;
  readonly snapshotApplied: ReadonlyMap<string, unknown> | undefined;
  /** Only the resources rejected alone; undefined in the common case. */
  readonly rejected: ReadonlyMap<string, ResourceDeviation> | undefined;
}

/** CSDS's ConfigStatus: the control plane's view. */
export type ConfigStatus = 'SYNCED' | 'NOT_SENT' | 'STALE' | 'ERROR';
/** CSDS's ClientConfigStatus, as a client reports it per resource. */
export type ClientResourceStatus = 'ACKED' | 'NACKED' | 'REQUESTED' | 'DOES_NOT_EXIST';

export interface ResourceState {
  readonly name: string;
  readonly configStatus: ConfigStatus;
  readonly clientStatus: ClientResourceStatus;
  /** The version of the type's response whose copy of the resource runs; '' = none. */
  readonly versionRunning: string;
  /** The version of the type's latest response to the node. */
  readonly versionSent: string;
  /** The rejection of its latest update, when it was rejected. */
  readonly error?: { readonly version: string; readonly message: string; readonly time: number };
}

/**
 * The state of the resource `name` of a type. `exists`: the current snapshot has it. A resource
 * the client rejected alone is NACKED and runs what it ran before; after a NACK without names,
 * the resources of the rejected response are NACKED; otherwise a resource is ACKED once the
 * version sent is applied.
 */
export function resourceState(t: TypeRecordView, name: string, exists: boolean): ResourceState {
  const versionSent = t.versionSent;
  const runningApplied = t.snapshotApplied?.has(name) ? t.versionApplied : '';
  if (versionSent === '')
    return {
      name,
      configStatus: 'NOT_SENT',
      clientStatus: exists ? 'REQUESTED' : 'DOES_NOT_EXIST',
      versionRunning: '',
      versionSent,
    };
  const deviation = t.rejected?.get(name);
  if (deviation)
    return {
      name,
      configStatus: deviation.rejected === versionSent ? 'ERROR' : 'STALE',
      clientStatus: 'NACKED',
      versionRunning: deviation.running,
      versionSent,
      error: { version: deviation.rejected, message: deviation.error, time: deviation.time },
    };
  const nack = t.lastNack;
  const wholeNack =
    nack !== undefined && nack.version === versionSent && t.versionApplied !== versionSent;
  if (wholeNack && (!nack.resources || nack.resources.includes(name)))
    return {
      name,
      configStatus: 'ERROR',
      clientStatus: 'NACKED',
      versionRunning: runningApplied,
      versionSent,
      error: { version: nack.version, message: nack.error, time: Date.parse(nack.time) },
    };
  // A delta NACK concerns only what its response carried: the rest was ACKed before.
  const synced = wholeNack ? t.versionAcked !== '' : t.versionApplied === versionSent;
  return {
    name,
    configStatus: synced ? 'SYNCED' : 'STALE',
    clientStatus: !exists ? 'DOES_NOT_EXIST' : synced ? 'ACKED' : 'REQUESTED',
    versionRunning: runningApplied,
    versionSent,
  };
}

/**
 * The names a type's status covers: those the node subscribes to (a wildcard subscription: every
 * resource of the snapshot) and those it rejected, sorted.
 */
export function statusNames(t: TypeRecordView, snapshot: ReadonlyMap<string, unknown>): string[] {
  const sub = t.subscription;
  const names = new Set<string>(sub?.names ?? []);
  if (sub?.wildcard) for (const name of snapshot.keys()) names.add(name);
  for (const name of t.rejected?.keys() ?? []) names.add(name);
  return [...names].sort();
}
