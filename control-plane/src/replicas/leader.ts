/**
 * Leader election among the control-plane replicas of one store (docs/architecture.md,
 * "Control-plane replicas"): every replica campaigns for one named store lease; the holder is the
 * leader and runs the singleton duties (ACME ordering today; a rollout driver subscribes the same
 * way). Only the ResourceStore lease calls are used, so any store with leases works (SQLite
 * shared on a host, etcd across hosts).
 *
 * - Campaign: every `renewEveryMs` (a third of the TTL by default) the leader renews, the others
 *   try to acquire (which also tells them who leads).
 * - Hand-over: a leader that shuts down releases the lease, so another replica takes it at its
 *   next campaign round; a leader that dies stops renewing, and the lease lapses after its TTL.
 * - Fencing: leadership ends locally as soon as a renewal says the lease is held by another or
 *   lapsed, a renewal fails (the store cannot be reached: the lease is unknown), or the TTL counted
 *   from the last successful renewal's request has passed with no answer (a hung store). A duty
 *   stops acting when told `false`, and calls confirm() right before an act that must not happen
 *   twice (it renews and answers whether the lease is still held).
 */
import type { Logger } from '@ferry/shared';
import type { ResourceStore } from '../store/store.js';

/** The lease the replicas of a store elect their leader with. */
export const LEADER_LEASE = 'leader';

/** Told `true` when this replica becomes leader and `false` when it stops being leader. */
export type LeadershipListener = (leading: boolean) => void;

/** What a singleton duty needs of the election. */
export interface Leadership {
  /** Whether this replica leads now (false once any fencing condition above is met). */
  readonly isLeader: boolean;
  /**
   * Calls `listener` on every change; at once with `true` when this replica already leads.
   * Returns the unsubscribe function.
   */
  subscribe(listener: LeadershipListener): () => void;
  /** Renews now; true only when this replica still holds the lease afterwards. */
  confirm(): Promise<boolean>;
}

export interface LeaderElectionOptions {
  readonly store: Pick<ResourceStore, 'acquireLease' | 'renewLease' | 'releaseLease'>;
  /** This replica (`--replica-id`): the lease holder name. */
  readonly holder: string;
  /** Default LEADER_LEASE. */
  readonly name?: string;
  /** How long the lease lasts without renewal (default 15 s): the hand-over bound after a crash. */
  readonly ttlMs?: number;
  /** Campaign interval (default a third of the TTL). */
  readonly renewEveryMs?: number;
  readonly logger?: Logger;
  /** Default Date.now (the store judges expiry with the same clock on one host). */
  readonly now?: () => number;
}

export interface LeaderStatus {
  /** The holder the latest campaign round saw; undefined when none (or the store did not answer). */
  readonly leader: string | undefined;
  /** When that holder's lease expires unless renewed (epoch ms); 0 when unknown. */
  readonly expiresAt: number;
  readonly self: string;
  readonly isLeader: boolean;
}

export class LeaderElection implements Leadership {
  readonly #options: LeaderElectionOptions;
  readonly #name: string;
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  readonly #now: () => number;
  readonly #listeners = new Set<LeadershipListener>();
  #leading = false;
  #seen: { holder: string; expiresAt: number } | undefined;
  /** The end of this replica's leadership unless renewed (epoch ms). */
  #validUntil = 0;
  #roundTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #started = false;
  #closed = false;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#name = options.name ?? LEADER_LEASE;
    this.#ttlMs = options.ttlMs ?? 15_000;
    this.#renewEveryMs = options.renewEveryMs ?? Math.max(50, Math.floor(this.#ttlMs / 3));
    if (this.#renewEveryMs >= this.#ttlMs)
      throw new RangeError(
        `leader lease: renewing every ${this.#renewEveryMs} ms would let a ${this.#ttlMs} ms lease lapse; renew more often than the TTL`,
      );
    this.#now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  status(): LeaderStatus {
    return {
      leader: this.#leading ? this.#options.holder : this.#seen?.holder,
      expiresAt: this.#seen?.expiresAt ?? 0,
      self: this.#options.holder,
      isLeader: this.#leading,
    };
  }

