/**
 * The primary process (DESIGN.md D7): owns the xDS client, the config source, the last-good
 * state file, the admin endpoint and stats aggregation, and drives the workers. It never serves
 * proxied traffic itself.
 *
 * Start-up order: workers fork → admin listens → config arrives from one of: xDS (the normal
 * case), the state file (the control plane is unreachable at start: static stability), the
 * bootstrap's static resources alone (no ADS configured, or the initial fetch timed out). Once
 * the workers have applied a complete first config, one `proxy ready` line is logged with the
 * admin address and the listeners (tests and scripts wait for it).
 */
import os from 'node:os';
import path from 'node:path';
import { formatHostPort, type Logger } from '@ferry/shared';
import type { ClusterModel, ProxyConfig } from '../config/model.js';
import { AdminServer, type AdminBackend, type ServerState } from '../admin/admin-server.js';
import { buildConfigDump, clusterStatuses, type ClusterStatusInput } from '../admin/config-dump.js';
import { AccessLogRotator } from '../access-log/access-log-rotation.js';
import { HealthManager } from '../health/health-manager.js';
import { OutlierManager } from '../health/outlier-manager.js';
import { HealthTargets } from '../health/health-targets.js';
import type { StatsSnapshot } from '../stats/stats.js';
import { nodeMessage, type ResourceDecoder, type XdsStreamClient } from '../xds/ads-client.js';
import { createAdsClient } from '../xds/create-ads-client.js';
import { HdsClient } from '../xds/hds-client.js';
import { LrsClient } from '../xds/lrs-client.js';
import { ConfigSource, type AppliedConfig, type BuildConfig } from '../xds/config-source.js';
import { SUBSCRIBED_TYPES, type JsonObject } from '../xds/resource-set.js';
import { membershipGauges } from '../stats/membership-stats.js';
import { ProcessStats } from '../stats/process-stats.js';
import { StateFile } from '../xds/state-file.js';
import type { ProxyOptions } from './options.js';
import { WorkerPool } from './worker-pool.js';

/** The bootstrap as the primary needs it (T's BootstrapModel satisfies it). */
export interface PrimaryBootstrap {
  readonly node: { readonly id: string; readonly cluster: string; readonly metadata?: unknown };
  readonly admin?: { readonly host: string; readonly port: number };
  readonly staticListeners: readonly unknown[];
  readonly staticClusters: readonly unknown[];
  readonly ads?: { readonly clusterName: string; readonly apiType: string };
}

export interface PrimaryDeps {
  readonly options: ProxyOptions;
  readonly bootstrap: PrimaryBootstrap;
  /** The bootstrap document as loaded (shown in /config_dump). */
  readonly bootstrapJson?: JsonObject;
  readonly build: BuildConfig;
  readonly decode?: ResourceDecoder;
  readonly logger: Logger;
  readonly version: string;
  /** Worker count override (tests); defaults to options.concurrency. */
  readonly workerArgs?: readonly string[];
}

/** The control plane's address from the static cluster the ADS config names. */
export function adsTarget(
  clusters: readonly JsonObject[],
  clusterName: string,
): { ok: true; target: string } | { ok: false; error: string } {
  const cluster = clusters.find((c) => c.name === clusterName);
  if (!cluster)
    return {
      ok: false,
      error: `dynamic_resources.ads_config names cluster "${clusterName}", which is not in static_resources.clusters`,
    };
  const la = cluster.load_assignment as JsonObject | undefined;
  const endpoints = (la?.endpoints as JsonObject[] | undefined) ?? [];
  for (const locality of endpoints) {
    for (const lb of (locality.lb_endpoints as JsonObject[] | undefined) ?? []) {
      const sa = ((lb.endpoint as JsonObject | undefined)?.address as JsonObject | undefined)
        ?.socket_address as JsonObject | undefined;
      if (sa && typeof sa.address === 'string') {
        const port = Number(sa.port_value ?? 0);
        return { ok: true, target: formatHostPort(sa.address, port) };
      }
    }
  }
  return {
    ok: false,
    error: `static cluster "${clusterName}" (the ADS cluster) has no socket_address endpoint in load_assignment`,
  };
}

