/**
 * The primary's view of configuration: the bootstrap's static resources merged with the xDS
 * resources accepted so far, and the last good ProxyConfig built from them. It is the ADS client's
 * handler: each response is tried by building the whole config from the candidate resource set
 * (config/translate.ts's buildProxyConfig); a config that builds is accepted (ACK) and announced to
 * `onConfig`, one that does not is rejected (NACK) and the last good config stays in force
 * (docs/architecture.md, "Runtime model").
 */
import type { Result } from '@ferry/proto';
import type { ProxyConfig } from '../config/model.js';
import type { AdsHandler } from './ads-client.js';
import {
  applyDelta,
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

export type BuildConfig = (input: BuildInput, previous?: ProxyConfig) => Result<ProxyConfig>;

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
  connected: boolean;
  connects: number;
}

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

  onResponse(typeUrl: string, version: string, resources: JsonObject[]): string[] {
    this.responded.add(typeUrl);
    const candidate = replaceType(this.set, typeUrl, version, resources, this.now());
    return this.judge(typeUrl, version, this.tryApply(this.keepSecrets(typeUrl, candidate), 'xds'));
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

  /** Counts an xDS update as accepted or rejected; returns the NACK errors. */
  private judge(typeUrl: string, version: string, result: Result<ProxyConfig>): string[] {
    if (result.ok) {
      this.counters.updates.set(typeUrl, (this.counters.updates.get(typeUrl) ?? 0) + 1);
      return [];
    }
    this.counters.rejections.set(typeUrl, (this.counters.rejections.get(typeUrl) ?? 0) + 1);
    this.counters.lastRejection = { typeUrl, version, errors: result.errors, at: this.now() };
    return result.errors;
  }

  /** Delta xDS: applies what changed to the accepted set and tries the result (as onResponse). */
  onDeltaResponse(
    typeUrl: string,
    systemVersion: string,
    updated: readonly DeltaUpdate[],
    removed: readonly string[],
  ): string[] {
    this.responded.add(typeUrl);
    const candidate = applyDelta(this.set, typeUrl, systemVersion, updated, removed, this.now());
    return this.judge(
      typeUrl,
      systemVersion,
      this.tryApply(this.keepSecrets(typeUrl, candidate), 'xds'),
    );
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

  private tryApply(candidate: ResourceSet, origin: ConfigOrigin): Result<ProxyConfig> {
    const result = this.options.build(
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
    if (!result.ok) return result;
    this.set = candidate;
    this.current = { config: result.value, resources: candidate, origin };
    this.options.onConfig(this.current);
    return result;
  }

  private now(): string {
    return this.options.now?.() ?? new Date().toISOString();
  }
}
