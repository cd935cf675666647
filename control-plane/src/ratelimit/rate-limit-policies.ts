/**
 * The RateLimitPolicy resources of the store, by group and domain, followed live. Loaded before
 * the xDS server (which serves the RateLimitService) accepts its first call. A stored policy that
 * does not compile (an older release's data, a hand-edited database) is logged and ignored: its
 * domain answers as unknown, as if the policy did not exist.
 */
import { resourceToJson, RATE_LIMIT_POLICY_TYPE } from '@ferry/proto';
import type { Logger } from '@ferry/shared';
import type { ResourceStore, Watch } from '../store/store.js';
import { followStore } from '../store/store-follow.js';
import { compileRateLimitPolicy, type CompiledRateLimitPolicy } from './rate-limit-policy.js';

export class RateLimitPolicies {
  /** group → policy name → compiled policy. */
  readonly #byName = new Map<string, Map<string, CompiledRateLimitPolicy>>();
  /** group → domain → compiled policy (domains are unique within a group: validation). */
  readonly #byDomain = new Map<string, Map<string, CompiledRateLimitPolicy>>();
  #watch: Watch | undefined;
  #started: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly store: ResourceStore,
    private readonly logger: Logger,
  ) {}

  /** The policy of `group` for `domain`. */
  lookup(group: string, domain: string): CompiledRateLimitPolicy | undefined {
    return this.#byDomain.get(group)?.get(domain);
  }

  /** The groups holding a policy for `domain`. */
  groupsWithDomain(domain: string): string[] {
    const out: string[] = [];
    for (const [group, domains] of this.#byDomain) if (domains.has(domain)) out.push(group);
    return out;
  }

  /** Resolves once every policy up to the store's current revision is in place. Idempotent. */
  start(): Promise<void> {
    this.#started ??= this.#load();
    return this.#started;
  }

  close(): void {
    this.#closed = true;
    this.#watch?.close();
    this.#watch = undefined;
  }

  /** Replaces (or, with undefined, removes) one policy; exposed for tests and the loader. */
  set(group: string, name: string, policy: CompiledRateLimitPolicy | undefined): void {
    let names = this.#byName.get(group);
    if (policy) {
      if (!names) this.#byName.set(group, (names = new Map<string, CompiledRateLimitPolicy>()));
      names.set(name, policy);
    } else names?.delete(name);
    const domains = new Map<string, CompiledRateLimitPolicy>();
    for (const p of names?.values() ?? []) domains.set(p.domain, p);
    if (domains.size > 0) this.#byDomain.set(group, domains);
    else {
      this.#byDomain.delete(group);
      this.#byName.delete(group);
    }
  }

  async #load(): Promise<void> {
    const target = await this.store.currentRevision();
    if (this.#closed) return;
    await new Promise<void>((caughtUp) => {
      this.#watch = followStore(
        this.store,
        target,
        (event) => {
          for (const m of event.changes) {
            if (m.typeUrl !== RATE_LIMIT_POLICY_TYPE.typeUrl) continue;
            this.set(
              m.group,
              m.name,
              m.op === 'put' ? this.#decode(m.group, m.name, m.value) : undefined,
            );
          }
        },
        caughtUp,
      );
    });
  }

  #decode(group: string, name: string, value: Uint8Array): CompiledRateLimitPolicy | undefined {
    try {
      const compiled = compileRateLimitPolicy(resourceToJson(RATE_LIMIT_POLICY_TYPE, value));
      if (compiled.ok) return { ...compiled.value, name };
      this.logger.error(
        { group, policy: name, errors: compiled.errors },
        'stored RateLimitPolicy is invalid and is ignored: re-apply a corrected one',
      );
    } catch (err) {
      this.logger.error(
        { group, policy: name, err },
        'stored RateLimitPolicy does not decode and is ignored: re-apply it',
      );
    }
    return undefined;
  }
}
