/**
 * Trimming the etcd store's revision log (docs/architecture.md, "How the log is trimmed"). A step
 * folds the oldest revisions after the base into base/, deletes their log entries and change
 * chunks and moves meta/base, all in one transaction guarded by meta/base and meta/trimming, so of
 * two replicas trimming at once one wins each step and the other re-reads. Applies never touch
 * base/ or the entries trimmed (the newest revision and those not yet copied into res/ are
 * never trimmed), so they run alongside.
 *
 * A single revision too big for one transaction is folded in several: meta/trimming names it
 * first (readers then take it as the base and fold its log entry over base/, which is correct
 * however much of it base/ already holds: folding a revision is idempotent), then base/ is
 * written in batches, then its log entry goes and meta/base moves. A trimmer that dies on the
 * way leaves meta/trimming set and the next one finishes.
 */
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import type { Mutation, TrimRequest, TrimResult } from './store.js';
import { keyOf } from './store.js';
import { encodeResource } from './store-etcd-codec.js';
import type { EtcdLayout } from './store-etcd-layout.js';
import type { EtcdReader, Head, LogEntry } from './store-etcd-reader.js';
import { MAX_TXN_BYTES, MAX_TXN_OPS, batches, opsBytes, put } from './store-etcd-txn.js';

export class EtcdTrimmer {
  constructor(
    private readonly client: Etcd3,
    private readonly layout: EtcdLayout,
    private readonly reader: EtcdReader,
  ) {}

  async trim(request: TrimRequest): Promise<TrimResult> {
    let head = await this.reader.readHead();
    if (head.baseComplete < head.base) {
      await this.finish(head);
      head = await this.reader.readHead();
    }
    const start = head.baseComplete;
    // Never the newest revision, nor one whose copy into res/ a writer has not finished.
    const through = Math.min(request.throughRevision, head.revision - 1, head.applied);
    // Each revision takes at least three ops, so no more than this can share one transaction.
    const upTo = Math.min(
      through,
      start + request.maxRevisions,
      start + Math.floor(MAX_TXN_OPS / 3),
    );
    if (upTo <= start) return { base: start, trimmed: 0 };
    const entries = (await this.reader.readLog(start, upTo, head.etcdRevision)).filter(
      (e) =>
        request.recordedBefore === undefined || Date.parse(e.header.time) < request.recordedBefore,
    );
    // Only a run from the base: the first revision too young ends it.
    const run: LogEntry[] = [];
    for (const [i, entry] of entries.entries()) {
      if (entry.revision !== start + i + 1) break;
      run.push(entry);
    }
    if (run.length === 0) return { base: start, trimmed: 0 };
    // As many revisions as fit one transaction (with its guard and the meta/base put).
    let fitting = 0;
    for (let n = 1; n <= run.length; n++) {
      const ops = this.stepOps(run.slice(0, n), run[n - 1]!.revision);
      if (ops.length > MAX_TXN_OPS || opsBytes(ops) > MAX_TXN_BYTES) break;
      fitting = n;
    }
    if (fitting === 0) return this.trimLarge(head, run[0]!);
    const newBase = run[fitting - 1]!.revision;
    const res = await this.client.kv.txn({
      compare: this.guard(start, undefined),
      success: this.stepOps(run.slice(0, fitting), newBase),
    });
    if (!res.succeeded) return { base: (await this.reader.readHead()).base, trimmed: 0 };
    return { base: newBase, trimmed: newBase - start };
  }

  /** One revision in several transactions (see the file comment). */
  private async trimLarge(head: Head, entry: LogEntry): Promise<TrimResult> {
    const start = head.baseComplete;
    const marked = await this.client.kv.txn({
      compare: this.guard(start, undefined),
      success: [put(this.layout.trimmingKey, Buffer.from(String(entry.revision)))],
    });
    if (!marked.succeeded) return { base: (await this.reader.readHead()).base, trimmed: 0 };
    const finished = await this.foldIn(start, entry);
    return { base: finished ? entry.revision : start, trimmed: finished ? 1 : 0 };
  }

  /** Finishes the fold of meta/trimming's revision that another trimmer left. */
  private async finish(head: Head): Promise<void> {
    const [entry] = await this.reader.readLog(head.baseComplete, head.base, head.etcdRevision);
    if (entry) await this.foldIn(head.baseComplete, entry);
  }

  private async foldIn(start: number, entry: LogEntry): Promise<boolean> {
    const guard = this.guard(start, entry.revision);
    for (const batch of batches(this.baseOps([entry]))) {
      const res = await this.client.kv.txn({ compare: guard, success: batch });
      if (!res.succeeded) return false;
    }
    const res = await this.client.kv.txn({
      compare: guard,
      success: [
        ...this.dropOps([entry]),
        put(this.layout.baseRevisionKey, Buffer.from(String(entry.revision))),
        { request_delete_range: { key: this.layout.trimmingKey } },
      ],
    });
    return res.succeeded;
  }

  /** meta/base is `base` and meta/trimming is `trimming` (absent when undefined). */
  private guard(base: number, trimming: number | undefined): ICompare[] {
    return [
      base === 0
        ? { key: this.layout.baseRevisionKey, target: 'Version', result: 'Equal', version: 0 }
        : {
            key: this.layout.baseRevisionKey,
            target: 'Value',
            result: 'Equal',
            value: Buffer.from(String(base)),
          },
      trimming === undefined
        ? { key: this.layout.trimmingKey, target: 'Version', result: 'Equal', version: 0 }
        : {
            key: this.layout.trimmingKey,
            target: 'Value',
            result: 'Equal',
            value: Buffer.from(String(trimming)),
          },
    ];
  }

  private stepOps(entries: readonly LogEntry[], newBase: number): IRequestOp[] {
    return [
      ...this.baseOps(entries),
      ...this.dropOps(entries),
      put(this.layout.baseRevisionKey, Buffer.from(String(newBase))),
    ];
  }

  /** base/ writes for `entries` in order, one per key (etcd refuses a key twice in one txn). */
  private baseOps(entries: readonly LogEntry[]): IRequestOp[] {
    const last = new Map<string, { change: Mutation; revision: number }>();
    for (const entry of entries) {
      for (const change of entry.changes) {
        last.set(keyOf(change), { change, revision: entry.revision });
      }
    }
    return [...last.values()].map(({ change, revision }) =>
      change.op === 'put'
        ? put(
            this.layout.baseKey(change),
            encodeResource({ version: change.version, revision, value: change.value }),
          )
        : { request_delete_range: { key: this.layout.baseKey(change) } },
    );
  }

  private dropOps(entries: readonly LogEntry[]): IRequestOp[] {
    return entries.flatMap((e): IRequestOp[] => {
      const chunks = this.layout.chunkRange(e.header.stage);
      return [
        { request_delete_range: { key: this.layout.logKey(e.revision) } },
        { request_delete_range: { key: chunks.key, range_end: chunks.rangeEnd } },
      ];
    });
  }
}
