/**
 * The candidate of a group's active rollout as the snapshot cache serves it (docs/architecture.md,
 * "Progressive rollouts"): the changed resources only, and per changed type one candidate
 * snapshot = the group's stable snapshot with those resources replaced or removed. One candidate
 * snapshot per type is shared by every updated proxy of the group; the stable snapshot is never
 * copied per proxy.
 */
import { combinedVersion } from '@ferry/proto';
import type { CachedResource, TypeSnapshot } from '../xds/snapshot-types.js';
import { decodeRollout, isActive, type RolloutRecord } from './rollout-record.js';

export interface CandidateLayer {
  readonly rollout: string;
  /** type URL → name → the candidate resource, or null when the candidate deletes it. */
  readonly overrides: ReadonlyMap<string, ReadonlyMap<string, CachedResource | null>>;
  /** Node ids served the candidate. */
  readonly members: ReadonlySet<string>;
  /** "<rollout> stage N/M", for status. */
  readonly label: string;
}

/**
 * The layer a stored rollout record asks for: undefined once the rollout stopped (rolled back,
 * aborted or promoted), so that every proxy is served the stable resources.
 */
export function layerOf(record: RolloutRecord): CandidateLayer | undefined {
  if (!isActive(record.state)) return undefined;
  const overrides = new Map<string, Map<string, CachedResource | null>>();
  for (const c of record.changes) {
    let byName = overrides.get(c.typeUrl);
    if (!byName) overrides.set(c.typeUrl, (byName = new Map<string, CachedResource | null>()));
    byName.set(
      c.name,
      c.put
        ? {
            name: c.name,
            version: c.put.version,
            resource: {
              type_url: c.typeUrl,
              value: Buffer.from(
                c.put.value.buffer,
                c.put.value.byteOffset,
                c.put.value.byteLength,
              ),
            },
          }
        : null,
    );
  }
  return {
    rollout: record.name,
    overrides,
    members: new Set(record.updatedNodes),
    label: `${record.name} stage ${record.stage + 1}/${record.stages.length}${record.state === 'PAUSED' ? ' (paused)' : ''}`,
  };
}

export function decodeLayer(value: Uint8Array): {
  record: RolloutRecord;
  layer: CandidateLayer | undefined;
} {
  const record = decodeRollout(value);
  return { record, layer: layerOf(record) };
}

/**
 * The candidate snapshot of one type: `stable` with `overrides` applied. `transform` is the
 * cache's serving overlay (health, ACME), applied to candidate resources as to stable ones.
 * `removed` holds what a proxy moving from stable (or from the previous candidate) to this one
 * loses, for make-before-break pushes.
 */
export function candidateSnapshot(
  stable: TypeSnapshot,
  overrides: ReadonlyMap<string, CachedResource | null>,
  previous: TypeSnapshot | undefined,
  transform: (r: CachedResource) => CachedResource,
): TypeSnapshot {
  const resources = new Map(stable.resources);
  for (const [name, r] of overrides) {
    if (!r) {
      resources.delete(name);
      continue;
    }
    const served = transform(r);
    const before = previous?.resources.get(name);
    resources.set(name, before?.version === served.version ? before : served);
  }
  const removed = new Map<string, CachedResource>();
  for (const source of [stable.resources, previous?.resources])
    if (source) for (const [name, r] of source) if (!resources.has(name)) removed.set(name, r);
  const version = combinedVersion([...resources.values()].map((r) => [r.name, r.version] as const));
  if (previous && previous.version === version) return previous;
  return {
    typeUrl: stable.typeUrl,
    version,
    resources,
    all: [...resources.values()].map((r) => r.resource),
    removed,
  };
}
