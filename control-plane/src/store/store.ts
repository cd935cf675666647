/**
 * The resource store (docs/architecture.md, "The store"). The API writes only through it; the xDS
 * layer only consumes its watch events. Implementations: store-sqlite.ts (embedded default),
 * store-etcd.ts (shared by control planes on several hosts), store-memory.ts (unit tests). Values are
 * canonical binary encodings (see @ferry/proto canonical.ts) and versions their content hashes, so
 * equal content has equal versions on every replica.
 */
export interface ResourceKey {
  readonly typeUrl: string;
  readonly group: string;
  readonly name: string;
}

export interface StoredResource extends ResourceKey {
  readonly value: Uint8Array;
  readonly version: string;
  /** The revision that last changed this resource. */
  readonly revision: number;
}

export type Mutation =
  | (ResourceKey & { readonly op: 'put'; readonly value: Uint8Array; readonly version: string })
  | (ResourceKey & { readonly op: 'delete' });

export interface ApplyOptions {
  /** When set, the apply fails with FERRY_CONFLICT unless the store is at exactly this revision. */
  readonly expectedRevision?: number;
  /** Recorded in history (e.g. "ferryctl apply -f web.yaml", "rollback to 12"). */
  readonly message?: string;
  /**
   * Who made the change, recorded in history: an API token's name, a client certificate's
   * identity, or the control plane itself for its internal records. Default ''.
   */
  readonly actor?: string;
  /**
   * The W3C trace context of the write's span, as a `traceparent` header value
   * (`00-<trace-id>-<span-id>-<flags>`), recorded with the revision: history shows it, and every
   * watcher (other replicas included) gets it with the revision's change event, so each
   * replica's publish of the revision joins the write's trace. Absent when the write was not traced.
   */
  readonly traceparent?: string;
}

export interface ApplyResult {
  /** The new revision, or the current one when nothing changed. */
  readonly revision: number;
  /** The mutations that changed something (puts of identical content and deletes of absent keys are dropped). */
  readonly changes: readonly Mutation[];
}

export interface ListFilter {
  readonly typeUrl?: string;
  readonly group?: string;
  readonly name?: string;
}

export interface StoreSnapshot {
  readonly revision: number;
  readonly resources: readonly StoredResource[];
}

export interface ChangeEvent {
  readonly revision: number;
  readonly changes: readonly Mutation[];
  /**
   * True when revisions the watcher needed were trimmed (ResourceStore.trimHistory): `changes`
   * are then puts of every resource as it was at `revision` (the log's base) and the watcher must
   * forget what it had before. Never a silent gap: a watcher gets either every revision or a reset.
   */
  readonly reset?: boolean;
  /** ApplyOptions.traceparent of the revision, when it was recorded with one (never on a reset). */
  readonly traceparent?: string;
}

/** One step of trimming the revision log (ResourceStore.trimHistory). */
export interface TrimRequest {
  /** The newest revision that may be trimmed; the store never trims its latest revision. */
  readonly throughRevision: number;
  /** When set, only revisions recorded before this time (epoch ms) are trimmed. */
  readonly recordedBefore?: number;
  /** At most this many revisions in this call: one transaction of bounded size. */
  readonly maxRevisions: number;
}

export interface TrimResult {
  /** The log's base after the call (ResourceStore.historyBase). */
  readonly base: number;
  /** Revisions trimmed by this call. */
  readonly trimmed: number;
}

export interface HistoryEntry {
  readonly revision: number;
  /** ISO 8601. */
  readonly time: string;
  readonly message: string;
  /** ApplyOptions.actor; '' for revisions written without one (and before actors were kept). */
  readonly actor: string;
  /** ApplyOptions.traceparent; absent for revisions written without one (and before they were kept). */
  readonly traceparent?: string;
  readonly changes: ReadonlyArray<
    ResourceKey & { readonly op: 'put' | 'delete'; readonly version?: string }
  >;
}

export interface Watch {
  close(): void;
}

/**
 * A named lease: at most one holder at a time, until `expiresAt` unless renewed. Leases are not
 * resources: they create no revision, no history and no watch event. Expiry is judged by the
 * clock of the replica that asks (replicas sharing a SQLite file share a host; a networked store
 * maps this to its own leases, e.g. etcd's).
 */
