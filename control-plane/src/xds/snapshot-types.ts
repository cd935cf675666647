/**
 * What the snapshot cache (snapshot-cache.ts) publishes per group and type, in a module of its
 * own so that the layers it composes (rollout candidates) share the types without importing the
 * cache.
 */
import type { PushOrigin } from './snapshot-tracing.js';

/** A resource as it goes on the wire: an Any with the stored canonical bytes. */
export interface AnyResource {
  readonly type_url: string;
  readonly value: Buffer;
}

export interface CachedResource {
  readonly name: string;
  /** Content version of this resource (sha256 of its canonical bytes). */
  readonly version: string;
  readonly resource: AnyResource;
}

export interface TypeSnapshot {
  readonly typeUrl: string;
  /** `combinedVersion` over every (name, version): equal content ⇒ equal version on every replica. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, CachedResource>;
  /** Every resource's Any, built once and shared by all wildcard subscribers. */
  readonly all: readonly AnyResource[];
  /**
   * Resources that the previous snapshot of this type had and this one has not. Streams use them
   * to keep removals until the end of a multi-type push (make before break).
   */
  readonly removed: ReadonlyMap<string, CachedResource>;
  /** Tracing on: what pushes of this snapshot link to (the applies and the build). */
  readonly origin?: PushOrigin;
}
