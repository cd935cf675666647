/**
 * Turns the `--store` flag into a ResourceStore. Schemes:
 *   sqlite:PATH      the embedded store in file PATH (relative to the working directory;
 *                    `sqlite:///abs/path` is accepted too)
 *   memory:          nothing persisted; for tests and demos
 *   etcd://HOST:PORT[,HOST:PORT...]/PREFIX
 *                    keys under PREFIX in an etcd v3 cluster, shared by several control planes;
 *                    etcds:// for TLS (store-etcd-spec.ts has the access settings)
 */
import { FerryError } from '@ferry/shared';
import type { ResourceStore } from './store.js';
import { MemoryStore } from './store-memory.js';
import { SqliteStore, type SqliteStoreOptions } from './store-sqlite.js';
import { EtcdStore } from './store-etcd.js';
import { etcdStoreOptions, isEtcdSpec, type EtcdAccess } from './store-etcd-spec.js';

export const SUPPORTED_STORE_SPECS = [
  'sqlite:PATH',
  'memory:',
  'etcd://HOST:PORT[,HOST:PORT...]/PREFIX',
  'etcds://...',
] as const;

export interface OpenStoreOptions {
  readonly sqlite?: SqliteStoreOptions;
  /** TLS files and user for etcd:// and etcds:// specs. */
  readonly etcd?: EtcdAccess;
}

export function openStore(spec: string, options: OpenStoreOptions = {}): Promise<ResourceStore> {
  try {
    return Promise.resolve(openStoreSync(spec, options));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function openStoreSync(spec: string, options: OpenStoreOptions): ResourceStore {
  const supported = `supported: ${SUPPORTED_STORE_SPECS.join(', ')}`;
  if (spec.startsWith('memory:')) {
    if (spec !== 'memory:') {
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        `store "${spec}": memory: takes nothing after the colon (${supported})`,
      );
    }
    return new MemoryStore();
  }
  if (spec.startsWith('sqlite:')) {
    let path = spec.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') {
      throw new FerryError('FERRY_BAD_REQUEST', `store "${spec}" names no file (${supported})`);
    }
    return SqliteStore.open(path, options.sqlite);
  }
  if (isEtcdSpec(spec)) return EtcdStore.open(etcdStoreOptions(spec, options.etcd));
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec)?.[1];
  throw new FerryError(
    'FERRY_BAD_REQUEST',
    scheme === undefined
      ? `store "${spec}" has no scheme (${supported})`
      : `store scheme "${scheme}:" is not supported (${supported})`,
  );
}
