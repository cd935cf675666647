/**
 * A ResourceStore on etcd v3 (docs/architecture.md, "The store on etcd"), for control planes on
 * several hosts that share one store. Layout: store-etcd-layout.ts; encodings: store-etcd-codec.ts;
 * reads: store-etcd-reader.ts; the write path: store-etcd-writer.ts; watch delivery:
 * store-etcd-feed.ts; leases: store-etcd-lease.ts; leased records: store-etcd-leased.ts.
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
import { Etcd3, type IOptions } from 'etcd3';
import { FerryError } from '@ferry/shared';
import type {
  ApplyOptions,
  ApplyResult,
  ChangeEvent,
  HistoryEntry,
  LeaseOutcome,
  LeasedEvent,
  LeasedRecord,
  ListFilter,
  Mutation,
  ResourceStore,
  StoreSnapshot,
  StoredResource,
  TrimRequest,
  TrimResult,
  Watch,
} from './store.js';
import { checkLeasedRequest, keyOf, matchesFilter, resetEvent } from './store.js';
import { EtcdTrimmer } from './store-etcd-trim.js';
import { EtcdLeased } from './store-etcd-leased.js';
import { decodeResource } from './store-etcd-codec.js';
import { EtcdFeed } from './store-etcd-feed.js';
import { EtcdLayout } from './store-etcd-layout.js';
import { EtcdLeases } from './store-etcd-lease.js';
import { EtcdReader, fold, sorted } from './store-etcd-reader.js';
import { EtcdWriter } from './store-etcd-writer.js';
import { isCompacted, toEtcdStoreError } from './store-etcd-errors.js';
import {
  checkTrimRequest,
  noSuchRevision,
  revisionConflict,
  revisionTrimmed,
  storeClosed,
} from './store-errors.js';
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
  private readonly leased: EtcdLeased;
  private readonly reader: EtcdReader;
  private readonly writer: EtcdWriter;
  private readonly trimmer: EtcdTrimmer;
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
    this.leased = new EtcdLeased(this.client, this.layout.root, (err) =>
      this.onBackgroundError(this.storeError(err)),
    );
    this.reader = new EtcdReader(this.client, this.layout, this.where);
    this.writer = new EtcdWriter(this.client, this.layout, this.reader, this.where, (err) =>
      this.onBackgroundError(this.storeError(err)),
    );
    this.trimmer = new EtcdTrimmer(this.client, this.layout, this.reader);
    this.feed = new EtcdFeed(
      {
        latestRevision: async () => (await this.reader.readHead()).revision,
        // The base and the log read at one etcd revision: a trim in between cannot leave a gap.
        eventsBetween: (after, upTo, limit) =>
          this.pinnedRead(async (): Promise<ChangeEvent[]> => {
            const head = await this.reader.readHead();
            if (after < head.base) {
              return [resetEvent(head.base, sorted(await this.reader.readBase(head)))];
            }
            const entries = await this.reader.readLog(
              after,
              Math.min(upTo, after + limit),
              head.etcdRevision,
            );
            return entries.map((e) =>
              e.header.traceparent === undefined
                ? { revision: e.revision, changes: e.changes }
                : { revision: e.revision, changes: e.changes, traceparent: e.header.traceparent },
            );
          }),
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
        const head = await this.reader.readHead();
        if (head.applied < head.revision) {
          await this.writer.finishCopies(head);
          continue;
        }
        if (options.expectedRevision !== undefined && options.expectedRevision !== head.revision) {
          throw revisionConflict(head.revision, options.expectedRevision);
        }
        const versions = await this.reader.currentVersions(mutations);
        const changes = netChanges(mutations, (k) => versions.get(keyOf(k)));
        if (changes.length === 0) return { revision: head.revision, changes };
        const revision = head.revision + 1;
        if (await this.writer.commit(head, revision, changes, options)) {
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
        const head = await this.reader.readHead();
        const byKey = new Map<string, StoredResource>();
        for (const kv of await this.reader.rangeAll(
          this.layout.resourceRange(filter),
          head.etcdRevision,
        )) {
          const resource = decodeResource(this.layout.resourceKeyOf(kv.key), kv.value);
          if (matchesFilter(resource, filter)) byKey.set(keyOf(resource), resource);
        }
        // Revisions committed but not yet copied into res/ (a big batch in flight).
        if (head.applied < head.revision) {
          const pending = await this.reader.readLog(head.applied, head.revision, head.etcdRevision);
          for (const entry of pending) fold(byKey, entry, filter);
        }
        return { revision: head.revision, resources: sorted(byKey) };
      }),
    );
  }

  listAt(revision: number, filter?: ListFilter): Promise<StoreSnapshot> {
    return this.run(() =>
      this.pinnedRead(async () => {
        const head = await this.reader.readHead();
        if (!Number.isSafeInteger(revision) || revision < 0 || revision > head.revision) {
          throw noSuchRevision(revision, head.revision);
        }
        if (revision < head.base) throw revisionTrimmed(revision, head.base);
        // Every page at the head's etcd revision: a trim meanwhile deletes log entries.
        const byKey = await this.reader.readBase(head, filter);
        for (let after = head.base; after < revision;) {
          const upTo = Math.min(revision, after + 256);
          const entries = await this.reader.readLog(after, upTo, head.etcdRevision);
          if (entries.length === 0) throw noSuchRevision(revision, head.revision);
          for (const entry of entries) fold(byKey, entry, filter);
          after = entries[entries.length - 1]!.revision;
        }
        return { revision, resources: sorted(byKey) };
      }),
    );
  }

  history(limit = 50): Promise<HistoryEntry[]> {
    return this.run(async () => {
      if (!(limit > 0)) return [];
      // The entries' chunks at the range's etcd revision: a trim meanwhile deletes the oldest.
      const entries = await this.pinnedRead(async () => {
        const head = await this.reader.readHead();
        const range = this.layout.logRange(head.base, Number.MAX_SAFE_INTEGER - 1);
        const res = await this.client.kv.range({
          key: range.key,
          range_end: range.rangeEnd,
          sort_order: 'Descend',
          sort_target: 'Key',
          limit: Math.floor(limit),
          revision: head.etcdRevision,
        });
        return Promise.all(res.kvs.map((kv) => this.reader.entryOf(kv, head.etcdRevision)));
      });
      return entries.map((e) => ({
        revision: e.revision,
        time: e.header.time,
        message: e.header.message,
        actor: e.header.actor,
        ...(e.header.traceparent !== undefined ? { traceparent: e.header.traceparent } : {}),
        changes: e.changes.map((m) =>
          m.op === 'put'
            ? { op: m.op, typeUrl: m.typeUrl, group: m.group, name: m.name, version: m.version }
            : { op: m.op, typeUrl: m.typeUrl, group: m.group, name: m.name },
        ),
      }));
    });
  }

  currentRevision(): Promise<number> {
    return this.run(async () => (await this.reader.readHead()).revision);
  }

  historyBase(): Promise<number> {
    return this.run(async () => (await this.reader.readHead()).base);
  }

  trimHistory(request: TrimRequest): Promise<TrimResult> {
    return this.run(async () => {
      checkTrimRequest(request);
      return this.trimmer.trim(request);
    });
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

  putLeased(
    namespace: string,
    key: string,
    holder: string,
    value: Uint8Array,
    ttlMs: number,
  ): Promise<void> {
    return this.run(async () => {
      checkLeasedRequest(namespace, key, holder, ttlMs);
      await this.leased.put(namespace, key, holder, value, ttlMs);
    });
  }

  deleteLeased(namespace: string, key: string, holder: string): Promise<boolean> {
    return this.run(async () => {
      checkLeasedRequest(namespace, key, holder);
      return this.leased.delete(namespace, key, holder);
    });
  }

  listLeased(namespace: string): Promise<LeasedRecord[]> {
    return this.run(async () => {
      checkLeasedRequest(namespace, '-', '-');
      return (await this.leased.list(namespace)).records;
    });
  }

  watchLeased(namespace: string, onEvent: (event: LeasedEvent) => void): Watch {
    checkLeasedRequest(namespace, '-', '-');
    if (this.closed) throw storeClosed();
    return this.leased.watch(namespace, onEvent);
  }

  /**
   * Stops watches and closes the client. Leases stay held until they expire or are released, as
   * in the other stores: closing is not giving them up (a restart may renew them).
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearTimeout(this.rewatchTimer);
    this.feed.close();
    this.leased.close();
    // Not awaited: cancelling waits for etcd's answer, and closing the client ends the stream
    // anyway (an unreachable etcd must not hold up a shutdown).
    void this.counterWatch?.cancel().catch(() => undefined);
    this.counterWatch = undefined;
    this.client.close();
    return Promise.resolve();
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
