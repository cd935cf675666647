/**
 * Keeps every AcmeCertificate's Secret issued and fresh (docs/architecture.md, "Certificates
 * (ACME)"). Exactly one replica orders: the leader (../replicas/leader.ts; on its own, the
 * holder of the store lease `acme`). While it leads, it reconciles: for each AcmeCertificate,
 * nothing to do while a Secret in every serving group covers the domains and is not due for
 * renewal (a Secret found valid after a restart or a state loss is adopted, not ordered again);
 * otherwise one order (acme-issuer.ts), resumed from the stored order URL when there is one.
 * Failures back off exponentially (stored, so a restart keeps the pace). State goes to the store
 * (AcmeCertificateState), where every replica's API reads it.
 */
import type { Logger } from '@ferry/shared';
import { ACME_CERTIFICATE_TYPE } from '@ferry/proto';
import type { Mutation, ResourceStore, StoredResource, Watch } from '../store/store.js';
import type { FleetTracker } from '../xds/fleet.js';
import type { SnapshotCache } from '../xds/snapshot-cache.js';
import type { AcmeChallengeOverlay } from './acme-challenge-overlay.js';
import { challengeReadiness } from './acme-fleet-wait.js';
import { AcmeIssuer, type IssuedCertificate } from './acme-issuer.js';
import {
  ACME_ACTOR,
  ACME_CHALLENGE_TYPE,
  ACME_STATE_TYPE,
  EMPTY_STATE,
  decodeAcmeState,
  stateMutation,
  type AcmeStateRecord,
} from './acme-records.js';
import { acmeSpecOf, type AcmeSpec } from './acme-spec.js';
import {
  SECRET_TYPE,
  leafInfo,
  renewAt,
  secretChainPem,
  secretMutation,
  type CertificateInfo,
} from './certificate-info.js';
import { closeDirectoryAgents } from './acme-http.js';
import { LeaderElection, type Leadership } from '../replicas/leader.js';

export const ACME_LEASE = 'acme';

export interface AcmeManagerOptions {
  readonly store: ResourceStore;
  readonly cache: SnapshotCache;
  readonly fleet: FleetTracker;
  readonly overlay: AcmeChallengeOverlay;
  /** This replica (`--replica-id`): written in the state, and the lease holder name. */
  readonly replica: string;
  readonly logger?: Logger;
  /**
   * The replicas' leader election this manager follows (it orders only while this replica
   * leads). Without it the manager campaigns on its own for the lease ACME_LEASE.
   */
  readonly leadership?: Leadership;
  /** Time to live of the manager's own lease (without `leadership`; default 30 s). */
  readonly leaseTtlMs?: number;
  /** How often the holder looks for work besides store changes (default 10 s). */
  readonly checkIntervalMs?: number;
  /** First retry delay after a failed order, doubled per failure (default 60 s) up to retryMaxMs. */
  readonly retryBaseMs?: number;
  /** Default 6 h. */
  readonly retryMaxMs?: number;
  /** How long proxies get to serve a challenge before the attempt fails (default 60 s). */
  readonly challengeTimeoutMs?: number;
  /** CA polling (acme-client's backoff: default 5 s to 30 s, 10 attempts). */
  readonly pollMinMs?: number;
  readonly pollMaxMs?: number;
  /** Orders one certificate (default: AcmeIssuer with acme-client); unit tests replace it. */
  readonly issuer?: CertificateIssuer;
}

export interface CertificateIssuer {
  issue(spec: AcmeSpec, state: AcmeStateRecord): Promise<IssuedCertificate>;
}