/** Shifts every listener port by `offset` (--listener-port-offset); port 0 stays 0. */
export function offsetListeners(config: ProxyConfig, offset: number): ProxyConfig {
  if (offset === 0) return config;
  return {
    ...config,
    listeners: config.listeners.map((l) => ({
      ...l,
      address: { ...l.address, port: l.address.port === 0 ? 0 : l.address.port + offset },
    })),
  };
}

/** Beyond a warming round's own bound (jitter + timeout), for the probes to settle. */
const WARMING_SLACK_MS = 1000;
/** How long warming waits for a DNS cluster's first resolution. */
const DNS_WARMING_MS = 5000;

export class Primary implements AdminBackend {
  private readonly logger: Logger;
  private readonly pool: WorkerPool;
  private readonly source: ConfigSource;
  private readonly stateFile: StateFile | undefined;
  private ads: XdsStreamClient | undefined;
  /** Reports the health checks' view to the control plane (HDS), beside ADS on the same target. */
  private hds: HdsClient | undefined;
  /** Load reports (LRS) to the ADS target, started once a cluster has `lrs_server`. */
  private lrs: LrsClient | undefined;
  private adsNode: JsonObject | undefined;
  private admin: AdminServer | undefined;
  private adminAddress: string | undefined;
  private readonly startedAt = Date.now();
  private readonly bootTime = new Date().toISOString();
  private readonly staticClusterNames: ReadonlySet<string>;
  private readonly nodeId: string;
  private readonly nodeCluster: string;
  /** The config the workers run. */
  private workerConfig: ProxyConfig | undefined;
  /** The newest config accepted: the workers' one, or one whose clusters are still warming. */
  private latestConfig: ProxyConfig | undefined;
  private readyLogged = false;
  private initialFetchTimedOut = false;
  private initialFetchTimer: NodeJS.Timeout | undefined;
  private healthcheckFailing = false;
  private listenersDrained = false;
  private shuttingDown = false;
  private adsTargetAddress: string | undefined;
  private readonly counters = { workerApplyFailures: 0, persistFailures: 0 };
  /** Active health checks of the current config, run here once for all workers. */
  private readonly health: HealthManager;
  private readonly healthTargets: HealthTargets;
  /** Outlier detection over all workers' traffic (their outcomes reach it over IPC). */
  private readonly outliers: OutlierManager;
  private readonly processStats = new ProcessStats('primary');
  /** Built-in access log rotation (--access-log-max-size-mb / -rotate-interval-s), if on. */
  private readonly rotator: AccessLogRotator | undefined;
  /** When the last config accepted over xDS was applied (ms since epoch; 0 = never). */
  private lastXdsUpdateMs = 0;

  constructor(private readonly deps: PrimaryDeps) {
    const { options, bootstrap } = deps;
    this.logger = deps.logger;
    this.nodeId = options.nodeId ?? bootstrap.node.id;
    this.nodeCluster = options.nodeCluster ?? bootstrap.node.cluster;
    this.staticClusterNames = new Set(
      (bootstrap.staticClusters as JsonObject[]).map((c) => String(c.name)),
    );
    this.pool = new WorkerPool({
      size: options.concurrency,
      logger: this.logger,
      ...(deps.workerArgs ? { args: deps.workerArgs } : {}),
      onClusterTraffic: (cluster) => this.health.markTraffic(cluster),
      onOutcomes: (batch) => this.outliers.report(batch),
      onApplied: (_slot, version, error) => {
        if (error) this.counters.workerApplyFailures += 1;
        else if (version === this.workerConfig?.version) this.maybeReady();
      },
    });
    if (AccessLogRotator.enabled(options.accessLogRotation))
      this.rotator = new AccessLogRotator({
        policy: options.accessLogRotation,
        paths: () => this.accessLogFiles(),
        reopen: () => this.reopenLogs(),
        logger: this.logger,
      });
    this.outliers = new OutlierManager({
      onEjections: (clusterName, hosts) => this.pool.setOutlierEjections(clusterName, hosts),
    });
    this.health = new HealthManager({
      logger: this.logger,
      onUpdate: (clusterName, hosts) => {
        this.pool.setHostHealth(clusterName, hosts);
        // successful_active_health_check_uneject_host: a host whose checks pass returns at once.
        this.outliers.activeHealth(clusterName, hosts);
      },
    });
    this.healthTargets = new HealthTargets({
      logger: this.logger,
      apply: (clusters) => this.health.apply(clusters),
    });
    this.source = new ConfigSource({
      staticListeners: bootstrap.staticListeners as JsonObject[],
      staticClusters: bootstrap.staticClusters as JsonObject[],
      build: deps.build,
      onConfig: (applied) => this.onConfig(applied),
      onConnectionState: (connected, reason) => this.onConnectionState(connected, reason),
    });
    this.stateFile = bootstrap.ads
      ? new StateFile(
          options.stateDir ?? path.join(process.cwd(), '.ferry-proxy', safeDirName(this.nodeId)),
          this.nodeId,
        )
      : undefined;
  }

