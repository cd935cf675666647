/**
 * The embedded default ResourceStore (docs/architecture.md, "The store"): one SQLite file, no
 * server.
 *
 * Durability: WAL with `synchronous=FULL`, so a commit is fsynced before apply resolves and an
 * acknowledged revision survives SIGKILL and power loss; an interrupted batch is rolled back
 * whole on the next open. Writers take the write lock up front (BEGIN IMMEDIATE) and number the
 * revision inside it, so several processes may share one file and revisions stay gap-free and in
 * commit order. Watchers see other processes' commits through a cheap `PRAGMA data_version` poll.
 *
 * better-sqlite3 is synchronous; each call is short (indexed reads, one small transaction), so the
 * async methods do the work inline rather than pay for a worker thread.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { FerryError } from '@ferry/shared';
import type {
  ApplyOptions,
  ApplyResult,
  ChangeEvent,
  HistoryEntry,
  Lease,
  LeaseOutcome,
  LeasedEvent,
  LeasedRecord,
  ListFilter,
  Mutation,
  ResourceKey,
  ResourceStore,
  StoreSnapshot,
  TrimRequest,
  TrimResult,
  Watch,
} from './store.js';
import { checkLeaseRequest, checkLeasedRequest, resetEvent } from './store.js';
import { LocalLeased } from './store-leased-local.js';
import {
  checkTrimRequest,
  noSuchRevision,
  revisionConflict,
  revisionTrimmed,
  settle,
  storeClosed,
} from './store-errors.js';
import { netChanges } from './store-net-changes.js';
import {
  FILTER_SQL,
  eventsFromRows,
  filterParams,
  storedFromRow,
  type ChangeRow,
  type FilterParams,
  type ResourceRow,
  type RevisionRow,
} from './store-sqlite-rows.js';
import { migrate } from './store-sqlite-schema.js';
import { WatchHub } from './store-watch-hub.js';

export interface SqliteStoreOptions {
  /** How long an apply waits for another process's write lock before failing (default 5000). */
  readonly busyTimeoutMs?: number;
  /** How often open watches check for commits by other processes (default 500). */
  readonly pollIntervalMs?: number;
  /**
   * Called when a background read for watchers fails; the watchers keep their place and the next
   * commit or poll retries. Default: a process warning.
   */
  readonly onBackgroundError?: (err: Error) => void;
}

