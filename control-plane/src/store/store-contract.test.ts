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

storeContract('SqliteStore', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-store-contract-'));
  const store = SqliteStore.open(join(dir, 'store.db'));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
});