  /** Starts workers, the admin endpoint and the config sources. Rejects on a fatal start-up error. */
  async start(): Promise<void> {
    const { options, bootstrap } = this.deps;
    this.logger.level = options.logLevel;
    this.rotator?.start();
    let target: string | undefined;
    if (bootstrap.ads) {
      if (!this.nodeId)
        throw new Error('node.id is required with dynamic_resources (or pass --node-id)');
      const resolved = adsTarget(
        bootstrap.staticClusters as JsonObject[],
        bootstrap.ads.clusterName,
      );
      if (!resolved.ok) throw new Error(resolved.error);
      target = resolved.target;
    }
    this.pool.start();
    const adminAt = options.adminAddress ?? bootstrap.admin;
    if (adminAt) {
      this.admin = new AdminServer(this, this.logger);
      const bound = await this.admin.listen(adminAt.host, adminAt.port);
      this.adminAddress = formatHostPort(adminAt.host, bound.port);
    }
    if (!target) {
      const result = this.source.applyStatic();
      if (!result.ok)
        throw new Error(`static_resources rejected:\n  ${result.errors.join('\n  ')}`);
      return;
    }
    this.adsTargetAddress = target;
    this.initialFetchTimer = setTimeout(
      () => this.onInitialFetchTimeout(),
      options.initialFetchTimeoutMs,
    );
    this.initialFetchTimer.unref();
    const node = nodeMessage({
      id: this.nodeId,
      cluster: this.nodeCluster,
      ...(bootstrap.node.metadata ? { metadata: bootstrap.node.metadata as JsonObject } : {}),
      userAgentVersion: this.deps.version,
    });
    this.ads = createAdsClient(bootstrap.ads?.apiType ?? 'GRPC', {
      target,
      node,
      handler: this.source,
      logger: this.logger,
      ...(this.deps.decode ? { decode: this.deps.decode } : {}),
    });
    this.ads.start();
    this.hds = new HdsClient({ target, node, view: () => this.health.view(), logger: this.logger });
    this.hds.start();
    this.adsNode = node;
    this.maybeStartLrs();
  }

  /** Starts LRS once the ADS target is known and some cluster of the config has `lrs_server`. */
  private maybeStartLrs(): void {
    if (this.lrs || this.shuttingDown || !this.adsTargetAddress || !this.adsNode) return;
    if (this.lrsClusters().length === 0) return;
    this.lrs = new LrsClient({
      target: this.adsTargetAddress,
      node: this.adsNode,
      clusters: () => this.lrsClusters(),
      stats: () => this.pool.collectStats(),
      logger: this.logger,
    });
    this.lrs.start();
  }

  private lrsClusters(): string[] {
    const clusters = this.workerConfig?.clusters ?? {};
    return Object.values(clusters)
      .filter((c) => c.lrsServer !== undefined)
      .map((c) => c.name);
  }

  // ------------------------------------------------------------------ config flow