export class SqliteStore implements ResourceStore {
  /**
   * Opens (creating it and its directory when missing) the store file at `path` and brings its
   * schema up to date. Throws FerryError FERRY_STORE_UNAVAILABLE when the file cannot be used.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const file = resolve(path);
    let db: Database.Database;
    try {
      mkdirSync(dirname(file), { recursive: true });
      db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (err) {
      throw toStoreError(err, file);
    }
    try {
      // WAL lets readers (watch replay, list) run while another process writes; FULL makes each
      // commit durable before it is acknowledged (NORMAL could lose the last ones on power loss).
      // Pages freed by trimming the log go back to the file system (incremental_vacuum after each
      // trim batch). Takes effect only on a file that has no tables yet: older files keep reusing
      // their free pages instead (docs/architecture.md, "How the log is trimmed").
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db, file);
      return new SqliteStore(db, file, options);
    } catch (err) {
      db.close();
      throw toStoreError(err, file);
    }
  }

  private readonly hub: WatchHub;
  private readonly pollIntervalMs: number;
  private readonly onBackgroundError: (err: Error) => void;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastDataVersion = 0;
  private closed = false;

  private readonly latestRevisionStmt;
  private readonly versionOfStmt;
  private readonly insertRevisionStmt;
  private readonly insertChangeStmt;
  private readonly upsertResourceStmt;
  private readonly deleteResourceStmt;
  private readonly listCurrentStmt;
  private readonly listAtStmt;
  private readonly newestRevisionsStmt;
  private readonly changeKeysBetweenStmt;
  private readonly changesBetweenStmt;
  private readonly dataVersionStmt;
  private readonly baseRevisionStmt;
  private readonly baseStmt;
  private readonly trimCandidatesStmt;
  private readonly upsertBaseStmt;
  private readonly deleteBaseStmt;
  private readonly deleteChangesThroughStmt;
  private readonly deleteRevisionsThroughStmt;
  private readonly setBaseRevisionStmt;
  private readonly trimTx;
  private readonly eventsTx;
  private readonly leaseStmt;
  private readonly putLeaseStmt;
  private readonly deleteLeaseStmt;
  private readonly putLeasedStmt;
  private readonly deleteLeasedStmt;
  private readonly listLeasedStmt;
  private readonly renewLeasedStmt;
  private readonly pruneLeasedStmt;
  private readonly leasedWatch: LocalLeased;
  private readonly putLeasedTx;

  private readonly applyTx;
  private readonly listTx;
  private readonly listAtTx;
  private readonly historyTx;
  private readonly leaseTx;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    options: SqliteStoreOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.onBackgroundError =
      options.onBackgroundError ??
      ((err) => process.emitWarning(`ferry store ${file}: ${err.message}`, 'FerryStoreWarning'));

    this.latestRevisionStmt = db
      .prepare<[], number>('SELECT coalesce(max(revision), 0) FROM revisions')
      .pluck();
    this.versionOfStmt = db
      .prepare<[string, string, string], string>(
        'SELECT version FROM resources WHERE type_url = ? AND grp = ? AND name = ?',
      )
      .pluck();
    this.insertRevisionStmt = db.prepare<[number, string, string, string, string | null]>(
      'INSERT INTO revisions (revision, time, message, actor, traceparent) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertChangeStmt = db.prepare<
      [number, number, string, string, string, string, Uint8Array | null, string | null]
    >(
      'INSERT INTO changes (revision, seq, op, type_url, grp, name, value, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.upsertResourceStmt = db.prepare<[string, string, string, Uint8Array, string, number]>(
      `INSERT INTO resources (type_url, grp, name, value, version, revision) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (type_url, grp, name)
       DO UPDATE SET value = excluded.value, version = excluded.version, revision = excluded.revision`,
    );
    this.deleteResourceStmt = db.prepare<[string, string, string]>(
      'DELETE FROM resources WHERE type_url = ? AND grp = ? AND name = ?',
    );
    this.listCurrentStmt = db.prepare<FilterParams, ResourceRow>(
      `SELECT type_url, grp, name, value, version, revision FROM resources
       WHERE ${FILTER_SQL} ORDER BY type_url, grp, name`,
    );
    // The state at a revision: per key, the newest change at or before it, if that is a put; the
    // base snapshot stands for the trimmed revisions (its rows are older than any change kept).
    this.listAtStmt = db.prepare<FilterParams & { revision: number }, ResourceRow>(
      `SELECT type_url, grp, name, value, version, revision FROM (
         SELECT type_url, grp, name, value, version, revision, op,
                row_number() OVER (PARTITION BY type_url, grp, name ORDER BY revision DESC, seq DESC) AS newest
         FROM (
           SELECT type_url, grp, name, value, version, revision, 'put' AS op, -1 AS seq
           FROM base WHERE ${FILTER_SQL}
           UNION ALL
           SELECT type_url, grp, name, value, version, revision, op, seq
           FROM changes WHERE revision <= @revision AND ${FILTER_SQL}
         )
       ) WHERE newest = 1 AND op = 'put' ORDER BY type_url, grp, name`,
    );
    this.baseRevisionStmt = db.prepare<[], number>('SELECT revision FROM log_base').pluck();
    this.baseStmt = db.prepare<[], ResourceRow>(
      'SELECT type_url, grp, name, value, version, revision FROM base ORDER BY type_url, grp, name',
    );
    this.trimCandidatesStmt = db.prepare<
      [number, number, number],
      { revision: number; time: string }
    >(
      'SELECT revision, time FROM revisions WHERE revision > ? AND revision <= ? ORDER BY revision LIMIT ?',
    );
    this.upsertBaseStmt = db.prepare<[string, string, string, Uint8Array, string, number]>(
      `INSERT INTO base (type_url, grp, name, value, version, revision) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (type_url, grp, name)
       DO UPDATE SET value = excluded.value, version = excluded.version, revision = excluded.revision`,
    );
    this.deleteBaseStmt = db.prepare<[string, string, string]>(
      'DELETE FROM base WHERE type_url = ? AND grp = ? AND name = ?',
    );
    this.deleteChangesThroughStmt = db.prepare<[number]>('DELETE FROM changes WHERE revision <= ?');
    this.deleteRevisionsThroughStmt = db.prepare<[number]>(
      'DELETE FROM revisions WHERE revision <= ?',
    );
    this.setBaseRevisionStmt = db.prepare<[number]>('UPDATE log_base SET revision = ?');
    this.newestRevisionsStmt = db.prepare<[number], RevisionRow>(
      'SELECT revision, time, message, actor, traceparent FROM revisions ORDER BY revision DESC LIMIT ?',
    );
    this.changeKeysBetweenStmt = db.prepare<
      [number, number],
      Omit<ChangeRow, 'value' | 'traceparent'>
    >(
      `SELECT revision, op, type_url, grp, name, version FROM changes
       WHERE revision > ? AND revision <= ? ORDER BY revision, seq`,
    );
    this.changesBetweenStmt = db.prepare<[number, number], ChangeRow>(
      `SELECT c.revision, c.op, c.type_url, c.grp, c.name, c.value, c.version, r.traceparent
       FROM changes c JOIN revisions r ON r.revision = c.revision
       WHERE c.revision > ? AND c.revision <= ? ORDER BY c.revision, c.seq`,
    );
    this.dataVersionStmt = db.prepare<[], number>('PRAGMA data_version').pluck();

    this.leaseStmt = db.prepare<[string], { holder: string; expires_at: number }>(
      'SELECT holder, expires_at FROM leases WHERE name = ?',
    );
    this.putLeaseStmt = db.prepare<[string, string, number]>(
      `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
    );
    this.deleteLeaseStmt = db.prepare<[string, string]>(
      'DELETE FROM leases WHERE name = ? AND holder = ?',
    );
    this.putLeasedStmt = db.prepare<[string, string, string, Uint8Array, number]>(
      `INSERT INTO leased (namespace, key, holder, value, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (namespace, key)
       DO UPDATE SET holder = excluded.holder, value = excluded.value, expires_at = excluded.expires_at`,
    );
    this.deleteLeasedStmt = db.prepare<[string, string, string, number]>(
      'DELETE FROM leased WHERE namespace = ? AND key = ? AND holder = ? AND expires_at > ?',
    );
    this.listLeasedStmt = db.prepare<
      [string, number],
      { key: string; holder: string; value: Uint8Array }
    >('SELECT key, holder, value FROM leased WHERE namespace = ? AND expires_at > ? ORDER BY key');
    this.renewLeasedStmt = db.prepare<[number, string]>(
      'UPDATE leased SET expires_at = ? WHERE holder = ?',
    );
    this.pruneLeasedStmt = db.prepare<[number]>('DELETE FROM leased WHERE expires_at <= ?');
    // One commit (one fsync) for both; expired rows are dropped here, so the table holds about
    // the live records only.
    this.putLeasedTx = db.transaction(
      (namespace: string, key: string, holder: string, value: Uint8Array, ttlMs: number) => {
        const now = Date.now();
        this.pruneLeasedStmt.run(now);
        this.putLeasedStmt.run(namespace, key, holder, value, now + ttlMs);
      },
    );
    // Read and write under one write lock (BEGIN IMMEDIATE): two processes cannot both see the
    // lease free and both take it.
    this.leaseTx = db.transaction(
      (name: string, holder: string, ttlMs: number, mayTake: boolean): LeaseOutcome => {
        const now = Date.now();
        const row = this.leaseStmt.get(name);
        const live = row !== undefined && row.expires_at > now;
        const mine = live && row.holder === holder;
        if (mine || (mayTake && !live)) {
          const lease: Lease = { name, holder, expiresAt: now + ttlMs };
          this.putLeaseStmt.run(name, holder, lease.expiresAt);
          return { held: true, lease };
        }
        return {
          held: false,
          lease: live ? { name, holder: row.holder, expiresAt: row.expires_at } : undefined,
        };
      },
    );

    this.applyTx = db.transaction(this.applyInTransaction.bind(this));
    // Multi-statement reads run in one (deferred) transaction: WAL gives them one snapshot, so
    // the revision returned matches the rows even while another process commits.
    this.listTx = db.transaction((params: FilterParams) => ({
      revision: this.latestRevisionStmt.get()!,
      resources: this.listCurrentStmt.all(params).map(storedFromRow),
    }));
    this.listAtTx = db.transaction((revision: number, params: FilterParams): StoreSnapshot => {
      const latest = this.latestRevisionStmt.get()!;
      if (revision > latest) throw noSuchRevision(revision, latest);
      const base = this.baseRevisionStmt.get()!;
      if (revision < base) throw revisionTrimmed(revision, base);
      return {
        revision,
        resources: this.listAtStmt.all({ ...params, revision }).map(storedFromRow),
      };
    });
    this.historyTx = db.transaction(this.historyInTransaction.bind(this));
    this.trimTx = db.transaction(this.trimInTransaction.bind(this));
    // One read snapshot for the base and the changes: a trim by another process between the two
    // reads would otherwise leave a silent gap.
    this.eventsTx = db.transaction((after: number, upTo: number): ChangeEvent[] => {
      const base = this.baseRevisionStmt.get()!;
      if (after < base) return [resetEvent(base, this.baseStmt.all().map(storedFromRow))];
      return eventsFromRows(this.changesBetweenStmt.all(after, upTo));
    });

    this.hub = new WatchHub(
      {
        latestRevision: () => this.latestRevisionStmt.get()!,
        eventsBetween: (after, upTo, limit) =>
          this.eventsTx.deferred(after, Math.min(upTo, after + limit)),
      },
      (err) => this.onBackgroundError(toStoreError(err, file)),
    );
    this.leasedWatch = new LocalLeased(
      {
        read: (namespace, now) =>
          this.listLeasedStmt
            .all(namespace, now)
            .map((r) => ({ namespace, key: r.key, holder: r.holder, value: r.value })),
        renew: (holder, expiresAt) => this.renewLeasedStmt.run(expiresAt, holder),
      },
      this.pollIntervalMs,
      (err) => this.onBackgroundError(toStoreError(err, file)),
    );
  }

  putLeased(
    namespace: string,
    key: string,
    holder: string,
    value: Uint8Array,
    ttlMs: number,
  ): Promise<void> {
    return settle(() => {
      checkLeasedRequest(namespace, key, holder, ttlMs);
      this.assertOpen();
      try {
        this.putLeasedTx.immediate(namespace, key, holder, value, ttlMs);
      } catch (err) {
        throw toStoreError(err, this.file);
      }
      this.leasedWatch.keepAlive(holder, ttlMs);
      this.leasedWatch.notify();
    });
  }

  deleteLeased(namespace: string, key: string, holder: string): Promise<boolean> {
    return settle(() => {
      checkLeasedRequest(namespace, key, holder);
      this.assertOpen();
      let deleted: boolean;
      try {
        deleted = this.deleteLeasedStmt.run(namespace, key, holder, Date.now()).changes > 0;
      } catch (err) {
        throw toStoreError(err, this.file);
      }
      if (deleted) this.leasedWatch.notify();
      return deleted;
    });
  }

  listLeased(namespace: string): Promise<LeasedRecord[]> {
    return settle(() => {
      checkLeasedRequest(namespace, '-', '-');
      return this.read(() =>
        this.listLeasedStmt
          .all(namespace, Date.now())
          .map((r) => ({ namespace, key: r.key, holder: r.holder, value: r.value })),
      );
    });
  }

  watchLeased(namespace: string, onEvent: (event: LeasedEvent) => void): Watch {
    checkLeasedRequest(namespace, '-', '-');
    this.assertOpen();
    return this.leasedWatch.watch(namespace, onEvent);
  }

  apply(mutations: readonly Mutation[], options: ApplyOptions = {}): Promise<ApplyResult> {
    return settle(() => {
      this.assertOpen();
      let result: ApplyResult;
      try {
        result = this.applyTx.immediate(mutations, options);
      } catch (err) {
        throw toStoreError(err, this.file);
      }
      if (result.changes.length > 0) this.hub.notify();
      return result;
    });
  }

  list(filter?: ListFilter): Promise<StoreSnapshot> {
    return settle(() => this.read(() => this.listTx.deferred(filterParams(filter))));
  }

  listAt(revision: number, filter?: ListFilter): Promise<StoreSnapshot> {
    return settle(() => {
      if (!Number.isSafeInteger(revision) || revision < 0) {
        throw noSuchRevision(
          revision,
          this.read(() => this.latestRevisionStmt.get()!),
        );
      }
      return this.read(() => this.listAtTx.deferred(revision, filterParams(filter)));
    });
  }

  history(limit = 50): Promise<HistoryEntry[]> {
    return settle(() => {
      this.assertOpen();
      if (!(limit > 0)) return [];
      return this.read(() => this.historyTx.deferred(Math.floor(limit)));
    });
  }

  currentRevision(): Promise<number> {
    return settle(() => this.read(() => this.latestRevisionStmt.get()!));
  }

  historyBase(): Promise<number> {
    return settle(() => this.read(() => this.baseRevisionStmt.get()!));
  }

  trimHistory(request: TrimRequest): Promise<TrimResult> {
    return settle(() => {
      checkTrimRequest(request);
      this.assertOpen();
      try {
        const result = this.trimTx.immediate(request);
        // Outside the transaction: it is a write of its own, and SQLite refuses it inside one.
        if (result.trimmed > 0) this.db.pragma('incremental_vacuum');
        return result;
      } catch (err) {
        throw toStoreError(err, this.file);
      }
    });
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome> {
    return settle(() => this.leaseWrite(name, holder, ttlMs, true));
  }

  renewLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome> {
    return settle(() => this.leaseWrite(name, holder, ttlMs, false));
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return settle(() => {
      checkLeaseRequest(name, holder);
      this.assertOpen();
      try {
        this.deleteLeaseStmt.run(name, holder);
      } catch (err) {
        throw toStoreError(err, this.file);
      }
    });
  }

  private leaseWrite(name: string, holder: string, ttlMs: number, mayTake: boolean): LeaseOutcome {
    checkLeaseRequest(name, holder, ttlMs);
    this.assertOpen();
    try {
      return this.leaseTx.immediate(name, holder, ttlMs, mayTake);
    } catch (err) {
      throw toStoreError(err, this.file);
    }
  }

  watch(fromRevision: number, onEvent: (event: ChangeEvent) => void): Watch {
    this.assertOpen();
    // Take the data_version baseline before the hub's first read, so a commit by another
    // process between the two is seen by that read or flagged by the next poll.
    this.startPolling();
    return this.hub.add(fromRevision, onEvent);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.stopPolling();
    this.hub.close();
    this.leasedWatch.close();
    this.db.close();
    return Promise.resolve();
  }

  private applyInTransaction(mutations: readonly Mutation[], options: ApplyOptions): ApplyResult {
    const current = this.latestRevisionStmt.get()!;
    // Checked under the write lock: no other writer can move the revision until we commit.
    if (options.expectedRevision !== undefined && options.expectedRevision !== current) {
      throw revisionConflict(current, options.expectedRevision);
    }
    const changes = netChanges(mutations, (k: ResourceKey) =>
      this.versionOfStmt.get(k.typeUrl, k.group, k.name),
    );
    if (changes.length === 0) return { revision: current, changes };
    const revision = current + 1;
    this.insertRevisionStmt.run(
      revision,
      new Date().toISOString(),
      options.message ?? '',
      options.actor ?? '',
      options.traceparent ?? null,
    );
    changes.forEach((m, seq) => {
      if (m.op === 'put') {
        this.insertChangeStmt.run(
          revision,
          seq,
          m.op,
          m.typeUrl,
          m.group,
          m.name,
          m.value,
          m.version,
        );
        this.upsertResourceStmt.run(m.typeUrl, m.group, m.name, m.value, m.version, revision);
      } else {
        this.insertChangeStmt.run(revision, seq, m.op, m.typeUrl, m.group, m.name, null, null);
        this.deleteResourceStmt.run(m.typeUrl, m.group, m.name);
      }
    });
    return { revision, changes };
  }

  /** Under the write lock, so concurrent trimmers and applies of other processes serialize. */
  private trimInTransaction(request: TrimRequest): TrimResult {
    const base = this.baseRevisionStmt.get()!;
    const through = Math.min(request.throughRevision, this.latestRevisionStmt.get()! - 1);
    let newBase = base;
    for (const row of this.trimCandidatesStmt.all(base, through, request.maxRevisions)) {
      if (request.recordedBefore !== undefined && !(Date.parse(row.time) < request.recordedBefore))
        break;
      newBase = row.revision;
    }
    if (newBase === base) return { base, trimmed: 0 };
    for (const row of this.changesBetweenStmt.all(base, newBase)) {
      if (row.op === 'put') {
        this.upsertBaseStmt.run(
          row.type_url,
          row.grp,
          row.name,
          row.value!,
          row.version!,
          row.revision,
        );
      } else {
        this.deleteBaseStmt.run(row.type_url, row.grp, row.name);
      }
    }
    this.deleteChangesThroughStmt.run(newBase);
    this.deleteRevisionsThroughStmt.run(newBase);
    this.setBaseRevisionStmt.run(newBase);
    return { base: newBase, trimmed: newBase - base };
  }

