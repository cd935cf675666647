/**
 * Builders and helpers for store tests (imported by *.test.ts only). Resources here are opaque
 * bytes: the store never decodes them, so the tests need no real Envoy messages.
 */
import type { ChangeEvent, Mutation, ResourceStore, StoreSnapshot } from './store.js';

export const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener';

export interface KeyOptions {
  readonly typeUrl?: string;
  readonly group?: string;
}

/** A put whose version is derived from its content, as the real versions are. */
export function put(name: string, content: string, options: KeyOptions = {}): Mutation {
  return {
    op: 'put',
    typeUrl: options.typeUrl ?? CLUSTER,
    group: options.group ?? 'default',
    name,
    value: new TextEncoder().encode(content),
    version: `v:${content}`,
  };
}

export function del(name: string, options: KeyOptions = {}): Mutation {
  return {
    op: 'delete',
    typeUrl: options.typeUrl ?? CLUSTER,
    group: options.group ?? 'default',
    name,
  };
}

/** One comparable line per resource, sorted: stores need not agree on list order. */
export function describeSnapshot(snapshot: StoreSnapshot): string[] {
  return snapshot.resources
    .map(
      (r) =>
        `${r.typeUrl.split('.').pop()} ${r.group}/${r.name} ${r.version} rev=${r.revision} ` +
        new TextDecoder().decode(r.value),
    )
    .sort();
}

/** One comparable line per mutation, in order. */
export function describeChanges(changes: readonly Mutation[]): string[] {
  return changes.map((m) =>
    m.op === 'put'
      ? `put ${m.group}/${m.name} ${m.version} ${new TextDecoder().decode(m.value)}`
      : `delete ${m.group}/${m.name}`,
  );
}

/** Records a watch's events and lets a test await a revision without timers. */
export class WatchRecorder {
  readonly events: ChangeEvent[] = [];
  private readonly waiters: Array<{ revision: number; resolve: () => void }> = [];
  readonly watch;

  constructor(store: ResourceStore, fromRevision: number) {
    this.watch = store.watch(fromRevision, (event) => {
      this.events.push(event);
      for (const w of [...this.waiters]) {
        if (event.revision >= w.revision) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  }

  get revisions(): number[] {
    return this.events.map((e) => e.revision);
  }

  /** Resolves once an event with at least `revision` has arrived. */
  until(revision: number): Promise<void> {
    if (this.events.some((e) => e.revision >= revision)) return Promise.resolve();
    // Regression (CI, "Promise resolution is still pending but the event loop has already
    // resolved"): the store's data_version poll timer is unref'd, so while a test waits only on
    // it the process may exit; hold the event loop open until the revision arrives.
    const keepAlive = setInterval(() => undefined, 1000);
    return new Promise<void>((resolve) => this.waiters.push({ revision, resolve })).finally(() =>
      clearInterval(keepAlive),
    );
  }
}

/**
 * The crash test's workload (store-sqlite-crash.test.ts and its child process): batch `revision`
 * adds `size` resources named `batch-<revision>-<i>`, deletes those of batch revision-3, and
 * rewrites ten `shared-<i>` resources, so a half-applied batch shows as a wrong state.
 */
export function crashBatch(revision: number, size: number): Mutation[] {
  const padding = 'x'.repeat(1000);
  const batch: Mutation[] = [];
  for (let i = 0; i < size; i++)
    batch.push(put(`batch-${revision}-${i}`, `${revision}/${i} ${padding}`));
  if (revision > 3) for (let i = 0; i < size; i++) batch.push(del(`batch-${revision - 3}-${i}`));
  for (let i = 0; i < 10; i++) batch.push(put(`shared-${i}`, `${i} at ${revision}`));
  return batch;
}

/** The state crashBatch(1..revision) leaves, in describeSnapshot form. */
export function crashStateAt(revision: number, size: number): string[] {
  const expected: string[] = [];
  for (let r = Math.max(1, revision - 2); r <= revision; r++) {
    for (let i = 0; i < size; i++) {
      const content = `${r}/${i} ${'x'.repeat(1000)}`;
      expected.push(`Cluster default/batch-${r}-${i} v:${content} rev=${r} ${content}`);
    }
  }
  if (revision > 0) {
    for (let i = 0; i < 10; i++) {
      expected.push(
        `Cluster default/shared-${i} v:${i} at ${revision} rev=${revision} ${i} at ${revision}`,
      );
    }
  }
  return expected.sort();
}

/** W3C traceparent values, as a traced write records them (ApplyOptions.traceparent). */
export const TRACEPARENT_A = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
export const TRACEPARENT_B = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
