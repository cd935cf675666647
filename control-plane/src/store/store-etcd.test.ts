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

/** The prefix each store of these tests uses, for its peers. */
const prefixes = new WeakMap<object, string>();

storeContract(
  'EtcdStore',
  (t) => {
    const prefix = `/t/${randomUUID()}`;
    const store = EtcdStore.open({ endpoints: etcd.endpoints, prefix });
    prefixes.set(store, prefix);
    t.after(() => store.close());
    return store;
  },
  {
    timeoutMs: 120_000,
    // Another client on the same prefix, as another control plane has.
    openPeer: (t, store) => {
      const peer = EtcdStore.open({ endpoints: etcd.endpoints, prefix: prefixes.get(store)! });
      t.after(() => peer.close());
      return peer;
    },
  },
);
