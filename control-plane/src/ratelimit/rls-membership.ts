/**
 * Which control-plane replicas count rate limits, and which one owns a counter
 * (docs/architecture.md, "Fleet-wide rate limits"). Membership lives in the shared store as
 * leases: a replica holds one of MAX_REPLICAS slot leases (`ratelimit/replica/<k>`) whose holder
 * names its id and the address peers forward to, renewed every `refreshMs` and lapsing after
 * three missed renewals. Every refresh also reads the other slots (renewing a lease one does not
 * hold changes nothing and returns the holder), so each replica sees the same live set within
 * one refresh of a change.
 *
 * The owner of a counter key is chosen by rendezvous hashing over the live members: the member
 * with the highest hash of (member id, key). A member joining or leaving moves only the keys it
 * gains or held; their counters restart from zero on the new owner.
 */
import type { Logger } from '@ferry/shared';
import type { ResourceStore } from '../store/store.js';

export interface RlsMember {
  readonly id: string;
  /** host:port of its xDS gRPC server, where forwarded ShouldRateLimit calls go. */
  readonly address: string;
  /**
   * Base URL of its HTTP management API, where peers ask for its proxies' status
   * (../replicas/peer-status.ts); "" when it advertises none (an older version's record).
   */
  readonly apiUrl: string;
}

export interface RlsMembershipOptions {
  readonly store: ResourceStore;
  /**
   * This replica's id (`--replica-id`); unique among the replicas of a store. It and the address
   * may also be given to start(), once the xDS server is bound.
   */
  readonly id: string;
  readonly logger: Logger;
  /** Lease renewal and membership read interval (default 1 s); the lease lasts three of them. */
  readonly refreshMs?: number;
  /** Called with the new member list when it changes. */
  readonly onChange?: (members: readonly RlsMember[]) => void;
}

/** Slots, hence replicas that can count at once; one more replica logs an error and forwards. */
export const MAX_REPLICAS = 16;
const SLOT_PREFIX = 'ratelimit/replica/';

export class RlsMembership {
  readonly #options: RlsMembershipOptions;
  #self: RlsMember;
  #holder = '';
  readonly #refreshMs: number;
  #members: readonly RlsMember[];
  #signature: string;
  #slot: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #closed = false;
  #warnedFull = false;

  constructor(options: RlsMembershipOptions) {
    this.#options = options;
    this.#self = { id: options.id, address: '', apiUrl: '' };
    this.#refreshMs = options.refreshMs ?? 1000;
    this.#members = [this.#self];
    this.#signature = signature(this.#members);
  }

  /** This replica; until start(), the only member (every key is its own). */
  get self(): RlsMember {
    return this.#self;
  }

  /**
   * Joins with the `address` peers forward to (host:port of the bound xDS server) and the base
   * URL of its management API, and reads the membership once, then keeps both fresh.
   */
  async start(address: string, id = this.#options.id, apiUrl = ''): Promise<void> {
    this.#self = { id, address, apiUrl };
    // The API URL is a third element: older versions read the first two and ignore the rest.
    this.#holder = JSON.stringify(apiUrl ? [id, address, apiUrl] : [id, address]);
    this.#members = [this.#self];
    this.#signature = signature(this.#members);
    await this.refresh();
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
    this.#timer.unref();
  }

  /** The live members, sorted by id (this replica included while it holds a slot). */
  members(): readonly RlsMember[] {
    return this.#members;
  }

  /** The member that counts `key`. */
  owner(key: string): RlsMember {
    const members = this.#members;
    let best = members[0] ?? this.self;
    if (members.length < 2) return best;
    let bestScore = score(best.id, key);
    for (let i = 1; i < members.length; i++) {
      const s = score(members[i]!.id, key);
      if (s > bestScore) {
        best = members[i]!;
        bestScore = s;
      }
    }
    return best;
  }

  /** Renews this replica's slot (taking one if it has none) and re-reads every slot. */
  refresh(): Promise<void> {
    if (this.#holder === '') return Promise.resolve();
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** Stops refreshing and frees the slot, so peers stop forwarding here within one refresh. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#refreshing?.catch(() => undefined);
    if (this.#slot !== undefined)
      await this.#options.store
        .releaseLease(SLOT_PREFIX + this.#slot, this.#holder)
        .catch(() => undefined);
  }

  async #refresh(): Promise<void> {
    if (this.#closed) return;
    const { store, logger } = this.#options;
    const ttl = this.#refreshMs * 3;
    try {
      const seen: RlsMember[] = [];
      let mine: number | undefined;
      for (let k = 0; k < MAX_REPLICAS; k++) {
        const name = SLOT_PREFIX + k;
        // Renewing only extends a lease this replica holds; for any other slot it reads the holder.
        let outcome = await store.renewLease(name, this.#holder, ttl);
        if (
          !outcome.held &&
          outcome.lease === undefined &&
          mine === undefined &&
          this.#slot === undefined
        )
          outcome = await store.acquireLease(name, this.#holder, ttl);
        if (outcome.held) {
          if (mine !== undefined) {
            // Held twice (a lapsed slot re-taken while the old one was still ours): keep one.
            await store.releaseLease(name, this.#holder);
            continue;
          }
          mine = k;
          seen.push(this.self);
          continue;
        }
        const member = outcome.lease && parseHolder(outcome.lease.holder);
        if (member) seen.push(member);
      }
      if (this.#closed) return;
      if (mine === undefined && this.#slot !== undefined) {
        // Lost the slot (the store was unreachable for longer than the lease): take one next time.
        logger.warn({ slot: this.#slot }, 'rate limit replica slot lapsed; joining again');
      }
      this.#slot = mine;
      if (mine === undefined && !this.#warnedFull) {
        this.#warnedFull = true;
        logger.error(
          { max_replicas: MAX_REPLICAS },
          'every rate limit replica slot is taken: this replica forwards every ShouldRateLimit call to the others and counts nothing; run at most MAX_REPLICAS replicas on one store',
        );
      }
      this.#update(seen.length > 0 ? seen : [this.self]);
    } catch (err) {
      logger.warn(
        { err },
        'rate limit membership not refreshed from the store; keeping the last view',
      );
    }
  }

  #update(members: RlsMember[]): void {
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const sig = signature(members);
    if (sig === this.#signature) return;
    this.#members = members;
    this.#signature = sig;
    this.#options.logger.info(
      { replicas: members.map((m) => `${m.id}@${m.address}`) },
      'rate limit replicas changed: counters of keys that moved restart on their new owner',
    );
    this.#options.onChange?.(members);
  }
}

function signature(members: readonly RlsMember[]): string {
  return members.map((m) => `${m.id}@${m.address}@${m.apiUrl}`).join(',');
}

function parseHolder(holder: string): RlsMember | undefined {
  try {
    const parsed: unknown = JSON.parse(holder);
    if (Array.isArray(parsed) && typeof parsed[0] === 'string' && typeof parsed[1] === 'string')
      return {
        id: parsed[0],
        address: parsed[1],
        apiUrl: typeof parsed[2] === 'string' ? parsed[2] : '',
      };
  } catch {
    // Not a rate limit replica's holder: ignored.
  }
  return undefined;
}

/** Rendezvous score: 32-bit FNV-1a of id, NUL and key, finished with murmur3's fmix32. */
export function score(id: string, key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
