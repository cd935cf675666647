/**
 * In-memory ResourceStore for unit tests: the same semantics as the durable stores (atomic
 * batches, revisions, history, ordered watches), nothing persisted.
 */
import {
  checkLeaseRequest,
  checkLeasedRequest,
  keyOf,
  matchesFilter,
  resetEvent,
  type ApplyOptions,
  type ApplyResult,
  type ChangeEvent,
  type HistoryEntry,
  type Lease,
  type LeaseOutcome,
  type LeasedEvent,
  type LeasedRecord,
  type ListFilter,
  type Mutation,
  type ResourceStore,
  type StoreSnapshot,
  type StoredResource,
  type TrimRequest,
  type TrimResult,
  type Watch,
} from './store.js';
import {
  checkTrimRequest,
  noSuchRevision,
  revisionConflict,
  revisionTrimmed,
  settle,
  storeClosed,
} from './store-errors.js';
import { netChanges } from './store-net-changes.js';
import { WatchHub } from './store-watch-hub.js';
import { LocalLeased } from './store-leased-local.js';

export interface MemoryStoreOptions {
  /** How often leased-record watchers look for expiries (default 100). */
  readonly leasedPollIntervalMs?: number;
}

interface LoggedRevision extends ChangeEvent {
  readonly time: string;
  readonly message: string;
  readonly actor: string;
  /** Date.parse(time), for trimming by age. */
  readonly timeMs: number;
}

