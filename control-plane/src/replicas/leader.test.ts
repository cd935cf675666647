import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease, LeaseOutcome } from '../store/store.js';
import { LeaderElection } from './leader.js';

/** Leases as the store contract says, on a clock the test moves; holders can be made to fail or hang. */
class FakeLeaseStore {
  now = 1_000_000;
  readonly leases = new Map<string, Lease>();
  readonly failing = new Set<string>();
  readonly hanging = new Set<string>();

  acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome> {
    return this.#write(name, holder, ttlMs, true);
  }

  renewLease(name: string, holder: string, ttlMs: number): Promise<LeaseOutcome> {
    return this.#write(name, holder, ttlMs, false);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    if (this.leases.get(name)?.holder === holder) this.leases.delete(name);
    return Promise.resolve();
  }

  #write(name: string, holder: string, ttlMs: number, mayTake: boolean): Promise<LeaseOutcome> {
    if (this.hanging.has(holder)) return new Promise(() => undefined);
    if (this.failing.has(holder)) return Promise.reject(new Error('store unreachable'));
    const current = this.leases.get(name);
    const live = current !== undefined && current.expiresAt > this.now;
    if ((live && current.holder === holder) || (!live && mayTake)) {
      const lease = { name, holder, expiresAt: this.now + ttlMs };
      this.leases.set(name, lease);
      return Promise.resolve({ held: true, lease });
    }
    return Promise.resolve({ held: false, lease: live ? current : undefined });
  }
}

const TTL = 3000;
const RENEW = 1000;

describe('LeaderElection', () => {
  let store: FakeLeaseStore;
  const elections: LeaderElection[] = [];

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    store = new FakeLeaseStore();
  });

  afterEach(async () => {
    for (const s of [...store.failing, ...store.hanging]) {
      store.failing.delete(s);
      store.hanging.delete(s);
    }
    mock.timers.reset();
    await Promise.all(elections.splice(0).map((e) => e.close()));
  });

  const replica = (holder: string): { election: LeaderElection; told: boolean[] } => {
    const election = new LeaderElection({
      store,
      holder,
      ttlMs: TTL,
      renewEveryMs: RENEW,
      now: () => store.now,
    });
    elections.push(election);
    const told: boolean[] = [];
    election.subscribe((leading) => told.push(leading));
    return { election, told };
  };

  /** Moves the clock and the timers by `ms`, in campaign-sized steps, letting rounds finish. */
  const advance = async (ms: number): Promise<void> => {
    for (let left = ms; left > 0; left -= Math.min(left, RENEW / 4)) {
      const step = Math.min(left, RENEW / 4);
      store.now += step;
      mock.timers.tick(step);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    }
  };

  test('one leader; the others see who it is; it keeps the lease while it renews', async () => {
    const a = replica('a');
    const b = replica('b');
    await a.election.start();
    await b.election.start();
    assert.equal(a.election.isLeader, true);
    assert.equal(b.election.isLeader, false);
    assert.deepEqual(a.told, [true]);
    assert.deepEqual(b.told, []);
    assert.equal(b.election.status().leader, 'a');
    await advance(5 * TTL);
    assert.equal(a.election.isLeader, true, 'renewed every round');
    assert.equal(b.election.isLeader, false);
    assert.deepEqual(a.told, [true]);
    // A late subscriber of the leader is told at once.
    const late: boolean[] = [];
    a.election.subscribe((leading) => late.push(leading));
    assert.deepEqual(late, [true]);
  });

  test('a leader that shuts down hands over at the next round', async () => {
    const a = replica('a');
    const b = replica('b');
    await a.election.start();
    await b.election.start();
    await a.election.close();
    assert.deepEqual(a.told, [true, false]);
    assert.equal(store.leases.get('leader'), undefined, 'released');
    await advance(RENEW);
    assert.equal(b.election.isLeader, true);
    assert.deepEqual(b.told, [true]);
  });

  test('a leader that dies is replaced once its lease has lapsed, not before', async () => {
    const a = replica('a');
    const b = replica('b');
    await a.election.start();
    await b.election.start();
    // "Dies": its requests no longer reach the store (it steps down itself: fencing).
    store.hanging.add('a');
    const lastRenewal = store.leases.get('leader')!.expiresAt - TTL;
    await advance(TTL - RENEW);
    assert.equal(b.election.isLeader, false, 'the lease is still live');
    await advance(2 * RENEW);
    assert.ok(store.now - lastRenewal >= TTL);
    assert.equal(b.election.isLeader, true);
    assert.equal(a.election.isLeader, false, 'no renewal answered within the TTL: stepped down');
    assert.deepEqual(a.told, [true, false]);
  });

  test('fencing: a renewal that fails ends leadership at once, though the lease may still be held', async () => {
    const a = replica('a');
    await a.election.start();
    store.failing.add('a');
    await advance(RENEW);
    assert.equal(a.election.isLeader, false);
    assert.deepEqual(a.told, [true, false]);
    assert.equal(store.leases.get('leader')?.holder, 'a');
    store.failing.delete('a');
    await advance(RENEW);
    assert.equal(a.election.isLeader, true, 'leads again once the store answers');
    assert.deepEqual(a.told, [true, false, true]);
  });

  test('confirm() renews now and says false once another replica holds the lease', async () => {
    const a = replica('a');
    await a.election.start();
    assert.equal(await a.election.confirm(), true);
    // The lease lapsed while `a` was stalled and `b` took it.
    store.leases.set('leader', { name: 'leader', holder: 'b', expiresAt: store.now + TTL });
    assert.equal(await a.election.confirm(), false);
    assert.equal(a.election.isLeader, false);
    assert.equal(a.election.status().leader, 'b');
    assert.deepEqual(a.told, [true, false]);
  });

  test('a renewal interval that would let the lease lapse is refused', () => {
    assert.throws(
      () => new LeaderElection({ store, holder: 'a', ttlMs: 1000, renewEveryMs: 1000 }),
      /renew more often than the TTL/,
    );
  });
});
