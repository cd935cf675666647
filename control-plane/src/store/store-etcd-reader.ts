/**
 * Reads of the etcd store's keys (layout: store-etcd-layout.ts): Ferry's head (counter, applied),
 * the revision log with its change chunks, and paged ranges that can be pinned to one etcd
 * revision so that several reads form one consistent view.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { FerryError } from '@ferry/shared';
import type { ListFilter, Mutation, StoredResource } from './store.js';
import { keyOf, matchesFilter } from './store.js';
import {
  decodeChangeChunk,
  decodeLogHeader,
  decodeResource,
  type LogHeader,
} from './store-etcd-codec.js';
import type { EtcdLayout, KeyRange } from './store-etcd-layout.js';
import { MAX_TXN_OPS } from './store-etcd-txn.js';

export interface Head {
  /** Ferry's revision. */
  readonly revision: number;
  /** The counter key's etcd mod_revision ('0' while absent): the optimistic lock. */
  readonly modRevision: string;
  /** The newest revision copied into res/. */
  readonly applied: number;
  /** The log's base as readers see it: revisions up to it are trimmed (meta/trimming, else meta/base). */
  readonly base: number;
  /** meta/base: base/ holds the state at it, plus possibly part of the revisions up to `base`. */
  readonly baseComplete: number;
  /** The etcd revision this was read at; later reads pin it for one consistent view. */
  readonly etcdRevision: string;
}

export interface LogEntry {
  readonly revision: number;
  readonly header: LogHeader;
  readonly changes: Mutation[];
}

/** Keys per range page, so a large group is not one huge response. */
const PAGE_KEYS = 500;

export class EtcdReader {
  constructor(
    private readonly client: Etcd3,
    private readonly layout: EtcdLayout,
    private readonly where: string,
  ) {}

  /** The stored versions of the keys `mutations` touch (absent keys are missing from the map). */
  async currentVersions(mutations: readonly Mutation[]): Promise<Map<string, string>> {
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

  async readHead(etcdRevision?: string): Promise<Head> {
    const meta = this.layout.meta;
    const res = await this.client.kv.range({
      key: meta.key,
      range_end: meta.rangeEnd,
      ...(etcdRevision !== undefined ? { revision: etcdRevision } : {}),
    });
    let revision = 0;
    let modRevision = '0';
    let applied = 0;
    let baseComplete = 0;
    let trimming = 0;
    for (const kv of res.kvs) {
      if (kv.key.equals(this.layout.revisionKey)) {
        revision = Number(kv.value.toString('ascii'));
        modRevision = kv.mod_revision;
      } else if (kv.key.equals(this.layout.appliedKey)) {
        applied = Number(kv.value.toString('ascii'));
      } else if (kv.key.equals(this.layout.baseRevisionKey)) {
        baseComplete = Number(kv.value.toString('ascii'));
      } else if (kv.key.equals(this.layout.trimmingKey)) {
        trimming = Number(kv.value.toString('ascii'));
      }
    }
    return {
      revision,
      modRevision,
      applied,
      base: Math.max(baseComplete, trimming),
      baseComplete,
      etcdRevision: res.header.revision,
    };
  }

  /**
   * The state at `head.base`, read at `head.etcdRevision`: base/, with the log entries a trim in
   * progress has not finished folding in (after meta/base, up to the base) folded over it.
   */
  async readBase(head: Head, filter?: ListFilter): Promise<Map<string, StoredResource>> {
    const byKey = new Map<string, StoredResource>();
    for (const kv of await this.rangeAll(this.layout.baseRange, head.etcdRevision)) {
      const resource = decodeResource(this.layout.baseKeyOf(kv.key), kv.value);
      if (matchesFilter(resource, filter)) byKey.set(keyOf(resource), resource);
    }
    if (head.baseComplete < head.base) {
      const pending = await this.readLog(head.baseComplete, head.base, head.etcdRevision);
      for (const entry of pending) fold(byKey, entry, filter);
    }
    return byKey;
  }

  /** Log entries with `after < revision <= upTo`, ascending, with their changes. */
  async readLog(after: number, upTo: number, etcdRevision?: string): Promise<LogEntry[]> {
    if (upTo <= after) return [];
    const kvs = await this.rangeAll(this.layout.logRange(after, upTo), etcdRevision);
    return Promise.all(kvs.map((kv) => this.entryOf(kv, etcdRevision)));
  }

  async entryOf(kv: IKeyValue, etcdRevision?: string): Promise<LogEntry> {
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
  async rangeAll(range: KeyRange, etcdRevision?: string): Promise<IKeyValue[]> {
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
}

export function fold(
  byKey: Map<string, StoredResource>,
  entry: LogEntry,
  filter?: ListFilter,
): void {
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

export function sorted(byKey: Map<string, StoredResource>): StoredResource[] {
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}
