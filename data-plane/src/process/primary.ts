/**
 * The primary process (docs/architecture.md, "Process model"): owns the xDS clients, the config
 * source, the last-good state file, active health checks, outlier detection and the admin
 * endpoint, and drives the workers. It never serves proxied traffic itself. The admin endpoint's
 * views are small read-only sources over these parts (admin/admin-sources.ts); the primary
 * itself is the process's orchestration and the admin controls.
 *
 * Start-up order: workers fork → admin listens → config arrives from one of: xDS (the normal
 * case), the state file (the control plane is unreachable at start: static stability), the
 * bootstrap's static resources alone (no ADS configured, or the initial fetch timed out). Once
 * the workers have applied a complete first config, one `proxy ready` line is logged with the
 * admin address and the listeners (tests and scripts wait for it).
 */
import type { NodeMessage } from '@ferry/proto/grpc';
import { formatHostPort, type Logger } from '@ferry/shared';
import type { ProxyConfig } from '../config/model.js';
import type { AdminControls, AdminSources, ServerState } from '../admin/admin-sources.js';
import { AdminServer } from '../admin/admin-server.js';
import { AccessLogRotator } from '../access-log/access-log-rotation.js';
import { HealthManager } from '../health/health-manager.js';
import { OutlierManager } from '../health/outlier-manager.js';
import { HealthTargets } from '../health/health-targets.js';
import { nodeMessage, type ResourceDecoder, type XdsStreamClient } from '../xds/ads-client.js';
import { createAdsClient } from '../xds/create-ads-client.js';
import { xdsChannel, type XdsChannel } from '../xds/xds-transport.js';
import { XdsEndpointPicker } from '../xds/xds-endpoints.js';
import { keepaliveNotice } from '../xds/xds-keepalive.js';
import { HdsClient } from '../xds/hds-client.js';
import { LrsClient } from '../xds/lrs-client.js';
import { lrsOutliers } from '../xds/lrs-outlier-stats.js';
import { ConfigSource, type AppliedConfig, type BuildConfig } from '../xds/config-source.js';
import { SUBSCRIBED_TYPES, type JsonObject } from '../xds/resource-set.js';
import { ProcessStats } from '../stats/process-stats.js';
import { StateFile } from '../xds/state-file.js';
import { warm, warmingBoundMs, warmingClusters } from './cluster-warming.js';
import type { ProxyOptions } from './options.js';
import { primaryAdminSources } from './primary-admin.js';
import { SecretWatcher } from './secret-watcher.js';
import {
  adsEndpoints,
  defaultStateDir,
  offsetListeners,
  type PrimaryBootstrap,
} from './primary-inputs.js';
import { WorkerPool } from './worker-pool.js';
import { TokenBucketServer } from '../rate-limit/bucket-server.js';

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

export class Primary implements AdminControls {
  private readonly logger: Logger;
  private readonly pool: WorkerPool;
  /** The proxy-wide rate limit buckets workers lease tokens from. */
  private readonly rateLimitBuckets = new TokenBucketServer(() => this.pool.size);
  private readonly source: ConfigSource;
  private readonly stateFile: StateFile | undefined;
  private ads: XdsStreamClient | undefined;
  /** Reports the health checks' view to the control plane (HDS), beside ADS on the same target. */
  private hds: HdsClient | undefined;
  /** Load reports (LRS) to the ADS target, started once a cluster has `lrs_server`. */
  private lrs: LrsClient | undefined;
  private adsNode: NodeMessage | undefined;
  private adsChannel: XdsChannel | undefined;
  private admin: AdminServer | undefined;
  private adminAddress: string | undefined;
  private readonly startedAt = Date.now();
  private readonly bootTime = new Date().toISOString();
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
  /** The control planes (the xDS cluster's endpoints), shared by ADS, HDS and LRS. */
  private xdsEndpoints: XdsEndpointPicker | undefined;
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
  /** Watches SDS secrets' files; a change rebuilds the config from the same resources. */
  private readonly secretWatcher: SecretWatcher;

