/**
 * The primary's view of configuration: the bootstrap's static resources merged with the xDS
 * resources accepted so far, and the last good ProxyConfig built from them. It is the ADS client's
 * handler: each response is tried by building the whole config from the candidate resource set
 * (config/translate.ts's buildProxyConfig). Acceptance is per resource, as in Envoy
 * (docs/architecture.md, "Per-resource acceptance"): a resource of the response that does not
 * translate is rejected alone and keeps its last accepted version (or stays absent if it is new),
 * the others are applied, and the response is NACKed naming the rejected ones. A response whose
 * errors are not its own resources' (e.g. it removes a cluster that an accepted listener needs)
 * is rejected as a whole and the last good config stays in force.
 */
import type { Result } from '@ferry/proto';
import type { ProxyConfig } from '../config/model.js';
import type { ResourceKind, ResourceRejection } from '../config/translate.js';
import type { AdsHandler, InvalidResource, ResponseVerdict } from './ads-client.js';
import {
  applyDelta,
  withResource,
  withoutResource,
  withTypeVersion,
  resourceVersions,
  CDS,
  EDS,
  LDS,
  RDS,
  SDS,
  edsServiceNames,
  rdsRouteNames,
  sdsSecretNames,
  replaceType,
  resourceName,
  resourcesOf,
  type DeltaUpdate,
  type JsonObject,
  type ResourceSet,
} from './resource-set.js';

export interface BuildInput {
  listeners: JsonObject[];
  routeConfigs: JsonObject[];
  clusters: JsonObject[];
  endpoints: JsonObject[];
  secrets: JsonObject[];
  staticSecrets: JsonObject[];
}

/**
 * Builds a config. A failure that lists `rejected` resources lets the config source apply the
 * others; one without (or with static ones among them) rejects the response as a whole.
 */
export type BuildConfig = (
  input: BuildInput,
  previous?: ProxyConfig,
) => Result<ProxyConfig> & { readonly rejected?: readonly ResourceRejection[] };

export type ConfigOrigin = 'static' | 'xds' | 'persisted';

export interface AppliedConfig {
  readonly config: ProxyConfig;
  readonly resources: ResourceSet;
  readonly origin: ConfigOrigin;
}

export interface XdsCounters {
  /** Accepted responses per type URL. */
  readonly updates: Map<string, number>;
  /** Rejected responses per type URL. */
  readonly rejections: Map<string, number>;
  lastRejection: { typeUrl: string; version: string; errors: string[]; at: string } | undefined;
  /**
   * Per type URL, the resources currently rejected: each keeps its last accepted version (or is
   * absent) until an update of it is accepted or it is removed.
   */
  readonly rejectedResources: Map<string, Map<string, RejectedResourceState>>;
  connected: boolean;
  connects: number;
}

/** A resource whose latest update was rejected (Envoy's config dump error_state). */
export interface RejectedResourceState {
  readonly name: string;
  /** version_info of the response (SotW) or the resource's own version (delta) rejected. */
  readonly version: string;
  readonly errors: readonly string[];
  /** ISO time of the rejection. */
  readonly at: string;
  /** The rejected resource as received; undefined when it could not be decoded. */
  readonly json: JsonObject | undefined;
}

const TYPE_OF_KIND: Readonly<Record<ResourceKind, string>> = {
  Listener: LDS,
  Cluster: CDS,
  RouteConfiguration: RDS,
  ClusterLoadAssignment: EDS,
  Secret: SDS,
};

const ACK: ResponseVerdict = { errors: [], rejected: [] };

export interface ConfigSourceOptions {
  readonly staticListeners: readonly JsonObject[];
  readonly staticClusters: readonly JsonObject[];
  /** The bootstrap's static_resources.secrets. */
  readonly staticSecrets?: readonly JsonObject[];
  readonly build: BuildConfig;
  /** Called with every newly accepted config (synchronously, in acceptance order). */
  readonly onConfig: (applied: AppliedConfig) => void;
  readonly onConnectionState?: (connected: boolean, reason?: string) => void;
  readonly now?: () => string;
}

