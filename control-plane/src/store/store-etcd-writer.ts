/**
 * The etcd store's write path (docs/architecture.md, "The store on etcd"): one transaction guarded
 * by the counter's mod_revision when the batch fits, else chunks first, a small commit, then the
 * copy into res/ guarded by meta/applied; and finishing copies that another writer left.
 */
import { randomUUID } from 'node:crypto';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { FerryError } from '@ferry/shared';
import type { ApplyOptions, Mutation } from './store.js';
import {
  decodeLogHeader,
  encodeChangeChunks,
  encodeLogHeader,
  encodeResource,
  type LogHeader,
} from './store-etcd-codec.js';
import type { EtcdLayout } from './store-etcd-layout.js';
import type { EtcdReader, Head } from './store-etcd-reader.js';
import { MAX_TXN_BYTES, MAX_TXN_OPS, batches, opsBytes, put } from './store-etcd-txn.js';

const CHUNK_BYTES = 512 * 1024;

export class EtcdWriter {
  /** `onBackgroundError` gets failures after a commit (the copy into res/), which the next writer repairs. */
  constructor(
    private readonly client: Etcd3,
    private readonly layout: EtcdLayout,
    private readonly reader: EtcdReader,
    private readonly where: string,
    private readonly onBackgroundError: (err: unknown) => void,
  ) {}

  /**
   * Commits `changes` as `revision` unless another writer moved the counter since `head`.
   * Returns false when it did (the caller re-reads and tries again).
   */
  async commit(
    head: Head,
    revision: number,
    changes: readonly Mutation[],
    options: ApplyOptions,
  ): Promise<boolean> {
    // Unique per attempt: names this attempt's chunks and tells, after a lost reply, whether the
    // log entry at `revision` is ours.
    const stage = randomUUID();
    const chunks = encodeChangeChunks(changes, CHUNK_BYTES);
    const header: LogHeader = {
      time: new Date().toISOString(),
      message: options.message ?? '',
      actor: options.actor ?? '',
      ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
      stage,
      chunks: chunks.length,
    };
    const commitOps: IRequestOp[] = [
      put(this.layout.revisionKey, Buffer.from(String(revision))),
      put(this.layout.logKey(revision), encodeLogHeader(header)),
    ];
    const chunkOps = chunks.map((c, i) => put(this.layout.chunkKey(stage, i), c));
    const resourceOps = this.resourceOps(revision, changes);
    const whole = [
      ...commitOps,
      put(this.layout.appliedKey, Buffer.from(String(revision))),
      ...chunkOps,
      ...resourceOps,
    ];
    if (whole.length <= MAX_TXN_OPS && opsBytes(whole) <= MAX_TXN_BYTES) {
      return this.commitTxn(head, revision, stage, whole);
    }
    // Too big for one transaction: the chunks first (invisible until a log entry names them),
    // then the small commit, then the copy into res/.
    for (const batch of batches(chunkOps)) await this.client.kv.txn({ success: batch });
    if (!(await this.commitTxn(head, revision, stage, commitOps))) {
      await this.deleteChunks(stage);
      return false;
    }
    try {
      await this.copyIntoResources(revision, changes);
    } catch (err) {
      // Committed and durable: readers fold the log until the next writer finishes the copy.
      this.onBackgroundError(err);
    }
    return true;
  }

  private async commitTxn(
    head: Head,
    revision: number,
    stage: string,
    ops: IRequestOp[],
  ): Promise<boolean> {
    const compare: ICompare[] = [
      {
        key: this.layout.revisionKey,
        target: 'Mod',
        result: 'Equal',
        mod_revision: head.modRevision,
      },
    ];
    try {
      const res = await this.client.kv.txn({ compare, success: ops });
      if (res.succeeded) return true;
    } catch (err) {
      // The reply was lost, not necessarily the commit (a leader change, a retried call whose first
      // try committed): the log entry says which.
      const ours = await this.isOurs(revision, stage).catch(() => undefined);
      if (ours === true) return true;
      if (ours === undefined) {
        throw new FerryError(
          'FERRY_STORE_UNAVAILABLE',
          `${this.where}: the apply's outcome is unknown (${(err as Error).message}); check history before retrying`,
        );
      }
      throw err;
    }
    return this.isOurs(revision, stage);
  }

  private async isOurs(revision: number, stage: string): Promise<boolean> {
    const res = await this.client.kv.range({ key: this.layout.logKey(revision) });
    const kv = res.kvs[0];
    return kv !== undefined && decodeLogHeader(kv.value).stage === stage;
  }

  /**
   * Copies revision `revision`'s changes into res/ and then marks it applied. Every write is
   * guarded by "applied is still revision - 1", so a slow writer can never overwrite res/ with an
   * older revision once another has finished the copy and moved on.
   */
  private async copyIntoResources(revision: number, changes: readonly Mutation[]): Promise<void> {
    const guard = this.appliedIs(revision - 1);
    for (const batch of batches(this.resourceOps(revision, changes))) {
      const res = await this.client.kv.txn({ compare: [guard], success: batch });
      if (!res.succeeded) return;
    }
    await this.client.kv.txn({
      compare: [guard],
      success: [put(this.layout.appliedKey, Buffer.from(String(revision)))],
    });
  }

  /** Finishes the copies of committed revisions that a writer left (crashed, or slow). */
  async finishCopies(head: Head): Promise<void> {
    for (const entry of await this.reader.readLog(head.applied, head.revision)) {
      await this.copyIntoResources(entry.revision, entry.changes);
    }
  }

  private appliedIs(revision: number): ICompare {
    return revision === 0
      ? { key: this.layout.appliedKey, target: 'Version', result: 'Equal', version: 0 }
      : {
          key: this.layout.appliedKey,
          target: 'Value',
          result: 'Equal',
          value: Buffer.from(String(revision)),
        };
  }

  private resourceOps(revision: number, changes: readonly Mutation[]): IRequestOp[] {
    return changes.map((m) =>
      m.op === 'put'
        ? put(
            this.layout.resourceKey(m),
            encodeResource({ version: m.version, revision, value: m.value }),
          )
        : { request_delete_range: { key: this.layout.resourceKey(m) } },
    );
  }

  private async deleteChunks(stage: string): Promise<void> {
    const range = this.layout.chunkRange(stage);
    await this.client.kv
      .deleteRange({ key: range.key, range_end: range.rangeEnd })
      .catch((err: unknown) => this.onBackgroundError(err));
  }
}