  private onConfig(applied: AppliedConfig): void {
    const config = offsetListeners(applied.config, this.deps.options.listenerPortOffset);
    if (applied.origin === 'xds') this.lastXdsUpdateMs = Date.now();
    // buildProxyConfig returns an equal version for equal content: the workers have it already.
    if (config.version !== (this.latestConfig ?? this.workerConfig)?.version) {
      this.latestConfig = config;
      if (!this.shuttingDown) this.healthTargets.update(config.clusters);
      const warming = this.shuttingDown ? [] : this.warmingClusters(config);
      if (warming.length === 0) this.activate(config, applied.origin);
      else {
        // Envoy's cluster warming: a cluster that starts being health checked takes traffic
        // only after its first round, so no request goes to a host that is already down (all
        // hosts pending would be panic routing to all). The workers keep the previous config
        // meanwhile; the round's results reach them before the new config does.
        const bound =
          HealthManager.firstRoundBoundMs(warming.map((name) => config.clusters[name]!)) +
          WARMING_SLACK_MS;
        this.logger.info(
          { version: config.version, clusters: warming },
          'warming clusters: waiting for their first health-check round',
        );
        void this.warm(warming, bound).then(() => {
          if (this.latestConfig === config) this.activate(config, applied.origin);
        });
      }
    }
    if (applied.origin === 'xds' && this.stateFile) {
      this.stateFile.save(applied.resources).catch((err: unknown) => {
        this.counters.persistFailures += 1;
        this.logger.warn(
          { err, path: this.stateFile?.path },
          'cannot persist the last good config',
        );
      });
    }
    this.maybeReady();
  }

  /** Hands `config` to the workers (after warming, if it had to wait). */
  private activate(config: ProxyConfig, origin: AppliedConfig['origin']): void {
    this.workerConfig = config;
    this.outliers.apply(config.clusters);
    this.pool.setConfig(config);
    this.maybeStartLrs();
    this.logger.info(
      {
        version: config.version,
        origin,
        listeners: config.listeners.length,
        clusters: Object.keys(config.clusters).length,
      },
      'config applied',
    );
    this.maybeReady();
  }

  /**
   * A warming round: a DNS cluster's first resolution (bounded by DNS_WARMING_MS, as Envoy's
   * cluster initialization waits for it), then every host's first check.
   */
  private async warm(clusters: readonly string[], boundMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.healthTargets.firstResolution(clusters),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, DNS_WARMING_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    await this.health.firstRound(clusters, boundMs);
  }

  /**
   * Clusters of `config` that are actively health checked here and were not in the workers'
   * config (new, or newly given health_checks): they warm before the config is handed over.
   */
  private warmingClusters(config: ProxyConfig): string[] {
    const active = this.workerConfig?.clusters ?? {};
    const checked = (cluster: ClusterModel | undefined): boolean =>
      cluster !== undefined && (cluster.activeHealthChecks ?? []).length > 0;
    return Object.values(config.clusters)
      .filter((cluster) => checked(cluster) && !checked(active[cluster.name]))
      .map((cluster) => cluster.name);
  }

  private onConnectionState(connected: boolean, reason?: string): void {
    if (connected) {
      this.logger.info({ target: this.adsTargetAddress }, 'connected to the control plane');
      return;
    }
    // Static stability: the control plane is unreachable before anything arrived from it.
    if (this.source.applied === undefined || this.source.applied.origin === 'static')
      this.bootFromStateFile(reason ?? 'control plane unreachable');
  }

  private onInitialFetchTimeout(): void {
    this.initialFetchTimedOut = true;
    if (this.source.applied === undefined) this.bootFromStateFile('initial fetch timed out');
    if (this.source.applied === undefined) {
      const result = this.source.applyStatic();
      if (!result.ok)
        this.logger.error({ errors: result.errors }, 'static_resources rejected: serving nothing');
    }
    this.maybeReady();
  }