export class ConfigSource implements AdsHandler {
  private set: ResourceSet = new Map();
  private current: AppliedConfig | undefined;
  /** Types that have had at least one response since start (initial fetch tracking). */
  private readonly responded = new Set<string>();
  readonly counters: XdsCounters = {
    updates: new Map(),
    rejections: new Map(),
    lastRejection: undefined,
    rejectedResources: new Map(),
    connected: false,
    connects: 0,
  };

  constructor(private readonly options: ConfigSourceOptions) {}

  get applied(): AppliedConfig | undefined {
    return this.current;
  }

  get resources(): ResourceSet {
    return this.set;
  }

  /** Builds and applies the static resources alone (no xDS, or nothing received yet). */
  applyStatic(): Result<ProxyConfig> {
    return this.tryApply(this.set, 'static');
  }

  /**
   * Applies resources restored from disk (static stability: the control plane is unreachable at
   * start). Rejected when they no longer build (e.g. a newer proxy no longer supports a field).
   */
  restore(resources: ResourceSet): Result<ProxyConfig> {
    return this.tryApply(resources, 'persisted');
  }

  /**
   * True once the first answers are in: CDS and LDS responded, and every EDS/RDS name they need
   * arrived (or its type answered, e.g. the name does not exist). Envoy's "initial fetch".
   */
  initialFetchDone(): boolean {
    if (!this.responded.has(CDS) || !this.responded.has(LDS)) return false;
    for (const [typeUrl, names] of [
      [EDS, this.subscribedNames(EDS)],
      [RDS, this.subscribedNames(RDS)],
      [SDS, this.subscribedNames(SDS)],
    ] as const) {
      if (names.length === 0 || this.responded.has(typeUrl)) continue;
      return false;
    }
    return true;
  }

  onResponse(
    typeUrl: string,
    version: string,
    resources: JsonObject[],
    invalid: readonly InvalidResource[] = [],
  ): ResponseVerdict {
    this.responded.add(typeUrl);
    const received = new Map<string, JsonObject | undefined>();
    for (const json of resources) received.set(resourceName(typeUrl, json), json);
    // A resource that did not decode is still part of this state of the world: it keeps its
    // accepted version (it is not a removal).
    let candidate = replaceType(this.set, typeUrl, version, resources, this.now());
    for (const bad of invalid) {
      received.set(bad.name, undefined);
      const held = this.set.get(typeUrl)?.resources.get(bad.name);
      if (held) candidate = withResource(candidate, typeUrl, held);
    }
    const verdict = this.applyPerResource(
      typeUrl,
      this.keepSecrets(typeUrl, candidate),
      invalid,
      received,
      version,
      true,
    );
    return this.judge(typeUrl, version, verdict);
  }

  /**
   * A secret removed while a listener or cluster still refers to it stays in force with its last
   * version, as in Envoy (an SDS update without the secret does not take the certificate away);
   * it is dropped once nothing refers to it (delta: unsubscribed, `forget`).
   */
  private keepSecrets(typeUrl: string, candidate: ResourceSet): ResourceSet {
    if (typeUrl !== SDS) return candidate;
    const held = this.set.get(SDS)?.resources;
    const next = candidate.get(SDS);
    if (!held || !next) return candidate;
    const kept = this.subscribedNames(SDS).filter((n) => held.has(n) && !next.resources.has(n));
    if (kept.length === 0) return candidate;
    const resources = new Map(next.resources);
    for (const name of kept) resources.set(name, held.get(name)!);
    const out = new Map(candidate);
    out.set(SDS, { version: next.version, resources });
    return out;
  }

  /**
   * Builds again from the same resources: files that DataSources name changed (a Secret's
   * certificate rotated on disk). A config whose content changed is announced to `onConfig`;
   * one that no longer builds (e.g. a key that does not match its certificate mid-rotation)
   * leaves the last good config in force and returns the errors.
   */
  reload(): Result<ProxyConfig> | undefined {
    if (!this.current) return undefined;
    return this.tryApply(this.set, this.current.origin);
  }