export class AcmeManager {
  private readonly store: ResourceStore;
  private readonly logger: Logger | undefined;
  private readonly issuer: CertificateIssuer;
  private readonly leadership: Leadership;
  /** The election this manager runs itself (no `leadership` given). */
  private readonly ownElection: LeaderElection | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly checkIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly challengeTimeoutMs: number;
  private started = false;
  private checkTimer: NodeJS.Timeout | undefined;
  private watch: Watch | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly options: AcmeManagerOptions) {
    this.store = options.store;
    this.logger = options.logger;
    if (options.leadership) this.leadership = options.leadership;
    else {
      this.ownElection = new LeaderElection({
        store: this.store,
        holder: options.replica,
        name: ACME_LEASE,
        ttlMs: options.leaseTtlMs ?? 30_000,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      this.leadership = this.ownElection;
    }
    this.checkIntervalMs = options.checkIntervalMs ?? 10_000;
    this.retryBaseMs = options.retryBaseMs ?? 60_000;
    this.retryMaxMs = options.retryMaxMs ?? 6 * 3600_000;
    this.challengeTimeoutMs = options.challengeTimeoutMs ?? 60_000;
    this.issuer =
      options.issuer ??
      new AcmeIssuer({
        store: this.store,
        ...(options.logger ? { logger: options.logger } : {}),
        waitForChallenges: (groups, tokens) => this.waitForChallenges(groups, tokens),
        saveState: (spec, patch) => this.saveState(spec, patch),
        ...(options.pollMinMs !== undefined ? { pollMinMs: options.pollMinMs } : {}),
        ...(options.pollMaxMs !== undefined ? { pollMaxMs: options.pollMaxMs } : {}),
        pollAttempts: 30,
      });
  }

  /** Whether this replica orders now (it leads). */
  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  /** Follows the leadership (campaigning for its own lease when it has no election); idempotent. */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    await this.ownElection?.start();
    // Becoming leader is a reason to look at once; losing it stops the pass in progress (it
    // checks isLeader between certificates and confirms before storing an order's result).
    this.unsubscribe = this.leadership.subscribe((leading) => {
      if (leading) this.kick();
    });
    this.checkTimer = setInterval(() => this.kick(), this.checkIntervalMs);
    // AcmeCertificate and Secret changes are looked at at once, not at the next interval.
    const from = await this.store.currentRevision();
    if (this.closed) return;
    this.watch = this.store.watch(from, (event) => {
      if (
        event.changes.some(
          (m) => m.typeUrl === ACME_CERTIFICATE_TYPE.typeUrl || m.typeUrl === SECRET_TYPE.typeUrl,
        )
      ) {
        this.kick();
      }
    });
  }

  /**
   * Stops and releases the lease; idempotent. An order in progress is abandoned where it stands:
   * its order URL and key are in the store, so the next holder resumes it rather than ordering
   * again.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checkTimer);
    this.watch?.close();
    this.unsubscribe?.();
    await this.ownElection?.close();
    closeDirectoryAgents();
  }

  /** Runs a reconcile pass now, or right after the current one. */
  private kick(): void {
    if (this.closed || !this.leadership.isLeader) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch((err: unknown) =>
        this.logger?.error({ err: (err as Error).message }, 'ACME reconcile failed'),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async reconcile(): Promise<void> {
    const certificates = await this.store.list({ typeUrl: ACME_CERTIFICATE_TYPE.typeUrl });
    const states = await this.store.list({ typeUrl: ACME_STATE_TYPE });
    const stateByKey = new Map(states.resources.map((r) => [`${r.group}/${r.name}`, r]));
    const live = new Set<string>();
    for (const r of certificates.resources) {
      if (!this.leadership.isLeader || this.closed) return;
      const spec = acmeSpecOf(r.group, r.name, r.value, r.version);
      live.add(`${spec.group}/${spec.name}`);
      const stored = stateByKey.get(`${spec.group}/${spec.name}`);
      await this.reconcileOne(spec, stored ? decodeAcmeState(stored.value) : EMPTY_STATE);
    }
    await this.forgetRemoved(states.resources, live);
  }

  private async reconcileOne(spec: AcmeSpec, state: AcmeStateRecord): Promise<void> {
    const now = Date.now();
    const current = await this.currentCertificate(spec, now);
    if (current) {
      if (
        state.status !== 'VALID' ||
        state.specVersion !== spec.version ||
        state.serial !== current.serial
      ) {
        await this.saveState(spec, validState(spec, current));
      }
      return;
    }
    const sameSpec = state.specVersion === spec.version;
    if (sameSpec && state.nextAttemptAt && now < Date.parse(state.nextAttemptAt)) return;
    const label = `${spec.group}/${spec.name}`;
    try {
      this.logger?.info({ certificate: label, domains: spec.domains }, 'ACME: ordering');
      const issued = await this.issuer.issue(spec, state);
      const info = leafInfo(issued.chainPem);
      if (!info) throw new Error('the CA returned no certificate that parses');
      // A holder that lost the lease during a long order leaves the result to the new holder
      // (which resumes the same order from the stored state) rather than write beside it.
      if (!(await this.leadership.confirm())) {
        this.logger?.warn(
          { certificate: label },
          'leadership lost during the ACME order; not storing its result (the new leader resumes the order)',
        );
        return;
      }
      // The Secret in every serving group and the state, at one revision.
      await this.store.apply(
        [
          ...spec.groups.map((g) =>
            secretMutation(g, spec.secretName, issued.chainPem, issued.privateKeyPem),
          ),
          this.stateFor(spec, validState(spec, info)),
        ],
        { actor: ACME_ACTOR, message: `ACME certificate ${label} issued (serial ${info.serial})` },
      );
      this.logger?.info(
        {
          certificate: label,
          serial: info.serial,
          notAfter: new Date(info.notAfter).toISOString(),
        },
        'ACME: certificate issued',
      );
    } catch (err) {
      const failures = (sameSpec ? state.failures : 0) + 1;
      const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(30, failures - 1));
      const message = (err as Error).message;
      await this.saveState(spec, {
        status: 'FAILED',
        lastError: message,
        failures,
        nextAttemptAt: new Date(Date.now() + delay).toISOString(),
      }).catch(() => undefined);
      this.logger?.warn(
        { certificate: label, err: message, failures, retryInMs: delay },
        'ACME: order failed; retrying with backoff',
      );
    }
  }

  /**
   * The certificate every serving group's Secret holds, when it covers the domains and is not
   * due for renewal (all groups must hold the same one); undefined otherwise.
   */
  private async currentCertificate(
    spec: AcmeSpec,
    now: number,
  ): Promise<CertificateInfo | undefined> {
    let found: CertificateInfo | undefined;
    for (const group of spec.groups) {
      const secret = (
        await this.store.list({ typeUrl: SECRET_TYPE.typeUrl, group, name: spec.secretName })
      ).resources[0];
      const chain = secret && secretChainPem(secret.value);
      const info = chain ? leafInfo(chain) : undefined;
      if (!info) return undefined;
      if (!spec.domains.every((d) => info.dnsNames.includes(d))) return undefined;
      if (now >= renewAt(info, spec.renewBeforeMs) || now >= info.notAfter) return undefined;
      if (found && found.serial !== info.serial) return undefined;
      found = info;
    }
    return found;
  }

  private async saveState(
    spec: AcmeSpec,
    patch: Partial<AcmeStateRecord>,
  ): Promise<AcmeStateRecord> {
    const stored = (
      await this.store.list({ typeUrl: ACME_STATE_TYPE, group: spec.group, name: spec.name })
    ).resources[0];
    const before = stored ? decodeAcmeState(stored.value) : EMPTY_STATE;
    const mutation = this.stateFor(spec, { ...before, ...patch });
    await this.store.apply([mutation], {
      actor: ACME_ACTOR,
      message: `ACME state of ${spec.group}/${spec.name}: ${patch.status ?? before.status}`,
    });
    return decodeAcmeState(mutation.value);
  }

  private stateFor(spec: AcmeSpec, state: Partial<AcmeStateRecord>): Mutation & { op: 'put' } {
    return stateMutation(spec.group, spec.name, {
      ...EMPTY_STATE,
      ...state,
      specVersion: spec.version,
      updatedAt: new Date().toISOString(),
      replica: this.options.replica,
    });
  }

  /**
   * States of AcmeCertificates that were deleted (their Secrets stay: listeners may still use
   * them), and challenge records left by an order a crash interrupted: orders run one at a time
   * inside a pass, so at its end any challenge still stored is stale.
   */
  private async forgetRemoved(
    states: readonly StoredResource[],
    live: ReadonlySet<string>,
  ): Promise<void> {
    const challenges = await this.store.list({ typeUrl: ACME_CHALLENGE_TYPE });
    const gone = [
      ...states.filter((s) => !live.has(`${s.group}/${s.name}`)),
      ...challenges.resources,
    ];
    if (gone.length === 0 || !this.leadership.isLeader) return;
    await this.store.apply(
      gone.map((r) => ({ op: 'delete', typeUrl: r.typeUrl, group: r.group, name: r.name })),
      {
        actor: ACME_ACTOR,
        message: 'ACME: records of deleted certificates and interrupted challenges removed',
      },
    );
  }

  private async waitForChallenges(
    groups: readonly string[],
    tokens: readonly string[],
  ): Promise<void> {
    const deadline = Date.now() + this.challengeTimeoutMs;
    for (;;) {
      const nodes = this.options.fleet.views();
      const waiting = groups
        .map((g) => challengeReadiness(this.options.cache, this.options.overlay, nodes, g, tokens))
        .filter((r) => !r.ready);
      if (waiting.length === 0) return;
      if (this.closed) throw new Error('control plane stopping');
      if (Date.now() >= deadline) {
        throw new Error(
          `HTTP-01: gave up after ${this.challengeTimeoutMs} ms waiting for ${waiting.map((w) => w.waitingFor).join('; ')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function validState(spec: AcmeSpec, info: CertificateInfo): Partial<AcmeStateRecord> {
  return {
    status: 'VALID',
    orderUrl: '',
    pendingPrivateKeyPem: '',
    serial: info.serial,
    notBefore: new Date(info.notBefore).toISOString(),
    notAfter: new Date(info.notAfter).toISOString(),
    renewAt: new Date(renewAt(info, spec.renewBeforeMs)).toISOString(),
    lastError: '',
    failures: 0,
    nextAttemptAt: '',
  };
}
