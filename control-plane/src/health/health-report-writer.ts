/**
 * Stores each connected proxy's view of the quorum clusters (quorum.ts) as a NodeHealthReport, so
 * that every control-plane replica decides the quorum rule from the same data.
 *
 * Writes are few: a node's report is stored only when its view of a quorum cluster changes (HDS
 * reports repeat every interval; an unchanged one writes nothing), and changes arriving within
 * `flushDelayMs` go to the store as one apply (one revision, one history entry).
 *
 * Ownership: the replica holding a node's HDS stream writes its report and records its own id in
 * it. When the stream ends the report is deleted, unless another replica has written it since (the
 * node reconnected elsewhere). A replica that died leaves its nodes' reports; they are replaced as
 * those nodes reconnect to another replica, and when the replica starts again under the same
 * `--replica-id` it deletes, after `staleAfterMs`, those of its reports no node has refreshed.
 */
import type { Logger } from '@ferry/shared';
import type { Mutation, ResourceStore } from '../store/store.js';
import type { ClusterHealthReport } from './health-aggregate.js';
import {
  NODE_HEALTH_REPORT_TYPE,
  decodeNodeHealthReport,
  encodeNodeHealthReport,
  reportName,
  type NodeHealthReportJson,
} from './quorum.js';
import type { HealthOverlay } from './health-overlay.js';

export interface HealthReportWriterOptions {
  readonly store: ResourceStore;
  readonly overlay: HealthOverlay;
  /** This replica's id, stable across restarts (`--replica-id`). */
  readonly replica: string;
  readonly logger?: Logger;
  /** Coalescing window for store writes (default 200 ms). */
  readonly flushDelayMs?: number;
  /** Delay before deleting this replica's unrefreshed reports after a restart (default 60 s). */
  readonly staleAfterMs?: number;
}

export class HealthReportWriter {
  readonly #store: ResourceStore;
  readonly #overlay: HealthOverlay;
  readonly #replica: string;
  readonly #logger: Logger | undefined;
  readonly #flushDelayMs: number;
  readonly #staleAfterMs: number;
  /** node id → (group, version) of the report this replica last stored for it. */
  readonly #written = new Map<string, { group: string; version: string }>();
  /** node id → mutation waiting for the next flush (the latest one wins). */
  readonly #pending = new Map<string, Mutation>();
  /** Nodes that reported to this replica since it started (their reports are not stale). */
  readonly #seen = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #staleTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: HealthReportWriterOptions) {
    this.#store = options.store;
    this.#overlay = options.overlay;
    this.#replica = options.replica;
    this.#logger = options.logger;
    this.#flushDelayMs = options.flushDelayMs ?? 200;
    this.#staleAfterMs = options.staleAfterMs ?? 60_000;
  }

  /** Schedules the clean-up of reports a previous run of this replica left behind. */
  start(): void {
    if (this.#closed || this.#staleTimer) return;
    this.#staleTimer = setTimeout(() => {
      this.#staleTimer = undefined;
      this.#removeStale().catch((err: unknown) =>
        this.#logger?.warn({ err }, 'health quorum: could not remove stale node reports'),
      );
    }, this.#staleAfterMs);
    this.#staleTimer.unref();
  }

  /** A node's complete HDS report (HealthAggregate's `onReport`). */
  report(nodeId: string, group: string, clusters: readonly ClusterHealthReport[]): void {
    if (this.#closed) return;
    this.#seen.add(nodeId);
    const views: NodeHealthReportJson['clusters'] = [];
    for (const c of clusters) {
      if (!this.#overlay.setting(group, c.cluster)) continue;
      const checked = [...c.endpoints.keys()].sort();
      const unhealthy = checked.filter((a) => c.endpoints.get(a) === 'UNHEALTHY');
      views.push({ cluster: c.cluster, checked, unhealthy });
    }
    views.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
    const written = this.#written.get(nodeId);
    if (views.length === 0) {
      if (written) this.#queueDelete(nodeId, written.group);
      return;
    }
    const { value, version } = encodeNodeHealthReport({
      node_id: nodeId,
      group,
      replica: this.#replica,
      clusters: views,
    });
    // Already stored, or queued (`#written` is set when queued): nothing new.
    if (written?.version === version && written.group === group) return;
    if (written && written.group !== group) this.#queueDelete(nodeId, written.group);
    this.#written.set(nodeId, { group, version });
    this.#pending.set(nodeId, {
      op: 'put',
      typeUrl: NODE_HEALTH_REPORT_TYPE,
      group,
      name: reportName(nodeId),
      value,
      version,
    });
    this.#schedule();
  }

  /** The node's HDS stream ended (HealthAggregate's `onForget`). */
  forget(nodeId: string): void {
    if (this.#closed) return;
    const written = this.#written.get(nodeId);
    if (written) this.#queueDelete(nodeId, written.group);
  }

  /** Writes what is pending and stops; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#flushing;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#staleTimer);
    this.#timer = undefined;
    this.#staleTimer = undefined;
    this.#flushing = this.#flushing.then(() => this.#flush());
    return this.#flushing;
  }

  /** Resolves once everything queued so far is in the store (tests). */
  flushed(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushing = this.#flushing.then(() => this.#flush());
    return this.#flushing;
  }

  #queueDelete(nodeId: string, group: string): void {
    this.#written.delete(nodeId);
    this.#pending.set(nodeId, {
      op: 'delete',
      typeUrl: NODE_HEALTH_REPORT_TYPE,
      group,
      name: reportName(nodeId),
    });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }, this.#flushDelayMs);
  }

  async #flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    const mutations: Mutation[] = [];
    for (const [, m] of batch) {
      if (m.op === 'delete' && !(await this.#ownedByMe(m.group, m.name))) continue;
      mutations.push(m);
    }
    if (mutations.length === 0) return;
    try {
      await this.#store.apply(mutations, {
        message: `health reports for the quorum rule (replica ${this.#replica})`,
      });
    } catch (err) {
      this.#logger?.warn(
        { err, reports: mutations.length },
        'health quorum: could not store node health reports; retrying with the next change',
      );
      // Put back what nothing newer replaced; written versions are forgotten so the next report
      // of those nodes is written again.
      for (const [nodeId, m] of batch) {
        if (!this.#pending.has(nodeId)) this.#pending.set(nodeId, m);
        if (m.op === 'put') this.#written.delete(nodeId);
      }
      this.#schedule();
    }
  }

  async #ownedByMe(group: string, name: string): Promise<boolean> {
    const found = await this.#store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE, group, name });
    const stored = found.resources[0];
    return stored !== undefined && decodeNodeHealthReport(stored.value).replica === this.#replica;
  }

  async #removeStale(): Promise<void> {
    const found = await this.#store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE });
    const mutations: Mutation[] = [];
    for (const r of found.resources) {
      const report = decodeNodeHealthReport(r.value);
      if (report.replica !== this.#replica || this.#seen.has(report.node_id)) continue;
      mutations.push({ op: 'delete', typeUrl: r.typeUrl, group: r.group, name: r.name });
    }
    if (mutations.length === 0 || this.#closed) return;
    await this.#store.apply(mutations, {
      message: `stale health reports of replica ${this.#replica} removed`,
    });
    this.#logger?.info({ reports: mutations.length }, 'health quorum: removed stale node reports');
  }
}