export interface Lease {
  readonly name: string;
  readonly holder: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

export interface LeaseOutcome {
  /** True when `holder` holds the lease after the call. */
  readonly held: boolean;
  /** The lease as it is after the call (the other holder's when not held; undefined if free). */
  readonly lease: Lease | undefined;
}

/**
 * A leased record (ResourceStore.putLeased): a small keyed value that belongs to a holder (a
 * replica) and lives only as long as that holder does. Not a resource: no revision, no history, no
 * resource watch event.
 */
export interface LeasedRecord {
  readonly namespace: string;
  readonly key: string;
  readonly holder: string;
  readonly value: Uint8Array;
}

/**
 * What a leased-record watcher is told. Level-based: a watcher learns each key's latest value, not
 * every write (two puts in quick succession may arrive as one). When `reset` is true, `puts` is the
 * namespace's complete content and everything seen before is forgotten: the first event of a
 * watch is one, and so is the first after the store lost and regained its connection (the watcher
 * may have missed changes meanwhile).
 */
export interface LeasedEvent {
  readonly reset: boolean;
  readonly puts: readonly LeasedRecord[];
  /** Keys removed: deleted by their holder or expired with it. */
  readonly deletes: readonly string[];
}

export interface ResourceStore {
  /**
   * Applies every mutation or none (a crash leaves either the whole batch or nothing), and
   * resolves only once the batch is durable. Throws FerryError FERRY_CONFLICT on a revision
   * mismatch. A batch that changes nothing creates no revision.
   */
  apply(mutations: readonly Mutation[], options?: ApplyOptions): Promise<ApplyResult>;
  /** Current state, consistent with the returned revision. */
  list(filter?: ListFilter): Promise<StoreSnapshot>;
  /**
   * State as it was at `revision` (FERRY_NOT_FOUND if the store never had it,
   * FERRY_REVISION_TRIMMED if it is older than the log's base).
   */
  listAt(revision: number, filter?: ListFilter): Promise<StoreSnapshot>;
  /** Newest first; only revisions after the log's base (older ones were trimmed). */
  history(limit?: number): Promise<HistoryEntry[]>;
  currentRevision(): Promise<number>;
  /**
   * The log's base: the revisions up to it were trimmed, their history is gone, and the state at
   * the base itself is kept (listAt, rollback). 0 until the log is first trimmed.
   */
  historyBase(): Promise<number>;
  /**
   * Trims the oldest revisions after the base, up to `request.throughRevision`, in one
   * transaction: their history entries and changes go, and the state at the new base is kept as
   * the base snapshot. Safe while other callers apply (the newest revision is never trimmed) and
   * while another store object trims the same store (one of them trims each revision).
   */
  trimHistory(request: TrimRequest): Promise<TrimResult>;
  /**
   * Calls `onEvent` for every revision after `fromRevision`, in order, first the past ones then
   * live ones, each exactly once. When revisions after `fromRevision` were trimmed (or are
   * trimmed while the watcher lags behind), it first gets a reset event (ChangeEvent.reset) with
   * the state at the base, then every revision after the base. The callback must not throw.
   */
  watch(fromRevision: number, onEvent: (event: ChangeEvent) => void): Watch;
  /**
   * Takes lease `name` for `holder` for `ttlMs` from now when it is free, expired, or already
   * held by `holder` (then it is extended). Atomic: of concurrent callers at most one holds it.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome>;
  /**
   * Extends the lease for `ttlMs` from now only while `holder` still holds it (not expired); a
   * holder whose lease lapsed must acquire again, and learns here that it lost it.
   */
  renewLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome>;
  /** Frees the lease if `holder` holds it; does nothing otherwise. */
  releaseLease(name: string, holder: string): Promise<void>;
  /**
   * Stores `value` under (`namespace`, `key`) for `holder`, replacing whatever record the key had
   * (another holder's included). The record lives while this store object stays open: it renews
   * the holder's records in the background (etcd: a kept-alive etcd lease per holder; SQLite and
   * memory: an expiry time pushed forward every ttlMs/3). When the process dies or closes the store,
   * its records expire `ttlMs` later (etcd rounds up to whole seconds).
   */
  putLeased(
    namespace: string,
    key: string,
    holder: string,
    value: Uint8Array,
    ttlMs: number,
  ): Promise<void>;
  /** Deletes the record only while `holder` owns it; true when it did. */
  deleteLeased(namespace: string, key: string, holder: string): Promise<boolean>;
  /** The namespace's live records, sorted by key. */
  listLeased(namespace: string): Promise<LeasedRecord[]>;
  /**
   * Follows a namespace: the first event (a reset with the current content) arrives after this
   * call returns, then changes in the order the store saw them, expiries included. Expiry is seen
   * within a poll interval (SQLite, memory) or when etcd's leader expires the lease. The callback
   * must not throw.
   */
  watchLeased(namespace: string, onEvent: (event: LeasedEvent) => void): Watch;
  /** Stops watches and releases files or connections; idempotent. */
  close(): Promise<void>;
}

/** Throws on a lease request no store can honour (every implementation checks the same way). */
export function checkLeaseRequest(name: string, holder: string, ttlMs?: number): void {
  if (name === '' || holder === '') throw new RangeError('lease name and holder must be non-empty');
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) {
    throw new RangeError(`lease ttl must be a positive number of milliseconds, got ${ttlMs}`);
  }
}

/** Throws on a leased-record request no store can honour. */
export function checkLeasedRequest(
  namespace: string,
  key: string,
  holder: string,
  ttlMs?: number,
): void {
  if (namespace === '' || key === '' || holder === '') {
    throw new RangeError('leased record namespace, key and holder must be non-empty');
  }
  if (namespace.includes('/')) throw new RangeError(`leased namespace "${namespace}" contains "/"`);
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) {
    throw new RangeError(
      `leased record ttl must be a positive number of milliseconds, got ${ttlMs}`,
    );
  }
}

export function keyOf(k: ResourceKey): string {
  return `${k.typeUrl}\u0000${k.group}\u0000${k.name}`;
}

export function matchesFilter(r: ResourceKey, filter: ListFilter | undefined): boolean {
  if (!filter) return true;
  return (
    (filter.typeUrl === undefined || r.typeUrl === filter.typeUrl) &&
    (filter.group === undefined || r.group === filter.group) &&
    (filter.name === undefined || r.name === filter.name)
  );
}

/** The reset event (ChangeEvent.reset) for the state `resources` at `revision`. */
export function resetEvent(revision: number, resources: Iterable<StoredResource>): ChangeEvent {
  const changes: Mutation[] = [];
  for (const r of resources) {
    changes.push({
      op: 'put',
      typeUrl: r.typeUrl,
      group: r.group,
      name: r.name,
      value: r.value,
      version: r.version,
    });
  }
  return { revision, changes, reset: true };
}
