/**
 * Several SnapshotOverlays as one (snapshot-cache.ts takes one): every overlay observes every
 * mutation, and a served resource goes through each overlay that rewrites its type, in order.
 * Each overlay is deterministic in the store's content, so the chain is too.
 */
import type { Mutation } from '../store/store.js';
import type { SnapshotOverlay } from './snapshot-cache.js';

export class SnapshotOverlayChain implements SnapshotOverlay {
  readonly typeUrls: ReadonlySet<string>;

  constructor(private readonly overlays: readonly SnapshotOverlay[]) {
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
}
