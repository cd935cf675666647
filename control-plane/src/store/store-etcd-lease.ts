/**
 * Named leases on etcd (ResourceStore.acquireLease): PREFIX/lease/NAME holds the holder's name
 * and is attached to an etcd lease with the requested TTL (rounded up to whole seconds, and at
 * least etcd's minimum). etcd's leader expires it, so replicas' clocks do not matter: a lease is
 * free exactly when etcd has deleted its key. Every take and renew grants a fresh etcd lease and
 * swaps it in with a transaction that checks the key did not change since it was read; the old
 * etcd lease is then revoked. `expiresAt` is this host's clock plus the granted TTL: an estimate
 * for logs and status, not what decides.
 */
import type { Etcd3 } from 'etcd3';
import type { Lease, LeaseOutcome } from './store.js';
import { checkLeaseRequest } from './store.js';
import type { EtcdLayout } from './store-etcd-layout.js';

const MAX_ATTEMPTS = 8;

export class EtcdLeases {
  constructor(
    private readonly client: Etcd3,
    private readonly layout: EtcdLayout,
  ) {}

  /** acquireLease (`mayTake`) or renewLease (only while `holder` still holds it). */
  async take(name: string, holder: string, ttlMs: number, mayTake: boolean): Promise<LeaseOutcome> {
    checkLeaseRequest(name, holder, ttlMs);
    const key = this.layout.leaseKey(name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = (await this.client.kv.range({ key })).kvs[0];
      const currentHolder = current?.value.toString('utf8');
      if (current !== undefined && currentHolder !== holder) {
        return { held: false, lease: await this.describe(name, currentHolder!, current.lease) };
      }
      if (current === undefined && !mayTake) return { held: false, lease: undefined };
      const granted = await this.client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) });
      const res = await this.client.kv.txn({
        compare: [
          current === undefined
            ? { key, target: 'Create', result: 'Equal', create_revision: 0 }
            : { key, target: 'Mod', result: 'Equal', mod_revision: current.mod_revision },
        ],
        success: [{ request_put: { key, value: Buffer.from(holder, 'utf8'), lease: granted.ID } }],
      });
      if (res.succeeded) {
        if (current !== undefined && current.lease !== '0') await this.revoke(current.lease);
        const lease: Lease = { name, holder, expiresAt: Date.now() + Number(granted.TTL) * 1000 };
        return { held: true, lease };
      }
      await this.revoke(granted.ID);
    }
    // Only reachable when others keep changing the key between our read and write.
    const last = (await this.client.kv.range({ key })).kvs[0];
    const lastHolder = last?.value.toString('utf8');
    return {
      held: false,
      lease: last ? await this.describe(name, lastHolder!, last.lease) : undefined,
    };
  }

  async release(name: string, holder: string): Promise<void> {
    checkLeaseRequest(name, holder);
    const key = this.layout.leaseKey(name);
    const current = (await this.client.kv.range({ key })).kvs[0];
    if (current === undefined || current.value.toString('utf8') !== holder) return;
    const res = await this.client.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: current.mod_revision }],
      success: [{ request_delete_range: { key } }],
    });
    if (res.succeeded && current.lease !== '0') await this.revoke(current.lease);
  }

  private async describe(name: string, holder: string, leaseId: string): Promise<Lease> {
    const ttl = await this.client.leaseClient
      .leaseTimeToLive({ ID: leaseId })
      .then((r) => Math.max(0, Number(r.TTL)))
      .catch(() => 0);
    return { name, holder, expiresAt: Date.now() + ttl * 1000 };
  }

  /** Best effort: an etcd lease that is already gone (expired) needs no revoking. */
  private async revoke(leaseId: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }).catch(() => undefined);
  }
}
