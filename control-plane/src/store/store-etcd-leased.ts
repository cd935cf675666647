/**
 * Leased records on etcd (ResourceStore.putLeased): PREFIX/leased/NAMESPACE/KEY holds the holder's
 * name and the value, attached to one etcd lease per holder that this store object keeps alive
 * (etcd3's keepalive). When the process dies the keepalives stop and etcd's leader deletes the
 * holder's keys once the TTL runs out, so replicas' clocks do not matter. Watchers list the
 * namespace with a range read, then follow an etcd watch from the revision after it; on a
 * reconnect or a cancelled watch they list again and get a reset.
 *
 * Value encoding: 2 bytes (big-endian) holder length, the holder in UTF-8, then the value bytes.
 */
import type { Etcd3, IKeyValue, Lease as EtcdLease, Watcher } from 'etcd3';
import type { LeasedEvent, LeasedRecord, Watch } from './store.js';

interface HolderLease {
  readonly ttlSeconds: number;
  lease: EtcdLease;
  /** Keys written under this lease by this store object, re-written if the lease is lost. */
  readonly records: Map<string, Buffer>;
}

export class EtcdLeased {
  private readonly holders = new Map<string, HolderLease>();
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly root: string,
    private readonly onError: (err: Error) => void,
  ) {}

  async put(
    namespace: string,
    key: string,
    holder: string,
    value: Uint8Array,
    ttlMs: number,
  ): Promise<void> {
    const held = this.holderLease(holder, Math.ceil(ttlMs / 1000));
    const etcdKey = this.key(namespace, key);
    const encoded = encode(holder, value);
    held.records.set(etcdKey, encoded);
    await this.client.kv.put({
      key: Buffer.from(etcdKey),
      value: encoded,
      lease: await held.lease.grant(),
    });
    // Another holder may have held the key: it is now ours, and no longer theirs to re-write.
    for (const [other, h] of this.holders) if (other !== holder) h.records.delete(etcdKey);
  }

  async delete(namespace: string, key: string, holder: string): Promise<boolean> {
    const etcdKey = Buffer.from(this.key(namespace, key));
    const current = (await this.client.kv.range({ key: etcdKey })).kvs[0];
    if (current === undefined || decode(namespace, key, current.value).holder !== holder) {
      return false;
    }
    const res = await this.client.kv.txn({
      compare: [
        { key: etcdKey, target: 'Mod', result: 'Equal', mod_revision: current.mod_revision },
      ],
      success: [{ request_delete_range: { key: etcdKey } }],
    });
    if (res.succeeded) this.holders.get(holder)?.records.delete(etcdKey.toString());
    return res.succeeded;
  }

  async list(namespace: string): Promise<{ revision: string; records: LeasedRecord[] }> {
    const prefix = Buffer.from(this.key(namespace, ''));
    const res = await this.client.kv.range({ key: prefix, range_end: prefixEnd(prefix) });
    return {
      revision: res.header.revision,
      records: res.kvs.map((kv) => this.recordOf(namespace, kv)),
    };
  }

  watch(namespace: string, onEvent: (event: LeasedEvent) => void): Watch {
    let active = true;
    let watcher: Watcher | undefined;
    let retry: NodeJS.Timeout | undefined;
    const prefix = this.key(namespace, '');
    const restart = (): void => {
      void watcher?.cancel().catch(() => undefined);
      watcher = undefined;
      clearTimeout(retry);
      retry = setTimeout(() => void cycle(), 200);
    };
    const cycle = async (): Promise<void> => {
      if (!active || this.closed) return;
      try {
        const listed = await this.list(namespace);
        if (!active || this.closed) return;
        deliver(onEvent, { reset: true, puts: listed.records, deletes: [] });
        const next = String(BigInt(listed.revision) + 1n);
        const w = await this.client.watch().prefix(prefix).startRevision(next).create();
        if (!active || this.closed) {
          void w.cancel().catch(() => undefined);
          return;
        }
        watcher = w;
        w.on('put', (kv) => {
          deliver(onEvent, { reset: false, puts: [this.recordOf(namespace, kv)], deletes: [] });
        });
        w.on('delete', (kv) => {
          const k = kv.key.toString().slice(prefix.length);
          deliver(onEvent, { reset: false, puts: [], deletes: [k] });
        });
        // Events may have been missed while disconnected: list again and reset.
        w.on('disconnected', () => {
          if (watcher === w) restart();
        });
        w.on('error', (err: Error) => {
          if (watcher !== w) return;
          this.onError(err);
          restart();
        });
      } catch (err) {
        this.onError(err instanceof Error ? err : new Error(String(err)));
        if (active && !this.closed) retry = setTimeout(() => void cycle(), 500);
      }
    };
    // The first event arrives after this call returns.
    queueMicrotask(() => void cycle());
    return {
      close: () => {
        active = false;
        clearTimeout(retry);
        void watcher?.cancel().catch(() => undefined);
        watcher = undefined;
      },
    };
  }

  /** Stops keepalives without revoking: the records expire with the TTL, as after a crash. */
  close(): void {
    this.closed = true;
    for (const h of this.holders.values()) h.lease.release();
    this.holders.clear();
  }

  private holderLease(holder: string, ttlSeconds: number): HolderLease {
    const current = this.holders.get(holder);
    if (current && current.ttlSeconds === ttlSeconds) return current;
    const held: HolderLease = {
      ttlSeconds,
      lease: this.newLease(holder, ttlSeconds),
      records: current?.records ?? new Map<string, Buffer>(),
    };
    current?.lease.release();
    this.holders.set(holder, held);
    return held;
  }

  /**
   * A lease whose keepalives failed past its TTL is gone with its keys; the holder still lives,
   * so its records are written again under a new lease, a second later (etcd may be down: no
   * tight loop of failing grants). Puts in between fail and their callers retry.
   */
  private newLease(holder: string, ttlSeconds: number): EtcdLease {
    const lease = this.client.lease(ttlSeconds);
    lease.on('lost', (err: Error) => {
      if (this.closed || this.holders.get(holder)?.lease !== lease) return;
      this.onError(err);
      const timer = setTimeout(() => {
        const held = this.holders.get(holder);
        if (this.closed || held?.lease !== lease) return;
        held.lease = this.newLease(holder, ttlSeconds);
        void this.rewrite(held).catch((e: unknown) =>
          this.onError(e instanceof Error ? e : new Error(String(e))),
        );
      }, 1000);
      timer.unref();
    });
    return lease;
  }

  private async rewrite(held: HolderLease): Promise<void> {
    const id = await held.lease.grant();
    for (const [key, value] of held.records) {
      await this.client.kv.put({ key: Buffer.from(key), value, lease: id });
    }
  }

  private key(namespace: string, key: string): string {
    return `${this.root}leased/${namespace}/${key}`;
  }

  private recordOf(namespace: string, kv: IKeyValue): LeasedRecord {
    const key = kv.key.toString().slice(this.key(namespace, '').length);
    return decode(namespace, key, kv.value);
  }
}

function encode(holder: string, value: Uint8Array): Buffer {
  const h = Buffer.from(holder, 'utf8');
  const head = Buffer.alloc(2);
  head.writeUInt16BE(h.length);
  return Buffer.concat([head, h, value]);
}

function decode(namespace: string, key: string, raw: Buffer): LeasedRecord {
  const length = raw.readUInt16BE(0);
  return {
    namespace,
    key,
    holder: raw.subarray(2, 2 + length).toString('utf8'),
    value: new Uint8Array(raw.subarray(2 + length)),
  };
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  return end;
}

function deliver(onEvent: (event: LeasedEvent) => void, event: LeasedEvent): void {
  try {
    onEvent(event);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