export class MemoryStore implements ResourceStore {
  private revision = 0;
  private readonly current = new Map<string, StoredResource>();
  /** The log's base (historyBase) and the state at it. */
  private base = 0;
  private readonly baseState = new Map<string, StoredResource>();
  /** Index i holds revision base + i + 1: every kept revision has an entry, so lookups are direct. */
  private log: LoggedRevision[] = [];
  private readonly hub = new WatchHub({
    latestRevision: () => this.revision,
    eventsBetween: (after, upTo, limit) => {
      if (after < this.base) {
        return [resetEvent(this.base, this.baseState.values())];
      }
      return this.log
        .slice(after - this.base, Math.min(upTo, after + limit) - this.base)
        .map(({ revision, changes, traceparent }) =>
          traceparent === undefined ? { revision, changes } : { revision, changes, traceparent },
        );
    },
  });
  private readonly leases = new Map<string, Lease>();
  /** namespace\0key → record and its expiry (epoch ms). */
  private readonly leased = new Map<string, { record: LeasedRecord; expiresAt: number }>();
  private readonly leasedWatch: LocalLeased;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.leasedWatch = new LocalLeased(
      {
        read: (namespace, now) => this.liveLeased(namespace, now),
        renew: (holder, expiresAt) => {
          for (const e of this.leased.values()) {
            if (e.record.holder === holder) e.expiresAt = expiresAt;
          }
        },
      },
      options.leasedPollIntervalMs ?? 100,
      (err) => process.emitWarning(`ferry memory store: ${err.message}`, 'FerryStoreWarning'),
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
      if (this.closed) throw storeClosed();
      const now = Date.now();
      for (const [k, e] of this.leased) if (e.expiresAt <= now) this.leased.delete(k);
      const record = { namespace, key, holder, value: Uint8Array.from(value) };
      this.leased.set(`${namespace}\u0000${key}`, { record, expiresAt: now + ttlMs });
      this.leasedWatch.keepAlive(holder, ttlMs);
      this.leasedWatch.notify();
    });
  }

  deleteLeased(namespace: string, key: string, holder: string): Promise<boolean> {
    return settle(() => {
      checkLeasedRequest(namespace, key, holder);
      if (this.closed) throw storeClosed();
      const id = `${namespace}\u0000${key}`;
      const found = this.leased.get(id);
      if (found?.record.holder !== holder || found.expiresAt <= Date.now()) return false;
      this.leased.delete(id);
      this.leasedWatch.notify();
      return true;
    });
  }

  listLeased(namespace: string): Promise<LeasedRecord[]> {
    return settle(() => {
      checkLeasedRequest(namespace, '-', '-');
      if (this.closed) throw storeClosed();
      return this.liveLeased(namespace, Date.now());
    });
  }

  private liveLeased(namespace: string, now: number): LeasedRecord[] {
    return [...this.leased.values()]
      .filter((e) => e.record.namespace === namespace && e.expiresAt > now)
      .map((e) => e.record)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  watchLeased(namespace: string, onEvent: (event: LeasedEvent) => void): Watch {
    checkLeasedRequest(namespace, '-', '-');
    if (this.closed) throw storeClosed();
    return this.leasedWatch.watch(namespace, onEvent);
  }

  apply(mutations: readonly Mutation[], options: ApplyOptions = {}): Promise<ApplyResult> {
    return settle(() => this.applyNow(mutations, options));
  }

  private applyNow(mutations: readonly Mutation[], options: ApplyOptions): ApplyResult {
    if (this.closed) throw storeClosed();
    if (options.expectedRevision !== undefined && options.expectedRevision !== this.revision) {
      throw revisionConflict(this.revision, options.expectedRevision);
    }
    const changes = netChanges(mutations, (k) => this.current.get(keyOf(k))?.version);
    if (changes.length === 0) return { revision: this.revision, changes };
    const revision = ++this.revision;
    for (const m of changes) {
      if (m.op === 'put') this.current.set(keyOf(m), storedFrom(m, revision));
      else this.current.delete(keyOf(m));
    }
    const now = new Date();
    this.log.push({
      revision,
      changes,
      timeMs: now.getTime(),
      time: now.toISOString(),
      message: options.message ?? '',
      actor: options.actor ?? '',
      ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
    });
    this.hub.notify();
    return { revision, changes };
  }

  list(filter?: ListFilter): Promise<StoreSnapshot> {
    if (this.closed) return Promise.reject(storeClosed());
    const resources = [...this.current.values()].filter((r) => matchesFilter(r, filter));
    return Promise.resolve({ revision: this.revision, resources });
  }

  listAt(revision: number, filter?: ListFilter): Promise<StoreSnapshot> {
    if (this.closed) return Promise.reject(storeClosed());
    if (!Number.isSafeInteger(revision) || revision < 0 || revision > this.revision) {
      return Promise.reject(noSuchRevision(revision, this.revision));
    }
    if (revision < this.base) return Promise.reject(revisionTrimmed(revision, this.base));
    const state = new Map(this.baseState);
    for (const e of this.log.slice(0, revision - this.base)) {
      for (const m of e.changes) {
        if (m.op === 'put') state.set(keyOf(m), storedFrom(m, e.revision));
        else state.delete(keyOf(m));
      }
    }
    const resources = [...state.values()].filter((r) => matchesFilter(r, filter));
    return Promise.resolve({ revision, resources });
  }

  history(limit = 50): Promise<HistoryEntry[]> {
    if (this.closed) return Promise.reject(storeClosed());
    // slice(-0) would return everything.
    const newest = limit > 0 ? this.log.slice(-limit) : [];
    return Promise.resolve(
      newest.reverse().map((e) => ({
        revision: e.revision,
        time: e.time,
        message: e.message,
        actor: e.actor,
        ...(e.traceparent !== undefined ? { traceparent: e.traceparent } : {}),
        changes: e.changes.map((m) =>
          m.op === 'put'
            ? { op: m.op, typeUrl: m.typeUrl, group: m.group, name: m.name, version: m.version }
            : { op: m.op, typeUrl: m.typeUrl, group: m.group, name: m.name },
        ),
      })),
    );
  }

  currentRevision(): Promise<number> {
    if (this.closed) return Promise.reject(storeClosed());
    return Promise.resolve(this.revision);
  }

  historyBase(): Promise<number> {
    if (this.closed) return Promise.reject(storeClosed());
    return Promise.resolve(this.base);
  }

  trimHistory(request: TrimRequest): Promise<TrimResult> {
    return settle(() => {
      checkTrimRequest(request);
      if (this.closed) throw storeClosed();
      const through = Math.min(request.throughRevision, this.revision - 1);
      let count = 0;
      while (count < request.maxRevisions && this.base + count < through) {
        const entry = this.log[count]!;
        if (request.recordedBefore !== undefined && !(entry.timeMs < request.recordedBefore)) break;
        count++;
      }
      for (const e of this.log.slice(0, count)) {
        for (const m of e.changes) {
          if (m.op === 'put') this.baseState.set(keyOf(m), storedFrom(m, e.revision));
          else this.baseState.delete(keyOf(m));
        }
      }
      this.log = this.log.slice(count);
      this.base += count;
      return { base: this.base, trimmed: count };
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
      if (this.closed) throw storeClosed();
      if (this.leases.get(name)?.holder === holder) this.leases.delete(name);
    });
  }

  private leaseWrite(name: string, holder: string, ttlMs: number, mayTake: boolean): LeaseOutcome {
    checkLeaseRequest(name, holder, ttlMs);
    if (this.closed) throw storeClosed();
    const now = Date.now();
    const current = this.leases.get(name);
    const live = current !== undefined && current.expiresAt > now;
    if ((live && current.holder === holder) || (mayTake && !live)) {
      const lease = { name, holder, expiresAt: now + ttlMs };
      this.leases.set(name, lease);
      return { held: true, lease };
    }
    return { held: false, lease: live ? current : undefined };
  }

  watch(fromRevision: number, onEvent: (event: ChangeEvent) => void): Watch {
    if (this.closed) throw storeClosed();
    return this.hub.add(fromRevision, onEvent);
  }

  close(): Promise<void> {
    this.closed = true;
    this.hub.close();
    this.leasedWatch.close();
    return Promise.resolve();
  }
}

function storedFrom(m: Mutation & { op: 'put' }, revision: number): StoredResource {
  return {
    typeUrl: m.typeUrl,
    group: m.group,
    name: m.name,
    value: m.value,
    version: m.version,
    revision,
  };
}
