/**
 * Leased records for the stores whose expiry is judged by the clock (memory, SQLite): each record
 * carries an expiry time; this module keeps the holders this store object wrote for alive (pushing
 * their expiry forward every ttl/3, the analogue of an etcd keepalive) and serves watchers by
 * reading the namespace on every local write and on a poll, diffing against what each watcher was
 * last told. The poll is what shows other processes' writes (several control planes may share one
 * SQLite file) and expiries, so both are seen within one poll interval.
 */
import type { LeasedEvent, LeasedRecord, Watch } from './store.js';

/** The table the records live in; calls are synchronous and see committed data only. */
export interface LeasedTable {
  /** Live records of `namespace` (expiry after `now`), sorted by key. */
  read(namespace: string, now: number): LeasedRecord[];
  /** Sets the expiry of every record of `holder`. */
  renew(holder: string, expiresAt: number): void;
}

interface LeasedWatcher {
  readonly namespace: string;
  readonly onEvent: (event: LeasedEvent) => void;
  /** What the watcher was last told; undefined until its first (reset) event. */
  seen: Map<string, LeasedRecord> | undefined;
  active: boolean;
}

export class LocalLeased {
  private readonly watchers = new Set<LeasedWatcher>();
  /** holder → renewal timer of the holders this store object wrote for. */
  private readonly holders = new Map<string, { ttlMs: number; timer: NodeJS.Timeout }>();
  private pollTimer: NodeJS.Timeout | undefined;
  private drainScheduled = false;
  private closed = false;

  constructor(
    private readonly table: LeasedTable,
    private readonly pollIntervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Keeps `holder`'s records alive with `ttlMs` from now on (the latest ttl wins). */
  keepAlive(holder: string, ttlMs: number): void {
    const current = this.holders.get(holder);
    if (current?.ttlMs === ttlMs || this.closed) return;
    if (current) clearInterval(current.timer);
    const timer = setInterval(
      () => {
        try {
          this.table.renew(holder, Date.now() + ttlMs);
        } catch (err) {
          this.onError(err instanceof Error ? err : new Error(String(err)));
        }
      },
      Math.max(1, Math.floor(ttlMs / 3)),
    );
    // Renewal must not keep the process alive; close() is what ends a store.
    timer.unref();
    this.holders.set(holder, { ttlMs, timer });
  }

  watch(namespace: string, onEvent: (event: LeasedEvent) => void): Watch {
    const watcher: LeasedWatcher = { namespace, onEvent, seen: undefined, active: true };
    this.watchers.add(watcher);
    if (this.pollTimer === undefined) {
      this.pollTimer = setInterval(() => this.drain(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
    this.notify();
    return {
      close: () => {
        watcher.active = false;
        this.watchers.delete(watcher);
        if (this.watchers.size === 0) this.stopPolling();
      },
    };
  }

  /** Something was written here: watchers hear of it on a microtask, after the write returns. */
  notify(): void {
    if (this.drainScheduled || this.closed || this.watchers.size === 0) return;
    this.drainScheduled = true;
    queueMicrotask(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  close(): void {
    this.closed = true;
    this.stopPolling();
    for (const { timer } of this.holders.values()) clearInterval(timer);
    this.holders.clear();
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private drain(): void {
    if (this.closed) return;
    const now = Date.now();
    const byNamespace = new Map<string, LeasedRecord[]>();
    for (const w of [...this.watchers]) {
      if (!w.active || this.closed) continue;
      let records = byNamespace.get(w.namespace);
      if (!records) {
        try {
          records = this.table.read(w.namespace, now);
        } catch (err) {
          // The watchers keep what they were told; the next poll retries.
          this.onError(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        byNamespace.set(w.namespace, records);
      }
      const event = diff(w.seen, records);
      w.seen = new Map(records.map((r) => [r.key, r]));
      if (event) deliver(w.onEvent, event);
    }
  }
}

/** The event that takes a watcher from `seen` to `now`; undefined when nothing changed. */
function diff(
  seen: Map<string, LeasedRecord> | undefined,
  now: readonly LeasedRecord[],
): LeasedEvent | undefined {
  if (seen === undefined) return { reset: true, puts: now, deletes: [] };
  const puts: LeasedRecord[] = [];
  const keys = new Set<string>();
  for (const r of now) {
    keys.add(r.key);
    const before = seen.get(r.key);
    if (before?.holder !== r.holder || !sameBytes(before.value, r.value)) puts.push(r);
  }
  const deletes = [...seen.keys()].filter((k) => !keys.has(k));
  return puts.length > 0 || deletes.length > 0 ? { reset: false, puts, deletes } : undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function deliver(onEvent: (event: LeasedEvent) => void, event: LeasedEvent): void {
  try {
    onEvent(event);
  } catch (err) {
    // The contract forbids throwing; surface the bug without stopping other watchers.
    queueMicrotask(() => {
      throw err;
    });
  }
}