  subscribe(listener: LeadershipListener): () => void {
    this.#listeners.add(listener);
    if (this.#leading) notify(listener, true, this.#options.logger);
    return () => this.#listeners.delete(listener);
  }

  /** Campaigns once (resolving when the first round has an answer), then keeps campaigning. */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    this.#started = true;
    await this.#campaign();
  }

  async confirm(): Promise<boolean> {
    if (!this.#leading || this.#closed) return false;
    // A round already under way may have sent its request before the caller asked: wait for it
    // and run a fresh one.
    await this.#round;
    await this.#campaign();
    return this.#leading;
  }

  /**
   * Stops campaigning and releases the lease, so another replica takes over at once. Does not
   * wait for a campaign request still under way (the store may hang); if that one takes the lease
   * after all, it is released again when it answers. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#roundTimer);
    clearTimeout(this.#deadlineTimer);
    this.#set(false, 'this replica is shutting down');
    this.#listeners.clear();
    const pending = this.#round;
    // Released even when not known to be held: a renewal that failed may have left it ours.
    await this.#release();
    if (pending) void pending.then(() => this.#release());
  }

  #release(): Promise<void> {
    return this.#options.store
      .releaseLease(this.#name, this.#options.holder)
      .catch((err: unknown) =>
        this.#options.logger?.warn(
          { err: (err as Error).message, lease: this.#name },
          'leader lease not released; another replica takes over when it expires',
        ),
      );
  }

  #campaign(): Promise<void> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
      this.#schedule();
    });
    return this.#round;
  }

  #schedule(): void {
    clearTimeout(this.#roundTimer);
    if (this.#closed) return;
    this.#roundTimer = setTimeout(() => void this.#campaign(), this.#renewEveryMs);
    this.#roundTimer.unref();
  }

  async #runRound(): Promise<void> {
    if (this.#closed) return;
    const { store, holder } = this.#options;
    const sentAt = this.#now();
    let held: boolean;
    try {
      const outcome = this.#leading
        ? await store.renewLease(this.#name, holder, this.#ttlMs)
        : await store.acquireLease(this.#name, holder, this.#ttlMs);
      held = outcome.held;
      this.#seen = outcome.lease && {
        holder: outcome.lease.holder,
        expiresAt: outcome.lease.expiresAt,
      };
    } catch (err) {
      this.#seen = undefined;
      if (!this.#closed)
        this.#set(false, `the store did not answer the lease request: ${(err as Error).message}`);
      return;
    }
    if (this.#closed) return;
    if (!held) {
      this.#set(
        false,
        this.#seen ? `the lease is held by ${this.#seen.holder}` : 'the lease lapsed',
      );
      return;
    }
    this.#validUntil = sentAt + this.#ttlMs;
    this.#armDeadline();
    this.#set(true, 'lease acquired');
  }

  /** Steps down when the lease would have expired without a renewal answering in time. */
  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(
      () => {
        if (this.#leading && this.#now() >= this.#validUntil)
          this.#set(false, 'the lease was not renewed before it expired');
        else if (this.#leading) this.#armDeadline();
      },
      Math.max(0, this.#validUntil - this.#now()),
    );
    this.#deadlineTimer.unref();
  }

  #set(leading: boolean, reason: string): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    if (!leading) clearTimeout(this.#deadlineTimer);
    const { logger, holder } = this.#options;
    const fields = { lease: this.#name, replica: holder, reason };
    if (leading) logger?.info(fields, 'this replica is now the leader: it runs singleton duties');
    else logger?.warn(fields, 'this replica is no longer the leader: singleton duties stop here');
    for (const listener of [...this.#listeners]) notify(listener, leading, logger);
  }
}

function notify(listener: LeadershipListener, leading: boolean, logger: Logger | undefined): void {
  try {
    listener(leading);
  } catch (err) {
    logger?.error({ err }, 'a leadership listener threw; the others are still told');
  }
}
