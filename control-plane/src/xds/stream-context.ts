/**
 * What every xDS stream shares with its server: the snapshot cache, the fleet tracker, the
 * logger, and helpers for the parts of the protocol that SotW and delta streams have in common.
 */
import { binaryToJson, servedResourceTypeByUrl, XDS_RESOURCE_TYPES } from '@ferry/proto';
import type { NodeMessage, StatusMessage } from '@ferry/proto/grpc';
import type { Logger } from '@ferry/shared';
import type { LiteCallConsumer } from '../grpc-lite/server-call.js';
import type { FleetTracker, NodeIdentity, RejectedByClient } from './fleet.js';
import type { SnapshotCache } from './snapshot-cache.js';
import type { XdsMetrics } from '../metrics/xds-metrics.js';
import type { PushTracker } from './push-tracker.js';

/** The part of a bidirectional server call (../grpc-lite/server-call.ts) a stream uses. */
export interface XdsCall {
  /** The stream takes the call's requests and end through its methods. */
  consume(consumer: LiteCallConsumer): void;
  /** Sends one response already framed for gRPC (response-encoder.ts). */
  writeFrame(frame: Buffer): boolean;
  /** Bytes written and not yet taken by the transport (unread by the client, or queued). */
  readonly pendingBytes: number;
  end(): void;
  getPeer(): string;
  /** Stop and restart reading requests (HTTP/2 flow control holds the client back meanwhile). */
  pause(): unknown;
  resume(): unknown;
  /** An `error` event with a gRPC status ends the call with that status. */
  emit(event: 'error', status: { code: number; details: string }): boolean;
  /** Ends the call now, dropping what is queued (RST_STREAM ENHANCE_YOUR_CALM). */
  reset(): void;
}

/** Per-stream limits against misbehaving clients (stream-base.ts; flags in main.ts). */
export interface XdsStreamLimits {
  /** Names one type's subscription may hold on one stream. */
  readonly maxResourceNames: number;
  /** Requests read per second on average, per stream ... */
  readonly requestsPerSecond: number;
  /** ... and in a burst. */
  readonly requestBurst: number;
  /** Unread response bytes after which a client is cut off. */
  readonly maxPendingBytes: number;
}

export const DEFAULT_XDS_STREAM_LIMITS: XdsStreamLimits = {
  maxResourceNames: 20_000,
  requestsPerSecond: 100,
  requestBurst: 500,
  maxPendingBytes: 64 * 1024 * 1024,
};

export interface StreamContext {
  readonly cache: SnapshotCache;
  readonly fleet: FleetTracker;
  readonly logger: Logger;
  /** Sent in every response's `control_plane.identifier`. */
  readonly controlPlaneId: string;
  /** `control_plane` encoded once: field 6 of a SotW response, field 7 of a delta response. */
  readonly encodedControlPlane: { readonly sotw: Buffer; readonly delta: Buffer };
  readonly metrics: XdsMetrics;
  readonly limits: XdsStreamLimits;
  /** Push-to-ACK latency and push spans. */
  readonly pushes: PushTracker;
  /** Logs an unknown type URL the first time any stream asks for it. */
  unknownType(typeUrl: string, nodeId: string): void;
}

/** LDS and CDS: a response carries the full set and absence means deletion (xDS protocol). */
export const FULL_STATE_TYPES: ReadonlySet<string> = new Set(
  XDS_RESOURCE_TYPES.filter((t) => t.short === 'LDS' || t.short === 'CDS').map((t) => t.typeUrl),
);

/** Make-before-break order (XDS_RESOURCE_TYPES order): CDS, EDS, SDS, LDS, RDS. */
export const TYPE_ORDER: readonly string[] = XDS_RESOURCE_TYPES.map((t) => t.typeUrl);

/** Served over xDS: Ferry's own stored types (access policies) never are. */
export function isKnownType(typeUrl: string): boolean {
  return servedResourceTypeByUrl(typeUrl) !== undefined;
}

let nonceCounter = 0;

/**
 * Nonces are unique within the process, so a nonce from one stream can never be mistaken for
 * the latest nonce of another (xDS protocol: a nonce is only valid on its stream).
 */
