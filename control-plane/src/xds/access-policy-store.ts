/**
 * Feeds the XdsAccessPolicy resources of the store into an AccessPolicy: loads them all before
 * the xDS server accepts its first call (start), then follows changes. Malformed stored policies
 * cannot happen through the API (validation rejects them); one that does (an older release's
 * data, a hand-edited database) is logged and ignored, which only narrows access.
 */
import { resourceToJson, XDS_ACCESS_POLICY_TYPE } from '@ferry/proto';
import type { Logger } from '@ferry/shared';
import type { ResourceStore, Watch } from '../store/store.js';
import { followStore } from '../store/store-follow.js';
import { compilePolicy, type AccessPolicy } from './access-policy.js';

export class AccessPolicyStore {
  private watch: Watch | undefined;
  private started: Promise<void> | undefined;
  private closed = false;

  /** @param onChange Called with the groups whose policies changed (after loading, live changes only). */
  constructor(
    private readonly store: ResourceStore,
    private readonly policy: AccessPolicy,
    private readonly logger: Logger,
    private readonly onChange: (groups: ReadonlySet<string>) => void = () => undefined,
  ) {}

  /** Resolves once every policy up to the store's current revision is in place. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.load();
    return this.started;
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = undefined;
  }

  private async load(): Promise<void> {
    const target = await this.store.currentRevision();
    if (this.closed) return;
    await new Promise<void>((caughtUp) => {
      this.watch = followStore(
        this.store,
        target,
        (event, catchingUp) => {
          const groups = new Set<string>();
          for (const m of event.changes) {
            if (m.typeUrl !== XDS_ACCESS_POLICY_TYPE.typeUrl) continue;
            groups.add(m.group);
            this.policy.setPolicy(
              m.group,
              m.name,
              m.op === 'put' ? this.decode(m.group, m.name, m.value) : undefined,
            );
          }
          if (!catchingUp && groups.size > 0) this.onChange(groups);
        },
        caughtUp,
      );
    });
  }

  private decode(group: string, name: string, value: Uint8Array) {
    try {
      const compiled = compilePolicy(resourceToJson(XDS_ACCESS_POLICY_TYPE, value));
      if (compiled.ok) return compiled.value;
      this.logger.error(
        { group, policy: name, errors: compiled.errors },
        'stored XdsAccessPolicy is invalid and is ignored: re-apply a corrected one',
      );
    } catch (err) {
      this.logger.error(
        { group, policy: name, err },
        'stored XdsAccessPolicy does not decode and is ignored: re-apply it',
      );
    }
    return undefined;
  }
}
