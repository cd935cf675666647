/**
 * The xDS layer's view of the store (docs/architecture.md, "The wire is Envoy's xDS v3"): per group
 * and per type URL, the resources by name with their content versions and their Any-packed
 * canonical bytes. Each resource is wrapped once per version and the same `{ type_url, value }`
 * object is handed to every stream, so fan-out never copies or re-encodes resource bytes.
 *
 * Snapshots are immutable and replaced as a whole per (group, type) when changes are published.
 * Bursts of store changes are debounced so that one apply of many resources, or
 * several applies in quick succession, reach proxies as one push per type.
 *
 * Fan-out: a publish notifies the group's listeners (one per stream) in slices of at most
 * `fanOutSliceMs` of work (and at most `fanOutChunk` listeners), yielding to the event loop
 * between slices so that the responses written so far go out and the rest of the process (API
 * requests, timers) is not held up for a whole fleet. Slices are long on purpose: every yield
 * also lets the requests that arrived meanwhile (the ACKs of the streams already written) and
 * every due timer run ahead of the streams still waiting, so yielding per few hundred streams
 * makes the last stream of a large fleet wait for the work of all the others; the streams that
 * wait longest are the ones written last. Ordering guarantees:
 * - a listener sees every published change in order: the next publish waits until the current
 *   round has notified every listener (its changes stay pending and are published right after);
 * - a stream that is about to act on a request while its notification is still queued calls
 *   `catchUp(listener)` first, so it never answers from the new snapshot ahead of the
 *   make-before-break push it owes for it.
 */
// Imported, not the global: the global `performance` is a lazy getter, read in every fan-out slice.
import { performance } from 'node:perf_hooks';
import { combinedVersion, XDS_RESOURCE_TYPES } from '@ferry/proto';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from '@ferry/shared';
import type { ChangeEvent, Mutation, ResourceStore, Watch } from '../store/store.js';
import { followStore } from '../store/store-follow.js';
import type { MetricChild } from '../metrics/registry.js';
import { xdsMetrics } from '../metrics/xds-metrics.js';
import { SnapshotTracing } from './snapshot-tracing.js';
import type { CachedResource, TypeSnapshot } from './snapshot-types.js';
import { candidateSnapshot, decodeLayer, type CandidateLayer } from '../rollout/candidate-layer.js';
import { ROLLOUT_TYPE } from '../rollout/rollout-record.js';

export type { AnyResource, CachedResource, TypeSnapshot } from './snapshot-types.js';

/**
 * Told the type URLs whose snapshot changed in a group it watches; must not throw. An object with
 * a method rather than a function, so that a stream (one per connected proxy) is its own listener
 * instead of holding a closure.
 */
export interface GroupListener {
  snapshotChanged(changedTypes: ReadonlySet<string>): void;
}

export interface SnapshotCacheOptions {
  readonly store: ResourceStore;
  readonly logger?: Logger;
  /** Quiet time after the last change before publishing (default 100 ms; 0 publishes synchronously). */
  readonly debounceMs?: number;
  /** Upper bound on how long a change may wait while changes keep coming (default 1000 ms). */
  readonly maxDelayMs?: number;
  /** Most listeners notified between two yields to the event loop (default: no bound). */
  readonly fanOutChunk?: number;
  /**
   * Time spent notifying listeners before yielding to the event loop (default 50 ms; checked
   * every few listeners, so a slice may run a little over).
   */
  readonly fanOutSliceMs?: number;
  /**
   * Set to each store revision the cache applies (default: `ferry_store_revision` in the process
   * registry).
   */
  readonly revisionGauge?: MetricChild;
  /**
   * Rewrites resources as they are served (health rules, ../health/health-overlay.ts):
   * `observe` sees every store mutation, including types that are not served, and names the
   * (group, type URL) snapshots that must be rebuilt; `transform` maps a stored resource of one
   * of `typeUrls` to its served form. Must be deterministic in the store's content (equal
   * versions on every replica).
   */
  readonly overlay?: SnapshotOverlay;
  /** Traces publishes (`snapshot.build`, a child of the apply) when set (tracing on). */
  readonly tracer?: Tracer;
}