  private historyInTransaction(limit: number): HistoryEntry[] {
    const revisions = this.newestRevisionsStmt.all(limit);
    const oldest = revisions[revisions.length - 1];
    if (oldest === undefined) return [];
    const changesByRevision = new Map<number, HistoryEntry['changes'][number][]>();
    for (const row of this.changeKeysBetweenStmt.all(oldest.revision - 1, revisions[0]!.revision)) {
      const key = { typeUrl: row.type_url, group: row.grp, name: row.name };
      const change =
        row.op === 'put' ? { op: row.op, ...key, version: row.version! } : { op: row.op, ...key };
      const list = changesByRevision.get(row.revision);
      if (list) list.push(change);
      else changesByRevision.set(row.revision, [change]);
    }
    return revisions.map((r) => ({
      revision: r.revision,
      time: r.time,
      message: r.message,
      actor: r.actor,
      ...(r.traceparent !== null ? { traceparent: r.traceparent } : {}),
      changes: changesByRevision.get(r.revision) ?? [],
    }));
  }

  /** Runs a read on the open database, translating SQLite errors. */
  private read<T>(fn: () => T): T {
    this.assertOpen();
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, this.file);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw storeClosed();
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined) return;
    this.lastDataVersion = this.read(() => this.dataVersionStmt.get()!);
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    // Watching must not keep the process alive; close() is what ends a store.
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /**
   * data_version changes only when another connection committed (our own commits notify the hub
   * directly); a failed delivery is retried here too.
   */
  private poll(): void {
    if (this.closed) return;
    if (this.hub.size === 0) {
      this.stopPolling();
      return;
    }
    try {
      const dataVersion = this.dataVersionStmt.get()!;
      if (dataVersion !== this.lastDataVersion || this.hub.needsRetry) {
        this.lastDataVersion = dataVersion;
        this.hub.notify();
      }
    } catch (err) {
      this.onBackgroundError(toStoreError(err, this.file));
    }
  }
}

/** SQLite result codes that mean the file cannot be used now, rather than a bug in Ferry. */
const UNAVAILABLE_CODES =
  /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM|PROTOCOL|AUTH)/;

function toStoreError(err: unknown, file: string): Error {
  if (err instanceof FerryError) return err;
  if (err instanceof Database.SqliteError) {
    const unavailable = UNAVAILABLE_CODES.test(err.code);
    const hint = err.code.startsWith('SQLITE_BUSY')
      ? '; another process holds the write lock, retry later'
      : '';
    const wrapped = new FerryError(
      unavailable ? 'FERRY_STORE_UNAVAILABLE' : 'FERRY_INTERNAL',
      `store ${file}: ${err.code}: ${err.message}${hint}`,
    );
    wrapped.cause = err;
    return wrapped;
  }
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
    // File system errors from creating the directory or opening the file.
    const wrapped = new FerryError('FERRY_STORE_UNAVAILABLE', `store ${file}: ${err.message}`);
    wrapped.cause = err;
    return wrapped;
  }
  return err instanceof Error ? err : new Error(String(err));
}