  constructor(private readonly deps: PrimaryDeps) {
    const { options, bootstrap } = deps;
    this.logger = deps.logger;
    this.nodeId = options.nodeId ?? bootstrap.node.id;
    this.nodeCluster = options.nodeCluster ?? bootstrap.node.cluster;
    this.pool = new WorkerPool({
      size: options.concurrency,
      logger: this.logger,
      ...(deps.workerArgs ? { args: deps.workerArgs } : {}),
      ...(bootstrap.overload ? { overload: bootstrap.overload } : {}),
      onClusterTraffic: (cluster) => this.health.markTraffic(cluster),
      onOutcomes: (batch) => this.outliers.report(batch),
      onTokenLease: (request) => this.rateLimitBuckets.lease(request),
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
    this.secretWatcher = new SecretWatcher(() => this.reloadSecretFiles(), this.logger);
    this.source = new ConfigSource({
      staticListeners: bootstrap.staticListeners as JsonObject[],
      staticClusters: bootstrap.staticClusters as JsonObject[],
      staticSecrets: (bootstrap.staticSecrets ?? []) as JsonObject[],
      build: deps.build,
      onConfig: (applied) => this.onConfig(applied),
      onConnectionState: (connected, reason) => this.onConnectionState(connected, reason),
    });
    this.stateFile = bootstrap.ads
      ? new StateFile(options.stateDir ?? defaultStateDir(this.nodeId), this.nodeId)
      : undefined;
  }

  /** Starts workers, the admin endpoint and the config sources. Rejects on a fatal start-up error. */
  async start(): Promise<void> {
    const { options, bootstrap } = this.deps;
    this.logger.level = options.logLevel;
    this.rotator?.start();
    let endpoints: XdsEndpointPicker | undefined;
    if (bootstrap.ads) {
      if (!this.nodeId)
        throw new Error('node.id is required with dynamic_resources (or pass --node-id)');
      const resolved = adsEndpoints(
        bootstrap.staticClusters as JsonObject[],
        bootstrap.ads.clusterName,
      );
      if (!resolved.ok) throw new Error(resolved.error);
      endpoints = new XdsEndpointPicker(resolved.endpoints);
    }
    this.pool.start();
    const adminAt = options.adminAddress ?? bootstrap.admin;
    if (adminAt) {
      this.admin = new AdminServer(this.adminSources(), this, this.logger);
      const bound = await this.admin.listen(adminAt.host, adminAt.port);
      this.adminAddress = formatHostPort(adminAt.host, bound.port);
    }
    if (!endpoints) {
      const result = this.source.applyStatic();
      if (!result.ok)
        throw new Error(`static_resources rejected:\n  ${result.errors.join('\n  ')}`);
      return;
    }
    this.xdsEndpoints = endpoints;
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
    // One transport for ADS, HDS and LRS: the xDS cluster's transport_socket and HTTP/2
    // keepalive, as Envoy.
    const keepalive = bootstrap.ads?.keepalive;
    const channel = xdsChannel(bootstrap.ads?.tls, keepalive);
    const notice = keepaliveNotice(keepalive, endpoints.targets);
    if (notice) this.logger[notice.level](notice.fields, notice.msg);
    this.adsChannel = channel;
    this.ads = createAdsClient(bootstrap.ads?.apiType ?? 'GRPC', {
      endpoints,
      node,
      channel,
      handler: this.source,
      logger: this.logger,
      ...(this.deps.decode ? { decode: this.deps.decode } : {}),
    });
    this.ads.start();
    this.hds = new HdsClient({
      endpoints,
      node,
      channel,
      view: () => this.health.view(),
      logger: this.logger,
    });
    this.hds.start();
    this.adsNode = node;
    this.maybeStartLrs();
  }

  /** Starts LRS once the ADS target is known and some cluster of the config has `lrs_server`. */
  private maybeStartLrs(): void {
    if (this.lrs || this.shuttingDown || !this.xdsEndpoints || !this.adsNode) return;
    if (this.lrsClusters().length === 0) return;
    this.lrs = new LrsClient({
      endpoints: this.xdsEndpoints,
      node: this.adsNode,
      ...(this.adsChannel ? { channel: this.adsChannel } : {}),
      clusters: () => this.lrsClusters(),
      stats: () => this.pool.collectStats(),
      outliers: (clusters) => lrsOutliers(this.outliers.endpointStates(clusters)),
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

  /** A secret's file changed on disk: build again, which re-reads it (rotation). */
  private reloadSecretFiles(): void {
    const result = this.source.reload();
    if (result && !result.ok)
      this.logger.warn(
        { errors: result.errors },
        'secret files changed but the config no longer builds; keeping the last good certificates',
      );
  }

  private onConfig(applied: AppliedConfig): void {
    if (!this.shuttingDown) this.secretWatcher.update(applied.config.secretWatches ?? []);
    const config = offsetListeners(applied.config, this.deps.options.listenerPortOffset);
    if (applied.origin === 'xds') this.lastXdsUpdateMs = Date.now();
    // buildProxyConfig returns an equal version for equal content: the workers have it already.
    if (config.version !== (this.latestConfig ?? this.workerConfig)?.version) {
      if (config.warming)
        this.logger.info(
          { listeners: config.warming.listeners, clusters: config.warming.clusters },
          'waiting for SDS secrets: these listeners and clusters serve their previous version, or are not served yet',
        );
      this.latestConfig = config;
      if (!this.shuttingDown) this.healthTargets.update(config.clusters);
      const warming = this.shuttingDown ? [] : warmingClusters(config, this.workerConfig);
      if (warming.length === 0) this.activate(config, applied.origin);
      else {
        // Cluster warming (cluster-warming.ts): the workers keep the previous config until the
        // new clusters' first health-check round has ended.
        const bound = warmingBoundMs(config, warming);
        this.logger.info(
          { version: config.version, clusters: warming },
          'warming clusters: waiting for their first health-check round',
        );
        void warm(this.healthTargets, this.health, warming, bound).then(() => {
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

  private onConnectionState(connected: boolean, reason?: string): void {
    if (connected) {
      this.logger.info({ target: this.ads?.target }, 'connected to the control plane');
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
    this.secretWatcher.close();
    this.healthTargets.close();
    this.health.close();
    this.outliers.close();
    this.rateLimitBuckets.close();
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
    this.secretWatcher.close();
    this.healthTargets.close();
    this.health.close();
    this.outliers.close();
    this.rateLimitBuckets.close();
    this.rotator?.close();
    this.processStats.close();
    this.hds?.destroy();
    this.lrs?.destroy();
    this.ads?.destroy();
    this.pool.destroy();
    this.admin?.destroy();
  }

  // ------------------------------------------------------------------ admin

  state(): ServerState {
    if (this.shuttingDown || this.healthcheckFailing || this.listenersDrained) return 'DRAINING';
    return this.readyLogged ? 'LIVE' : 'INITIALIZING';
  }

  /** The admin endpoint's read-only views over this process's parts. */
  private adminSources(): AdminSources {
    return primaryAdminSources({
      version: this.deps.version,
      commandLineOptions: this.deps.options.raw,
      bootstrap: this.deps.bootstrap,
      ...(this.deps.bootstrapJson ? { bootstrapJson: this.deps.bootstrapJson } : {}),
      node: { id: this.nodeId, cluster: this.nodeCluster },
      startedAtMs: this.startedAt,
      bootTime: this.bootTime,
      pool: this.pool,
      source: this.source,
      health: this.health,
      outliers: this.outliers,
      processStats: this.processStats,
      stateFile: this.stateFile,
      state: () => this.state(),
      adsTarget: () => this.ads?.target ?? this.xdsEndpoints?.current,
      xdsTargets: () => this.xdsEndpoints?.targets ?? [],
      lastXdsUpdateMs: () => this.lastXdsUpdateMs,
      workerApplyFailures: () => this.counters.workerApplyFailures,
    });
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
        for (const log of chain.http?.accessLogs ?? chain.tcpProxy?.accessLogs ?? [])
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