export function nextNonce(): string {
  nonceCounter += 1;
  // Base 10: V8 formats it on a fast path; radix 36 goes through a slow runtime call, which
  // showed up in the fan-out profile (one nonce per response, 10,000 per push).
  return String(nonceCounter);
}

/** Keeps only the node fields worth remembering (see NodeIdentity). */
export function nodeIdentity(node: NodeMessage | undefined): NodeIdentity | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const id = typeof node.id === 'string' ? node.id : '';
  const cluster = typeof node.cluster === 'string' ? node.cluster : '';
  const build = node.user_agent_build_version?.version;
  const version =
    typeof node.user_agent_version === 'string'
      ? node.user_agent_version
      : build
        ? `${build.major_number ?? 0}.${build.minor_number ?? 0}.${build.patch ?? 0}`
        : undefined;
  return {
    id,
    cluster,
    ...(node.metadata ? { metadata: node.metadata } : {}),
    ...(node.locality ? { locality: node.locality } : {}),
    ...(node.user_agent_name ? { user_agent_name: String(node.user_agent_name) } : {}),
    ...(version ? { user_agent_version: version } : {}),
  };
}

/**
 * The text of a NACK's google.rpc.Status, or undefined when the request is not a NACK. Presence
 * of error_detail is what makes a NACK (xDS protocol: ACK/NACK), even with an empty message.
 */
export function nackMessage(errorDetail: StatusMessage | undefined): string | undefined {
  if (!errorDetail || typeof errorDetail !== 'object') return undefined;
  if (typeof errorDetail.message === 'string' && errorDetail.message !== '')
    return errorDetail.message;
  return `rejected without a message (code ${errorDetail.code ?? 0})`;
}

const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
/** A field violation's field as ferry-proxy writes it: the resource kind and its quoted name. */
const RESOURCE_FIELD = /^[A-Za-z]+ ("(?:[^"\\]|\\.)*")$/;

/**
 * The resources a NACK names as rejected alone, the rest of the response having been applied
 * (ferry-proxy: a google.rpc.BadRequest in error_detail.details, one field violation per resource,
 * field `Listener "web"`). Only names among `carried` (what the NACKed response carried) count,
 * so a client cannot make the control plane record names it never sent. Undefined when the NACK
 * names none (Envoy, gRPC clients): the whole response counts as rejected.
 */
export function nackRejections(
  errorDetail: StatusMessage | undefined,
  carried: readonly string[],
): RejectedByClient[] | undefined {
  const details = errorDetail?.details;
  if (!Array.isArray(details)) return undefined;
  const wanted = new Set(carried);
  const out = new Map<string, string>();
  for (const detail of details as readonly unknown[]) {
    const any = detail as { type_url?: unknown; value?: unknown } | null;
    if (any?.type_url !== BAD_REQUEST_TYPE_URL || !(any.value instanceof Uint8Array)) continue;
    let parsed: unknown;
    try {
      parsed = binaryToJson('google.rpc.BadRequest', any.value);
    } catch {
      continue;
    }
    const violations = (parsed as { field_violations?: unknown }).field_violations;
    for (const v of Array.isArray(violations) ? violations : []) {
      const { field, description } = v as { field?: unknown; description?: unknown };
      const match = typeof field === 'string' ? RESOURCE_FIELD.exec(field) : null;
      if (!match) continue;
      const name = JSON.parse(match[1]!) as string;
      if (wanted.has(name) && !out.has(name))
        out.set(name, typeof description === 'string' ? description : '');
    }
  }
  if (out.size === 0) return undefined;
  return [...out].map(([name, error]) => ({ name, error }));
}

/** The INVALID_ARGUMENT details for a subscription over --xds-max-resource-names. */
export function tooManyNames(count: number, typeUrl: string, limits: XdsStreamLimits): string {
  return `${count} resource names for ${typeUrl} on one stream, over the limit of ${limits.maxResourceNames} (--xds-max-resource-names); subscribe with the wildcard instead, or split the proxy's configuration`;
}
