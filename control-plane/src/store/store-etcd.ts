/**
 * A ResourceStore on etcd v3 (docs/architecture.md, "The store", "etcd"), for control planes on
 * several hosts that share one store. Layout: store-etcd-layout.ts; encodings: store-etcd-codec.ts.
 *
 * Ferry keeps its own revision counter and revision log as ordinary keys under the prefix, so
 * history, listAt and watch replay do not depend on etcd's MVCC history, which compaction
 * discards. An apply is one etcd transaction guarded by the counter's mod_revision (raft commits
 * it on a quorum before it is acknowledged). A batch too big for one transaction (etcd's default
 * --max-txn-ops 128, --max-request-bytes 1.5 MiB) first writes its change chunks, then commits
 * with a small transaction (counter + log entry), then copies its changes into res/; readers fold
 * the log entries that res/ does not have yet, and the next writer finishes a copy a crashed writer
 * left, so the batch is visible all at once or not at all.
 */
import { randomUUID } from 'node:crypto';
import { Etcd3, type IKeyValue, type IOptions, type IRequestOp, type ICompare } from 'etcd3';
import { FerryError } from '@ferry/shared';
import type {
  ApplyOptions,
  ApplyResult,
  ChangeEvent,
  HistoryEntry,
  LeaseOutcome,
  ListFilter,
  Mutation,
  ResourceStore,
  StoreSnapshot,
  StoredResource,
  Watch,
} from './store.js';
import { keyOf, matchesFilter } from './store.js';
import {
  decodeChangeChunk,
  decodeLogHeader,
  decodeResource,
  encodeChangeChunks,
  encodeLogHeader,
  encodeResource,
  type LogHeader,
} from './store-etcd-codec.js';
import { EtcdFeed } from './store-etcd-feed.js';
import { EtcdLayout, type KeyRange } from './store-etcd-layout.js';
import { EtcdLeases } from './store-etcd-lease.js';
import { isCompacted, toEtcdStoreError } from './store-etcd-errors.js';
import { noSuchRevision, revisionConflict, storeClosed } from './store-errors.js';
import { netChanges } from './store-net-changes.js';

export interface EtcdTlsOptions {
  /** PEM CA bundle the members' certificates must chain to; default: the system's roots. */
  readonly ca?: Buffer;
  /** PEM client certificate and key, for members started with --client-cert-auth. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface EtcdStoreOptions {
  /** host:port of one or more members of the same cluster. */
  readonly endpoints: readonly string[];
  /** Key prefix all of this store's keys live under ("/ferry" when empty). */
  readonly prefix: string;
  /** TLS to the members; plaintext when absent. */
  readonly tls?: EtcdTlsOptions;
  /** etcd user (etcd's auth enabled); the password never comes from the command line. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of each unary etcd call (default 10000). */
  readonly callTimeoutMs?: number;
  /** Background failures (watch reads, finishing a big batch). Default: a process warning. */
  readonly onBackgroundError?: (err: Error) => void;
}

interface Head {
  /** Ferry's revision. */
  readonly revision: number;
  /** The counter key's etcd mod_revision ('0' while absent): the optimistic lock. */
  readonly modRevision: string;
  /** The newest revision copied into res/. */
  readonly applied: number;
  /** The etcd revision this was read at; later reads pin it for one consistent view. */
  readonly etcdRevision: string;
}

interface LogEntry {
  readonly revision: number;
  readonly header: LogHeader;
  readonly changes: Mutation[];
}

/** etcd's default --max-txn-ops. */
const MAX_TXN_OPS = 128;
/** Below etcd's default --max-request-bytes (1.5 MiB), leaving room for keys and framing. */
const MAX_TXN_BYTES = 1024 * 1024;
const CHUNK_BYTES = 512 * 1024;
/** Keys per range page, so a large group is not one huge response. */
const PAGE_KEYS = 500;
/** Applies retried internally when another writer commits in between (no expectedRevision). */
const MAX_APPLY_ATTEMPTS = 16;
/** Reads pinned to an etcd revision are retried when compaction removes it meanwhile. */
const MAX_READ_ATTEMPTS = 3;

export class EtcdStore implements ResourceStore {
  /** Creates the client; nothing is contacted until the first call (errors arrive there). */
  static open(options: EtcdStoreOptions): EtcdStore {
    if (options.endpoints.length === 0) {
      throw new FerryError('FERRY_BAD_REQUEST', 'etcd store: no endpoints given');
    }
    return new EtcdStore(options);
  }