  /** Counts an xDS update as accepted or rejected; returns the verdict. */
  private judge(typeUrl: string, version: string, verdict: ResponseVerdict): ResponseVerdict {
    if (verdict.errors.length === 0) {
      this.counters.updates.set(typeUrl, (this.counters.updates.get(typeUrl) ?? 0) + 1);
      return verdict;
    }
    this.counters.rejections.set(typeUrl, (this.counters.rejections.get(typeUrl) ?? 0) + 1);
    this.counters.lastRejection = {
      typeUrl,
      version,
      errors: [...verdict.errors],
      at: this.now(),
    };
    return verdict;
  }

  /**
   * Applies `candidate` (the accepted set with the response of `typeUrl` in it), rejecting the
   * response's resources that do not translate one by one: each is put back to its accepted
   * version (or removed if it is new) and the rest is built again, until it builds. A resource
   * whose accepted version no longer builds either is removed. Errors of other types' or of
   * static resources reject the response as a whole.
   *
   * `received` maps each resource name this response carried to its JSON (undefined: it did not
   * decode); `invalid` are those that did not decode. `wholeState`: the response settles earlier
   * rejections it does not mention (SotW: it is the whole state; delta: it carries changes only).
   */
  private applyPerResource(
    typeUrl: string,
    candidate: ResourceSet,
    invalid: readonly InvalidResource[],
    received: ReadonlyMap<string, JsonObject | undefined>,
    version: string,
    wholeState: boolean,
  ): ResponseVerdict {
    const rejected = new Map<string, readonly string[]>();
    for (const bad of invalid) rejected.set(bad.name, bad.errors);
    const reverted = new Set<string>();
    let set = candidate;
    // Each round reverts or removes at least one resource of the type, so this ends.
    for (;;) {
      const result = this.build(set);
      if (result.ok) {
        const held = this.set.get(typeUrl);
        // The type's version stays the one last accepted as a whole (sent again in the NACK).
        if (rejected.size > 0) set = withTypeVersion(set, typeUrl, held?.version ?? '');
        this.commit(set, result.value, 'xds');
        this.recordRejections(typeUrl, version, rejected, received, wholeState);
        if (rejected.size === 0) return ACK;
        const list = [...rejected].map(([name, errors]) => ({ name, errors }));
        return { errors: list.flatMap((r) => r.errors), rejected: list };
      }
      const own = result.rejected ?? [];
      const wholly =
        own.length === 0 ||
        own.some(
          (r) =>
            r.static === true ||
            TYPE_OF_KIND[r.kind] !== typeUrl ||
            !received.has(r.name) ||
            !set.get(typeUrl)?.resources.has(r.name),
        );
      if (wholly) {
        const errors = [...[...rejected.values()].flat(), ...result.errors];
        return { errors, rejected: [] };
      }
      for (const r of own) {
        if (!rejected.has(r.name)) rejected.set(r.name, r.errors);
        const held = this.set.get(typeUrl)?.resources.get(r.name);
        if (held && !reverted.has(r.name)) {
          reverted.add(r.name);
          set = withResource(set, typeUrl, held);
        } else set = withoutResource(set, typeUrl, r.name);
      }
    }
  }

  /** Updates `counters.rejectedResources` of `typeUrl` after a response was applied. */
  private recordRejections(
    typeUrl: string,
    version: string,
    rejected: ReadonlyMap<string, readonly string[]>,
    received: ReadonlyMap<string, JsonObject | undefined>,
    wholeState: boolean,
  ): void {
    const before = this.counters.rejectedResources.get(typeUrl);
    const next = new Map<string, RejectedResourceState>();
    if (!wholeState)
      for (const [name, state] of before ?? []) if (!received.has(name)) next.set(name, state);
    const at = this.now();
    for (const [name, errors] of rejected)
      next.set(name, { name, version, errors, at, json: received.get(name) });
    if (next.size > 0) this.counters.rejectedResources.set(typeUrl, next);
    else this.counters.rejectedResources.delete(typeUrl);
  }