  private bootFromStateFile(reason: string): void {
    if (!this.stateFile || (this.source.applied && this.source.applied.origin !== 'static')) return;
    const loaded = this.stateFile.load();
    if (!loaded.ok) {
      this.logger.warn(
        { path: this.stateFile.path, reason: loaded.reason },
        'no usable persisted config',
      );
      return;
    }
    const result = this.source.restore(loaded.set);
    if (!result.ok) {
      this.logger.error(
        { path: this.stateFile.path, errors: result.errors },
        'persisted config no longer builds; not used',
      );
      return;
    }
    for (const typeUrl of SUBSCRIBED_TYPES) {
      const version = loaded.set.get(typeUrl)?.version;
      if (version) this.ads?.setAcceptedVersion(typeUrl, version);
    }
    this.logger.warn(
      { path: this.stateFile.path, saved_at: loaded.savedAt, reason },
      'serving the persisted last good config until the control plane answers',
    );
  }

  private maybeReady(): void {
    if (this.readyLogged || this.shuttingDown || !this.workerConfig) return;
    const applied = this.source.applied;
    if (!applied) return;
    const complete =
      applied.origin !== 'xds' || this.source.initialFetchDone() || this.initialFetchTimedOut;
    if (!complete || !this.pool.allApplied(this.workerConfig.version)) return;
    this.readyLogged = true;
    clearTimeout(this.initialFetchTimer);
    this.logger.info(
      {
        admin_address: this.adminAddress ?? null,
        listeners: this.workerConfig.listeners.map((l) => ({
          name: l.name,
          address: formatHostPort(l.address.host, l.address.port),
        })),
        node: { id: this.nodeId, cluster: this.nodeCluster },
        workers: this.pool.size,
        origin: applied.origin,
        version: this.workerConfig.version,
      },
      'proxy ready',
    );
  }

  // ------------------------------------------------------------------ lifecycle

  /** Graceful stop (SIGTERM, SIGINT, /quitquitquit): drain workers until the deadline, then exit. */
  async shutdown(reason: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const deadlineMs = this.deps.options.drainTimeoutMs;
    this.logger.info({ reason, deadline_ms: deadlineMs }, 'shutting down: draining listeners');
    clearTimeout(this.initialFetchTimer);
    this.healthTargets.close();
    this.health.close();
    this.outliers.close();
    this.rotator?.close();
    this.processStats.close();
    this.hds?.close();
    this.lrs?.close();
    this.ads?.close();
    await this.pool.shutdown(deadlineMs);
    await this.stateFile?.flush().catch(() => undefined);
    await this.admin?.close();
    this.logger.info('stopped');
  }

  /** Immediate stop (second signal). */
  destroy(): void {
    this.shuttingDown = true;
    this.healthTargets.close();
    this.health.close();
    this.outliers.close();
    this.rotator?.close();
    this.processStats.close();
    this.hds?.destroy();
    this.lrs?.destroy();
    this.ads?.destroy();
    this.pool.destroy();
    this.admin?.destroy();
  }

  // ------------------------------------------------------------------ AdminBackend

  state(): ServerState {
    if (this.shuttingDown || this.healthcheckFailing || this.listenersDrained) return 'DRAINING';
    return this.readyLogged ? 'LIVE' : 'INITIALIZING';
  }

  serverInfo(): Record<string, unknown> {
    const uptime = `${Math.floor((Date.now() - this.startedAt) / 1000)}s`;
    const applied = this.source.applied;
    const c = this.source.counters;
    return {
      version: `ferry-proxy/${this.deps.version}`,
      state: this.state(),
      hot_restart_version: 'disabled',
      command_line_options: this.deps.options.raw,
      node: {
        id: this.nodeId,
        cluster: this.nodeCluster,
        ...(this.deps.bootstrap.node.metadata
          ? { metadata: this.deps.bootstrap.node.metadata }
          : {}),
        user_agent_name: 'ferry-proxy',
        user_agent_version: this.deps.version,
      },
      uptime_current_epoch: uptime,
      uptime_all_epochs: uptime,
      hostname: os.hostname(),
      workers: { configured: this.pool.size, live: this.pool.liveCount },
      config: applied ? { version: applied.config.version, origin: applied.origin } : null,
      xds: this.adsTargetAddress
        ? {
            target: this.adsTargetAddress,
            connected: c.connected,
            state_dir: this.stateFile?.dir,
            last_rejection: c.lastRejection ?? null,
          }
        : null,
    };
  }