  private readonly client: Etcd3;
  private readonly layout: EtcdLayout;
  private readonly feed: EtcdFeed;
  private readonly leases: EtcdLeases;
  private readonly where: string;
  private readonly onBackgroundError: (err: Error) => void;
  private counterWatch: { cancel(): Promise<void> } | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private applyQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(options: EtcdStoreOptions) {
    const scheme = options.tls ? 'https' : 'http';
    this.layout = new EtcdLayout(options.prefix);
    this.where = `etcd ${options.endpoints.join(',')} ${this.layout.root}`;
    this.onBackgroundError =
      options.onBackgroundError ??
      ((err) =>
        process.emitWarning(`ferry store ${this.where}: ${err.message}`, 'FerryStoreWarning'));
    const timeoutMs = options.callTimeoutMs ?? 10_000;
    const clientOptions: IOptions = {
      hosts: options.endpoints.map((e) => `${scheme}://${e}`),
      // Responses carry whole groups (values included); gRPC's 4 MiB default is too small.
      grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: new Date(Date.now() + timeoutMs) },
      ...(options.tls && (options.tls.ca || options.tls.cert)
        ? {
            credentials: {
              // grpc-js takes null as "the system's roots".
              rootCertificate: options.tls.ca ?? (null as unknown as Buffer),
              ...(options.tls.key ? { privateKey: options.tls.key } : {}),
              ...(options.tls.cert ? { certChain: options.tls.cert } : {}),
            },
          }
        : {}),
      ...(options.auth ? { auth: { ...options.auth } } : {}),
    };
    this.client = new Etcd3(clientOptions);
    this.leases = new EtcdLeases(this.client, this.layout);
    this.feed = new EtcdFeed(
      {
        latestRevision: async () => (await this.readHead()).revision,
        eventsBetween: async (after, upTo, limit) =>
          (await this.readLog(after, Math.min(upTo, after + limit))).map((e) => ({
            revision: e.revision,
            changes: e.changes,
          })),
      },
      (err) => this.onBackgroundError(this.storeError(err)),
    );
  }

  /**
   * Applies of one store instance run one at a time, in call order (as on the embedded stores):
   * a caller that starts two applies gets them as consecutive revisions in that order. Other
   * control planes' applies interleave through the counter's compare-and-swap.
   */
  apply(mutations: readonly Mutation[], options: ApplyOptions = {}): Promise<ApplyResult> {
    const result = this.applyQueue.then(() => this.applyNow(mutations, options));
    this.applyQueue = result.catch(() => undefined);
    return result;
  }

  private applyNow(mutations: readonly Mutation[], options: ApplyOptions): Promise<ApplyResult> {
    return this.run(async () => {
      // Malformed batches fail before any I/O, the same whether etcd is up or not.
      netChanges(mutations, () => undefined);
      for (let attempt = 0; attempt < MAX_APPLY_ATTEMPTS; attempt++) {
        const head = await this.readHead();
        if (head.applied < head.revision) {
          await this.finishCopies(head);
          continue;
        }
        if (options.expectedRevision !== undefined && options.expectedRevision !== head.revision) {
          throw revisionConflict(head.revision, options.expectedRevision);
        }
        const versions = await this.currentVersions(mutations);
        const changes = netChanges(mutations, (k) => versions.get(keyOf(k)));
        if (changes.length === 0) return { revision: head.revision, changes };
        const revision = head.revision + 1;
        if (await this.commit(head, revision, changes, options)) {
          this.feed.notify();
          await this.feed.delivered(revision);
          return { revision, changes };
        }
      }
      throw new FerryError(
        'FERRY_CONFLICT',
        `${this.where}: other writers committed during each of ${MAX_APPLY_ATTEMPTS} attempts; retry`,
      );
    });
  }

  list(filter?: ListFilter): Promise<StoreSnapshot> {
    return this.run(() =>
      this.pinnedRead(async () => {
        const head = await this.readHead();
        const byKey = new Map<string, StoredResource>();
        for (const kv of await this.rangeAll(
          this.layout.resourceRange(filter),
          head.etcdRevision,
        )) {
          const resource = decodeResource(this.layout.resourceKeyOf(kv.key), kv.value);
          if (matchesFilter(resource, filter)) byKey.set(keyOf(resource), resource);
        }
        // Revisions committed but not yet copied into res/ (a big batch in flight).
        if (head.applied < head.revision) {
          const pending = await this.readLog(head.applied, head.revision, head.etcdRevision);
          for (const entry of pending) fold(byKey, entry, filter);
        }
        return { revision: head.revision, resources: sorted(byKey) };
      }),
    );
  }

  listAt(revision: number, filter?: ListFilter): Promise<StoreSnapshot> {
    return this.run(async () => {
      const head = await this.readHead();
      if (!Number.isSafeInteger(revision) || revision < 0 || revision > head.revision) {
        throw noSuchRevision(revision, head.revision);
      }
      // Committed log entries never change, so pages need not share one etcd revision.
      const byKey = new Map<string, StoredResource>();
      for (let after = 0; after < revision;) {
        const entries = await this.readLog(after, Math.min(revision, after + 256));
        if (entries.length === 0) throw noSuchRevision(revision, head.revision);
        for (const entry of entries) fold(byKey, entry, filter);
        after = entries[entries.length - 1]!.revision;
      }
      return { revision, resources: sorted(byKey) };
    });
  }

  history(limit = 50): Promise<HistoryEntry[]> {
    return this.run(async () => {
      if (!(limit > 0)) return [];
      const range = this.layout.logRange(0, Number.MAX_SAFE_INTEGER - 1);
      const res = await this.client.kv.range({
        key: range.key,
        range_end: range.rangeEnd,
        sort_order: 'Descend',
        sort_target: 'Key',
        limit: Math.floor(limit),
      });
      const entries = await Promise.all(res.kvs.map((kv) => this.entryOf(kv)));
      return entries.map((e) => ({
        revision: e.revision,
        time: e.header.time,
        message: e.header.message,
        actor: e.header.actor,
        changes: e.changes.map((m) =>
          m.op === 'put'
            ? { op: m.op, typeUrl: m.typeUrl, group: m.group, name: m.name, version: m.version }
            : { op: m.op, typeUrl: m.typeUrl, group: m.group, name: m.name },
        ),
      }));
    });
  }

  currentRevision(): Promise<number> {
    return this.run(async () => (await this.readHead()).revision);
  }

  watch(fromRevision: number, onEvent: (event: ChangeEvent) => void): Watch {
    if (this.closed) throw storeClosed();
    this.watchCounter();
    return this.feed.add(fromRevision, onEvent);
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome> {
    return this.run(() => this.leases.take(name, holder, ttlMs, true));
  }

  renewLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome> {
    return this.run(() => this.leases.take(name, holder, ttlMs, false));
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.run(() => this.leases.release(name, holder));
  }

  /**
   * Stops watches and closes the client. Leases stay held until they expire or are released, as
   * in the other stores: closing is not giving them up (a restart may renew them).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.rewatchTimer);
    this.feed.close();
    const counterWatch = this.counterWatch;
    this.counterWatch = undefined;
    await counterWatch?.cancel().catch(() => undefined);
    this.client.close();
  }

  /**
   * Commits `changes` as `revision` unless another writer moved the counter since `head`.
   * Returns false when it did (the caller re-reads and tries again).
   */
  private async commit(
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
      this.onBackgroundError(this.storeError(err));
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
  private async finishCopies(head: Head): Promise<void> {
    for (const entry of await this.readLog(head.applied, head.revision)) {
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
      .catch((err: unknown) => this.onBackgroundError(this.storeError(err)));
  }

  /** The stored versions of the keys `mutations` touch (absent keys are missing from the map). */
  private async currentVersions(mutations: readonly Mutation[]): Promise<Map<string, string>> {
    const keys = [...new Map(mutations.map((m) => [keyOf(m), m])).values()];
    const versions = new Map<string, string>();
    const reads: Promise<void>[] = [];
    for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
      const slice = keys.slice(i, i + MAX_TXN_OPS);
      reads.push(
        this.client.kv
          .txn({
            success: slice.map((k) => ({ request_range: { key: this.layout.resourceKey(k) } })),
          })
          .then((res) => {
            res.responses.forEach((r, j) => {
              const kv = r.response_range.kvs[0];
              const key = slice[j]!;
              if (kv) versions.set(keyOf(key), decodeResource(key, kv.value).version);
            });
          }),
      );
    }
    await Promise.all(reads);
    return versions;
  }

  private async readHead(etcdRevision?: string): Promise<Head> {
    const meta = this.layout.meta;
    const res = await this.client.kv.range({
      key: meta.key,
      range_end: meta.rangeEnd,
      ...(etcdRevision !== undefined ? { revision: etcdRevision } : {}),
    });
    let revision = 0;
    let modRevision = '0';
    let applied = 0;
    for (const kv of res.kvs) {
      if (kv.key.equals(this.layout.revisionKey)) {
        revision = Number(kv.value.toString('ascii'));
        modRevision = kv.mod_revision;
      } else if (kv.key.equals(this.layout.appliedKey)) {
        applied = Number(kv.value.toString('ascii'));
      }
    }
    return { revision, modRevision, applied, etcdRevision: res.header.revision };
  }

  /** Log entries with `after < revision <= upTo`, ascending, with their changes. */
  private async readLog(after: number, upTo: number, etcdRevision?: string): Promise<LogEntry[]> {
    if (upTo <= after) return [];
    const kvs = await this.rangeAll(this.layout.logRange(after, upTo), etcdRevision);
    return Promise.all(kvs.map((kv) => this.entryOf(kv, etcdRevision)));
  }

  private async entryOf(kv: IKeyValue, etcdRevision?: string): Promise<LogEntry> {
    const header = decodeLogHeader(kv.value);
    const chunks = await this.rangeAll(this.layout.chunkRange(header.stage), etcdRevision);
    const revision = this.layout.revisionOfLogKey(kv.key);
    if (chunks.length !== header.chunks) {
      throw new FerryError(
        'FERRY_INTERNAL',
        `${this.where}: revision ${revision} names ${header.chunks} change chunks but ${chunks.length} exist; keys under the prefix were changed outside Ferry`,
      );
    }
    return { revision, header, changes: chunks.flatMap((c) => decodeChangeChunk(c.value)) };
  }

  /** Every key in `range`, page by page, all at one etcd revision (the first page's if unset). */
  private async rangeAll(range: KeyRange, etcdRevision?: string): Promise<IKeyValue[]> {
    const out: IKeyValue[] = [];
    let key = range.key;
    let revision = etcdRevision;
    for (;;) {
      const res = await this.client.kv.range({
        key,
        range_end: range.rangeEnd,
        limit: PAGE_KEYS,
        ...(revision !== undefined ? { revision } : {}),
      });
      revision ??= res.header.revision;
      out.push(...res.kvs);
      if (!res.more || res.kvs.length === 0) return out;
      key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.of(0)]);
    }
  }

  /** Runs a read pinned to one etcd revision again when compaction removed that revision. */
  private async pinnedRead<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (err) {
        if (!isCompacted(err) || attempt >= MAX_READ_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * The etcd watch on the revision counter: each put (any control plane's apply), and each
   * (re)connection of the watch stream, makes the feed read the log after its watchers' cursors.
   * A watch cancelled by etcd (its resume revision was compacted) is replaced by a new one from now;
   * the log read that follows covers whatever happened in between.
   */
  private watchCounter(): void {
    if (this.counterWatch !== undefined || this.closed) return;
    const watcher = this.client.watch().key(this.layout.revisionKey).watcher();
    this.counterWatch = watcher;
    watcher.on('connected', () => this.feed.notify());
    watcher.on('put', () => this.feed.notify());
    watcher.on('error', (err: Error) => {
      if (this.counterWatch !== watcher) return;
      this.counterWatch = undefined;
      void watcher.cancel().catch(() => undefined);
      if (!isCompacted(err)) this.onBackgroundError(this.storeError(err));
      clearTimeout(this.rewatchTimer);
      this.rewatchTimer = setTimeout(() => {
        this.rewatchTimer = undefined;
        this.watchCounter();
        this.feed.notify();
      }, 100);
    });
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw storeClosed();
    try {
      return await work();
    } catch (err) {
      throw this.storeError(err);
    }
  }

  private storeError(err: unknown): Error {
    return this.closed && !(err instanceof FerryError)
      ? storeClosed()
      : toEtcdStoreError(err, this.where);
  }
}

function put(key: Buffer, value: Buffer): IRequestOp {
  return { request_put: { key, value } };
}

function opBytes(op: IRequestOp): number {
  const p = op.request_put;
  if (p) return (p.key?.byteLength ?? 0) + (p.value?.byteLength ?? 0) + 16;
  return (op.request_delete_range?.key?.byteLength ?? 0) + 16;
}

function opsBytes(ops: readonly IRequestOp[]): number {
  return ops.reduce((sum, op) => sum + opBytes(op), 0);
}

/** Splits ops into transactions within etcd's default op count and request size. */
function batches(ops: readonly IRequestOp[]): IRequestOp[][] {
  const out: IRequestOp[][] = [];
  let current: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    if (current.length > 0 && (current.length >= MAX_TXN_OPS - 1 || bytes + size > MAX_TXN_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function fold(byKey: Map<string, StoredResource>, entry: LogEntry, filter?: ListFilter): void {
  for (const m of entry.changes) {
    if (!matchesFilter(m, filter)) continue;
    if (m.op === 'put') {
      byKey.set(keyOf(m), {
        typeUrl: m.typeUrl,
        group: m.group,
        name: m.name,
        value: m.value,
        version: m.version,
        revision: entry.revision,
      });
    } else {
      byKey.delete(keyOf(m));
    }
  }
}

function sorted(byKey: Map<string, StoredResource>): StoredResource[] {
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}