export interface SnapshotOverlay {
  readonly typeUrls: ReadonlySet<string>;
  observe(m: Mutation): ReadonlyArray<readonly [group: string, typeUrl: string]>;
  transform(
    group: string,
    typeUrl: string,
    resource: { name: string; version: string; value: Buffer },
  ): { name: string; version: string; value: Buffer };
}

/** One publish's notifications still to be delivered, in order. */
interface FanOutRound {
  readonly queue: Array<readonly [GroupListener, ReadonlySet<string>]>;
  next: number;
}

const EMPTY_VERSION = combinedVersion([]);
const DEFAULT_FAN_OUT_SLICE_MS = 50;
/** Listeners notified between two looks at the clock within a slice. */
const CLOCK_EVERY = 16;
/** gRPC's default maximum receive message size. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const KNOWN_TYPES = new Set(XDS_RESOURCE_TYPES.map((t) => t.typeUrl));

function emptySnapshot(typeUrl: string): TypeSnapshot {
  return { typeUrl, version: EMPTY_VERSION, resources: new Map(), all: [], removed: new Map() };
}

export class SnapshotCache {
  private readonly store: ResourceStore;
  private readonly logger: Logger | undefined;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;
  /** group → type → name → resource: the store's latest state, not yet necessarily published. */
  private readonly working = new Map<string, Map<string, Map<string, CachedResource>>>();
  /** group → type → published snapshot. */
  private readonly published = new Map<string, Map<string, TypeSnapshot>>();
  /** group → types changed since the last publish. */
  private readonly dirty = new Map<string, Set<string>>();
  private readonly listeners = new Map<string, Set<GroupListener>>();
  private watch: Watch | undefined;
  private started: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private firstPendingAt = 0;
  private closed = false;
  private readonly fanOutChunk: number;
  private readonly fanOutSliceMs: number;
  private readonly revisionGauge: MetricChild;
  /** The last store revision applied to `working` (0 before the first). */
  private appliedRevision = 0;
  private readonly overlay: SnapshotOverlay | undefined;
  private readonly tracing: SnapshotTracing | undefined;
  private round: FanOutRound | undefined;
  /**
   * The listeners of the current round not notified yet (by the drain loop or by catchUp), with
   * what changed for them; empty between rounds. One map for the cache's life, not one per
   * round: catchUp runs on every request of every stream, and V8 optimizes it, inlined in the
   * streams' request handling, after the connect phase saw `round` hold nothing but undefined;
   * the first publish storing a round then threw that code away, so the first push after a start
   * handled every stream's requests unoptimized. A field that never changes is read instead.
   */
  private readonly pending = new Map<GroupListener, ReadonlySet<string>>();
  /** Changes arrived (and their debounce expired) while a round was still being delivered. */
  private publishAfterRound = false;
  /**
   * Active rollouts' candidates (docs/architecture.md, "Progressive rollouts"): group → layer as
   * the store has it (`layersWorking`), and as published with the snapshots (`layers`), so that
   * a stream's choice of stable or candidate always matches published snapshots.
   */
  private readonly layersWorking = new Map<string, CandidateLayer>();
  private readonly layers = new Map<
    string,
    { layer: CandidateLayer; snapshots: Map<string, TypeSnapshot> }
  >();
  /**
   * The updated nodes of a rollout that just ended, until the group's next publish: they get the
   * stable snapshots with what only the candidate had in `removed`, so that going back to stable
   * is make-before-break too (a cluster only the candidate added goes after the routes to it).
   */
  private readonly retired = new Map<
    string,
    { members: ReadonlySet<string>; snapshots: Map<string, TypeSnapshot> }
  >();
  /** group → types whose listeners must be told even if no snapshot version changed. */
  private readonly forced = new Map<string, Set<string>>();
  /** True once start() has published the store's state (the first publish is start()'s). */
  private loaded = false;

  constructor(options: SnapshotCacheOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.debounceMs = options.debounceMs ?? 100;
    this.maxDelayMs = Math.max(options.maxDelayMs ?? 1000, this.debounceMs);
    this.fanOutChunk = Math.max(1, options.fanOutChunk ?? Infinity);
    this.fanOutSliceMs = Math.max(0, options.fanOutSliceMs ?? DEFAULT_FAN_OUT_SLICE_MS);
    this.revisionGauge = options.revisionGauge ?? xdsMetrics().storeRevision;
    this.overlay = options.overlay;
    this.tracing = options.tracer ? new SnapshotTracing(options.tracer) : undefined;
  }

  /**
   * Loads the store's current state and follows its changes. Resolves once everything up to the
   * store's current revision is published, so that no proxy is ever answered from a half-loaded
   * cache (an empty LDS answer would remove every listener). Idempotent.
   */
  start(): Promise<void> {
    this.started ??= this.load();
    return this.started;
  }

  private async load(): Promise<void> {
    const target = await this.store.currentRevision();
    if (this.closed) return;
    await new Promise<void>((caughtUp) => {
      this.watch = followStore(
        this.store,
        target,
        (event, catchingUp) => {
          // A stored trace context joins live revisions only: catching up replays history.
          this.applyEvent(event, catchingUp ? undefined : event.traceparent);
          if (!catchingUp) this.schedule();
        },
        () => {
          this.loaded = true;
          this.publish();
          caughtUp();
        },
      );
    });
  }

  /**
   * The overlay's inputs that are not store revisions changed (the health reports, leased
   * records): rebuilds the named (group, type URL) snapshots with the next publish. Before start()
   * has caught up they are only marked, and its first publish includes them.
   */
  overlayChanged(rebuild: ReadonlyArray<readonly [group: string, typeUrl: string]>): void {
    if (this.closed || rebuild.length === 0) return;
    for (const [group, typeUrl] of rebuild) this.markDirty(group, typeUrl);
    if (this.loaded) this.schedule();
  }

  /** The published snapshot of one type in one group (empty when the group has none). */
  snapshot(group: string, typeUrl: string): TypeSnapshot {
    return this.published.get(group)?.get(typeUrl) ?? emptySnapshot(typeUrl);
  }

  /**
   * The snapshot a given proxy is served: its group's candidate when an active rollout of the
   * group updated this node and changes this type, else the group's stable snapshot.
   */
  snapshotFor(
    target: { readonly group: string; readonly node: { readonly id: string } },
    typeUrl: string,
  ): TypeSnapshot {
    const published = this.layers.get(target.group);
    if (published?.layer.members.has(target.node.id)) {
      const candidate = published.snapshots.get(typeUrl);
      if (candidate) return candidate;
    }
    const retired = this.retired.get(target.group);
    if (retired?.members.has(target.node.id)) {
      const back = retired.snapshots.get(typeUrl);
      if (back) return back;
    }
    return this.snapshot(target.group, typeUrl);
  }

  /** The published candidate layer of a group's active rollout, if any. */
  candidate(group: string): CandidateLayer | undefined {
    return this.layers.get(group)?.layer;
  }

  /** Groups that currently have at least one resource. */
  groups(): string[] {
    return [...this.published.keys()];
  }

  /**
   * Registers a listener for one group's changes, until `unwatchGroup` with the same pair (no
   * stop function: a stream would hold one per connected proxy).
   */
  watchGroup(group: string, listener: GroupListener): void {
    let set = this.listeners.get(group);
    if (!set) this.listeners.set(group, (set = new Set()));
    set.add(listener);
  }

  /** Removes a listener `watchGroup` registered, with its notification still queued if any. */
  unwatchGroup(group: string, listener: GroupListener): void {
    const current = this.listeners.get(group);
    if (!current) return;
    current.delete(listener);
    if (current.size === 0) this.listeners.delete(group);
    this.pending.delete(listener);
  }

  /**
   * Delivers `listener`'s queued notification now, if the current fan-out round has not reached
   * it yet. Streams call this before handling a request, so that everything they send follows
   * the order of published snapshots.
   */
  catchUp(listener: GroupListener): void {
    const changed = this.pending.get(listener);
    if (changed === undefined) return;
    this.pending.delete(listener);
    this.notify(listener, changed);
  }

  /**
   * Stops following the store and drops pending changes; idempotent. Does not close the store.
   * A change still in its debounce window is not published on the way out: the xDS streams are
   * closed first, so nobody would receive it, and the store has it: the next start, or another
   * replica, serves it.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.round = undefined;
    this.pending.clear();
  }

  private applyEvent(event: ChangeEvent, traceparent: string | undefined): void {
    this.revisionGauge.set(event.revision);
    this.appliedRevision = event.revision;
    for (const m of event.changes) {
      if (this.overlay) {
        for (const [group, typeUrl] of this.overlay.observe(m)) this.markDirty(group, typeUrl);
      }
      if (m.typeUrl === ROLLOUT_TYPE) {
        this.tracing?.noteChange(m.group, traceparent);
        this.applyRollout(m);
        continue;
      }
      if (!KNOWN_TYPES.has(m.typeUrl)) continue;
      this.tracing?.noteChange(m.group, traceparent);
      let byType = this.working.get(m.group);
      if (!byType)
        this.working.set(m.group, (byType = new Map<string, Map<string, CachedResource>>()));
      let byName = byType.get(m.typeUrl);
      if (!byName) byType.set(m.typeUrl, (byName = new Map<string, CachedResource>()));
      if (m.op === 'put') {
        // A view on the stored bytes, not a copy: the store never mutates a stored value.
        const value = Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength);
        byName.set(m.name, {
          name: m.name,
          version: m.version,
          resource: { type_url: m.typeUrl, value },
        });
      } else {
        byName.delete(m.name);
      }
      this.markDirty(m.group, m.typeUrl);
    }
  }

  /**
   * A rollout record changed: the group's candidate layer follows it. Every type the old or the
   * new candidate changes is rebuilt, and its listeners are told even when no snapshot version
   * changed, since membership may have (streams re-pick stable or candidate and send only what
   * differs from what they sent).
   */
  private applyRollout(m: Mutation): void {
    const before = this.layersWorking.get(m.group);
    let after: CandidateLayer | undefined;
    if (m.op === 'put') {
      try {
        after = decodeLayer(m.value).layer;
      } catch (err) {
        this.logger?.error(
          { err, group: m.group, rollout: m.name },
          'rollout record not readable: its candidate is not served',
        );
      }
      // Another (stopped) record does not end the active one.
      if (!after && before && before.rollout !== m.name) return;
    } else if (before?.rollout !== m.name) {
      return;
    }
    if (after) this.layersWorking.set(m.group, after);
    else this.layersWorking.delete(m.group);
    let forced = this.forced.get(m.group);
    if (!forced) this.forced.set(m.group, (forced = new Set()));
    for (const layer of [before, after]) {
      if (!layer) continue;
      for (const typeUrl of layer.overrides.keys()) {
        forced.add(typeUrl);
        this.markDirty(m.group, typeUrl);
      }
    }
  }

  private markDirty(group: string, typeUrl: string): void {
    let dirtyTypes = this.dirty.get(group);
    if (!dirtyTypes) this.dirty.set(group, (dirtyTypes = new Set()));
    dirtyTypes.add(typeUrl);
  }

  private schedule(): void {
    if (this.closed || this.dirty.size === 0) return;
    if (this.debounceMs === 0) {
      this.publish();
      return;
    }
    const now = Date.now();
    if (!this.timer) this.firstPendingAt = now;
    else clearTimeout(this.timer);
    const delay = Math.max(
      0,
      Math.min(this.debounceMs, this.firstPendingAt + this.maxDelayMs - now),
    );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.publish();
    }, delay);
  }

  private publish(): void {
    if (this.closed) return;
    if (this.round) {
      this.publishAfterRound = true;
      return;
    }
    const dirty = [...this.dirty];
    this.dirty.clear();
    const queue: Array<readonly [GroupListener, ReadonlySet<string>]> = [];
    for (const [group, types] of dirty) {
      const buildStartedAt = this.tracing?.now();
      const changed = new Set<string>();
      let byType = this.published.get(group);
      if (!byType) this.published.set(group, (byType = new Map<string, TypeSnapshot>()));
      for (const typeUrl of types) {
        const previous = byType.get(typeUrl) ?? emptySnapshot(typeUrl);
        const next = this.build(group, typeUrl, this.working.get(group)?.get(typeUrl), previous);
        // A put undone within the debounce window changes nothing on the wire.
        if (next.version === previous.version) continue;
        byType.set(typeUrl, next);
        changed.add(typeUrl);
        this.warnIfTooLarge(group, next);
      }
      this.publishCandidate(group, types, byType, changed);
      if (this.tracing && buildStartedAt !== undefined) {
        const origin = this.tracing.built(group, changed, buildStartedAt, this.appliedRevision);
        for (const typeUrl of changed) {
          const published = byType.get(typeUrl);
          if (origin && published) byType.set(typeUrl, { ...published, origin });
        }
      }
      if (changed.size === 0) continue;
      this.logger?.debug({ group, types: [...changed] }, 'snapshot published');
      const listeners = this.listeners.get(group);
      if (!listeners) continue;
      for (const listener of listeners) queue.push([listener, changed]);
    }
    if (queue.length === 0) return;
    for (const [listener, changed] of queue) this.pending.set(listener, changed);
    this.round = { queue, next: 0 };
    // The first chunk goes out now, so a small fleet is served within the publish call.
    this.drain(this.round);
  }

  /**
   * Publishes `group`'s candidate layer with its stable snapshots: rebuilds the candidate of
   * every dirty type the layer changes, and adds to `changed` the types whose candidate changed
   * or whose membership may have.
   */
  private publishCandidate(
    group: string,
    types: ReadonlySet<string>,
    stable: ReadonlyMap<string, TypeSnapshot>,
    changed: Set<string>,
  ): void {
    const forced = this.forced.get(group);
    this.forced.delete(group);
    if (forced) for (const t of forced) changed.add(t);
    const layer = this.layersWorking.get(group);
    const previous = this.layers.get(group);
    this.retired.delete(group);
    if (!layer) {
      this.layers.delete(group);
      if (previous) this.retire(previous.layer.members, previous.snapshots, stable, group);
      return;
    }
    const snapshots = new Map<string, TypeSnapshot>();
    for (const [typeUrl, overrides] of layer.overrides) {
      const before =
        previous?.layer.rollout === layer.rollout ? previous.snapshots.get(typeUrl) : undefined;
      if (before && !types.has(typeUrl) && previous?.layer.overrides === layer.overrides) {
        snapshots.set(typeUrl, before);
        continue;
      }
      const next = candidateSnapshot(
        stable.get(typeUrl) ?? emptySnapshot(typeUrl),
        overrides,
        before,
        (r) => this.served(group, typeUrl, r),
      );
      if (next !== before) changed.add(typeUrl);
      snapshots.set(typeUrl, next);
    }
    this.layers.set(group, { layer, snapshots });
  }

  private retire(
    members: ReadonlySet<string>,
    candidates: ReadonlyMap<string, TypeSnapshot>,
    stable: ReadonlyMap<string, TypeSnapshot>,
    group: string,
  ): void {
    const snapshots = new Map<string, TypeSnapshot>();
    for (const [typeUrl, candidate] of candidates) {
      const back = stable.get(typeUrl) ?? emptySnapshot(typeUrl);
      const removed = new Map(back.removed);
      for (const [name, r] of candidate.resources)
        if (!back.resources.has(name)) removed.set(name, r);
      if (removed.size > back.removed.size) snapshots.set(typeUrl, { ...back, removed });
    }
    if (snapshots.size > 0) this.retired.set(group, { members, snapshots });
  }

  /** A resource as served: through the overlay when it rewrites its type. */
  private served(group: string, typeUrl: string, r: CachedResource): CachedResource {
    if (!this.overlay?.typeUrls.has(typeUrl)) return r;
    const out = this.overlay.transform(group, typeUrl, {
      name: r.name,
      version: r.version,
      value: r.resource.value,
    });
    if (out.version === r.version) return r;
    return {
      name: r.name,
      version: out.version,
      resource: { type_url: typeUrl, value: out.value },
    };
  }

  /** Notifies the listeners of `round` for one slice, then yields and continues. */
  private drain(round: FanOutRound): void {
    if (this.round !== round) return;
    this.notifySlice(round);
    if (round.next < round.queue.length) {
      setImmediate(() => this.drain(round));
      return;
    }
    this.round = undefined;
    if (this.publishAfterRound) {
      this.publishAfterRound = false;
      this.publish();
    }
  }

  /**
   * One slice of `round`'s notifications. Nothing follows the loop: V8 optimizes this function
   * while its first loop runs (on-stack replacement), and code after the loop would not have run
   * yet then, so leaving the loop would throw the optimized code away again.
   */
  private notifySlice(round: FanOutRound): void {
    const until = performance.now() + this.fanOutSliceMs;
    let notified = 0;
    while (round.next < round.queue.length && notified < this.fanOutChunk) {
      const [listener, changed] = round.queue[round.next++]!;
      if (!this.pending.delete(listener)) continue;
      this.notify(listener, changed);
      notified += 1;
      if (notified % CLOCK_EVERY === 0 && performance.now() >= until) break;
    }
  }

  private notify(listener: GroupListener, changed: ReadonlySet<string>): void {
    try {
      listener.snapshotChanged(changed);
    } catch (err) {
      this.logger?.error({ err }, 'snapshot listener failed');
    }
  }

  /**
   * A wildcard SotW response carries the whole type; gRPC clients reject messages over 4 MiB by
   * default, so say so where an operator will look.
   */
  private warnIfTooLarge(group: string, snapshot: TypeSnapshot): void {
    let bytes = 0;
    for (const r of snapshot.all) bytes += r.value.byteLength + r.type_url.length + 8;
    if (bytes > MAX_RESPONSE_BYTES) {
      this.logger?.error(
        { group, typeUrl: snapshot.typeUrl, bytes, limit: MAX_RESPONSE_BYTES },
        'all resources of this type exceed the 4 MiB gRPC message limit: wildcard SotW clients will reject the response; split the group or use delta xDS',
      );
    }
  }

  private build(
    group: string,
    typeUrl: string,
    byName: ReadonlyMap<string, CachedResource> | undefined,
    previous: TypeSnapshot,
  ): TypeSnapshot {
    const resources = new Map(byName ?? []);
    if (this.overlay?.typeUrls.has(typeUrl)) {
      for (const [name, r] of resources) {
        const served = this.overlay.transform(group, typeUrl, {
          name,
          version: r.version,
          value: r.resource.value,
        });
        if (served.version === r.version) continue;
        // The previous snapshot's object when unchanged, so streams see the same Any.
        const before = previous.resources.get(name);
        resources.set(
          name,
          before?.version === served.version
            ? before
            : {
                name,
                version: served.version,
                resource: { type_url: typeUrl, value: served.value },
              },
        );
      }
    }
    const removed = new Map<string, CachedResource>();
    for (const [name, r] of previous.resources) if (!resources.has(name)) removed.set(name, r);
    const version = combinedVersion(
      [...resources.values()].map((r) => [r.name, r.version] as const),
    );
    const all = [...resources.values()].map((r) => r.resource);
    return { typeUrl, version, resources, all, removed };
  }
}