  configDump(): Record<string, unknown> {
    return buildConfigDump({
      staticListeners: this.deps.bootstrap.staticListeners as JsonObject[],
      staticClusters: this.deps.bootstrap.staticClusters as JsonObject[],
      resources: this.source.resources,
      bootTime: this.bootTime,
      ...(this.deps.bootstrapJson ? { bootstrap: this.deps.bootstrapJson } : {}),
    });
  }

  clusters(): ClusterStatusInput[] {
    return clusterStatuses(
      this.source.applied?.config,
      this.staticClusterNames,
      this.health.view(),
      this.outliers.ejectedHosts(),
    );
  }

  async stats(): Promise<StatsSnapshot> {
    const merged = await this.pool.collectStats();
    const membership = membershipGauges(
      clusterStatuses(
        this.source.applied?.config,
        this.staticClusterNames,
        this.health.view(),
        this.outliers.ejectedHosts(),
      ),
    );
    const c = this.source.counters;
    const byType = (
      map: Map<string, number>,
    ): { name: string; labels: Record<string, string>; value: number }[] =>
      [...map].map(([typeUrl, value]) => ({
        name: '',
        labels: { type_url: typeUrl },
        value,
      }));
    return {
      counters: [
        ...merged.counters,
        ...this.health.counters(),
        ...this.outliers.counters(),
        ...byType(c.updates).map((s) => ({ ...s, name: 'xds_update_success_total' })),
        ...byType(c.rejections).map((s) => ({ ...s, name: 'xds_update_rejected_total' })),
        { name: 'xds_connects_total', labels: {}, value: c.connects },
        {
          name: 'worker_config_apply_failures_total',
          labels: {},
          value: this.counters.workerApplyFailures,
        },
      ],
      gauges: [
        ...merged.gauges,
        ...membership,
        ...this.outliers.gauges(),
        ...this.processStats.gauges(),
        { name: 'xds_connected', labels: {}, value: c.connected ? 1 : 0 },
        {
          name: 'xds_last_update_timestamp_seconds',
          labels: {},
          value: Math.floor(this.lastXdsUpdateMs / 1000),
        },
        { name: 'workers_live', labels: {}, value: this.pool.liveCount },
        { name: 'server_live', labels: {}, value: this.state() === 'LIVE' ? 1 : 0 },
        {
          name: 'uptime_seconds',
          labels: {},
          value: Math.floor((Date.now() - this.startedAt) / 1000),
        },
      ],
      histograms: merged.histograms,
    };
  }

  setHealthcheckFailing(failing: boolean): void {
    this.healthcheckFailing = failing;
    this.pool.setHealthcheckFailing(failing);
  }

  /** SIGUSR1, admin /reopen_logs, built-in rotation: every worker reopens its log files. */
  reopenLogs(): void {
    this.logger.info('reopening access logs');
    this.pool.reopenLogs();
  }

  /** Every file a worker appends access log lines to (for the built-in rotation). */
  private accessLogFiles(): string[] {
    const files: string[] = [];
    if (this.deps.options.accessLogPath !== undefined) files.push(this.deps.options.accessLogPath);
    for (const listener of this.workerConfig?.listeners ?? [])
      for (const chain of [
        ...listener.filterChains,
        ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : []),
      ])
        for (const log of chain.http.accessLogs ?? [])
          if (log.sink === 'file' && log.path) files.push(log.path);
    return files;
  }

  drainListeners(): void {
    this.listenersDrained = true;
    this.pool.drainListeners();
  }

  quit(): void {
    void this.shutdown('/quitquitquit').finally(() => process.exit(0));
  }

  logLevel(): string {
    return this.logger.level;
  }

  setLogLevel(level: string): void {
    this.logger.level = level;
    this.pool.setLogLevel(level);
  }
}

/** A node id as a directory name: path separators and oddities become "_". */
function safeDirName(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'default';
}
