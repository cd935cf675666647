/**
 * Where the etcd store keeps what, under the prefix named in `--store etcd://.../PREFIX`
 * (docs/architecture.md, "The store on etcd"):
 *
 *   PREFIX/meta/revision           Ferry's revision counter (decimal); every apply's final txn
 *                                  compares its mod_revision, so it is the optimistic lock
 *   PREFIX/meta/applied            the newest revision whose changes are in res/ (decimal); it
 *                                  trails meta/revision only while a big batch is being copied
 *   PREFIX/meta/base               the log's base (decimal; absent: 0): the revisions up to it
 *                                  were trimmed, base/ holds the state at it
 *   PREFIX/meta/trimming           set only while one revision too big for one transaction is
 *                                  being folded into base/ (store-etcd-trim.ts): readers take it
 *                                  as the base and fold log entries after meta/base over base/
 *   PREFIX/res/TYPE\0GROUP\0NAME   each current resource (version, revision, value bytes)
 *   PREFIX/base/TYPE\0GROUP\0NAME  each resource as it was at the base (same encoding as res/)
 *   PREFIX/log/REVISION            one entry per Ferry revision: time, message, actor, and which
 *                                  chunks hold its changes (REVISION zero-padded to 16 digits, so
 *                                  key order is revision order)
 *   PREFIX/chunk/STAGE/INDEX       the changes of one revision, values included, in batch order
 *   PREFIX/lease/NAME              a named lease's holder, attached to an etcd lease
 *   PREFIX/leased/NAMESPACE/KEY    a leased record (holder and value), attached to its holder's
 *                                  etcd lease (store-etcd-leased.ts)
 *
 * Keys are bytes; type URLs, groups and names are non-empty and separated by NUL, so a prefix
 * range over `res/TYPE\0GROUP\0` holds exactly one group's resources of one type.
 */
import type { ListFilter, ResourceKey } from './store.js';

export interface KeyRange {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
}

const REVISION_DIGITS = 16;

export class EtcdLayout {
  readonly root: string;
  readonly revisionKey: Buffer;
  readonly appliedKey: Buffer;
  readonly baseRevisionKey: Buffer;
  readonly trimmingKey: Buffer;
  private readonly resPrefix: string;
  private readonly basePrefix: string;
  private readonly logPrefix: string;

  /** `prefix` as given in the URL path ("/ferry", "/team-a/ferry"); "" means "/ferry". */
  constructor(prefix: string) {
    const trimmed = prefix.replace(/\/+$/, '');
    this.root = `${trimmed === '' ? '/ferry' : trimmed}/`;
    this.revisionKey = Buffer.from(`${this.root}meta/revision`);
    this.appliedKey = Buffer.from(`${this.root}meta/applied`);
    this.baseRevisionKey = Buffer.from(`${this.root}meta/base`);
    this.trimmingKey = Buffer.from(`${this.root}meta/trimming`);
    this.resPrefix = `${this.root}res/`;
    this.basePrefix = `${this.root}base/`;
    this.logPrefix = `${this.root}log/`;
  }

  get meta(): KeyRange {
    return prefixRange(Buffer.from(`${this.root}meta/`));
  }

  resourceKey(k: ResourceKey): Buffer {
    return Buffer.from(`${this.resPrefix}${k.typeUrl}\u0000${k.group}\u0000${k.name}`);
  }

  /** The narrowest key range that holds every resource matching `filter`. */
  resourceRange(filter: ListFilter | undefined): KeyRange {
    let prefix = this.resPrefix;
    if (filter?.typeUrl !== undefined) {
      prefix += `${filter.typeUrl}\u0000`;
      if (filter.group !== undefined) {
        prefix += `${filter.group}\u0000`;
        if (filter.name !== undefined) {
          const key = Buffer.from(prefix + filter.name);
          return { key, rangeEnd: Buffer.concat([key, Buffer.of(0)]) };
        }
      }
    }
    return prefixRange(Buffer.from(prefix));
  }

  resourceKeyOf(key: Buffer): ResourceKey {
    const [typeUrl, group, name] = key
      .subarray(Buffer.byteLength(this.resPrefix))
      .toString('utf8')
      .split('\u0000');
    return { typeUrl: typeUrl!, group: group!, name: name! };
  }

  baseKey(k: ResourceKey): Buffer {
    return Buffer.from(`${this.basePrefix}${k.typeUrl}\u0000${k.group}\u0000${k.name}`);
  }

  get baseRange(): KeyRange {
    return prefixRange(Buffer.from(this.basePrefix));
  }

  baseKeyOf(key: Buffer): ResourceKey {
    const [typeUrl, group, name] = key
      .subarray(Buffer.byteLength(this.basePrefix))
      .toString('utf8')
      .split('\u0000');
    return { typeUrl: typeUrl!, group: group!, name: name! };
  }

  logKey(revision: number): Buffer {
    return Buffer.from(this.logPrefix + String(revision).padStart(REVISION_DIGITS, '0'));
  }

  /** Log entries with `after < revision <= upTo`. */
  logRange(after: number, upTo: number): KeyRange {
    return { key: this.logKey(after + 1), rangeEnd: this.logKey(upTo + 1) };
  }

  revisionOfLogKey(key: Buffer): number {
    return Number(key.subarray(Buffer.byteLength(this.logPrefix)).toString('ascii'));
  }

  chunkKey(stage: string, index: number): Buffer {
    return Buffer.from(`${this.root}chunk/${stage}/${String(index).padStart(6, '0')}`);
  }

  chunkRange(stage: string): KeyRange {
    return prefixRange(Buffer.from(`${this.root}chunk/${stage}/`));
  }

  leaseKey(name: string): Buffer {
    return Buffer.from(`${this.root}lease/${name}`);
  }
}

/** Every key starting with `prefix` (etcd's range_end convention: the prefix plus one). */
export function prefixRange(prefix: Buffer): KeyRange {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return { key: prefix, rangeEnd: end.subarray(0, i + 1) };
    }
  }
  return { key: prefix, rangeEnd: Buffer.of(0) };
}
