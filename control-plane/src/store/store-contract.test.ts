/** The ResourceStore contract (store-contract.ts) for the embedded stores. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from './store-contract.js';
import { MemoryStore } from './store-memory.js';
import { SqliteStore } from './store-sqlite.js';

storeContract('MemoryStore', (t) => {
  const store = new MemoryStore();
  t.after(() => store.close());
  return store;
});

/** The file each SQLite store of these tests was opened on, for its peers. */
const files = new WeakMap<object, string>();

storeContract(
  'SqliteStore',
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-store-contract-'));
    const file = join(dir, 'store.db');
    const store = SqliteStore.open(file, { pollIntervalMs: 50 });
    files.set(store, file);
    t.after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return store;
  },
  {
    // Another connection on the same file: SQLite shows it another process's commits the same way.
    openPeer: (t, store) => {
      const peer = SqliteStore.open(files.get(store)!, { pollIntervalMs: 50 });
      t.after(() => peer.close());
      return peer;
    },
  },
);
