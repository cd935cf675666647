/**
 * Several SnapshotOverlays as one (snapshot-cache.ts takes one): every overlay observes every
 * mutation, and a served resource goes through each overlay that rewrites its type, in order.
 * Each overlay is deterministic in the store's content, so the chain is too.
 */
import type { Mutation } from '../store/store.js';
import type { SnapshotOverlay } from './snapshot-cache.js';

/** An overlay that can also say what it would serve without recording it (the pre-flight's). */
export interface PreviewableOverlay extends SnapshotOverlay {
  preview(
    group: string,
    typeUrl: string,
    resource: { name: string; version: string; value: Buffer },
  ): { name: string; version: string; value: Buffer };
}

export class SnapshotOverlayChain implements SnapshotOverlay {
  readonly typeUrls: ReadonlySet<string>;

  constructor(private readonly overlays: readonly PreviewableOverlay[]) {
    this.typeUrls = new Set(overlays.flatMap((o) => [...o.typeUrls]));
  }

  observe(m: Mutation): ReadonlyArray<readonly [string, string]> {
    return this.overlays.flatMap((o) => o.observe(m));
  }

  transform(
    group: string,
    typeUrl: string,
    resource: { name: string; version: string; value: Buffer },
  ): { name: string; version: string; value: Buffer } {
    let out = resource;
    for (const o of this.overlays)
      if (o.typeUrls.has(typeUrl)) out = o.transform(group, typeUrl, out);
    return out;
  }

  /** What `transform` would serve, recording nothing (each overlay's `preview`). */
  preview(
    group: string,
    typeUrl: string,
    resource: { name: string; version: string; value: Buffer },
  ): { name: string; version: string; value: Buffer } {
    let out = resource;
    for (const o of this.overlays)
      if (o.typeUrls.has(typeUrl)) out = o.preview(group, typeUrl, out);
    return out;
  }
}