  /** Delta xDS: applies what changed to the accepted set and tries the result (as onResponse). */
  onDeltaResponse(
    typeUrl: string,
    systemVersion: string,
    updated: readonly DeltaUpdate[],
    removed: readonly string[],
    invalid: readonly InvalidResource[] = [],
  ): ResponseVerdict {
    this.responded.add(typeUrl);
    const candidate = applyDelta(this.set, typeUrl, systemVersion, updated, removed, this.now());
    const received = new Map<string, JsonObject | undefined>();
    for (const u of updated) received.set(u.name, u.json);
    for (const name of removed) received.set(name, undefined);
    for (const bad of invalid) received.set(bad.name, undefined);
    // A delta response judges only what it carries: earlier rejections of other names hold.
    const verdict = this.applyPerResource(
      typeUrl,
      this.keepSecrets(typeUrl, candidate),
      invalid,
      received,
      systemVersion,
      false,
    );
    return this.judge(typeUrl, systemVersion, verdict);
  }

  /** Delta xDS: what this proxy holds of a type, for initial_resource_versions on reconnect. */
  resourceVersions(typeUrl: string): Record<string, string> {
    return resourceVersions(this.set, typeUrl);
  }

  /**
   * Delta xDS: names the proxy unsubscribed from (an EDS cluster or an RDS route config that
   * nothing refers to any more). The server says nothing more about them, so they are dropped
   * here; nothing refers to them, so the running config is unaffected and is not rebuilt.
   */
  forget(typeUrl: string, names: readonly string[]): void {
    const type = this.set.get(typeUrl);
    if (!type || !names.some((n) => type.resources.has(n))) return;
    this.set = applyDelta(this.set, typeUrl, type.version, [], names, this.now());
  }

  subscribedNames(typeUrl: string): readonly string[] {
    if (typeUrl === EDS)
      return edsServiceNames([...this.options.staticClusters, ...resourcesOf(this.set, CDS)]);
    if (typeUrl === RDS)
      return rdsRouteNames([...this.options.staticListeners, ...resourcesOf(this.set, LDS)]);
    if (typeUrl === SDS)
      return sdsSecretNames([
        ...this.options.staticListeners,
        ...this.options.staticClusters,
        ...resourcesOf(this.set, LDS),
        ...resourcesOf(this.set, CDS),
      ]);
    return [];
  }

  onConnectionState(connected: boolean, reason?: string): void {
    this.counters.connected = connected;
    if (connected) this.counters.connects += 1;
    this.options.onConnectionState?.(connected, reason);
  }

  /** All or nothing: the static resources at start, a restored set, a reload. */
  private tryApply(candidate: ResourceSet, origin: ConfigOrigin): Result<ProxyConfig> {
    const result = this.build(candidate);
    if (!result.ok) return { ok: false, errors: result.errors };
    this.commit(candidate, result.value, origin);
    return { ok: true, value: result.value };
  }

  private build(candidate: ResourceSet): ReturnType<BuildConfig> {
    return this.options.build(
      {
        listeners: [...this.options.staticListeners, ...resourcesOf(candidate, LDS)],
        clusters: [...this.options.staticClusters, ...resourcesOf(candidate, CDS)],
        routeConfigs: resourcesOf(candidate, RDS),
        endpoints: resourcesOf(candidate, EDS),
        secrets: resourcesOf(candidate, SDS),
        staticSecrets: [...(this.options.staticSecrets ?? [])],
      },
      this.current?.config,
    );
  }

  private commit(candidate: ResourceSet, config: ProxyConfig, origin: ConfigOrigin): void {
    this.set = candidate;
    this.current = { config, resources: candidate, origin };
    this.options.onConfig(this.current);
  }

  private now(): string {
    return this.options.now?.() ?? new Date().toISOString();
  }
}
