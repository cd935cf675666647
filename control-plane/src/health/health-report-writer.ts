/**
 * Stores each connected proxy's view of the quorum clusters (quorum.ts) as a NodeHealthReport in a
 * leased record (namespace HEALTH_REPORTS_NAMESPACE, key = node id, holder = this replica), so that
 * every control-plane replica decides the quorum rule from the same data without the reports
 * becoming revisions: operators' history shows their applies only.
 *
 * Writes are few: a node's report is stored only when its view of a quorum cluster changes (HDS
 * reports repeat every interval; an unchanged one writes nothing), and changes arriving within
 * `flushDelayMs` are written together.
 *
 * Ownership: the replica holding a node's HDS stream writes its report and holds its record. When
 * the stream ends the record is deleted, unless another replica has written it since (the node
 * reconnected elsewhere: the record is then that replica's, and the store's owner-only delete
 * leaves it). A replica that dies stops renewing its records, and they expire `ttlMs` later; a node
 * that reconnects to another replica is written again by it at once.
 */
import type { Logger } from '@ferry/shared';
import type { ResourceStore } from '../store/store.js';
import type { ClusterHealthReport } from './health-aggregate.js';
import {
  HEALTH_REPORTS_NAMESPACE,
  NODE_HEALTH_REPORT_TYPE,
  encodeNodeHealthReport,
  type NodeHealthReportJson,
} from './quorum.js';
import type { HealthOverlay } from './health-overlay.js';

export interface HealthReportWriterOptions {
  readonly store: ResourceStore;
  readonly overlay: HealthOverlay;
  /** This replica's id (`--replica-id`): the holder of its reports. */
  readonly replica: string;
  readonly logger?: Logger;
  /** Coalescing window for store writes (default 200 ms). */
  readonly flushDelayMs?: number;
  /** How long a dead replica's reports outlive it (default 30 s). */
  readonly ttlMs?: number;
}

type Pending = { readonly op: 'put'; readonly value: Uint8Array } | { readonly op: 'delete' };

export class HealthReportWriter {
  readonly #store: ResourceStore;
  readonly #overlay: HealthOverlay;
  readonly #replica: string;
  readonly #logger: Logger | undefined;
  readonly #flushDelayMs: number;
  readonly #ttlMs: number;
  /** node id → version of the report this replica last stored (or queued) for it. */
  readonly #written = new Map<string, string>();
  /** node id → write waiting for the next flush (the latest one wins). */
  readonly #pending = new Map<string, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: HealthReportWriterOptions) {
    this.#store = options.store;
    this.#overlay = options.overlay;
    this.#replica = options.replica;
    this.#logger = options.logger;
    this.#flushDelayMs = options.flushDelayMs ?? 200;
    this.#ttlMs = options.ttlMs ?? 30_000;
  }

  /**
   * Removes the NodeHealthReport resources that versions before leased records wrote, in one
   * revision whose message says why. Harmless when several replicas do it at once (the later
   * ones find nothing to delete and create no revision); replicas of the older version that are
   * still running until a rolling upgrade completes may write some again, which the next start
   * removes and the quorum rule ignores meanwhile.
   */
  async removeLegacyReports(): Promise<void> {
    const found = await this.#store.list({ typeUrl: NODE_HEALTH_REPORT_TYPE });
    if (found.resources.length === 0 || this.#closed) return;
    await this.#store.apply(
      found.resources.map((r) => ({
        op: 'delete' as const,
        typeUrl: r.typeUrl,
        group: r.group,
        name: r.name,
      })),
      {
        message:
          'health reports of the quorum rule moved out of the revision history (now leased records): old report resources removed',
      },
    );
    this.#logger?.info(
      { reports: found.resources.length },
      'health quorum: removed report resources written by an older version',
    );
  }

  /** A node's complete HDS report (HealthAggregate's `onReport`). */
  report(nodeId: string, group: string, clusters: readonly ClusterHealthReport[]): void {
    if (this.#closed) return;
    const views: NodeHealthReportJson['clusters'] = [];
    for (const c of clusters) {
      if (!this.#overlay.setting(group, c.cluster)) continue;
      const checked = [...c.endpoints.keys()].sort();
      const unhealthy = checked.filter((a) => c.endpoints.get(a) === 'UNHEALTHY');
      views.push({ cluster: c.cluster, checked, unhealthy });
    }
    views.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
    if (views.length === 0) {
      this.forget(nodeId);
      return;
    }
    // The group is part of the report, so a node that changes group writes a new version.
    const { value, version } = encodeNodeHealthReport({
      node_id: nodeId,
      group,
      replica: this.#replica,
      clusters: views,
    });
    // Already stored, or queued: nothing new.
    if (this.#written.get(nodeId) === version) return;
    this.#written.set(nodeId, version);
    this.#pending.set(nodeId, { op: 'put', value });
    this.#schedule();
  }

  /** The node's HDS stream ended (HealthAggregate's `onForget`). */
  forget(nodeId: string): void {
    if (this.#closed || !this.#written.delete(nodeId)) return;
    this.#pending.set(nodeId, { op: 'delete' });
    this.#schedule();
  }

  /** Writes what is pending and stops; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#flushing;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
    const results = await Promise.allSettled(
      batch.map(([nodeId, write]) =>
        write.op === 'put'
          ? this.#store.putLeased(
              HEALTH_REPORTS_NAMESPACE,
              nodeId,
              this.#replica,
              write.value,
              this.#ttlMs,
            )
          : // Owner-only: a node that reconnected to another replica keeps that replica's report.
            this.#store.deleteLeased(HEALTH_REPORTS_NAMESPACE, nodeId, this.#replica),
      ),
    );
    const failed = batch.filter((_, i) => results[i]!.status === 'rejected');
    if (failed.length === 0) return;
    this.#logger?.warn(
      { err: (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason },
      'health quorum: could not store node health reports; retrying',
    );
    // Put back what nothing newer replaced, and retry.
    for (const [nodeId, write] of failed) {
      if (!this.#pending.has(nodeId)) this.#pending.set(nodeId, write);
    }
    this.#schedule();
  }
}
