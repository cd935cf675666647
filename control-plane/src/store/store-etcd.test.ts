/**
 * The ResourceStore contract (store-contract.ts) against real etcd (shared/src/testing/etcd.ts):
 * one etcd for the file, a fresh key prefix per test.
 */
import { after, before } from 'node:test';
import { randomUUID } from 'node:crypto';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import { storeContract } from './store-contract.js';
import { EtcdStore } from './store-etcd.js';

let etcd: EtcdCluster;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

storeContract(
  'EtcdStore',
  (t) => {
    const store = EtcdStore.open({ endpoints: etcd.endpoints, prefix: `/t/${randomUUID()}` });
    t.after(() => store.close());
    return store;
  },
  { timeoutMs: 120_000 },
);
